package parquet

import (
	"errors"
	"fmt"
)

// Checking thrift before arrow-go reads it.
//
// Parquet's footer is a thrift struct in the compact protocol, and
// arrow-go's generated thrift code allocates every list at the length its
// header declares (make([]T, 0, n)) before reading an element. Apache
// thrift checks that length only against a 100 MB message limit times the
// smallest element size, so five bytes can ask for a slice of 100 million
// pointers (800 MB), and nested lists multiply it. thriftWalk walks the
// compact encoding itself first and requires every list, set and map to
// hold the elements it declares (each takes at least one byte), every
// string and binary to fit in what remains, and nesting to stay under
// maxThriftDepth: after it, the lengths arrow-go allocates from add up to
// at most the footer's size.

// maxThriftDepth bounds the nesting of structs and containers (apache
// thrift's skip limit is 64 too; Parquet's own structs nest six deep).
const maxThriftDepth = 64

// Compact protocol types.
const (
	tStop   = 0
	tTrue   = 1
	tFalse  = 2
	tByte   = 3
	tI16    = 4
	tI32    = 5
	tI64    = 6
	tDouble = 7
	tBinary = 8
	tList   = 9
	tSet    = 10
	tMap    = 11
	tStruct = 12
	tUUID   = 13
)

var (
	errThrift = errors.New("malformed thrift")
	// errThriftShort: the bytes end inside the struct.
	errThriftShort = errors.New("unexpected end")
)

// Structs of parquet.thrift whose fields arrow-go reads as lists, or
// that lead to such structs. arrow-go's generated code reads a field whose
// wire type matches the IDL and then reads list elements as the IDL says,
// whatever element type the list header declares; so for these fields the
// walker requires the declared element type to be the IDL's, or the
// elements it walks would not be the ones arrow-go reads. Other fields and
// structs are walked as their wire types say, as arrow-go's skipping does.
type thriftKind uint8

const (
	kindOther thriftKind = iota
	kindFileMetaData
	kindSchemaElement
	kindRowGroup
	kindColumnChunk
	kindColumnMetaData
	kindColumnCryptoMetaData
	kindEncryptionWithColumnKey
	kindSizeStatistics
	kindGeospatialStatistics
	kindPageHeader
	kindDataPageHeader
	kindDictionaryPageHeader
	kindDataPageHeaderV2
)

// thriftField is a field of the IDL: its wire type and, for lists, the
// element type; kind is the struct type of a struct or list of structs.
type thriftField struct {
	typ, elem byte
	kind      thriftKind
}

var thriftIDL = map[thriftKind]map[int16]thriftField{
	kindFileMetaData: {
		2: {tList, tStruct, kindSchemaElement},
		4: {tList, tStruct, kindRowGroup},
		5: {tList, tStruct, kindOther}, // KeyValue
		7: {tList, tStruct, kindOther}, // ColumnOrder
	},
	kindRowGroup: {
		1: {tList, tStruct, kindColumnChunk},
		4: {tList, tStruct, kindOther}, // SortingColumn
	},
	kindColumnChunk: {
		3: {tStruct, 0, kindColumnMetaData},
		8: {tStruct, 0, kindColumnCryptoMetaData},
	},
	kindColumnCryptoMetaData: {
		2: {tStruct, 0, kindEncryptionWithColumnKey},
	},
	kindEncryptionWithColumnKey: {
		1: {tList, tBinary, kindOther},
	},
	kindColumnMetaData: {
		2:  {tList, tI32, kindOther},
		3:  {tList, tBinary, kindOther},
		8:  {tList, tStruct, kindOther}, // KeyValue
		13: {tList, tStruct, kindOther}, // PageEncodingStats
		16: {tStruct, 0, kindSizeStatistics},
		17: {tStruct, 0, kindGeospatialStatistics},
	},
	kindSizeStatistics: {
		2: {tList, tI64, kindOther},
		3: {tList, tI64, kindOther},
	},
	kindGeospatialStatistics: {
		2: {tList, tI32, kindOther},
	},
	// Page headers hold no lists; their kinds only tell the visitor
	// whose i32 fields it sees.
	kindPageHeader: {
		5: {tStruct, 0, kindDataPageHeader},
		7: {tStruct, 0, kindDictionaryPageHeader},
		8: {tStruct, 0, kindDataPageHeaderV2},
	},
}

// thriftVisitor sees what the walker walks: every struct start (with its
// kind) and every i32 field (with the kind of its struct and its id).
type thriftVisitor interface {
	structStart(kind thriftKind)
	i32(kind thriftKind, id int16, v int32)
}

// thriftWalker walks one compact-encoded struct.
type thriftWalker struct {
	buf []byte
	pos int
	vis thriftVisitor
}

func (w *thriftWalker) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at byte %d of %d: %s", errThrift, w.pos, len(w.buf), fmt.Sprintf(format, args...))
}

func (w *thriftWalker) byte() (byte, error) {
	if w.pos >= len(w.buf) {
		return 0, fmt.Errorf("%w (%w at byte %d)", errThrift, errThriftShort, w.pos)
	}
	b := w.buf[w.pos]
	w.pos++
	return b, nil
}

func (w *thriftWalker) uvarint() (uint64, error) {
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		b, err := w.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, nil
		}
	}
	return 0, w.errorf("varint longer than 10 bytes")
}

func (w *thriftWalker) skip(n uint64) error {
	if n > uint64(len(w.buf)-w.pos) {
		return fmt.Errorf("%w (%w: %d bytes declared at byte %d, %d remain)", errThrift, errThriftShort, n, w.pos, len(w.buf)-w.pos)
	}
	w.pos += int(n)
	return nil
}

