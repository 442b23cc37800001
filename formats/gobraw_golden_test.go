package formats_test

import (
	"math"
)

// Celsius is a named number type, for slices of named elements.
type Celsius float64

// chunkedGolden are the values of testdata/gob-chunked: numeric slices
// written in chunks by the flowcache of commit a62b8ad (before raw
// slices), with chunks of 256 bytes (formats.SetGobChunkBytes(256)).
func chunkedGolden() map[string]any {
	const n = 100
	f64 := make([]float64, n)
	f32 := make([]float32, n)
	i64 := make([]int64, n)
	i32 := make([]int32, n)
	i16 := make([]int16, n)
	i8 := make([]int8, n)
	u64 := make([]uint64, n)
	u32 := make([]uint32, n)
	u16 := make([]uint16, n)
	ints := make([]int, n)
	uints := make([]uint, n)
	c128 := make([]complex128, n)
	c64 := make([]complex64, n)
	named := make(Floats, n)
	celsius := make([]Celsius, n)
	for i := range n {
		x := float64(i-n/2) / 7
		f64[i], f32[i], named[i], celsius[i] = x, float32(x), x*3, Celsius(x+273.15)
		i64[i] = int64(i-n/2) * 1e15
		i32[i] = int32(i-n/2) * 2e7
		i16[i] = int16(i-n/2) * 600
		i8[i] = int8(i - n/2)
		u64[i] = uint64(i) * 1e17
		u32[i] = uint32(i) * 4e7
		u16[i] = uint16(i) * 650
		ints[i] = (i - n/2) << 40
		uints[i] = uint(i) << 50
		c128[i] = complex(x, -x)
		c64[i] = complex64(complex(x, 2*x))
	}
	f64[0], f64[1], f64[2], f64[3] = math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN()
	f64[4], f64[5] = math.MaxFloat64, math.SmallestNonzeroFloat64
	f32[0], f32[1], f32[2] = float32(math.Copysign(0, -1)), float32(math.Inf(1)), math.MaxFloat32
	i64[0], i64[1] = math.MinInt64, math.MaxInt64
	i32[0], i32[1] = math.MinInt32, math.MaxInt32
	i16[0], i16[1] = math.MinInt16, math.MaxInt16
	i8[0], i8[1] = math.MinInt8, math.MaxInt8
	u64[0], u32[0], u16[0] = math.MaxUint64, math.MaxUint32, math.MaxUint16
	c128[0] = complex(math.Copysign(0, -1), math.NaN())
	return map[string]any{
		"float64": f64, "float32": f32, "int64": i64, "int32": i32, "int16": i16, "int8": i8,
		"uint64": u64, "uint32": u32, "uint16": u16, "int": ints, "uint": uints,
		"complex128": c128, "complex64": c64, "named": named, "celsius": celsius,
	}
}
