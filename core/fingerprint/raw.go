package fingerprint

import (
	"math"
	"math/bits"
	"reflect"
	"unsafe"
)

// rawChunk is how many bytes of a float block are scanned for NaN and -0
// before being hashed: small enough to stay in L2 cache between the scan
// and the hash, a multiple of BLAKE3's 8 KiB batch.
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
			ok = canonical64(unsafe.Slice((*uint64)(unsafe.Pointer(&c[0])), len(c)/8))
		} else {
			ok = canonical32(unsafe.Slice((*uint32)(unsafe.Pointer(&c[0])), len(c)/4))
		}
		if ok {
			w.bytes(c)
			continue
		}
		// Rare: copy and canonicalise.
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

// canonical64 reports whether no word of p, read as float64 bits, is a NaN
// or -0. With r the bits rotated left by one (sign moved to bit 0),
// d = (r^1) - 1 maps -0 to 2^64-1, NaNs to (r(+Inf), 2^64-1), and every
// other value to [0, r(+Inf)]; so one unsigned max over the block decides.
func canonical64(p []uint64) bool {
	const inf = 0xffe0000000000000 // +Inf rotated left by one
	var m0, m1, m2, m3 uint64
	for len(p) >= 4 {
		q := p[:4:4]
		d0 := bits.RotateLeft64(q[0], 1) ^ 1 - 1
		d1 := bits.RotateLeft64(q[1], 1) ^ 1 - 1
		d2 := bits.RotateLeft64(q[2], 1) ^ 1 - 1
		d3 := bits.RotateLeft64(q[3], 1) ^ 1 - 1
		m0, m1, m2, m3 = max(m0, d0), max(m1, d1), max(m2, d2), max(m3, d3)
		p = p[4:]
	}
	for _, u := range p {
		m0 = max(m0, bits.RotateLeft64(u, 1)^1-1)
	}
	return max(m0, m1, m2, m3) <= inf
}

// canonical32 is canonical64 for float32 bits.
func canonical32(p []uint32) bool {
	const inf = 0xff000000 // +Inf rotated left by one
	var m0, m1, m2, m3 uint32
	for len(p) >= 4 {
		q := p[:4:4]
		d0 := bits.RotateLeft32(q[0], 1) ^ 1 - 1
		d1 := bits.RotateLeft32(q[1], 1) ^ 1 - 1
		d2 := bits.RotateLeft32(q[2], 1) ^ 1 - 1
		d3 := bits.RotateLeft32(q[3], 1) ^ 1 - 1
		m0, m1, m2, m3 = max(m0, d0), max(m1, d1), max(m2, d2), max(m3, d3)
		p = p[4:]
	}
	for _, u := range p {
		m0 = max(m0, bits.RotateLeft32(u, 1)^1-1)
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
