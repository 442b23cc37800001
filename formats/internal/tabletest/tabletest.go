// Package tabletest holds the fixtures the table formats' tests share (the
// Arrow, Parquet and CSV packages): the benchmark table, the conformance
// cases of flat-struct tables, and the round-trip checks. Only tests import
// it.
package tabletest

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/core/fingerprint"
)

// BenchRow is a row of the benchmark table: 4 float64 + 4 int64 columns,
// 64 bytes.
type BenchRow struct {
	A, B, C, D float64
	E, F, G, H int64
}

// BenchRows returns n benchmark rows (10^6 of them is the
// 10^6 × 8 table of the benchmarks, 64 MB).
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

// Sum returns the fingerprint of v (records and tables by the rules the
// arrow package registers), failing the test when v has none.
func Sum(t testing.TB, v any) fingerprint.Sum {
	t.Helper()
	s, err := fingerprint.Of(v)
	if err != nil {
		t.Fatalf("fingerprint %T: %v", v, err)
	}
	return s
}

// Encode returns v encoded by f, failing the test on an error.
func Encode(t testing.TB, f core.Format, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := f.Encode(&buf, v); err != nil {
		t.Fatalf("Encode(%T): %v", v, err)
	}
	return buf.Bytes()
}

// RoundTrip checks that f accepts typ, encodes v, decodes it as typ (a
// value implementing typ when typ is an interface) and that the decoded
// value fingerprints as v does. It returns the decoded value and the
// encoded bytes.
func RoundTrip(t testing.TB, f core.Format, v any, typ reflect.Type) (any, []byte) {
	t.Helper()
	if err := f.Check(typ); err != nil {
		t.Fatalf("Check(%v): %v", typ, err)
	}
	data := Encode(t, f, v)
	got, err := f.Decode(bytes.NewReader(data), typ)
	if err != nil {
		t.Fatalf("Decode(%v): %v\n%.2000q", typ, err, data)
	}
	if typ.Kind() == reflect.Interface {
		if !reflect.TypeOf(got).Implements(typ) {
			t.Fatalf("decoded a %T, want a %v", got, typ)
		}
	} else if reflect.TypeOf(got) != typ {
		t.Fatalf("decoded a %T, want %v", got, typ)
	}
	if a, b := Sum(t, v), Sum(t, got); a != b {
		t.Fatalf("%v: decoded value fingerprints differently:\nstored: %#v\nloaded: %#v\nencoded: %.2000q", typ, v, got, data)
	}
	return got, data
}

// BenchEncodeRows measures f encoding n benchmark rows (64 bytes each).
func BenchEncodeRows(b *testing.B, f core.Format, n int) {
	rows := BenchRows(n)
	var buf bytes.Buffer
	b.SetBytes(int64(n) * 64)
	for b.Loop() {
		buf.Reset()
		if err := f.Encode(&buf, rows); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchDecode measures f decoding v, encoded once, as typ; size is the
// bytes of v in memory, for MB/s.
func BenchDecode(b *testing.B, f core.Format, v any, typ reflect.Type, size int64) {
	data := Encode(b, f, v)
	b.SetBytes(size)
	for b.Loop() {
		if _, err := f.Decode(bytes.NewReader(data), typ); err != nil {
			b.Fatal(err)
		}
	}
}
