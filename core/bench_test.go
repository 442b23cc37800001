package core_test

import (
	"context"
	"reflect"
	"runtime"
	"strconv"
	"testing"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats"
)

// BenchmarkWarmRun is a warm run of a chain of 1000 nodes on a local cache
// directory, as a fresh process's Driver makes it (build excluded): begin a
// run with its nodes preloaded, retrieve every node, end the run (the run's
// history written). ns/hit and allocs/hit are per node: allocations count
// because in a fresh process the GC and page faults dominate a hit.
func BenchmarkWarmRun(b *testing.B) {
	const n = 1000
	ctx := context.Background()
	st, err := local.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	c, err := core.New(st.Metadata(), st.Results())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	specs := make([]*core.NodeSpec, n)
	names := make([]string, n)
	for i := range specs {
		names[i] = "node_" + strconv.Itoa(i)
		specs[i] = &core.NodeSpec{Name: names[i], CodeVersion: core.CodeVersion("code" + strconv.Itoa(i)), Format: formats.Gob(), Type: reflect.TypeFor[int]()}
	}
	inc := func(ctx context.Context, args []any) (any, error) { return args[0].(int) + 1, nil }
	run := func() (hits int) {
		r, err := c.BeginRun(ctx, names...)
		if err != nil {
			b.Fatal(err)
		}
		v, err := r.Node(ctx, specs[0], "", nil, func(context.Context, []any) (any, error) { return 0, nil })
		if err != nil {
			b.Fatal(err)
		}
		for i := 1; i < n; i++ {
			if v, err = r.Node(ctx, specs[i], "", []*core.Value{v}, inc); err != nil {
				b.Fatal(err)
			}
		}
		if err := r.End(ctx); err != nil {
			b.Fatal(err)
		}
		for _, o := range r.Outcomes() {
			if o == core.OutcomeRetrieved {
				hits++
			}
		}
		return hits
	}
	run() // fills the cache
	if hits := run(); hits != n {
		b.Fatalf("%d hits of %d nodes", hits, n)
	}
	b.ReportAllocs()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for b.Loop() {
		run()
	}
	runtime.ReadMemStats(&m1)
	hits := float64(b.N) * n
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/hits, "ns/hit")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/hits, "allocs/hit")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/hits, "B/hit")
}
