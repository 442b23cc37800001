package arrow_test

import (
	"testing"
	"time"

	"github.com/flowcache/flowcache/conformance"
	flowarrow "github.com/flowcache/flowcache/formats/arrow"
)

// conformanceSuite is shared with formats/parquet's test in spirit: the
// same kinds of values. Records and tables are not in it: the suite loads
// values as their dynamic type, and arrow-go's record and table types are
// unexported (the package tests round-trip them as arrow.Record and
// arrow.Table).
func conformanceSuite() conformance.FormatSuite {
	type Flat struct {
		N  int
		S  string
		F  float64
		B  bool
		T  time.Time
		P  *int32
		Bs []byte
	}
	return conformance.FormatSuite{
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
	}
}

func TestConformance(t *testing.T) {
	s := conformanceSuite()
	s.Format = flowarrow.New()
	conformance.TestFormat(t, s)
}
