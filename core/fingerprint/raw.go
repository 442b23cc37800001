package fingerprint

import (
	"math"
	"reflect"
	"unsafe"
)

// rawChunk is how many bytes of a float block are scanned for NaNs before
// being hashed: small enough to stay in L2 cache between the scan and the
// hash, a multiple of BLAKE3's 8 KiB batch.
const rawChunk = 256 << 10

// raw writes b, the little-endian memory of a block of elements. comp is the
// size of a float component (4 or 8), or 0 when the elements are not floats.
func (w *Writer) raw(b []byte, comp int) {
	if comp == 0 {
		w.bytes(b)
		return
	}
	for len(b) > 0 {
		c := b[:min(len(b), rawChunk)]
		b = b[len(c):]
		var ok bool
		if comp == 8 {
			ok = noNaN64(unsafe.Slice((*uint64)(unsafe.Pointer(&c[0])), len(c)/8))
		} else {
			ok = noNaN32(unsafe.Slice((*uint32)(unsafe.Pointer(&c[0])), len(c)/4))
		}
		if ok {
			w.bytes(c)
			continue
		}
		// Rare: copy and make every NaN the one NaN.
		if cap(w.st.scratch) < rawChunk {
			w.st.scratch = make([]byte, rawChunk)
		}
		s := w.st.scratch[:len(c)]
		copy(s, c)
		if comp == 8 {
			ws := unsafe.Slice((*uint64)(unsafe.Pointer(&s[0])), len(s)/8)
			for i, u := range ws {
				ws[i] = canon64(math.Float64frombits(u))
			}
		} else {
			ws := unsafe.Slice((*uint32)(unsafe.Pointer(&s[0])), len(s)/4)
			for i, u := range ws {
				ws[i] = canon32(math.Float32frombits(u))
			}
		}
		w.bytes(s)
	}
}

// noNaN64 reports whether no word of p, read as float64 bits, is a NaN:
// with the sign bit cleared, NaNs are exactly the words above +Inf, so one
// branch-free unsigned max over the block decides. -0 is not special: it
// is hashed as its own bits.
func noNaN64(p []uint64) bool {
	const abs = 1<<63 - 1
	const inf = 0x7ff0000000000000
	var m0, m1, m2, m3 uint64
	for len(p) >= 4 {
		q := p[:4:4]
		m0, m1, m2, m3 = max(m0, q[0]&abs), max(m1, q[1]&abs), max(m2, q[2]&abs), max(m3, q[3]&abs)
		p = p[4:]
	}
	for _, u := range p {
		m0 = max(m0, u&abs)
	}
	return max(m0, m1, m2, m3) <= inf
}

// noNaN32 is noNaN64 for float32 bits.
func noNaN32(p []uint32) bool {
	const abs = 1<<31 - 1
	const inf = 0x7f800000
	var m0, m1, m2, m3 uint32
	for len(p) >= 4 {
		q := p[:4:4]
		m0, m1, m2, m3 = max(m0, q[0]&abs), max(m1, q[1]&abs), max(m2, q[2]&abs), max(m3, q[3]&abs)
		p = p[4:]
	}
	for _, u := range p {
		m0 = max(m0, u&abs)
	}
	return max(m0, m1, m2, m3) <= inf
}

// rawElems writes the same bytes as raw would for a block of n elements,
// element by element: for big-endian or 32-bit machines, and for arrays that
// are not addressable.
func (w *Writer) rawElems(ti *typeInfo, v reflect.Value, n int) {
	size := ti.raw.size
	for i := range n {
		e := v.Index(i)
		switch ti.elem.kind {
		case encBool:
			if e.Bool() {
				w.byte1(1)
			} else {
				w.byte1(0)
			}
		case encInt:
			w.uN(uint64(e.Int()), size)
		case encUint:
			w.uN(e.Uint(), size)
		case encFloat32:
			w.uN(uint64(canon32(float32(e.Float()))), 4)
		case encFloat64:
			w.u64(canon64(e.Float()))
		case encComplex64:
			c := e.Complex()
			w.uN(uint64(canon32(float32(real(c)))), 4)
			w.uN(uint64(canon32(float32(imag(c)))), 4)
		case encComplex128:
			c := e.Complex()
			w.u64(canon64(real(c)))
			w.u64(canon64(imag(c)))
		}
	}
}
