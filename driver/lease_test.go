package driver_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowcache/flowcache/driver"
)

// Drivers on one cache directory (as processes on one machine) reaching a
// missing node at once execute it once with CacheLeases, and once each
// for a node marked NoLease.
func TestCacheLeases(t *testing.T) {
	dir := t.TempDir()
	leaseSlow.Store(0)
	leaseCheap.Store(0)
	slow, cheap := &leaseSlow, &leaseCheap
	nodes := []*driver.NodeDef{
		driver.Node("slow", leasedSlow, "x"),
		driver.Node("cheap", leasedCheap, "slow", driver.NoLease()),
	}
	const n = 4
	var drs []*driver.Driver
	for range n {
		dr, err := driver.NewBuilder().WithNodes(nodes...).WithCache(driver.CacheDir(dir), driver.CacheLeases(10*time.Second)).Build()
		if err != nil {
			t.Fatal(err)
		}
		defer dr.Close()
		drs = append(drs, dr)
	}
	var wg sync.WaitGroup
	for _, dr := range drs {
		wg.Go(func() {
			out, err := dr.Execute(context.Background(), []string{"cheap"}, map[string]any{"x": 21}, nil)
			if err != nil || out["cheap"] != 43 {
				t.Errorf("cheap = %v, %v; want 43", out["cheap"], err)
			}
		})
	}
	wg.Wait()
	if slow.Load() != 1 {
		t.Errorf("the leased node executed %d times in %d drivers, want once", slow.Load(), n)
	}
	if cheap.Load() < 2 {
		t.Errorf("the NoLease node executed %d times in %d simultaneous drivers: was it leased?", cheap.Load(), n)
	}
}

var leaseSlow, leaseCheap atomic.Int64

func leasedSlow(x int) int { leaseSlow.Add(1); time.Sleep(300 * time.Millisecond); return x * 2 }

func leasedCheap(s int) int { leaseCheap.Add(1); time.Sleep(300 * time.Millisecond); return s + 1 }
