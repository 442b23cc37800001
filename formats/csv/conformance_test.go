package csv_test

import (
	"math"
	"testing"
	"time"

	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/formats/csv"
	"github.com/flowcache/flowcache/formats/internal/tabletest"
)

func TestConformance(t *testing.T) {
	nan := math.NaN()
	conformance.TestFormat(t, conformance.FormatSuite{
		Format: csv.New(),
		Supported: []conformance.FormatCase{
			{Name: "scalars", Value: []Scalars{
				{B: true, I: math.MinInt64, U64: math.MaxUint64, F32: 0.1, F64: math.Inf(-1), S: "a,\"b\"\nc", When: utc, Raw: []byte{0, 255}, D: time.Second, C: Celsius(nan)},
				{F64: math.Copysign(0, -1), S: "", Raw: []byte{}, When: utc.In(unnamed)},
			}},
			{Name: "nullable", Value: []Nullable{{}, {PB: tabletest.Ptr(true), PI: tabletest.Ptr(1), PF: &nan, PS: tabletest.Ptr(""), PT: tabletest.Ptr(utc), PC: tabletest.Ptr[Celsius](-1)}}},
			{Name: "pointer rows", Value: []*Tagged{{1, "x", "", " "}, {2, "héllo", "\"", ","}}},
			{Name: "named table", Value: Table{{S: "x"}}},
			{Name: "single nullable column", Value: []OneNullable{{nil}, {tabletest.Ptr("")}, {nil}}},
			{Name: "embedded time", Value: []Event{{utc, 1}}},
			{Name: "strings", Value: [][]string{{"a", "b"}, {"ragged"}, {""}, tricky}},
			{Name: "named strings", Value: Grid{{"x"}}},
			{Name: "numeric table", Value: benchRows(1000)},
		},
		Unsupported: []any{
			map[string]int{}, []int{}, 42, Scalars{}, []time.Time{}, [][]int{},
			[]withMap{}, []withNested{}, []withEmbedded{}, []withSlice{}, []withIface{}, []withFunc{},
			[]withComplex{}, []withPtrPtr{}, []withUnexported{}, []withSkip{}, []withDup{}, []empty{},
		},
		// BenchRow rows are about 110 bytes of CSV.
		Large: func(n int) any { return benchRows(n / 110) },
	})
}
