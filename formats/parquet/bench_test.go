package parquet_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/flowcache/flowcache/formats/internal/tabletest"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet/compress"

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
			tabletest.BenchDecode(b, f, tbl, reflect.TypeFor[arrow.Table](), benchN*64)
		})
	}
}

func BenchmarkDecodeSlice(b *testing.B) {
	tabletest.BenchDecode(b, parquet.New(), tabletest.BenchRows(benchN), reflect.TypeFor[[]tabletest.BenchRow](), benchN*64)
}

func BenchmarkEncodeSlice(b *testing.B) {
	tabletest.BenchEncodeRows(b, parquet.New(), benchN)
}
