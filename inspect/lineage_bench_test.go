package inspect_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/inspect"
)

// writeHistory writes runs runs of a chain of nodes nodes long (an input
// x, then n0(x), n1(n0), …) into meta: x changes every tenth run, so each
// node has runs/10 data versions, and the other runs retrieve.
func writeHistory(tb testing.TB, meta core.MetadataStore, runs, nodes int) {
	ctx := context.Background()
	now := time.Now()
	ver := func(s string) core.DataVersion {
		return core.DataVersion(core.CacheKey{Node: s, CodeVersion: "v"}.ID())
	}
	for i := range runs {
		id := core.NewRunID()
		x := ver(fmt.Sprint("x", i/10))
		recs := []core.NodeRecord{{Node: "x", Key: core.CacheKey{}, DataVersion: x, Outcome: core.OutcomeInput, Size: -1}}
		prev, prevV := "x", x
		for n := range nodes {
			name := fmt.Sprint("n", n)
			key := core.CacheKey{Node: name, CodeVersion: "c", Deps: []core.Dep{{Name: prev, Version: prevV}}}
			v := ver(fmt.Sprint(name, "/", i/10))
			o := core.OutcomeRetrieved
			if i%10 == 0 {
				o = core.OutcomeExecuted
			}
			recs = append(recs, core.NodeRecord{Node: name, Key: key, DataVersion: v, Format: "gob", Behavior: core.Default, Outcome: o, Size: -1})
			prev, prevV = name, v
		}
		if err := meta.Write(ctx, core.Batch{Run: id, Records: recs, Now: now.Add(time.Duration(i) * time.Millisecond)}); err != nil {
			tb.Fatal(err)
		}
	}
}

// Lineage over 10,000 runs of 20 nodes: building the index (one read per
// run) dominates; a question then costs microseconds to milliseconds.
func BenchmarkLineage(b *testing.B) {
	const runs, nodes = 10_000, 20
	ctx := context.Background()
	stores := map[string]func(b *testing.B) (core.MetadataStore, core.ResultStore){
		"mem": func(b *testing.B) (core.MetadataStore, core.ResultStore) {
			st := mem.Open()
			return st.Metadata(), st.Results()
		},
		"local": func(b *testing.B) (core.MetadataStore, core.ResultStore) {
			st, err := local.Open(ctx, b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st.Metadata(), st.Results()
		},
	}
	for _, name := range []string{"mem", "local"} {
		b.Run(name, func(b *testing.B) {
			meta, results := stores[name](b)
			writeHistory(b, meta, runs, nodes)
			ic := inspect.New(meta, results)
			var l *inspect.Lineage
			b.Run("build", func(b *testing.B) {
				for b.Loop() {
					var err error
					if l, err = ic.Lineage(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
			last := fmt.Sprint("n", nodes-1)
			b.Run("version", func(b *testing.B) {
				x := core.DataVersion(core.CacheKey{Node: "x500", CodeVersion: "v"}.ID())
				for b.Loop() {
					vl, err := l.Version(string(x)[:12])
					if err != nil || len(vl.Downstream) != nodes {
						b.Fatalf("%v: %d downstream", err, len(vl.Downstream))
					}
				}
			})
			b.Run("history", func(b *testing.B) {
				for b.Loop() {
					hs, err := l.History(ctx, last)
					if err != nil || len(hs[0].Steps) != runs/10 {
						b.Fatalf("%v: %+v", err, hs)
					}
				}
			})
		})
	}
}
