package parquet_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/flowcache/flowcache/formats/internal/tabletest"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet/compress"

	"github.com/flowcache/flowcache/core"
	flowarrow "github.com/flowcache/flowcache/formats/arrow"
	"github.com/flowcache/flowcache/formats/parquet"
)

const benchN = 1_000_000

// benchTable returns the 10^6 x 8 benchmark table (4 float64 + 4 int64
// columns, 64 MB, one chunk).
func benchTable(tb testing.TB) arrow.Table {
	rec, err := flowarrow.RecordFromSlice(tabletest.BenchRows(benchN))
	if err != nil {
		tb.Fatal(err)
	}
	defer rec.Release()
	return array.NewTableFromRecords(rec.Schema(), []arrow.RecordBatch{rec})
}

var codecs = []struct {
	name  string
	codec compress.Compression
}{
	{"snappy", compress.Codecs.Snappy},
	{"zstd", compress.Codecs.Zstd},
	{"none", compress.Codecs.Uncompressed},
}

func BenchmarkEncodeTable(b *testing.B) {
	tbl := benchTable(b)
	for _, c := range codecs {
		b.Run(c.name, func(b *testing.B) {
			f := parquet.New(parquet.WithCompression(c.codec))
			var buf bytes.Buffer
			b.SetBytes(benchN * 64)
			for b.Loop() {
				buf.Reset()
				if err := f.Encode(&buf, tbl); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len())/1e6, "MB-stored")
		})
	}
}

func BenchmarkDecodeTable(b *testing.B) {
	tbl := benchTable(b)
	for _, c := range codecs {
		b.Run(c.name, func(b *testing.B) {
			f := parquet.New(parquet.WithCompression(c.codec))
			benchDecode(b, f, tbl, reflect.TypeFor[arrow.Table]())
		})
	}
}

func BenchmarkDecodeSlice(b *testing.B) {
	benchDecode(b, parquet.New(), tabletest.BenchRows(benchN), reflect.TypeFor[[]tabletest.BenchRow]())
}

func BenchmarkEncodeSlice(b *testing.B) {
	rows := tabletest.BenchRows(benchN)
	f := parquet.New()
	var buf bytes.Buffer
	b.SetBytes(benchN * 64)
	for b.Loop() {
		buf.Reset()
		if err := f.Encode(&buf, rows); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDecode(b *testing.B, f core.Format, v any, typ reflect.Type) {
	var buf bytes.Buffer
	if err := f.Encode(&buf, v); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchN * 64)
	for b.Loop() {
		if _, err := f.Decode(bytes.NewReader(buf.Bytes()), typ); err != nil {
			b.Fatal(err)
		}
	}
}
