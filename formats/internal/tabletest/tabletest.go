// Package tabletest holds the fixtures the table formats' tests share (the
// Arrow, Parquet and CSV packages): the benchmark table and the conformance
// cases of flat-struct tables. Only tests import it.
package tabletest

import (
	"time"

	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/core"
)

// BenchRow is a row of the benchmark table: 4 float64 + 4 int64 columns,
// 64 bytes.
type BenchRow struct {
	A, B, C, D float64
	E, F, G, H int64
}

// BenchRows returns n benchmark rows (10^6 of them is the issue's
// 10^6 × 8 table, 64 MB).
func BenchRows(n int) []BenchRow {
	rows := make([]BenchRow, n)
	for i := range rows {
		x := float64(i)
		rows[i] = BenchRow{x * 0.5, x * 1.5, -x, x / 7, int64(i), int64(i) * 3, int64(-i), int64(i) ^ 0x5555}
	}
	return rows
}

// Ptr returns a pointer to v.
func Ptr[T any](v T) *T { return &v }

// Flat is a table row with one column of each basic kind and a nullable one.
type Flat struct {
	N  int
	S  string
	F  float64
	B  bool
	T  time.Time
	P  *int32
	Bs []byte
}

// Suite returns the conformance suite of a format that stores slices of
// flat structs, with rows (a []T of the package's own row type) as one
// more supported case.
func Suite(f core.Format, rows any) conformance.FormatSuite {
	return conformance.FormatSuite{
		Format: f,
		Supported: []conformance.FormatCase{
			{Name: "rows", Value: rows},
			{Name: "flat", Value: []Flat{{N: 1, S: "x", F: 0.25, B: true, T: time.Unix(5, 6).UTC(), P: Ptr(int32(-3)), Bs: []byte("b")}, {}}},
			{Name: "one column", Value: []struct{ X uint16 }{{1}, {2}, {65535}}},
			{Name: "many rows", Value: BenchRows(100_000)},
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
		Large: func(n int) any { return BenchRows(n / 64) },
	}
}
