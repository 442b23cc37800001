package formats

import (
	"math"
	"math/bits"
	"reflect"
)

// A scalar result (a bool, a number or a short string of a predeclared
// type) is most of what small pipelines store, and encoding/gob spends
// about 4 µs on one with a fresh encoder (the encoder, its buffers and
// type lookups), which was most of a cold node's encoding. gobAppendScalar
// writes the same bytes as a fresh gob encoder would (a single message:
// its length, the type id of the predeclared type, field delta 0, the
// value), so Decode and every flowcache version read them as gob's;
// TestGobScalarSameBytes checks it against encoding/gob for every type and
// edge value. Named types (type Celsius float64) and everything else take
// the general path: they may have gob or encoding methods of their own.

// gobScalarMax is the longest string written by gobAppendScalar.
const gobScalarMax = 4 << 10

// The ids encoding/gob gives the predeclared types.
const (
	gobIDBool   = 1
	gobIDInt    = 2
	gobIDUint   = 3
	gobIDFloat  = 4
	gobIDString = 6
)

var (
	typeBool    = reflect.TypeFor[bool]()
	typeInt     = reflect.TypeFor[int]()
	typeInt8    = reflect.TypeFor[int8]()
	typeInt16   = reflect.TypeFor[int16]()
	typeInt32   = reflect.TypeFor[int32]()
	typeInt64   = reflect.TypeFor[int64]()
	typeUint    = reflect.TypeFor[uint]()
	typeUint8   = reflect.TypeFor[uint8]()
	typeUint16  = reflect.TypeFor[uint16]()
	typeUint32  = reflect.TypeFor[uint32]()
	typeUint64  = reflect.TypeFor[uint64]()
	typeUintptr = reflect.TypeFor[uintptr]()
	typeFloat32 = reflect.TypeFor[float32]()
	typeFloat64 = reflect.TypeFor[float64]()
	typeString  = reflect.TypeFor[string]()
)

// gobAppendUint appends u as gob encodes an unsigned integer: one byte
// below 128, else the negated count of bytes then the bytes, big-endian.
func gobAppendUint(b []byte, u uint64) []byte {
	if u < 0x80 {
		return append(b, byte(u))
	}
	n := (bits.Len64(u) + 7) / 8
	b = append(b, byte(-n))
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(u>>(8*i)))
	}
	return b
}

// gobUintLen is the length of gobAppendUint's encoding of u.
func gobUintLen(u uint64) int {
	if u < 0x80 {
		return 1
	}
	return 1 + (bits.Len64(u)+7)/8
}

// gobAppendScalar appends the gob stream of v, a value of a predeclared
// bool, integer, float or string type (at most gobScalarMax bytes), and
// reports whether it did; false means the general path must encode v.
func gobAppendScalar(b []byte, v reflect.Value) ([]byte, bool) {
	var id int64
	var u uint64 // the value as gob's unsigned encoding takes it
	var s string
	switch v.Type() {
	case typeBool:
		id = gobIDBool
		if v.Bool() {
			u = 1
		}
	case typeInt, typeInt8, typeInt16, typeInt32, typeInt64:
		id = gobIDInt
		i := v.Int()
		if i < 0 {
			u = uint64(^i)<<1 | 1
		} else {
			u = uint64(i) << 1
		}
	case typeUint, typeUint8, typeUint16, typeUint32, typeUint64, typeUintptr:
		id, u = gobIDUint, v.Uint()
	case typeFloat32, typeFloat64:
		id, u = gobIDFloat, bits.ReverseBytes64(math.Float64bits(v.Float()))
	case typeString:
		s = v.String()
		if len(s) > gobScalarMax {
			return b, false
		}
		id, u = gobIDString, uint64(len(s))
	default:
		return b, false
	}
	// The message: the type id (a gob int), the field delta 0 of a
	// singleton, the value.
	n := 1 + 1 + gobUintLen(u) + len(s)
	b = gobAppendUint(b, uint64(n))
	b = append(b, byte(id<<1), 0)
	b = gobAppendUint(b, u)
	return append(b, s...), true
}
