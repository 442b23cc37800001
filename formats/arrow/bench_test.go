package arrow_test

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/flowcache/flowcache/formats/internal/tabletest"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/flowcache/flowcache/core/fingerprint"
	flowarrow "github.com/flowcache/flowcache/formats/arrow"
)

// BenchRow is the row of the benchmark table: 4 float64 + 4 int64 columns,
// 64 bytes.

// BenchTable returns the 10^6 x 8 benchmark table (one chunk, 64 MB).
func benchTable(tb testing.TB, n int) arrow.Table {
	rec, err := flowarrow.RecordFromSlice(tabletest.BenchRows(n))
	if err != nil {
		tb.Fatal(err)
	}
	defer rec.Release()
	return array.NewTableFromRecords(rec.Schema(), []arrow.RecordBatch{rec})
}

const benchN = 1_000_000

func BenchmarkEncodeTable(b *testing.B) {
	tbl := benchTable(b, benchN)
	f := flowarrow.New()
	var buf bytes.Buffer
	b.SetBytes(benchN * 64)
	for b.Loop() {
		buf.Reset()
		if err := f.Encode(&buf, tbl); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTable(b *testing.B) {
	tbl := benchTable(b, benchN)
	f := flowarrow.New()
	var buf bytes.Buffer
	if err := f.Encode(&buf, tbl); err != nil {
		b.Fatal(err)
	}
	typ := reflect.TypeFor[arrow.Table]()
	b.SetBytes(benchN * 64)
	for b.Loop() {
		v, err := f.Decode(bytes.NewReader(buf.Bytes()), typ)
		if err != nil {
			b.Fatal(err)
		}
		v.(arrow.Table).Release()
	}
}

func BenchmarkEncodeSlice(b *testing.B) {
	tabletest.BenchEncodeRows(b, flowarrow.New(), benchN)
}

func BenchmarkDecodeSlice(b *testing.B) {
	tabletest.BenchDecode(b, flowarrow.New(), tabletest.BenchRows(benchN), reflect.TypeFor[[]tabletest.BenchRow](), benchN*64)
}

func BenchmarkFingerprintTable(b *testing.B) {
	for _, chunks := range []int{1, 16} {
		b.Run(fmt.Sprintf("chunks=%d", chunks), func(b *testing.B) {
			one := benchTable(b, benchN)
			rr := array.NewTableReader(one, benchN/int64(chunks))
			var recs []arrow.RecordBatch
			for rr.Next() {
				r := rr.RecordBatch()
				r.Retain()
				recs = append(recs, r)
			}
			tbl := array.NewTableFromRecords(one.Schema(), recs)
			b.SetBytes(benchN * 64)
			for b.Loop() {
				if _, err := fingerprint.Of(tbl); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
