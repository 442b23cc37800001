package formats

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"reflect"
	"unsafe"

	"github.com/flowcache/flowcache/core"
)

// Raw slices.
//
// encoding/gob writes every number as a varint (a float byte-reversed
// first), so decoding an 80 MB []float64 spends most of its time taking
// numbers apart one byte at a time: about as slow as Python's pickle. A
// large slice of fixed-size numbers (see gobRawOf) is written instead as
// its elements' bytes, little-endian, after a header naming the element
// type (layout gobRawSlice, see gobReadFraming): Encode writes the slice's
// memory as it is, in pieces of gobChunkBytes, and Decode reads it straight
// into the slice it makes, so both run at the speed of copying memory, and
// take no memory beyond the value. On a big-endian machine, or where int is
// 32 bits, the elements are converted a piece at a time (gobRawElem.put and
// get).
//
// Decode makes the slice from the header's count only once it is checked
// against the bytes that remain, when the reader tells; else it trusts
// gobTrustBytes of it and grows the slice as the bytes come, as it does for
// chunks. The bytes of a raw slice hold no counts, so there is nothing else
// to check: every byte string of the right length is a valid value.

// gobRawElem is the element type of a raw slice, as its header names it.
type gobRawElem uint8

const (
	rawFloat64 gobRawElem = 1 + iota
	rawFloat32
	rawInt64 // int64, and int
	rawInt32
	rawInt16
	rawInt8
	rawUint64 // uint64, uint and uintptr
	rawUint32
	rawUint16
	rawComplex128
	rawComplex64
	rawElems // the first code that names no type
)

// gobRawInfo describes an element type of raw slices.
type gobRawInfo struct {
	name   string
	width  int  // bytes per element in the stream
	words  int  // numbers per element: 2 for complex numbers, else 1
	signed bool // the numbers are two's complement integers
	float  bool // the numbers are IEEE 754 floats
}

var gobRawInfos = [rawElems]gobRawInfo{
	rawFloat64:    {name: "float64", width: 8, words: 1, float: true},
	rawFloat32:    {name: "float32", width: 4, words: 1, float: true},
	rawInt64:      {name: "int64", width: 8, words: 1, signed: true},
	rawInt32:      {name: "int32", width: 4, words: 1, signed: true},
	rawInt16:      {name: "int16", width: 2, words: 1, signed: true},
	rawInt8:       {name: "int8", width: 1, words: 1, signed: true},
	rawUint64:     {name: "uint64", width: 8, words: 1},
	rawUint32:     {name: "uint32", width: 4, words: 1},
	rawUint16:     {name: "uint16", width: 2, words: 1},
	rawComplex128: {name: "complex128", width: 16, words: 2, float: true},
	rawComplex64:  {name: "complex64", width: 8, words: 2, float: true},
}

func (e gobRawElem) info() gobRawInfo { return gobRawInfos[e] }

// gobRawKinds maps the kinds of elements raw slices hold to their codes.
// uint8 is not among them: gob writes a []byte (or any slice of a uint8
// kind) as its bytes already.
var gobRawKinds = map[reflect.Kind]gobRawElem{
	reflect.Float64: rawFloat64, reflect.Float32: rawFloat32,
	reflect.Int64: rawInt64, reflect.Int: rawInt64, reflect.Int32: rawInt32,
	reflect.Int16: rawInt16, reflect.Int8: rawInt8,
	reflect.Uint64: rawUint64, reflect.Uint: rawUint64, reflect.Uintptr: rawUint64,
	reflect.Uint32: rawUint32, reflect.Uint16: rawUint16,
	reflect.Complex128: rawComplex128, reflect.Complex64: rawComplex64,
}

// gobRawOf returns the element code of t when t is a slice Encode may
// write raw: a slice (named or not) of fixed-size numbers (named or not)
// other than bytes, where neither the slice nor its element type encodes
// itself (GobEncoder, BinaryMarshaler, TextMarshaler: gob would call those
// methods, so their encoding is kept).
func gobRawOf(t reflect.Type) (gobRawElem, bool) {
	if t.Kind() != reflect.Slice || gobCustom(t) || gobCustom(t.Elem()) {
		return 0, false
	}
	e, ok := gobRawKinds[t.Elem().Kind()]
	return e, ok
}

// gobRawNative tells whether the elements of a raw slice are the bytes of
// its Go elements in memory: a little-endian machine, where an element of
// each kind has the width of its code (not a 32-bit int). Tests turn it off
// to run the portable path.
var gobRawNative = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// native tells whether elements of Go size esize are stored as they are.
func (e gobRawElem) native(esize int) bool { return gobRawNative && esize == e.info().width }

