package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats"
	flowarrow "github.com/flowcache/flowcache/formats/arrow"
	"github.com/flowcache/flowcache/formats/csv"
	"github.com/flowcache/flowcache/formats/parquet"
)

// Row is one row of the 10^6 × 8 table of the formats benchmark.
type Row struct {
	A, B, C, D float64
	E, F, G, H int64
}

// memBuffer keeps an encoding in memory, so that
// decoding reads what encoding wrote without touching the disk.
type memBuffer struct{ b []byte }

func (m *memBuffer) Write(p []byte) (int, error) { m.b = append(m.b, p...); return len(p), nil }

type sliceReader struct {
	b []byte
	i int
}

func (r *sliceReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}

func formatsBench(args []string) error {
	fs := flag.NewFlagSet("formats", flag.ExitOnError)
	rows := fs.Int("rows", 1_000_000, "rows of the table")
	mb := fs.Int("mb", 80, "size of the []float64 in MB")
	fs.Parse(args)

	// The machine's sequential disk bandwidth, measured now: a large
	// write followed by fsync, in the temporary directory.
	if bw, err := diskBandwidth(256 << 20); err == nil {
		emit(map[string]any{"bench": "formats", "what": "disk write+fsync", "bytes": 256 << 20, "mb_per_s": round(bw, 1)})
	} else {
		return err
	}

	table := make([]Row, *rows)
	for i := range table {
		f := float64(i)
		table[i] = Row{A: f, B: math.Sqrt(f), C: f / 3, D: -f, E: int64(i), F: int64(i * 7), G: int64(i % 1000), H: int64(-i)}
	}
	floats := make([]float64, *mb*1000*1000/8)
	for i := range floats {
		floats[i] = math.Sqrt(float64(i))
	}
	values := []struct {
		name  string
		v     any
		bytes int
	}{
		{"table", table, len(table) * 64},
		{"[]float64", floats, len(floats) * 8},
	}
	fmts := []core.Format{formats.Gob(), formats.Zstd(formats.Gob()), formats.JSON(), formats.Zstd(formats.JSON()), csv.New(), flowarrow.New(), parquet.New()}
	for _, val := range values {
		for _, f := range fmts {
			t := reflect.TypeOf(val.v)
			if err := f.Check(t); err != nil {
				continue // e.g. csv and parquet store tables, not []float64
			}
			var buf memBuffer
			start := time.Now()
			if err := f.Encode(&buf, val.v); err != nil {
				return fmt.Errorf("%s encode %s: %w", f.Name(), val.name, err)
			}
			enc := time.Since(start)
			start = time.Now()
			if _, err := f.Decode(&sliceReader{b: buf.b}, t); err != nil {
				return fmt.Errorf("%s decode %s: %w", f.Name(), val.name, err)
			}
			dec := time.Since(start)
			mbps := func(d time.Duration) float64 { return round(float64(val.bytes)/1e6/d.Seconds(), 1) }
			emit(map[string]any{
				"bench": "formats", "format": f.Name(), "value": val.name, "value_bytes": val.bytes,
				"encoded_bytes": len(buf.b), "encode_mb_per_s": mbps(enc), "decode_mb_per_s": mbps(dec),
			})
		}
	}
	return nil
}

func diskBandwidth(n int) (float64, error) {
	f, err := os.CreateTemp("", "flowbench-disk-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4<<20)
	for i := range buf {
		buf[i] = byte(i * 31)
	}
	start := time.Now()
	for written := 0; written < n; written += len(buf) {
		if _, err := f.Write(buf); err != nil {
			return 0, err
		}
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return float64(n) / 1e6 / time.Since(start).Seconds(), nil
}
