package view_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/view"
)

// chainRecords are a run of a chain of n nodes after an input, every third
// node executed and the others retrieved, the last one requested.
func chainRecords(n int) []core.NodeRecord {
	recs := []core.NodeRecord{{Node: "in", Key: core.CacheKey{Node: "in"}, Outcome: core.OutcomeInput, Size: -1}}
	prev := "in"
	for i := range n {
		name := fmt.Sprintf("n%04d", i)
		out := core.OutcomeRetrieved
		if i%3 == 0 {
			out = core.OutcomeExecuted
		}
		recs = append(recs, core.NodeRecord{Node: name, Key: key(name, prev), Outcome: out, Size: -1, Requested: i == n-1})
		prev = name
	}
	return recs
}

var benchRuns = []struct {
	name string
	recs []core.NodeRecord
	opts []view.Option
}{
	{"chain1000", chainRecords(1000), nil},
	{"fanout1000grouped", fanOutRecords(1000, 990), nil},
	{"fanout100pertask", fanOutRecords(100, 50), []view.Option{view.WithMaxTasks(100)}},
}

// BenchmarkDOT measures building the graph from the records and writing
// DOT.
func BenchmarkDOT(b *testing.B) {
	for _, r := range benchRuns {
		b.Run(r.name, func(b *testing.B) {
			for b.Loop() {
				view.FromRecords("r", r.recs, r.opts...).DOT()
			}
		})
	}
}

// BenchmarkSVG measures laying out and rendering SVG with Graphviz in
// WebAssembly, the instance already started.
func BenchmarkSVG(b *testing.B) {
	ctx := context.Background()
	var buf bytes.Buffer
	if err := view.FromRecords("r", chainRecords(2)).Render(ctx, &buf, "svg"); err != nil {
		b.Fatal(err)
	}
	for _, r := range benchRuns {
		b.Run(r.name, func(b *testing.B) {
			g := view.FromRecords("r", r.recs, r.opts...)
			for b.Loop() {
				buf.Reset()
				if err := g.Render(ctx, &buf, "svg"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "svg-bytes")
		})
	}
}
