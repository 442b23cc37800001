package parquet_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
)

// A thrift compact-protocol codec for tests: it decodes a footer or page
// header into a tree of fields, lets a test change any value or declared
// length, and encodes it back, so that files with lying lengths can be
// built from real ones.

type tvalue struct {
	typ   byte // compact type: 1/2 bool, 3 byte, 4-6 ints, 7 double, 8 binary, 9 list, 12 struct
	i     int64
	b     []byte
	elem  byte // list element type
	elems []tvalue
	count int // when not 0, the length written instead of len(elems) or len(b)
	st    *tstruct
}

type tfield struct {
	id int16
	v  tvalue
}

type tstruct struct{ fields []tfield }

// get returns the value of field id, or nil.
func (s *tstruct) get(id int16) *tvalue {
	for i := range s.fields {
		if s.fields[i].id == id {
			return &s.fields[i].v
		}
	}
	return nil
}

// at follows a path of field ids and list indices (written as ^index,
// i.e. -1-index) from s.
func (s *tstruct) at(path ...int) *tvalue {
	var v *tvalue
	cur := s
	for i, p := range path {
		if p < 0 {
			v = &v.elems[-1-p]
		} else {
			v = cur.get(int16(p))
			if v == nil {
				panic(fmt.Sprintf("no field %d at step %d of %v", p, i, path))
			}
		}
		cur = v.st
	}
	return v
}

// set sets (or adds) field id.
func (s *tstruct) set(id int16, v tvalue) {
	if f := s.get(id); f != nil {
		*f = v
		return
	}
	s.fields = append(s.fields, tfield{id, v})
}

func i32(v int64) tvalue { return tvalue{typ: 5, i: v} }
func i64(v int64) tvalue { return tvalue{typ: 6, i: v} }

type tdecoder struct {
	b   []byte
	pos int
}

func (d *tdecoder) byte() byte {
	c := d.b[d.pos]
	d.pos++
	return c
}

func (d *tdecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b[d.pos:])
	if n <= 0 {
		panic("bad varint")
	}
	d.pos += n
	return v
}

func (d *tdecoder) value(typ byte) tvalue {
	v := tvalue{typ: typ}
	switch typ {
	case 1, 2:
	case 3:
		v.i = int64(d.byte())
	case 4, 5, 6:
		u := d.uvarint()
		v.i = int64(u>>1) ^ -int64(u&1)
	case 7:
		v.b = d.b[d.pos : d.pos+8]
		d.pos += 8
	case 8:
		n := int(d.uvarint())
		v.b = bytes.Clone(d.b[d.pos : d.pos+n])
		d.pos += n
	case 9:
		h := d.byte()
		n := int(h >> 4)
		if n == 15 {
			n = int(d.uvarint())
		}
		v.elem = h & 0x0f
		for range n {
			e := v.elem
			if e == 1 || e == 2 {
				e = 3 // one byte each
			}
			v.elems = append(v.elems, d.value(e))
		}
	case 12:
		v.st = d.structure()
	default:
		panic(fmt.Sprintf("type %d", typ))
	}
	return v
}

func (d *tdecoder) structure() *tstruct {
	s := &tstruct{}
	var id int16
	for {
		h := d.byte()
		if h == 0 {
			return s
		}
		if delta := h >> 4; delta != 0 {
			id += int16(delta)
		} else {
			u := d.uvarint()
			id = int16(int64(u>>1) ^ -int64(u&1))
		}
		s.fields = append(s.fields, tfield{id, d.value(h & 0x0f)})
	}
}

// decodeThrift decodes the struct at the start of b and returns it with
// the bytes it took.
func decodeThrift(t testing.TB, b []byte) (*tstruct, int) {
	t.Helper()
	d := &tdecoder{b: b}
	var s *tstruct
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("decoding thrift: %v", p)
			}
		}()
		s = d.structure()
	}()
	return s, d.pos
}

