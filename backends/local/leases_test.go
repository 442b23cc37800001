package local_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/core"
)

func leaseKey(i int) core.KeyID {
	return core.NewCacheKey(fmt.Sprint("leased-", i), "code", nil).ID()
}

// TestSharedLeases takes leases through several stores opened on one
// database file (a *sql.DB pool each, as processes have): of the stores
// acquiring a free key, or taking over an expired lease, at once, exactly
// one gets it.
func TestSharedLeases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metadata.db")
	conformance.TestSharedLeases(t, func(t *testing.T) core.MetadataStore {
		s, err := local.OpenMetadata(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestLeasesReadOnly: a read-only store refuses leases with
// core.ErrReadOnly.
func TestLeasesReadOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := local.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	ro, err := local.Open(ctx, dir, local.WithMode(local.ModeReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	_, _, err = ro.Metadata().AcquireLease(ctx, leaseKey(0), core.LeaseOwner{Run: "r"}, time.Minute)
	if !errors.Is(err, core.ErrReadOnly) {
		t.Errorf("AcquireLease on a read-only store = %v, want ErrReadOnly", err)
	}
}

const leaseHelperEnv = "FLOWCACHE_TEST_LEASE_HELPER"

// TestLeaseHelperProcess is one of the processes of TestLeasesMultiProcess;
// it does nothing unless started by it. It waits for the start time it is
// given, tries to acquire every key, and prints the keys it got.
func TestLeaseHelperProcess(t *testing.T) {
	arg := os.Getenv(leaseHelperEnv)
	if arg == "" {
		t.Skip("helper process for TestLeasesMultiProcess")
	}
	parts := strings.Split(arg, "|")
	path := parts[0]
	keys, _ := strconv.Atoi(parts[1])
	startNs, _ := strconv.ParseInt(parts[2], 10, 64)
	ctx := context.Background()
	s, err := local.OpenMetadata(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	owner := core.NewLeaseOwner(core.NewRunID())
	time.Sleep(time.Until(time.Unix(0, startNs)))
	for k := range keys {
		_, held, err := s.AcquireLease(ctx, leaseKey(k), owner, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if held == nil {
			fmt.Printf("won %d\n", k)
		}
	}
}

// TestLeasesMultiProcess starts processes that acquire the same keys at
// the same moment on one database: every key is won by exactly one.
func TestLeasesMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const procs, keys = 4, 100
	path := filepath.Join(t.TempDir(), "metadata.db")
	// The database exists before the processes race for its leases.
	s, err := local.OpenMetadata(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	start := time.Now().Add(2 * time.Second).UnixNano()
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLeaseHelperProcess$", "-test.v")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%d|%d", leaseHelperEnv, path, keys, start))
		out := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	won := make([]int, keys)
	for p, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", p, err, outs[p])
		}
		if !strings.Contains(outs[p].String(), "--- PASS: TestLeaseHelperProcess") {
			t.Fatalf("process %d did not run the helper:\n%s", p, outs[p])
		}
		sc := bufio.NewScanner(bytes.NewReader(outs[p].Bytes()))
		for sc.Scan() {
			if k, ok := strings.CutPrefix(sc.Text(), "won "); ok {
				i, _ := strconv.Atoi(k)
				won[i]++
			}
		}
	}
	for k, n := range won {
		if n != 1 {
			t.Errorf("key %d won by %d processes, want exactly 1", k, n)
		}
	}
}

// BenchmarkLease measures what single-flight costs a cold node on the
// local store: acquiring a free key's lease and releasing it.
func BenchmarkLease(b *testing.B) {
	ctx := context.Background()
	s, err := local.OpenMetadata(ctx, filepath.Join(b.TempDir(), "metadata.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	owner := core.NewLeaseOwner("bench")
	i := 0
	for b.Loop() {
		l, held, err := s.AcquireLease(ctx, leaseKey(i), owner, time.Minute)
		if err != nil || held != nil {
			b.Fatalf("AcquireLease = held %v, %v", held, err)
		}
		if err := s.ReleaseLease(ctx, l); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
