package local_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/core"
)

// BenchmarkColdRun is what a cold run of a chain of 1000 nodes asks of the
// store (flowbench chain -phase cold): Open on an empty directory, a
// preload that finds nothing, then batches of 256 nodes (the adapter's
// default), each a 4-byte inline result per node, FlushResults and a Write
// of the entries and records; then Close. Every iteration is a new
// directory. µs/node is the store's part of a cold node's overhead.
func BenchmarkColdRun(b *testing.B) {
	const n, batch = 1000, 256
	ctx := context.Background()
	nodes := make([]string, n)
	keys := make([]core.CacheKey, n)
	outs := make([]core.DataVersion, n)
	for i := range n {
		nodes[i] = fmt.Sprintf("node_%d", i)
		var deps []core.Dep
		if i > 0 {
			deps = []core.Dep{{Name: nodes[i-1], Version: outs[i-1]}}
		}
		keys[i] = core.NewCacheKey(nodes[i], core.CodeVersion(version(fmt.Sprint("code", i))), deps)
		outs[i] = version(fmt.Sprint("out", i))
	}
	data := []byte{3, 4, 0, 44}
	write := func(w io.Writer) error { _, err := w.Write(data); return err }
	run := 0
	var walBytes int64
	for b.Loop() {
		s, err := local.Open(ctx, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Metadata().PreloadIndex(ctx, nodes); err != nil {
			b.Fatal(err)
		}
		id := core.RunID(fmt.Sprintf("run%d", run))
		run++
		if err := s.Metadata().BeginRun(ctx, core.RunInfo{ID: id, Started: time.Now()}); err != nil {
			b.Fatal(err)
		}
		for from := 0; from < n; from += batch {
			bt := core.Batch{Run: id, Now: time.Now()}
			for i := from; i < min(from+batch, n); i++ {
				if _, err := s.Results().Put(ctx, core.ResultID{Version: outs[i], Format: "gob"}, write); err != nil {
					b.Fatal(err)
				}
				bt.Entries = append(bt.Entries, core.Entry{Key: keys[i], DataVersion: outs[i], Format: "gob"})
				bt.Records = append(bt.Records, core.NodeRecord{Node: nodes[i], Key: keys[i], DataVersion: outs[i], Format: "gob",
					Behavior: core.Default, Outcome: core.OutcomeExecuted, Duration: time.Microsecond, Size: int64(len(data))})
			}
			if err := s.Results().FlushResults(ctx); err != nil {
				b.Fatal(err)
			}
			if err := s.Metadata().Write(ctx, bt); err != nil {
				b.Fatal(err)
			}
		}
		if fi, err := os.Stat(filepath.Join(s.Dir(), local.MetadataFile+"-wal")); err == nil {
			walBytes += fi.Size()
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n)/1e3, "µs/node")
	// The WAL is checkpointed only at Close (wal_autocheckpoint is 10,000
	// pages): its size is every page the run's commits wrote.
	b.ReportMetric(float64(walBytes)/float64(b.N)/1024, "WAL-KiB/run")
}
