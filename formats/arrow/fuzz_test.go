package arrow_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/core/fingerprint"
	flowarrow "github.com/flowcache/flowcache/formats/arrow"
	"github.com/flowcache/flowcache/internal/allocguard"
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
	// Crafted streams of TestDecodeLyingRowCount and TestDecodeCompressed.
	out = append(out, idStream(t, 3, map[string]string{flowarrow.RowsKey: "1000000000000"}))
	out = append(out, idStream(t, 100, nil, ipc.WithZstd()), idStream(t, 100, nil, ipc.WithLZ4()))
	return out
}

// fuzzBound is what decoding b may allocate: the allocator's 1 MiB plus
// two bytes per byte read for Arrow buffers, message bodies read in steps
// (at most twice what arrived, after a first 4 MiB), the slice allocated at
// up to 64 bytes per byte read plus 1 MiB, and the Go values built from
// the Arrow data (strings, and the values pointer fields point to), over
// allocguard's fixed 64 MiB.
func fuzzBound(b []byte) uint64 { return allocguard.Bound(len(b), 128) }

// FuzzDecode: corrupt input is an error wrapping core.ErrCorrupt, never a
// panic, a hang or an allocation past fuzzBound; what decodes is valid (it
// can be fingerprinted and read).
func FuzzDecode(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	format := flowarrow.New()
	f.Fuzz(func(t *testing.T, b []byte) {
		decode := func(typ reflect.Type) any {
			var v any
			var err error
			// A plain reader, as a store gives.
			allocguard.Run(t, fuzzBound(b), func() { v, err = format.Decode(io.MultiReader(bytes.NewReader(b)), typ) })
			if err != nil && !errors.Is(err, core.ErrCorrupt) {
				t.Fatalf("Decode as %v = %v, want an error wrapping core.ErrCorrupt", typ, err)
			}
			return v
		}
		if v := decode(reflect.TypeFor[[]Row]()); v != nil {
			if _, err := fingerprint.Of(v); err != nil {
				t.Fatalf("decoded rows cannot be fingerprinted: %v", err)
			}
		}
		if v := decode(reflect.TypeFor[arrow.RecordBatch]()); v != nil {
			r := v.(arrow.RecordBatch)
			_, _ = fingerprint.Of(r)
			for _, c := range r.Columns() {
				for i := range c.Len() {
					_ = c.ValueStr(i)
				}
			}
		}
		if v := decode(reflect.TypeFor[arrow.Table]()); v != nil {
			_, _ = fingerprint.Of(v)
		}
	})
}

// FuzzValidate: Validate is bounded like Decode, and a stream it accepts
// decodes as a table.
func FuzzValidate(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	format := flowarrow.New()
	f.Fuzz(func(t *testing.T, b []byte) {
		var err error
		allocguard.Run(t, fuzzBound(b), func() { err = format.(core.FormatValidator).Validate(io.MultiReader(bytes.NewReader(b))) })
		if err != nil {
			if !errors.Is(err, core.ErrCorrupt) {
				t.Fatalf("Validate = %v, want an error wrapping core.ErrCorrupt", err)
			}
			return
		}
		if _, err := format.Decode(bytes.NewReader(b), reflect.TypeFor[arrow.Table]()); err != nil {
			t.Fatalf("Validate accepted what Decode refuses: %v", err)
		}
	})
}
