package local_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/core"
)

func benchKey(i int) core.CacheKey {
	return core.NewCacheKey(fmt.Sprintf("node_%d", i), core.CodeVersion(version(fmt.Sprint("code", i))), []core.Dep{
		{Name: "a", Version: version(fmt.Sprint("a", i))}, {Name: "b", Version: version(fmt.Sprint("b", i))}, {Name: "c", Version: version(fmt.Sprint("c", i))},
	})
}

func benchBatch(run core.RunID, from, n int) core.Batch {
	b := core.Batch{Run: run, Now: time.Now()}
	for i := from; i < from+n; i++ {
		k := benchKey(i)
		v := version(fmt.Sprint("out", i))
		b.Entries = append(b.Entries, core.Entry{Key: k, DataVersion: v, Format: "gob"})
		b.Records = append(b.Records, core.NodeRecord{Node: k.Node, Key: k, DataVersion: v, Format: "gob", Behavior: core.Default, Outcome: core.OutcomeExecuted, Duration: time.Millisecond, Size: 1000})
	}
	return b
}

// BenchmarkGet looks up one of 10,000 keys with three dependencies: the
// metadata cost of a warm node.
func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	s, err := local.OpenMetadata(ctx, b.TempDir()+"/metadata.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 10_000
	for i := 0; i < n; i += 1000 {
		if err := s.Write(ctx, benchBatch("fill", i, 1000)); err != nil {
			b.Fatal(err)
		}
	}
	ids := make([]core.KeyID, n)
	for i := range ids {
		ids[i] = benchKey(i).ID()
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Get(ctx, ids[i%n]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkWrite1000 writes batches of 1000 new entries and 1000 run
// records (a cold run of 1000 nodes), one transaction each, into a
// database that grows by 1000 entries per batch. ns/record is the cost per
// node.
func BenchmarkWrite1000(b *testing.B) {
	for _, snap := range []bool{false, true} {
		b.Run(fmt.Sprintf("snapshots=%v", snap), func(b *testing.B) { benchWrite1000(b, snap) })
	}
}

// benchWrite1000 is BenchmarkWrite1000, with the triggers that end the
// preload snapshots (created by a first preload) when snapshots is set.
func benchWrite1000(b *testing.B, snapshots bool) {
	ctx := context.Background()
	s, err := local.OpenMetadata(ctx, b.TempDir()+"/metadata.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if snapshots {
		if _, err := s.Preload(ctx, []string{"node_0"}); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		b.StopTimer()
		batch := benchBatch(core.RunID(fmt.Sprint("run", i)), i*1000, 1000)
		b.StartTimer()
		if err := s.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/record")
}

// BenchmarkRewrite1000 writes the same 1000 keys again with new data
// versions (a run that recomputes every node).
func BenchmarkRewrite1000(b *testing.B) {
	ctx := context.Background()
	s, err := local.OpenMetadata(ctx, b.TempDir()+"/metadata.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	batches := []core.Batch{benchBatch("r0", 0, 1000), benchBatch("r1", 0, 1000)}
	for j := range batches[1].Entries {
		batches[1].Entries[j].DataVersion = version(fmt.Sprint("other", j))
	}
	i := 0
	for b.Loop() {
		if err := s.Write(ctx, batches[i%2]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/record")
}

// BenchmarkResults stores and reads 16 MiB results on the local disk.
func BenchmarkResults(b *testing.B) {
	ctx := context.Background()
	s, err := local.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<20)
	write := func(w io.Writer) error {
		for off := 0; off < len(payload); off += 1 << 20 {
			if _, err := w.Write(payload[off : off+1<<20]); err != nil {
				return err
			}
		}
		return nil
	}
	b.Run("Put", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		i := 0
		for b.Loop() {
			id := core.ResultID{Version: version(fmt.Sprint("put", i)), Format: "gob"}
			i++
			if _, err := s.Results().Put(ctx, id, write); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			s.Results().Delete(ctx, id)
			b.StartTimer()
		}
	})
	b.Run("Get", func(b *testing.B) {
		id := core.ResultID{Version: version("get"), Format: "gob"}
		if _, err := s.Results().Put(ctx, id, write); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			rc, err := s.Results().Get(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, rc); err != nil {
				b.Fatal(err)
			}
			rc.Close()
		}
	})
	b.Run("PutSmall", func(b *testing.B) {
		// A 100-byte result: the fixed cost of a stored node.
		small := payload[:100]
		i := 0
		for b.Loop() {
			id := core.ResultID{Version: version(fmt.Sprint("small", i)), Format: "gob"}
			i++
			if _, err := s.Results().Put(ctx, id, func(w io.Writer) error { _, err := w.Write(small); return err }); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchPutFlush stores b.N distinct results of size bytes the way a cold
// run does: Put each, FlushResults every 256 (the adapter's default batch)
// and at the end. Every 8192 results the store is emptied, outside the
// timer, so that the database stays the size of a real cache's.
func benchPutFlush(b *testing.B, size int, opts ...local.Option) {
	ctx := context.Background()
	s, err := local.Open(ctx, b.TempDir(), opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := s.Results()
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
	write := func(w io.Writer) error { _, err := w.Write(data); return err }
	ids := make([]core.ResultID, 8192)
	for i := range ids {
		ids[i] = core.ResultID{Version: version(fmt.Sprint("put", i)), Format: "gob"}
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := r.Put(ctx, ids[i%len(ids)], write); err != nil {
			b.Fatal(err)
		}
		i++
		if i%256 == 0 {
			if err := r.FlushResults(ctx); err != nil {
				b.Fatal(err)
			}
		}
		if i%len(ids) == 0 {
			b.StopTimer()
			if err := r.DeleteAll(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	if err := r.FlushResults(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPutFlush is the cost of storing a node's result on a cold run:
// 100 B and 10 KiB are inline, 1 MiB is a file.
func BenchmarkPutFlush(b *testing.B) {
	for _, size := range []int{100, 10 << 10, 1 << 20} {
		b.Run(byteSize(size), func(b *testing.B) { benchPutFlush(b, size) })
	}
}

func byteSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// BenchmarkInlineLimit compares storing and reading results of 4, 16 and
// 64 KiB inline and as files, to choose DefaultInlineLimit.
func BenchmarkInlineLimit(b *testing.B) {
	for _, size := range []int{4 << 10, 16 << 10, 64 << 10} {
		for _, where := range []struct {
			name  string
			limit int
		}{{"inline", size}, {"file", 0}} {
			b.Run(byteSize(size)+"/"+where.name+"/put", func(b *testing.B) {
				benchPutFlush(b, size, local.WithInlineLimit(where.limit))
			})
			b.Run(byteSize(size)+"/"+where.name+"/get", func(b *testing.B) {
				benchGet(b, size, local.WithInlineLimit(where.limit))
			})
		}
	}
}

// benchGet reads one of 1000 stored results of size bytes to its end.
func benchGet(b *testing.B, size int, opts ...local.Option) {
	ctx := context.Background()
	s, err := local.Open(ctx, b.TempDir(), opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := s.Results()
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
	ids := make([]core.ResultID, 1000)
	for i := range ids {
		ids[i] = core.ResultID{Version: version(fmt.Sprint("get", i)), Format: "gob"}
		if _, err := r.Put(ctx, ids[i], func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
			b.Fatal(err)
		}
	}
	if err := r.FlushResults(ctx); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	buf := make([]byte, 32<<10)
	i := 0
	for b.Loop() {
		rc, err := r.Get(ctx, ids[i%len(ids)])
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{rc}, buf); err != nil {
			b.Fatal(err)
		}
		rc.Close()
		i++
	}
}

// BenchmarkPutNode stores a 100-byte result the way a cold run of the
// reference driver does: from a new goroutine per node (whose stack grows
// on its first SQLite call) with a cancellable context, flushing every 256
// results. Compare with BenchmarkPutFlush/100B.
func BenchmarkPutNode(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := local.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := s.Results()
	data := bytes.Repeat([]byte("x"), 100)
	write := func(w io.Writer) error { _, err := w.Write(data); return err }
	i := 0
	done := make(chan error)
	for b.Loop() {
		id := core.ResultID{Version: version(fmt.Sprint("node", i)), Format: "gob"}
		i++
		go func() {
			_, err := r.Put(ctx, id, write)
			done <- err
		}()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if i%256 == 0 {
			if err := r.FlushResults(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkOpenPreload is the fixed cost of a warm process's store: open a
// cache directory of 1000 entries, preload them (from the snapshot after
// the first time), look every entry up, read one small result, close.
// "index" is what a run does (PreloadIndex: lookups in the snapshot file's
// bytes), "map" the Preloader map of every entry decoded first.
func BenchmarkOpenPreload(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	s, err := local.Open(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	batch := benchBatch("fill", 0, 1000)
	nodes := make([]string, len(batch.Entries))
	for i, e := range batch.Entries {
		nodes[i] = e.Key.Node
	}
	rid := core.ResultID{Version: version("result"), Format: "gob"}
	if _, err := s.Results().Put(ctx, rid, func(w io.Writer) error { _, err := w.Write([]byte("value")); return err }); err != nil {
		b.Fatal(err)
	}
	if err := s.Metadata().Write(ctx, batch); err != nil {
		b.Fatal(err)
	}
	s.Close()
	for _, mode := range []string{"index", "map"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				s, err := local.Open(ctx, dir)
				if err != nil {
					b.Fatal(err)
				}
				var idx core.PreloadIndex
				if mode == "index" {
					idx, err = s.Metadata().PreloadIndex(ctx, nodes)
				} else {
					var m map[core.KeyID]core.Entry
					m, err = s.Metadata().Preload(ctx, nodes)
					idx = core.EntryMap(m)
				}
				if err != nil || idx.Len() != len(nodes) {
					b.Fatal(err)
				}
				for _, e := range batch.Entries {
					if _, ok := idx.Lookup(e.ID()); !ok {
						b.Fatalf("%s not preloaded", e.Key.Node)
					}
				}
				rc, err := s.Results().Get(ctx, rid)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, rc)
				rc.Close()
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(nodes))/1e3, "µs/entry")
		})
	}
}
