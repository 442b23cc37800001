package maintain_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/maintain"
)

func benchVersion(s string) core.DataVersion {
	return core.DataVersion(fmt.Sprintf("%064x", []byte(s))[:64])
}

// fillStore writes n entries, each with its own result of size bytes, all
// stored a month before now.
func fillStore(b *testing.B, st *local.Store, n, size int, at time.Time) {
	ctx := context.Background()
	payload := bytes.Repeat([]byte{7}, size)
	batch := core.Batch{Now: at}
	for i := range n {
		id := core.ResultID{Version: benchVersion(fmt.Sprint("r", i)), Format: "gob"}
		if _, err := st.Results().Put(ctx, id, func(w io.Writer) error { _, err := w.Write(payload); return err }); err != nil {
			b.Fatal(err)
		}
		k := core.NewCacheKey(fmt.Sprint("node", i%100), "code", []core.Dep{{Name: "x", Version: benchVersion(fmt.Sprint("x", i))}})
		batch.Entries = append(batch.Entries, core.Entry{Key: k, DataVersion: id.Version, Format: "gob"})
		if len(batch.Entries) == 1000 {
			if err := st.Results().FlushResults(ctx); err != nil {
				b.Fatal(err)
			}
			if err := st.Metadata().Write(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch.Entries = batch.Entries[:0]
		}
	}
	if err := st.Results().FlushResults(ctx); err != nil {
		b.Fatal(err)
	}
	if len(batch.Entries) > 0 {
		if err := st.Metadata().Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// Evicting every one of 10,000 entries and their (inline, 100-byte) results
// from a local cache: listing, planning, the conditional deletion of the
// entries in transactions of 1,000, listing the entries again, deleting the
// results.
func BenchmarkEvict10k(b *testing.B) {
	for _, dry := range []bool{true, false} {
		b.Run(fmt.Sprintf("dry=%v", dry), func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				b.StopTimer()
				st, err := local.Open(ctx, b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				fillStore(b, st, 10000, 100, time.Now().Add(-30*24*time.Hour))
				ic := maintain.New(st.Metadata(), st.Results(), maintain.WithClock(func() time.Time { return time.Now().Add(24 * time.Hour) }))
				b.StartTimer()
				rep, err := ic.Evict(ctx, maintain.Policy{OlderThan: 24 * time.Hour, DryRun: dry})
				b.StopTimer()
				if err != nil || len(rep.Entries) != 10000 || len(rep.Results) != 10000 {
					b.Fatalf("evicted %d entries and %d results: %v", len(rep.Entries), len(rep.Results), err)
				}
				st.Close()
				b.StartTimer()
			}
		})
	}
}

// Verify of a local cache: 64 results of 1 MiB (files) and 1,000 of 1 KiB
// (inline); the rate is of the bytes read.
func BenchmarkVerify(b *testing.B) {
	for _, c := range []struct {
		n, size int
	}{{64, 1 << 20}, {1000, 1 << 10}} {
		b.Run(fmt.Sprintf("%dx%dB", c.n, c.size), func(b *testing.B) {
			ctx := context.Background()
			st, err := local.Open(ctx, b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			fillStore(b, st, c.n, c.size, time.Now())
			ic := maintain.New(st.Metadata(), st.Results())
			b.SetBytes(int64(c.n * c.size))
			for b.Loop() {
				rep, err := ic.Verify(ctx, nil)
				if err != nil || !rep.OK() || rep.Results != c.n {
					b.Fatalf("%+v, %v", rep, err)
				}
			}
		})
	}
}
