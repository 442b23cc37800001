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
	"sync"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/core"
)

func leaseKey(i int) core.KeyID {
	return core.NewCacheKey(fmt.Sprint("leased-", i), "code", nil).ID()
}

// TestLeasesTwoHandles takes leases through two stores opened on one
// database file (two *sql.DB pools, as two processes have): of the
// goroutines acquiring a key through both at once, exactly one gets it,
// and an expired lease is taken over through the other handle.
func TestLeasesTwoHandles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "metadata.db")
	var stores [2]*local.MetadataStore
	for i := range stores {
		s, err := local.OpenMetadata(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	const keys, perHandle = 20, 4
	for k := range keys {
		var (
			mu   sync.Mutex
			wins int
			wg   sync.WaitGroup
		)
		start := make(chan struct{})
		for h, s := range stores {
			for g := range perHandle {
				wg.Go(func() {
					<-start
					owner := core.LeaseOwner{Run: core.RunID(fmt.Sprint("run-", h, "-", g)), Host: "h", PID: g}
					_, held, err := s.AcquireLease(ctx, leaseKey(k), owner, time.Minute)
					if err != nil {
						t.Errorf("key %d, handle %d: %v", k, h, err)
						return
					}
					if held == nil {
						mu.Lock()
						wins++
						mu.Unlock()
					}
				})
			}
		}
		close(start)
		wg.Wait()
		if wins != 1 {
			t.Errorf("key %d: %d of %d acquirers got the lease, want exactly 1", k, wins, 2*perHandle)
		}
	}

	// Expiry is judged by the machine's clock: the other handle takes
	// the lease over at its Expires, and the first one has lost it.
	a := core.LeaseOwner{Run: "run-a", Host: "h", PID: 1}
	b := core.LeaseOwner{Run: "run-b", Host: "h", PID: 2}
	la, held, err := stores[0].AcquireLease(ctx, leaseKey(keys), a, 200*time.Millisecond)
	if err != nil || held != nil {
		t.Fatalf("AcquireLease = %v, %v", held, err)
	}
	time.Sleep(time.Until(la.Expires))
	lb, held, err := stores[1].AcquireLease(ctx, leaseKey(keys), b, time.Minute)
	if err != nil || held != nil {
		t.Fatalf("AcquireLease after the expiry, through the other handle = held %+v, %v", held, err)
	}
	if lb.TakenOver == nil || lb.TakenOver.Owner != a {
		t.Errorf("took over %+v, want a's lease", lb.TakenOver)
	}
	if err := stores[0].ReleaseLease(ctx, la); !errors.Is(err, core.ErrLeaseLost) {
		t.Errorf("ReleaseLease of the lease taken over = %v, want ErrLeaseLost", err)
	}
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
