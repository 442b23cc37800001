package parquet_test

import (
	"testing"
	"time"

	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/formats/parquet"
)

// BenchRow is the row of the benchmark table: 4 float64 + 4 int64 columns,
// 64 bytes.
type BenchRow struct {
	A, B, C, D float64
	E, F, G, H int64
}

func benchRows(n int) []BenchRow {
	rows := make([]BenchRow, n)
	for i := range rows {
		x := float64(i)
		rows[i] = BenchRow{x * 0.5, x * 1.5, -x, x / 7, int64(i), int64(i) * 3, int64(-i), int64(i) ^ 0x5555}
	}
	return rows
}

// Records and tables are not in the suite: it loads values as their
// dynamic type, and arrow-go's record and table types are unexported (the
// package tests round-trip them as arrow.Record and arrow.Table).
func TestConformance(t *testing.T) {
	type Flat struct {
		N  int
		S  string
		F  float64
		B  bool
		T  time.Time
		P  *int32
		Bs []byte
	}
	conformance.TestFormat(t, conformance.FormatSuite{
		Format: parquet.New(),
		Supported: []conformance.FormatCase{
			{Name: "rows", Value: sampleRows()},
			{Name: "flat", Value: []Flat{{N: 1, S: "x", F: 0.25, B: true, T: time.Unix(5, 6).UTC(), P: ptr(int32(-3)), Bs: []byte("b")}, {}}},
			{Name: "one column", Value: []struct{ X uint16 }{{1}, {2}, {65535}}},
			{Name: "many rows", Value: benchRows(100_000)},
		},
		Unsupported: []any{
			map[string]int{},
			[]struct{ M map[string]int }{},
			[]struct{ S []string }{},
			[]struct{ In struct{ A int } }{},
			[]struct{ X any }{},
			[]int{},
			3.5,
		},
		Large: func(n int) any { return benchRows(n / 64) },
	})
}
