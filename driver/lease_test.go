package driver_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/internal/lockedbuf"
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

// A cache URL with lease_ttl (in CacheURL or FLOWCACHE_URL) turns leases
// on: of two drivers reaching a missing node at once, one executes it and
// the other says whom it waits for (lease_wait); CacheLeases(0) given too
// wins and turns them off; a bad value fails the build.
func TestCacheURLLeaseTTL(t *testing.T) {
	execs, slow := &leaseURLSlow, leasedURLSlow
	race := func(t *testing.T, opts ...[]driver.CacheOption) (int64, string) {
		t.Helper()
		execs.Store(0)
		var logs lockedbuf.Buffer
		logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		var drs []*driver.Driver
		for _, o := range opts {
			dr, err := driver.NewBuilder().WithNodes(driver.Node("slow", slow, "x")).
				WithCache(append(o, driver.CacheLogger(logger))...).Build()
			if err != nil {
				t.Fatal(err)
			}
			defer dr.Close()
			drs = append(drs, dr)
		}
		var wg sync.WaitGroup
		for _, dr := range drs {
			wg.Go(func() {
				out, err := dr.Execute(context.Background(), []string{"slow"}, map[string]any{"x": 21}, nil)
				if err != nil || out["slow"] != 42 {
					t.Errorf("slow = %v, %v; want 42", out["slow"], err)
				}
			})
		}
		wg.Wait()
		return execs.Load(), strings.Join(logs.Lines(), "\n")
	}

	dir := t.TempDir()
	t.Setenv(driver.EnvURL, dir+"?lease_ttl=10s")
	n, logs := race(t, []driver.CacheOption{driver.CacheURL(dir + "?lease_ttl=10s")}, nil) // the second from FLOWCACHE_URL
	if n != 1 {
		t.Errorf("with lease_ttl=10s the node executed %d times in 2 drivers, want once", n)
	}
	if !strings.Contains(logs, "slow::metadata_store::lease_wait") {
		t.Errorf("no lease_wait event:\n%s", logs)
	}

	dir = t.TempDir()
	off := []driver.CacheOption{driver.CacheURL(dir + "?lease_ttl=10s"), driver.CacheLeases(0)}
	if n, logs := race(t, off, off); n != 2 || strings.Contains(logs, "lease_wait") {
		t.Errorf("CacheLeases(0) with lease_ttl=10s: executed %d times, want 2 (leases off):\n%s", n, logs)
	}

	for _, bad := range []string{"soon", "-1s", ""} {
		_, err := driver.NewBuilder().WithNodes(driver.Node("slow", slow, "x")).
			WithCache(driver.CacheURL(t.TempDir() + "?lease_ttl=" + bad)).Build()
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "lease_ttl=\""+bad+"\"") {
			t.Errorf("lease_ttl=%s: Build = %v, want an error wrapping ErrInvalid naming the parameter", bad, err)
		}
	}
}

var leaseURLSlow atomic.Int64

func leasedURLSlow(x int) int { leaseURLSlow.Add(1); time.Sleep(300 * time.Millisecond); return x * 2 }
