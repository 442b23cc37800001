package formats_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/formats"
)

// Types shared by the suites of this package.

type Tagged struct {
	ID    int64             `json:"id"`
	Label string            `json:"label,omitempty"`
	Attrs map[string]string `json:"attrs,omitempty"`
	Score *float64          `json:"score"`
}

type Embedded struct {
	Inner
	Extra []int
}

type Recursive struct {
	Val      int
	Children []Recursive
}

// Row8 is a row of the benchmark table: 4 float64 and 4 int64 columns.
type Row8 struct {
	A, B, C, D float64
	E, F, G, H int64
}

func table(n int) []Row8 {
	rows := make([]Row8, n)
	for i := range rows {
		x := float64(i)
		rows[i] = Row8{x * 0.5, x / 3, math.Sqrt(x), -x * 1e3, int64(i), int64(i % 1000), int64(i) * 7919, -int64(i)}
	}
	return rows
}

func floats(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(i) / 7
	}
	return v
}

// commonCases are values both gob and json store and load back equal.
func commonCases() []conformance.FormatCase {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	five := 5.0
	return []conformance.FormatCase{
		{Name: "int", Value: 42},
		{Name: "int8", Value: int8(-3)},
		{Name: "uint64", Value: uint64(1 << 60)},
		{Name: "float64", Value: 3.5},
		{Name: "float32", Value: float32(0.1)},
		{Name: "float64 tiny", Value: 5e-324},
		{Name: "negative zero", Value: math.Copysign(0, -1)},
		{Name: "string", Value: "héllo \"wörld\" <&> \u2028 \ufffd \\ufffd"},
		{Name: "bool", Value: true},
		{Name: "bytes", Value: []byte("raw\x00\xff")},
		{Name: "floats", Value: []float64{1, 2.5, -3, math.MaxFloat64, math.SmallestNonzeroFloat64}},
		{Name: "strings", Value: []string{"a", "", "c"}},
		{Name: "map", Value: map[string]int{"a": 1, "b": 2}},
		{Name: "map int keys", Value: map[int]string{-1: "x", 7: "y"}},
		{Name: "array", Value: [2]string{"x", "y"}},
		{Name: "struct", Value: Row{Name: "n", Score: 1.5, At: at, Tags: []string{"t"}, Inner: &Inner{N: 7}}},
		{Name: "structs", Value: []Row{{Name: "a", At: at}, {Name: "b", At: at, Tags: []string{"u", "v"}}}},
		{Name: "pointer", Value: &Inner{N: 3}},
		{Name: "time", Value: at},
		{Name: "duration", Value: 90 * time.Second},
		{Name: "tagged", Value: []Tagged{{ID: 1, Label: "x", Attrs: map[string]string{"k": "v"}, Score: &five}, {ID: 2}}},
		{Name: "embedded", Value: Embedded{Inner: Inner{N: 1}, Extra: []int{1, 2}}},
		{Name: "recursive", Value: Recursive{Val: 1, Children: []Recursive{{Val: 2}, {Val: 3, Children: []Recursive{{Val: 4}}}}}},
		{Name: "nested maps", Value: map[string][]map[string]int{"a": {{"x": 1}, {}}}},
		{Name: "table", Value: table(1000)},
		{Name: "empty string", Value: ""},
		{Name: "empty slice in struct", Value: Row{Tags: []string{}}},
		// nil and empty, and -0, where gob alone would change them.
		{Name: "nil and empty slices", Value: [][]int{nil, {}, {1}}},
		{Name: "nil and empty maps", Value: []map[string]int{nil, {}, {"a": 1}}},
		{Name: "nil and empty map values", Value: map[string][]string{"n": nil, "e": {}}},
		{Name: "-0 fields", Value: []Row{{Score: math.Copysign(0, -1)}, {Score: 0}}},
	}
}

type withFunc2 struct {
	OK int
	F  func()
}

func TestGobSuite(t *testing.T) {
	conformance.TestFormat(t, conformance.FormatSuite{
		Format:      formats.Gob(),
		Supported:   commonCases(),
		Unsupported: []any{withUnexported{}, nested{}, withFunc{}, withChan{}, func() {}, make(chan int), struct{}{}, []withFunc2{}},
		// A large slice is written and read in chunks (see Gob).
		Large: func(n int) any { return floats(n / 9) },
	})
}

func TestGobZstdSuite(t *testing.T) {
	f, err := formats.Lookup("gob+zstd")
	if err != nil {
		t.Fatal(err)
	}
	conformance.TestFormat(t, conformance.FormatSuite{
		Format:      f,
		Supported:   commonCases(),
		Unsupported: []any{withUnexported{}, withFunc{}},
	})
}

type jsonSkipped struct {
	A int
	B int `json:"-"`
}

// jsonDup's N hides Inner.N: json writes only the shallower one.
type jsonDup struct {
	Inner
	N int
}

type jsonStringer struct{ S fmt.Stringer }

func jsonUnsupported() []any {
	one := 1
	p := &one
	return []any{
		func() {}, make(chan int), complex(1, 2), []complex64{}, map[float64]int{}, map[bool]string{},
		withUnexported{}, nested{}, jsonSkipped{}, jsonDup{}, jsonStringer{}, &p, withFunc{},
	}
}

func jsonCases() []conformance.FormatCase {
	return append(commonCases(),
		conformance.FormatCase{Name: "any", Value: map[string]any{"n": 1.5, "s": "x", "b": true, "z": nil, "l": []any{1.0, "two", map[string]any{}}}},
		conformance.FormatCase{Name: "any slice", Value: []any{nil, 2.0, []any{}}},
		conformance.FormatCase{Name: "uint8 array", Value: [3]uint8{1, 2, 255}},
		conformance.FormatCase{Name: "struct{}", Value: struct{}{}},
		conformance.FormatCase{Name: "pointer to zero", Value: struct{ P *int }{P: new(int)}},
	)
}

// largeFloats returns a []float64 whose JSON is about n bytes (about 19
// bytes per number).
func largeFloats(n int) any { return floats(n / 19) }

func TestJSONSuite(t *testing.T) {
	conformance.TestFormat(t, conformance.FormatSuite{
		Format:      formats.JSON(),
		Supported:   jsonCases(),
		Unsupported: jsonUnsupported(),
		Large:       largeFloats,
	})
}

func TestJSONZstdSuite(t *testing.T) {
	conformance.TestFormat(t, conformance.FormatSuite{
		Format:      formats.Zstd(formats.JSON()),
		Supported:   jsonCases(),
		Unsupported: jsonUnsupported(),
		// The same value as for json: its compressed encoding is smaller.
		Large: func(n int) any { return table(n / 200) },
	})
}
