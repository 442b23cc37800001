package docstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/docstore"
	"github.com/flowcache/flowcache/core"
)

// benchNodes is how many nodes (one entry each) the benchmarks' store holds
// and Preload reads; benchBatch is the size of a written batch, the cache's
// default flush size.
const (
	benchNodes = 1000
	benchBatch = 256
)

func benchEntry(node string, i int) core.Entry {
	v := func(s string) core.DataVersion {
		return core.DataVersion(fmt.Sprintf("%064x", []byte(s))[:64])
	}
	k := core.NewCacheKey(node, core.CodeVersion(strings.Repeat("c", 64)), []core.Dep{
		{Name: "input", Version: v(fmt.Sprint("in", i))}, {Name: "upstream", Version: v(fmt.Sprint("up", i))},
	})
	return core.Entry{Key: k, DataVersion: v(fmt.Sprint("out", i)), Format: "gob"}
}

// benchBatchOf returns a batch like the one a cold run flushes: n new
// entries and their run records.
func benchBatchOf(run core.RunID, prefix string, n int) core.Batch {
	b := core.Batch{Run: run}
	for i := range n {
		e := benchEntry(fmt.Sprintf("%s-%04d", prefix, i), i)
		b.Entries = append(b.Entries, e)
		b.Records = append(b.Records, core.NodeRecord{Node: e.Key.Node, Key: e.Key, DataVersion: e.DataVersion, Format: e.Format,
			Outcome: core.OutcomeExecuted, Duration: time.Millisecond, Size: 100})
	}
	return b
}

// BenchmarkServers measures, on each server that runs (and on memdocstore,
// for the cost of the store itself), a Get of one entry, a Preload of
// 1000 nodes and a Write of a 256-entry batch of new entries with their
// run records.
func BenchmarkServers(b *testing.B) {
	all := append([]server{{"memdocstore", nil}}, servers...)
	for _, srv := range all {
		b.Run(srv.name, func(b *testing.B) {
			var s *docstore.MetadataStore
			if srv.newURL == nil {
				s = newMem(b)
			} else {
				s = openServer(b, srv)
			}
			defer s.Close()
			benchStore(b, s)
		})
	}
}

func benchStore(b *testing.B, s *docstore.MetadataStore) {
	ctx := context.Background()
	nodes := make([]string, benchNodes)
	var ids []core.KeyID
	for start := 0; start < benchNodes; start += benchBatch {
		var batch core.Batch
		for i := start; i < min(start+benchBatch, benchNodes); i++ {
			nodes[i] = fmt.Sprintf("node-%04d", i)
			e := benchEntry(nodes[i], i)
			batch.Entries = append(batch.Entries, e)
			ids = append(ids, e.ID())
		}
		if err := s.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("Get", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := s.Get(ctx, ids[i%len(ids)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/get")
	})
	b.Run("Preload1000", func(b *testing.B) {
		for b.Loop() {
			m, err := s.Preload(ctx, nodes)
			if err != nil {
				b.Fatal(err)
			}
			if len(m) != benchNodes {
				b.Fatalf("Preload returned %d entries, want %d", len(m), benchNodes)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/preload")
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*benchNodes), "µs/node")
	})
	var batches atomic.Int64
	b.Run("Write256", func(b *testing.B) {
		run := core.NewRunID()
		if err := s.BeginRun(ctx, core.RunInfo{ID: run}); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			batch := benchBatchOf(run, fmt.Sprintf("w%d", batches.Add(1)), benchBatch)
			if err := s.Write(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/batch")
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*benchBatch), "µs/entry")
	})
}
