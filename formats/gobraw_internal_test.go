package formats

import (
	"math"
	"strings"
	"testing"
	"unsafe"
)

// TestGobRawNarrow: where int is 32 bits, the raw slice's 64-bit ints are
// read into 4-byte elements, and one that does not fit is refused (as
// encoding/gob refuses it); the other way, 4-byte ints are written as 64
// bits, sign-extended for int (not for uint).
func TestGobRawNarrow(t *testing.T) {
	for _, e := range []gobRawElem{rawInt64, rawUint64} {
		info := e.info()
		in := []int32{-1, 7, math.MinInt32, math.MaxInt32}
		b := make([]byte, len(in)*info.width)
		e.put(b, unsafe.Pointer(&in[0]), 4, len(in))
		want := uint64(math.MaxUint64) // -1, sign-extended
		if !info.signed {
			want = math.MaxUint32 // the uint 2^32-1
		}
		if got := loadLE(b, 8, info.signed); got != want {
			t.Fatalf("%s: the first element written as %#x, want %#x", info.name, got, want)
		}
		out := make([]int32, len(in))
		if err := e.get(unsafe.Pointer(&out[0]), 4, b, len(in)); err != nil || out[0] != -1 || out[2] != math.MinInt32 || out[3] != math.MaxInt32 {
			t.Fatalf("%s: read back %v, %v", info.name, out, err)
		}
		big := make([]byte, 8)
		storeLE(big, 8, 1<<40)
		if err := e.get(unsafe.Pointer(&out[0]), 4, big, 1); err == nil || !strings.Contains(err.Error(), "1099511627776 does not fit in 32 bits") {
			t.Fatalf("%s: 2^40 into 32 bits: %v", info.name, err)
		}
	}
}
