package arrow_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/flowcache/flowcache/core/fingerprint"
	flowarrow "github.com/flowcache/flowcache/formats/arrow"
)

// fuzzSeeds returns encodings of the shapes the format writes: slices with
// nulls in several batches, empty and nil slices, a record with nulls and
// a list column, a chunked table.
func fuzzSeeds(t testing.TB) [][]byte {
	f := flowarrow.New(flowarrow.WithBatchRows(2))
	full := rec(t, testFields, testCols...)
	tbl := array.NewTableFromRecords(full.Schema(), []arrow.RecordBatch{full.NewSlice(0, 5), full.NewSlice(5, 12)})
	var out [][]byte
	for _, v := range []any{sampleRows(), []Row{}, []Row(nil), []struct{ X uint16 }{{1}, {2}}, full, tbl} {
		var buf bytes.Buffer
		if err := f.Encode(&buf, v); err != nil {
			t.Fatal(err)
		}
		out = append(out, buf.Bytes())
	}
	return out
}

// FuzzDecode: corrupt input is an error, never a panic, a hang or a huge
// allocation; what decodes is valid (it can be fingerprinted and read).
func FuzzDecode(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	format := flowarrow.New()
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := format.Decode(bytes.NewReader(b), reflect.TypeFor[[]Row]()); err == nil {
			if _, err := fingerprint.Of(v); err != nil {
				t.Fatalf("decoded rows cannot be fingerprinted: %v", err)
			}
		}
		if v, err := format.Decode(bytes.NewReader(b), reflect.TypeFor[arrow.RecordBatch]()); err == nil {
			r := v.(arrow.RecordBatch)
			_, _ = fingerprint.Of(r)
			for _, c := range r.Columns() {
				for i := range c.Len() {
					_ = c.ValueStr(i)
				}
			}
		}
		if v, err := format.Decode(bytes.NewReader(b), reflect.TypeFor[arrow.Table]()); err == nil {
			_, _ = fingerprint.Of(v)
		}
	})
}
