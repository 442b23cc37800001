package driver_test

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/flowcache/flowcache/driver"
)

// largeValues is the size of the large result: 10^7 float64, 80 MB (the
// value of flowbench wide and of Hamilton's wide.py --kind numpy).
const largeValues = 10_000_000

var largeValue = sync.OnceValue(func() []float64 {
	rng := rand.New(rand.NewPCG(42, 54))
	v := make([]float64, largeValues)
	for i := range v {
		v[i] = rng.Float64()
	}
	return v
})

// heapPeak samples the bytes of live heap objects every millisecond while
// f runs and returns the largest growth over the bytes before f.
func heapPeak(f func()) uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	runtime.GC()
	base := read()
	peak := base
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				peak = max(peak, read())
			}
		}
	})
	f()
	close(done)
	wg.Wait()
	peak = max(peak, read())
	return peak - base
}

// BenchmarkLargeResult stores (Store: a cold run into an empty cache
// directory) and loads (Load: a fresh driver on that directory, the result
// asked for) an 80 MB []float64 through a local cache with the default
// format, gob. Each op builds, executes and closes a driver: fingerprint,
// encode and write the file, or verified read, decode and fingerprint
// check. It reports MB/s (SetBytes) and "peak-heap/value", the largest
// growth of the live heap during an op over the value's size (the stored
// value itself is held before Store starts and so does not count; the
// loaded one does: 1.0 is the value and nothing more).
func BenchmarkLargeResult(b *testing.B) {
	if testing.Short() {
		b.Skip("80 MB result")
	}
	v := largeValue()
	const size = largeValues * 8
	loading := false
	node := func() []float64 {
		if loading {
			panic("the load run executed the node")
		}
		return v
	}
	nodes := []*driver.NodeDef{driver.Node("big", node, driver.WithCodeVersion("large-1"))}
	run := func(b *testing.B, dir string) {
		dr, err := driver.NewBuilder().WithNodes(nodes...).WithCache(driver.CacheDir(dir)).Build()
		if err != nil {
			b.Fatal(err)
		}
		out, err := dr.Execute(context.Background(), []string{"big"}, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		if got := out["big"].([]float64); len(got) != largeValues || got[len(got)-1] != v[len(v)-1] {
			b.Fatalf("got %d values", len(got))
		}
		if err := dr.Close(); err != nil {
			b.Fatal(err)
		}
	}
	tmp := b.TempDir()
	b.Run("Store", func(b *testing.B) {
		b.SetBytes(size)
		var peak uint64
		i := 0
		for b.Loop() {
			dir := filepath.Join(tmp, "store"+strconv.Itoa(i))
			i++
			peak = max(peak, heapPeak(func() { run(b, dir) }))
		}
		b.ReportMetric(float64(peak)/size, "peak-heap/value")
	})
	b.Run("Load", func(b *testing.B) {
		dir := filepath.Join(tmp, "load")
		run(b, dir)
		loading = true
		defer func() { loading = false }()
		b.SetBytes(size)
		var peak uint64
		for b.Loop() {
			peak = max(peak, heapPeak(func() { run(b, dir) }))
		}
		b.ReportMetric(float64(peak)/size, "peak-heap/value")
	})
}