// count checks that n elements of at least min bytes each fit in what
// remains.
func (w *thriftWalker) count(n uint64, min int) error {
	if n > uint64(len(w.buf)-w.pos)/uint64(min) {
		return fmt.Errorf("%w (%w: a container of %d elements at byte %d, %d bytes remain)", errThrift, errThriftShort, n, w.pos, len(w.buf)-w.pos)
	}
	return nil
}

// minSize is the fewest bytes a value of type t takes inside a container.
func minSize(t byte) int {
	switch t {
	case tDouble:
		return 8
	case tUUID:
		return 16
	}
	return 1
}

// walkStruct walks a struct of the given kind up to and including its
// stop byte.
func (w *thriftWalker) walkStruct(kind thriftKind, depth int) error {
	if depth > maxThriftDepth {
		return w.errorf("nested deeper than %d", maxThriftDepth)
	}
	if w.vis != nil {
		w.vis.structStart(kind)
	}
	fields := thriftIDL[kind]
	var id int16
	var seen uint64 // ids 0 to 63 met so far
	for {
		h, err := w.byte()
		if err != nil {
			return err
		}
		if h == tStop {
			return nil
		}
		typ := h & 0x0f
		if delta := h >> 4; delta != 0 {
			id += int16(delta)
		} else {
			v, err := w.uvarint()
			if err != nil {
				return err
			}
			id = int16(zigzag(v))
		}
		if id >= 0 && id < 64 {
			// A field read twice would be read as its last copy by
			// arrow-go but walked twice here.
			if seen&(1<<id) != 0 {
				return w.errorf("field %d twice", id)
			}
			seen |= 1 << id
		}
		if typ == tTrue || typ == tFalse {
			continue // the value is in the field header
		}
		f, known := fields[id]
		if !known || f.typ != typ {
			f = thriftField{typ: typ}
		}
		if typ == tI32 && w.vis != nil {
			v, err := w.uvarint()
			if err != nil {
				return err
			}
			w.vis.i32(kind, id, int32(zigzag(v)))
			continue
		}
		if err := w.walkValue(f, depth); err != nil {
			return err
		}
	}
}

func zigzag(v uint64) int64 { return int64(v>>1) ^ -int64(v&1) }

// walkValue walks a value of field f (not a bool field).
func (w *thriftWalker) walkValue(f thriftField, depth int) error {
	switch f.typ {
	case tTrue, tFalse, tByte: // a bool in a container is one byte
		_, err := w.byte()
		return err
	case tI16, tI32, tI64:
		_, err := w.uvarint()
		return err
	case tDouble:
		return w.skip(8)
	case tUUID:
		return w.skip(16)
	case tBinary:
		n, err := w.uvarint()
		if err != nil {
			return err
		}
		return w.skip(n)
	case tStruct:
		return w.walkStruct(f.kind, depth+1)
	case tList, tSet:
		h, err := w.byte()
		if err != nil {
			return err
		}
		n, elem := uint64(h>>4), h&0x0f
		if n == 15 {
			if n, err = w.uvarint(); err != nil {
				return err
			}
		}
		if err := w.checkType(elem); err != nil {
			return err
		}
		if f.elem != 0 && elem != f.elem {
			return w.errorf("a list of type %d where parquet.thrift has type %d", elem, f.elem)
		}
		if err := w.count(n, minSize(elem)); err != nil {
			return err
		}
		e := thriftField{typ: elem, kind: f.kind}
		for range n {
			if err := w.elem(e, depth); err != nil {
				return err
			}
		}
		return nil
	case tMap:
		n, err := w.uvarint()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		kv, err := w.byte()
		if err != nil {
			return err
		}
		k, v := kv>>4, kv&0x0f
		if err := w.checkType(k); err != nil {
			return err
		}
		if err := w.checkType(v); err != nil {
			return err
		}
		if err := w.count(n, minSize(k)+minSize(v)); err != nil {
			return err
		}
		for range n {
			if err := w.elem(thriftField{typ: k}, depth); err != nil {
				return err
			}
			if err := w.elem(thriftField{typ: v}, depth); err != nil {
				return err
			}
		}
		return nil
	}
	return w.errorf("unknown type %d", f.typ)
}

// elem walks a container element: containers count as a level of nesting.
func (w *thriftWalker) elem(f thriftField, depth int) error {
	if depth+1 > maxThriftDepth {
		return w.errorf("nested deeper than %d", maxThriftDepth)
	}
	return w.walkValue(f, depth+1)
}

func (w *thriftWalker) checkType(t byte) error {
	if t == tStop || t > tUUID {
		return w.errorf("unknown element type %d", t)
	}
	return nil
}

// thriftCheck walks the compact-encoded struct of the given kind that must
// fill buf exactly.
func thriftCheck(buf []byte, kind thriftKind, vis thriftVisitor) error {
	n, err := thriftPrefix(buf, kind, vis)
	if err == nil && n != len(buf) {
		err = fmt.Errorf("%w: %d bytes after the struct", errThrift, len(buf)-n)
	}
	return err
}

// thriftPrefix walks the compact-encoded struct of the given kind at the
// start of buf and returns its length; errThriftShort when buf ends inside
// it.
func thriftPrefix(buf []byte, kind thriftKind, vis thriftVisitor) (int, error) {
	w := &thriftWalker{buf: buf, vis: vis}
	if err := w.walkStruct(kind, 0); err != nil {
		return 0, err
	}
	return w.pos, nil
}
