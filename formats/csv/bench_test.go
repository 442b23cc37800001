package csv_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/flowcache/flowcache/formats/csv"
)

// BenchRow is the 8-column numeric table of the format benchmarks
// (10^6 × 8 float64/int64).
type BenchRow struct {
	F1, F2, F3, F4 float64
	I1, I2, I3, I4 int64
}

func benchRows(n int) []BenchRow {
	r := rand.New(rand.NewPCG(1, 2))
	rows := make([]BenchRow, n)
	for i := range rows {
		rows[i] = BenchRow{
			F1: r.Float64(), F2: r.NormFloat64() * 1e3, F3: float64(i) * 0.5, F4: r.ExpFloat64(),
			I1: int64(i), I2: r.Int64(), I3: r.Int64N(1000), I4: -r.Int64N(1 << 40),
		}
	}
	return rows
}

const benchN = 1_000_000

// The benchmarks set b.SetBytes to the in-memory size of the table
// (64 bytes a row), so MB/s is table bytes per second; the CSV file is
// about 1.7 times larger (file-bytes).

func BenchmarkEncode(b *testing.B) {
	rows := benchRows(benchN)
	f := csv.New()
	b.SetBytes(int64(len(rows)) * 64)
	var n int64
	for b.Loop() {
		c := &countWriter{}
		if err := f.Encode(c, rows); err != nil {
			b.Fatal(err)
		}
		n = c.n
	}
	b.ReportMetric(float64(n), "file-bytes")
}

func BenchmarkDecode(b *testing.B) {
	rows := benchRows(benchN)
	f := csv.New()
	var buf bytes.Buffer
	if err := f.Encode(&buf, rows); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	typ := reflect.TypeOf(rows)
	b.SetBytes(int64(len(rows)) * 64)
	b.ReportMetric(float64(len(data)), "file-bytes")
	for b.Loop() {
		if _, err := f.Decode(bytes.NewReader(data), typ); err != nil {
			b.Fatal(err)
		}
	}
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

var _ io.Writer = (*countWriter)(nil)
