package csv_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats/csv"
	"github.com/flowcache/flowcache/formats/internal/tabletest"
	"github.com/flowcache/flowcache/internal/allocguard"
)

// FuzzRow has a column of every cell kind, nullable and not.
type FuzzRow struct {
	B  bool
	I  int8
	U  uint64
	F  float32
	G  float64
	S  string
	T  time.Time
	R  []byte
	PI *int
	PS *string
	PT *time.Time
	PF *float64
}

// decodePerByte bounds what Decode may allocate per byte of input: a cell
// takes at least one byte (its comma) and becomes at most a 24-byte Go
// value (a string header in a [][]string row, a pointer and its value in
// a nullable field, an Arrow builder's value and its growth), which is
// held twice (chunks of rows, then the final slice); a record's cell ends
// take 9 bytes per cell while it is read.
const decodePerByte = 64

func fuzzSeeds(f *testing.F) {
	f.Add([]byte("B,I,U,F,G,S,T,R,PI,PS,PT,PF\ntrue,-8,18446744073709551615,1.5,NaN,\"a,\"\"b\"\"\",2024-05-06T07:08:09.5Z,AAH/,,\"\",2024-05-06T07:08:09+05:30,-Inf\n"))
	f.Add([]byte("a,b\n\n\"\"\n\"x\ny\",z\r\n"))
	f.Add([]byte("F1,F2\n1,2\n"))
	for _, v := range []any{
		[]FuzzRow{{}, {B: true, I: -1, S: "q\"\n", R: []byte{}, PI: tabletest.Ptr(3), PS: tabletest.Ptr(""), PT: tabletest.Ptr(utc.In(unnamed)), PF: tabletest.Ptr(0.25)}},
		[]*Tagged{{1, "a", "b", "c"}},
		[][]string{{"a", ""}, {""}, tricky},
		[][]string{},
		[][]string(nil),
		[]FuzzRow(nil),
		arrowRecord(f, 0, 8),
	} {
		var buf bytes.Buffer
		if err := csv.New().Encode(&buf, v); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte("x [int8 not null],y [timestamp[ns, tz=UTC]]\n1,2024-05-06T07:08:09+05:30\r\n"))
	f.Add([]byte("x [int64],y [utf8],z [binary]\n" + strings.Repeat(",,\n", 1000) + ",,\r\n"))
	f.Add([]byte(strings.Repeat(",", 1000) + "\r\n"))
}

// FuzzDecode feeds arbitrary bytes to Decode for five table types. Decode
// must not panic, must allocate at most decodePerByte bytes a byte (over
// allocguard's fixed 64 MiB), must fail only with core.ErrCorrupt and
// whenever Validate does; when it succeeds, the value must survive another
// round trip with the same fingerprint. The committed seed corpus is under
// testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	format := csv.New(csv.MaxRecordSize(1 << 16))
	fuzzSeeds(f)
	types := []reflect.Type{reflect.TypeFor[[]FuzzRow](), reflect.TypeFor[[]*Tagged](), reflect.TypeFor[[][]string](),
		reflect.TypeFor[arrow.RecordBatch](), reflect.TypeFor[arrow.Table]()}
	f.Fuzz(func(t *testing.T, data []byte) {
		valid := format.(core.FormatValidator).Validate(bytes.NewReader(data)) == nil
		for _, typ := range types {
			var v any
			var err error
			allocguard.Run(t, allocguard.Bound(len(data), decodePerByte), func() { v, err = format.Decode(bytes.NewReader(data), typ) })
			if err != nil {
				if !errors.Is(err, core.ErrCorrupt) {
					t.Fatalf("%v: Decode = %v, want an error wrapping core.ErrCorrupt", typ, err)
				}
				continue
			}
			if !valid {
				t.Fatalf("%v: Decode accepted %q, which Validate refuses", typ, data)
			}
			var buf bytes.Buffer
			if err := format.Encode(&buf, v); err != nil {
				// Encode refuses only a record that grew past the limit
				// when re-encoded ("T" is written "true", "1e9" as
				// "1000000000").
				continue
			}
			w, err := format.Decode(&buf, typ)
			if err != nil {
				t.Fatalf("%v: re-decoding failed: %v\ninput %q\nre-encoded %q", typ, err, data, buf.Bytes())
			}
			if tabletest.Sum(t, v) != tabletest.Sum(t, w) {
				t.Fatalf("%v: fingerprint changed in a second round trip\ninput %q\nre-encoded %q", typ, data, buf.Bytes())
			}
		}
	})
}

// FuzzValidate: Validate holds one record at a time (at most 16 bytes a
// byte of it, with its cell ends) and fails only with core.ErrCorrupt.
func FuzzValidate(f *testing.F) {
	format := csv.New(csv.MaxRecordSize(1 << 16))
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var err error
		allocguard.Run(t, allocguard.Bound(len(data), 16), func() { err = format.(core.FormatValidator).Validate(bytes.NewReader(data)) })
		if err != nil && !errors.Is(err, core.ErrCorrupt) {
			t.Fatalf("Validate = %v, want an error wrapping core.ErrCorrupt", err)
		}
	})
}
