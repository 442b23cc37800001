package parquet_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet/compress"

	"github.com/flowcache/flowcache/core/fingerprint"
	"github.com/flowcache/flowcache/formats/parquet"
)

func fuzzSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, c := range []compress.Compression{compress.Codecs.Snappy, compress.Codecs.Uncompressed} {
		f := parquet.New(parquet.WithCompression(c), parquet.WithRowGroupRows(2))
		for _, v := range []any{sampleRows(), []Row{}, []struct{ X uint16 }{{1}, {2}}} {
			var buf bytes.Buffer
			if err := f.Encode(&buf, v); err != nil {
				t.Fatal(err)
			}
			out = append(out, buf.Bytes())
		}
	}
	return out
}

// FuzzDecode: corrupt input is an error, never a panic, a hang or a huge
// allocation.
func FuzzDecode(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	// A smaller decoding budget than the default 1 GiB keeps executions
	// fast; the bound itself is what is tested.
	format := parquet.New(parquet.WithMaxDecoded(16 << 20))
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := format.Decode(bytes.NewReader(b), reflect.TypeFor[[]Row]()); err == nil {
			if _, err := fingerprint.Of(v); err != nil {
				t.Fatalf("decoded rows cannot be fingerprinted: %v", err)
			}
		}
		if v, err := format.Decode(bytes.NewReader(b), reflect.TypeFor[arrow.Table]()); err == nil {
			_, _ = fingerprint.Of(v)
		}
	})
}
