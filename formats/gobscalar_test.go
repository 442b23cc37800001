package formats

import (
	"bytes"
	"encoding/gob"
	"math"
	"reflect"
	"strings"
	"testing"
)

// The scalar path writes exactly what a fresh encoding/gob encoder writes,
// and Decode reads it back.
func TestGobScalarSameBytes(t *testing.T) {
	vals := []any{
		false, true,
		0, 1, -1, 63, 64, -64, -65, 127, 128, 255, 256, -300, 1 << 40, math.MaxInt64, math.MinInt64,
		int8(0), int8(-128), int8(127), int16(-1), int16(math.MaxInt16), int32(math.MinInt32), int64(math.MaxInt64), int64(-7),
		uint(0), uint(127), uint(128), uint(math.MaxUint64), uint8(255), uint16(65535), uint32(1 << 31), uint64(1 << 63), uintptr(42),
		0.0, math.Copysign(0, -1), 1.5, -2.25, math.Pi, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1),
		float32(0), float32(1.5), float32(-3.25e10), float32(math.MaxFloat32),
		"", "a", "héllo", strings.Repeat("x", 127), strings.Repeat("y", 128), strings.Repeat("z", 300), strings.Repeat("w", gobScalarMax),
	}
	for _, v := range vals {
		var want bytes.Buffer
		if err := gob.NewEncoder(&want).Encode(v); err != nil {
			t.Fatal(err)
		}
		got, ok := gobAppendScalar(nil, reflect.ValueOf(v))
		if !ok {
			t.Errorf("%T %.40v: not taken by the scalar path", v, v)
			continue
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%T %.40v: % x, gob writes % x", v, v, got, want.Bytes())
		}
		var enc bytes.Buffer
		if err := Gob().Encode(&enc, v); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc.Bytes(), want.Bytes()) {
			t.Errorf("%T %.40v: Encode wrote % x, want % x", v, v, enc.Bytes(), want.Bytes())
		}
		back, err := Gob().Decode(bytes.NewReader(enc.Bytes()), reflect.TypeOf(v))
		if err != nil {
			t.Fatalf("%T %.40v: %v", v, v, err)
		}
		if back != v && !(reflect.TypeOf(v).Kind() == reflect.Float64 && math.Float64bits(back.(float64)) == math.Float64bits(v.(float64))) {
			t.Errorf("%T %.40v: read back %.40v", v, v, back)
		}
		if f, ok := v.(float64); ok && math.Signbit(f) != math.Signbit(back.(float64)) {
			t.Errorf("%v: sign lost", f)
		}
	}
	// NaN: the same bits.
	nan := math.Float64frombits(0x7ff8000000000001)
	var want bytes.Buffer
	gob.NewEncoder(&want).Encode(nan)
	if got, _ := gobAppendScalar(nil, reflect.ValueOf(nan)); !bytes.Equal(got, want.Bytes()) {
		t.Errorf("NaN: % x, gob writes % x", got, want.Bytes())
	}
	// Not taken: named types, longer strings, composites.
	type celsius float64
	for _, v := range []any{celsius(1), strings.Repeat("v", gobScalarMax+1), []byte("ab"), complex(1, 2), [1]int{1}, struct{ A int }{1}} {
		if _, ok := gobAppendScalar(nil, reflect.ValueOf(v)); ok {
			t.Errorf("%T taken by the scalar path", v)
		}
	}
}

func BenchmarkGobEncodeInt(b *testing.B) {
	var buf bytes.Buffer
	b.ReportAllocs()
	for i := range b.N {
		buf.Reset()
		if err := Gob().Encode(&buf, i); err != nil {
			b.Fatal(err)
		}
	}
}