// gobWriteRaw writes the elements of the slice v (whose code is e) to w,
// in pieces of about gobChunkBytes.
func gobWriteRaw(w io.Writer, v reflect.Value, e gobRawElem) error {
	n, esize := v.Len(), int(v.Type().Elem().Size())
	info := e.info()
	step := int(max(1, gobChunkBytes/int64(info.width)))
	base := v.UnsafePointer()
	var buf []byte
	for lo := 0; lo < n; lo += step {
		k := min(step, n-lo)
		p := unsafe.Add(base, lo*esize)
		var b []byte
		if e.native(esize) {
			b = unsafe.Slice((*byte)(p), k*esize)
		} else {
			if buf == nil {
				buf = make([]byte, min(n, step)*info.width)
			}
			b = buf[:k*info.width]
			e.put(b, p, esize, k)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// gobReadRaw reads the raw slice framed by lay from r into a new value of
// type t; size is the number of bytes left in r, -1 when unknown. It reads
// r to its end.
func gobReadRaw(r io.Reader, t reflect.Type, lay gobLayout, origin, size int64) (reflect.Value, error) {
	info := lay.elem.info()
	if e, ok := gobRawOf(t); !ok || e != lay.elem {
		return reflect.Value{}, fmt.Errorf("%w: a slice of %d %s does not decode into %v", core.ErrCorrupt, lay.n, info.name, t)
	}
	esize := int(t.Elem().Size())
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s (after byte %d)", core.ErrCorrupt, fmt.Sprintf(format, args...), origin)
	}
	width := uint64(info.width)
	if lay.n > math.MaxInt/width || lay.n > math.MaxInt/uint64(esize) {
		return reflect.Value{}, bad("a slice of %d %s", lay.n, info.name)
	}
	n := int(lay.n)
	room := n
	if size >= 0 {
		if uint64(size) != lay.n*width {
			return reflect.Value{}, bad("a slice of %d %s (%d bytes) in %d bytes", n, info.name, n*info.width, size)
		}
	} else {
		room = min(n, max(1, gobTrustBytes/esize))
	}
	dst := reflect.MakeSlice(t, room, room)
	var buf []byte
	for off := 0; off < n; {
		if off == dst.Len() {
			// Unknown size: grow as the bytes prove the count, to all of
			// it once an eighth is read (as gobDecodeFed does).
			grow := min(n, 2*off)
			if off >= n/8 {
				grow = n
			}
			grown := reflect.MakeSlice(t, grow, grow)
			reflect.Copy(grown, dst)
			dst = grown
		}
		k := dst.Len() - off
		p := unsafe.Add(dst.UnsafePointer(), off*esize)
		if lay.elem.native(esize) {
			if _, err := io.ReadFull(r, unsafe.Slice((*byte)(p), k*esize)); err != nil {
				return reflect.Value{}, noEOF(err)
			}
		} else {
			k = min(k, max(1, (64<<10)/info.width))
			if len(buf) < k*info.width {
				buf = make([]byte, k*info.width)
			}
			b := buf[:k*info.width]
			if _, err := io.ReadFull(r, b); err != nil {
				return reflect.Value{}, noEOF(err)
			}
			if err := lay.elem.get(p, esize, b, k); err != nil {
				return reflect.Value{}, bad("element %d: %v", off, err)
			}
		}
		off += k
	}
	var one [1]byte
	switch m, err := io.ReadFull(r, one[:]); {
	case m != 0:
		return reflect.Value{}, bad("trailing bytes after the value")
	case err != io.EOF:
		return reflect.Value{}, err
	}
	return dst, nil
}

// gobSkipRaw reads the elements of the raw slice framed by lay from r, to
// its end, and checks that there are as many bytes as the header says.
func gobSkipRaw(r io.Reader, lay gobLayout, origin int64) error {
	info := lay.elem.info()
	want := lay.n * uint64(info.width)
	if lay.n > math.MaxInt64/uint64(info.width) {
		return fmt.Errorf("%w: a slice of %d %s (after byte %d)", core.ErrCorrupt, lay.n, info.name, origin)
	}
	got, err := io.Copy(io.Discard, io.LimitReader(r, int64(want)+1))
	if err != nil {
		return err
	}
	if uint64(got) != want {
		return fmt.Errorf("%w: a slice of %d %s (%d bytes) in %d bytes (after byte %d)", core.ErrCorrupt, lay.n, info.name, want, got, origin)
	}
	return nil
}

// gobRawAny returns the elements of the raw slice framed by lay, held in b,
// as DecodeAny gives the elements of a slice of that type written by gob.
func gobRawAny(b []byte, lay gobLayout) ([]any, error) {
	info := lay.elem.info()
	if lay.n > uint64(len(b))/uint64(info.width) || uint64(len(b)) != lay.n*uint64(info.width) {
		return nil, gobAnyErr("a slice of %d %s in %d bytes", lay.n, info.name, len(b))
	}
	ws := info.width / info.words
	s := make([]any, lay.n)
	for i := range s {
		e := b[i*info.width:]
		var im uint64
		if info.words == 2 {
			im = loadLE(e[ws:], ws, false)
		}
		s[i] = info.value(loadLE(e, ws, info.signed), im)
	}
	return s, nil
}

// value is what DecodeAny gives for an element whose numbers (im for the
// imaginary part of a complex number) are x and im, as loadLE read them.
func (info gobRawInfo) value(x, im uint64) any {
	float := func(u uint64) float64 {
		if info.width/info.words == 4 {
			return float64(math.Float32frombits(uint32(u)))
		}
		return math.Float64frombits(u)
	}
	switch {
	case info.words == 2:
		return gobComplex(float(x), float(im))
	case info.float:
		return gobFloat(float(x))
	case info.signed:
		return int64(x)
	}
	return x
}

// put writes k elements of Go size esize from memory at p to b,
// little-endian.
func (e gobRawElem) put(b []byte, p unsafe.Pointer, esize, k int) {
	info := e.info()
	ws, ms := info.width/info.words, esize/info.words
	for i := range k * info.words {
		storeLE(b[i*ws:], ws, loadWord(unsafe.Add(p, i*ms), ms, info.signed))
	}
}

// get reads k elements from b, little-endian, into memory at p as elements
// of Go size esize; it fails on a number the Go type cannot hold (a 64-bit
// int on a 32-bit machine).
func (e gobRawElem) get(p unsafe.Pointer, esize int, b []byte, k int) error {
	info := e.info()
	ws, ms := info.width/info.words, esize/info.words
	for i := range k * info.words {
		x := loadLE(b[i*ws:], ws, info.signed)
		if ms < ws && !fits(x, ms, info.signed) {
			if info.signed {
				return fmt.Errorf("%d does not fit in %d bits", int64(x), 8*ms)
			}
			return fmt.Errorf("%d does not fit in %d bits", x, 8*ms)
		}
		storeWord(unsafe.Add(p, i*ms), ms, x)
	}
	return nil
}

// loadLE reads a number of size bytes from b, little-endian, sign-extended
// when signed.
func loadLE(b []byte, size int, signed bool) uint64 {
	var x uint64
	for i := size - 1; i >= 0; i-- {
		x = x<<8 | uint64(b[i])
	}
	if signed && size < 8 {
		shift := 64 - 8*size
		x = uint64(int64(x<<shift) >> shift)
	}
	return x
}

// storeLE writes the low size bytes of x to b, little-endian.
func storeLE(b []byte, size int, x uint64) {
	for i := range size {
		b[i] = byte(x >> (8 * i))
	}
}

// fits tells whether x (sign-extended when signed) fits in size bytes.
func fits(x uint64, size int, signed bool) bool {
	if size >= 8 {
		return true
	}
	bits := 8 * size
	if signed {
		v := int64(x)
		return v >= -1<<(bits-1) && v < 1<<(bits-1)
	}
	return x < 1<<bits
}

// loadWord reads a number of size bytes in memory at p, sign-extended when
// signed.
func loadWord(p unsafe.Pointer, size int, signed bool) uint64 {
	switch size {
	case 1:
		if signed {
			return uint64(int64(*(*int8)(p)))
		}
		return uint64(*(*uint8)(p))
	case 2:
		if signed {
			return uint64(int64(*(*int16)(p)))
		}
		return uint64(*(*uint16)(p))
	case 4:
		if signed {
			return uint64(int64(*(*int32)(p)))
		}
		return uint64(*(*uint32)(p))
	}
	return *(*uint64)(p)
}

// storeWord writes the low size bytes of x to memory at p, as a number of
// that size.
func storeWord(p unsafe.Pointer, size int, x uint64) {
	switch size {
	case 1:
		*(*uint8)(p) = uint8(x)
	case 2:
		*(*uint16)(p) = uint16(x)
	case 4:
		*(*uint32)(p) = uint32(x)
	default:
		*(*uint64)(p) = x
	}
}
