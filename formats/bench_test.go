package formats_test

import (
	"bytes"
	"io"
	"reflect"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats"
)

// The benchmark values: the 10^6 × 8 table (4 float64 + 4 int64 columns,
// 64 MB) and an 80 MB []float64. b.SetBytes is the value's size in memory,
// so MB/s are comparable across formats; enc-bytes/op is the encoding's
// size.
var benchValues = sync.OnceValue(func() []struct {
	name string
	v    any
	size int64
} {
	return []struct {
		name string
		v    any
		size int64
	}{
		{"table", table(1_000_000), 1_000_000 * 64},
		{"floats", floats(10_000_000), 10_000_000 * 8},
	}
})

func benchFormats() []core.Format {
	return []core.Format{
		formats.Gob(),
		formats.Zstd(formats.Gob()), // SpeedDefault
		namedAs(formats.Zstd(formats.Gob(), formats.ZstdLevel(zstd.SpeedFastest)), "gob+zstd-fastest"),
		formats.JSON(),
		formats.Zstd(formats.JSON()),
		namedAs(formats.Zstd(formats.JSON(), formats.ZstdLevel(zstd.SpeedFastest)), "json+zstd-fastest"),
	}
}

type renamed struct {
	core.Format
	name string
}

func (r renamed) Name() string { return r.name }

func namedAs(f core.Format, name string) core.Format { return renamed{f, name} }

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func BenchmarkEncode(b *testing.B) {
	for _, bv := range benchValues() {
		for _, f := range benchFormats() {
			b.Run(bv.name+"/"+f.Name(), func(b *testing.B) {
				b.SetBytes(bv.size)
				var cw countWriter
				for b.Loop() {
					cw.n = 0
					if err := f.Encode(&cw, bv.v); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(cw.n), "enc-bytes/op")
			})
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, bv := range benchValues() {
		for _, f := range benchFormats() {
			b.Run(bv.name+"/"+f.Name(), func(b *testing.B) {
				var buf bytes.Buffer
				if err := f.Encode(&buf, bv.v); err != nil {
					b.Fatal(err)
				}
				enc := buf.Bytes()
				typ := reflect.TypeOf(bv.v)
				b.SetBytes(bv.size)
				for b.Loop() {
					// A plain reader, as a result store gives.
					if _, err := f.Decode(io.MultiReader(bytes.NewReader(enc)), typ); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(enc)), "enc-bytes/op")
			})
		}
	}
}