func zz(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

func encodeValue(buf []byte, v tvalue) []byte {
	switch v.typ {
	case 1, 2:
		return buf
	case 3:
		return append(buf, byte(v.i))
	case 4, 5, 6:
		return binary.AppendUvarint(buf, zz(v.i))
	case 7:
		return append(buf, v.b...)
	case 8:
		n := len(v.b)
		if v.count != 0 {
			n = v.count
		}
		buf = binary.AppendUvarint(buf, uint64(n))
		return append(buf, v.b...)
	case 9:
		n := len(v.elems)
		if v.count != 0 {
			n = v.count
		}
		if n < 15 {
			buf = append(buf, byte(n<<4)|v.elem)
		} else {
			buf = append(buf, 0xf0|v.elem)
			buf = binary.AppendUvarint(buf, uint64(n))
		}
		for _, e := range v.elems {
			if e.typ == 1 || e.typ == 2 || (v.elem == 1 || v.elem == 2) {
				buf = append(buf, byte(e.i))
				continue
			}
			buf = encodeValue(buf, e)
		}
		return buf
	case 12:
		return encodeStruct(buf, v.st)
	}
	panic(fmt.Sprintf("type %d", v.typ))
}

func encodeStruct(buf []byte, s *tstruct) []byte {
	var last int16
	for _, f := range s.fields {
		if d := f.id - last; d > 0 && d <= 15 {
			buf = append(buf, byte(d<<4)|f.v.typ)
		} else {
			buf = append(buf, f.v.typ)
			buf = binary.AppendUvarint(buf, zz(int64(f.id)))
		}
		last = f.id
		buf = encodeValue(buf, f.v)
	}
	return append(buf, 0)
}

// pqFile is a Parquet file taken apart: its pages in file order (header
// and body) and its footer.
type pqFile struct {
	pages  []pqPage
	footer *tstruct
}

type pqPage struct {
	hdr  *tstruct
	body []byte
}

// splitFile takes apart a file of one column chunk (one column, one row
// group), as written for []struct{ X T } with small data.
func splitFile(t testing.TB, b []byte) *pqFile {
	t.Helper()
	flen := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
	dataEnd := len(b) - 8 - flen
	footer, _ := decodeThrift(t, b[dataEnd:len(b)-8])
	f := &pqFile{footer: footer}
	if n := len(footer.at(4).elems); n != 1 {
		t.Fatalf("%d row groups, want 1", n)
	}
	for pos := 4; pos < dataEnd; {
		hdr, n := decodeThrift(t, b[pos:])
		size := int(hdr.at(3).i) // compressed_page_size
		f.pages = append(f.pages, pqPage{hdr, b[pos+n : pos+n+size]})
		pos += n + size
	}
	return f
}

// chunkMeta returns the ColumnMetaData of the one column chunk.
func (f *pqFile) chunkMeta() *tstruct { return f.footer.at(4, -1, 1, -1, 3).st }

// join writes the file back, with the column chunk's offsets and
// compressed size set to where the pages now are (the uncompressed size
// keeps its difference to the compressed one).
func (f *pqFile) join() []byte {
	out := []byte("PAR1")
	md := f.chunkMeta()
	oldC, oldU := md.get(7).i, md.get(6).i
	for i, p := range f.pages {
		if typ := p.hdr.get(1).i; typ == 2 { // dictionary page
			md.set(11, i64(int64(len(out))))
		} else if i == 0 || f.pages[i-1].hdr.get(1).i == 2 {
			md.set(9, i64(int64(len(out))))
		}
		out = encodeStruct(out, p.hdr)
		out = append(out, p.body...)
	}
	md.set(7, i64(int64(len(out)-4)))
	md.set(6, i64(oldU-oldC+int64(len(out)-4)))
	footer := encodeStruct(nil, f.footer)
	out = append(out, footer...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(footer)))
	return append(out, "PAR1"...)
}

// withFooter returns file b with its footer replaced by footer.
func withFooter(b, footer []byte) []byte {
	flen := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
	out := bytes.Clone(b[:len(b)-8-flen])
	out = append(out, footer...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(footer)))
	return append(out, "PAR1"...)
}

// footerOf decodes the footer of file b.
func footerOf(t testing.TB, b []byte) *tstruct {
	flen := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
	s, _ := decodeThrift(t, b[len(b)-8-flen:len(b)-8])
	return s
}

// fbField returns the position of field idx of the flatbuffer table at
// tab in b, or -1.
func fbField(b []byte, tab, idx int) int {
	vt := tab - int(int32(binary.LittleEndian.Uint32(b[tab:])))
	n := int(binary.LittleEndian.Uint16(b[vt:]))
	if 4+2*idx+2 > n {
		return -1
	}
	o := int(binary.LittleEndian.Uint16(b[vt+4+2*idx:]))
	if o == 0 {
		return -1
	}
	return tab + o
}

// fbDeref follows the offset stored at p.
func fbDeref(b []byte, p int) int { return p + int(binary.LittleEndian.Uint32(b[p:])) }
