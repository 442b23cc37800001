package local_test

import (
	"context"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/core"
)

// cpuTime is the CPU time the process has used: on a machine shared with
// other work, it varies much less than the wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReadResult reads a stored result to its end, streamed and
// verified at the end (Get) or verified whole before the first byte is
// handed over (GetVerified, what a run decodes from): inline results, and
// files (a store with inline limit 0), which GetVerified reads twice. It
// reports the CPU time per read besides the wall time.
func BenchmarkReadResult(b *testing.B) {
	ctx := context.Background()
	type result struct {
		size   int
		inline bool
	}
	for _, r := range []result{{100, true}, {16 << 10, true}, {100, false}, {16 << 10, false}, {64 << 10, false}, {1 << 20, false}, {100 << 20, false}} {
		if r.size > 1<<20 && testing.Short() {
			continue
		}
		limit, where := 0, "file"
		if r.inline {
			limit, where = local.DefaultInlineLimit, "inline"
		}
		st, err := local.Open(ctx, b.TempDir(), local.WithInlineLimit(limit))
		if err != nil {
			b.Fatal(err)
		}
		id := core.ResultID{Version: version(fmt.Sprint("bench", r.size)), Format: "gob"}
		chunk := make([]byte, min(r.size, 1<<20))
		if _, err := st.Results().Put(ctx, id, func(w io.Writer) error {
			for left := r.size; left > 0; left -= len(chunk) {
				if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		if err := st.Results().FlushResults(ctx); err != nil {
			b.Fatal(err)
		}
		for _, mode := range []string{"get", "verified"} {
			b.Run(fmt.Sprintf("%s/%s/%d", mode, where, r.size), func(b *testing.B) {
				get := st.Results().Get
				if mode == "verified" {
					get = st.Results().GetVerified
				}
				b.SetBytes(int64(r.size))
				b.ReportAllocs()
				cpu := cpuTime()
				for b.Loop() {
					rc, err := get(ctx, id)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := io.Copy(io.Discard, rc); err != nil {
						b.Fatal(err)
					}
					rc.Close()
				}
				b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
			})
		}
		st.Close()
	}
}
