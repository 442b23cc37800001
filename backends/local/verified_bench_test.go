package local_test

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/core"
)

// BenchmarkReadResult reads a stored result to its end, streamed and
// verified at the end (Get) or verified whole before the first byte is
// handed over (GetVerified, what a run decodes from): inline results, and
// files on both sides of the size below which a file is read once into
// memory rather than verified and then read again.
func BenchmarkReadResult(b *testing.B) {
	ctx := context.Background()
	for _, size := range []int{100, 16 << 10, 32 << 10, 64 << 10, 128 << 10, 1 << 20, 100 << 20} {
		if size > 1<<20 && testing.Short() {
			continue
		}
		st, err := local.Open(ctx, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		id := core.ResultID{Version: version(fmt.Sprint("bench", size)), Format: "gob"}
		chunk := make([]byte, min(size, 1<<20))
		if _, err := st.Results().Put(ctx, id, func(w io.Writer) error {
			for left := size; left > 0; left -= len(chunk) {
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
		where := "file"
		if size <= local.DefaultInlineLimit {
			where = "inline"
		}
		for _, mode := range []string{"get", "verified"} {
			b.Run(fmt.Sprintf("%s/%s/%d", mode, where, size), func(b *testing.B) {
				get := st.Results().Get
				if mode == "verified" {
					get = st.Results().GetVerified
				}
				b.SetBytes(int64(size))
				b.ReportAllocs()
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
			})
		}
		st.Close()
	}
}
