package driver_test

import (
	"context"
	"runtime"
	"strconv"
	"testing"

	"github.com/flowcache/flowcache/driver"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func inc(x int) int { return x + 1 }
func zero() int     { return 0 }

func chain(n int) []*driver.NodeDef {
	nodes := []*driver.NodeDef{driver.Node("n0", zero)}
	for i := 1; i < n; i++ {
		nodes = append(nodes, driver.Node("n"+strconv.Itoa(i), inc, "n"+strconv.Itoa(i-1)))
	}
	return nodes
}

const benchNodes = 500

func benchChain(b *testing.B, dir func(i int) string, opts ...driver.CacheOption) {
	b.Helper()
	nodes := chain(benchNodes)
	out := []string{"n" + strconv.Itoa(benchNodes-1)}
	run := func(i int) {
		bld := driver.NewBuilder().WithNodes(nodes...).WithParallelism(1)
		if dir != nil {
			bld = bld.WithCache(append([]driver.CacheOption{driver.CacheDir(dir(i))}, opts...)...)
		}
		dr, err := bld.Build()
		if err != nil {
			b.Fatal(err)
		}
		res, err := dr.Execute(context.Background(), out, nil, nil)
		if err != nil || res[out[0]] != benchNodes-1 {
			b.Fatalf("%v %v", res, err)
		}
		dr.Close()
	}
	run(-1) // fills the cache of the warm benchmark
	for i := 0; b.Loop(); i++ {
		run(i)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/benchNodes, "µs/node")
}

// BenchmarkChainUncached is the executor alone, the baseline the cache's
// overhead is measured against (see cmd/flowbench for the fresh-process
// figures).
func BenchmarkChainUncached(b *testing.B) { benchChain(b, nil) }

// BenchmarkChainCold runs the chain on an empty cache directory each time.
func BenchmarkChainCold(b *testing.B) {
	base := b.TempDir()
	benchChain(b, func(i int) string { return base + "/" + strconv.Itoa(i) })
}

// BenchmarkChainWarm runs the chain on a cache that holds every node.
func BenchmarkChainWarm(b *testing.B) {
	dir := b.TempDir()
	benchChain(b, func(int) string { return dir })
}

// BenchmarkChainWarmTraced is BenchmarkChainWarm with every run traced
// (CacheTracerProvider) into the OpenTelemetry SDK, its spans batched to
// an exporter that drops them: what tracing adds to a hit.
func BenchmarkChainWarmTraced(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}))
	defer tp.Shutdown(context.Background())
	dir := b.TempDir()
	benchChain(b, func(int) string { return dir }, driver.CacheTracerProvider(tp))
}

// discardExporter drops the spans it is given.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// wide is one source, n independent nodes that each read it (n a power of
// 10), and a tree of joins summing them ten at a time: the graph that
// measures parallel dispatch. The sum is n.
func wide(n int) []*driver.NodeDef {
	nodes := []*driver.NodeDef{driver.Node("src", zero)}
	var level []string
	for i := range n {
		name := "w" + strconv.Itoa(i)
		nodes = append(nodes, driver.Node(name, inc, "src"))
		level = append(level, name)
	}
	for depth := 0; len(level) > 1; depth++ {
		var next []string
		for i := 0; i < len(level); i += 10 {
			name := "j" + strconv.Itoa(depth) + "_" + strconv.Itoa(i/10)
			args := []any{}
			for _, dep := range level[i : i+10] {
				args = append(args, dep)
			}
			nodes = append(nodes, driver.Node(name, sum10, args...))
			next = append(next, name)
		}
		level = next
	}
	return nodes
}

func sum10(a, b, c, d, e, f, g, h, i, j int) int { return a + b + c + d + e + f + g + h + i + j }

// wideOut is the last node of wide(n).
func wideOut(n int) string {
	depth := 0
	for ; n > 10; n /= 10 {
		depth++
	}
	return "j" + strconv.Itoa(depth) + "_0"
}

const execNodes = 1000

// benchExecute builds once and measures Execute alone: what a node costs
// the executor, uncached, reported as ns/node and allocs/node.
func benchExecute(b *testing.B, nodes []*driver.NodeDef, out string, want int, parallelism int) {
	b.Helper()
	bld := driver.NewBuilder().WithNodes(nodes...)
	if parallelism > 0 {
		bld = bld.WithParallelism(parallelism)
	}
	dr, err := bld.Build()
	if err != nil {
		b.Fatal(err)
	}
	defer dr.Close()
	ctx := context.Background()
	outs := []string{out}
	b.ReportAllocs()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for b.Loop() {
		res, err := dr.Execute(ctx, outs, nil, nil)
		if err != nil || res[out] != want {
			b.Fatalf("%v %v", res, err)
		}
	}
	runtime.ReadMemStats(&m1)
	runs := float64(b.N) * float64(len(nodes))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/runs, "ns/node")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/runs, "allocs/node")
}

// BenchmarkExecuteChain is Execute of a 1000-node chain without a cache
// (build excluded): the executor's cost per trivial node, one at a time.
func BenchmarkExecuteChain(b *testing.B) {
	for _, p := range []int{1, 0} {
		b.Run(parallelismName(p), func(b *testing.B) {
			benchExecute(b, chain(execNodes), "n"+strconv.Itoa(execNodes-1), execNodes-1, p)
		})
	}
}

// BenchmarkExecuteWide is Execute of one source, 1000 independent nodes
// and the tree of joins summing them (1112 nodes), without a cache: the cost of parallel dispatch per node.
func BenchmarkExecuteWide(b *testing.B) {
	for _, p := range []int{1, 0} {
		b.Run(parallelismName(p), func(b *testing.B) {
			benchExecute(b, wide(execNodes), wideOut(execNodes), execNodes, p)
		})
	}
}

func parallelismName(p int) string {
	if p == 0 {
		return "p=GOMAXPROCS"
	}
	return "p=" + strconv.Itoa(p)
}
