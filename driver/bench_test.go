package driver_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/flowcache/flowcache/driver"
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

func benchChain(b *testing.B, dir func(i int) string) {
	b.Helper()
	nodes := chain(benchNodes)
	out := []string{"n" + strconv.Itoa(benchNodes-1)}
	run := func(i int) {
		bld := driver.NewBuilder().WithNodes(nodes...).WithParallelism(1)
		if dir != nil {
			bld = bld.WithCache(driver.CacheDir(dir(i)))
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
