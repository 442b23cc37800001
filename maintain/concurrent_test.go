package maintain_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/internal/testflow"
	"github.com/flowcache/flowcache/maintain"
)

// The pipeline the child process runs: large results (files), small ones
// (inline), a fan-out, and nodes downstream of all of them.
func SumFloats(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}

func Combine(sum float64, small int, total int) float64 { return sum + float64(small*1000+total) }

func childPipeline() []*driver.NodeDef {
	return append(testflow.FanOut("m", "files", "total"),
		driver.Node("big", Big1, "n"),
		driver.Node("small", Small1, "n"),
		driver.Node("sum", SumFloats, "big"),
		driver.Node("combine", Combine, "sum", "small", "total"),
	)
}

func childInputs(i int) (driver.Inputs, float64) {
	n, m := i%4, 2+i%3
	total := 0
	for k := 1; k <= m; k++ {
		total += k * k
	}
	return driver.Inputs{"n": n, "m": m}, SumFloats(Big1(n)) + float64(Small1(n)*1000+total)
}

const (
	envChildDir  = "FLOWCACHE_MAINTAIN_CHILD_DIR"
	envChildRuns = "FLOWCACHE_MAINTAIN_CHILD_RUNS"
	envChildVary = "FLOWCACHE_MAINTAIN_CHILD_VARY"
)

// TestChildPipeline is the child process of the concurrent tests: it runs
// the pipeline again and again, each run with its own driver and store
// handle, checks every value, and prints what each run executed.
func TestChildPipeline(t *testing.T) {
	dir := os.Getenv(envChildDir)
	if dir == "" {
		t.Skip("run by TestEvictWhileRunning")
	}
	runs, _ := strconv.Atoi(os.Getenv(envChildRuns))
	vary := os.Getenv(envChildVary) == "1"
	ctx := context.Background()
	for i := range runs {
		k := 0
		if vary {
			k = i
		}
		in, want := childInputs(k)
		dr, err := driver.NewBuilder().WithNodes(childPipeline()...).WithCache(driver.CacheDir(dir)).Build()
		if err != nil {
			t.Fatal(err)
		}
		out, err := dr.Execute(ctx, []string{"combine", "big"}, in, nil)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if got := out["combine"].(float64); got != want {
			t.Fatalf("run %d: combine = %v, want %v", i, got, want)
		}
		if got := out["big"].([]float64); !slices.Equal(got, Big1(in["n"].(int))) {
			t.Fatalf("run %d: big has a wrong value", i)
		}
		id, _ := dr.Cache().LastRunID(ctx)
		executed, missing := 0, 0
		for _, e := range dr.Cache().Events(slog.LevelDebug, id) {
			switch {
			case e.Type == core.EventExecuteNode && e.Node != "files":
				executed++
			case e.Type == core.EventMissingResult:
				missing++
			}
		}
		dr.Close()
		fmt.Printf("run %d executed=%d missing=%d\n", i, executed, missing)
	}
	fmt.Println("child ok")
}

type childRun struct{ executed, missing int }

// startChild starts the test binary as a child process running the
// pipeline runs times.
func startChild(t *testing.T, dir string, runs int, vary bool) (wait func() []childRun) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildPipeline$", "-test.v", "-test.count=1")
	v := "0"
	if vary {
		v = "1"
	}
	cmd.Env = append(os.Environ(), envChildDir+"="+dir, envChildRuns+"="+strconv.Itoa(runs), envChildVary+"="+v)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return func() []childRun {
		t.Helper()
		err := cmd.Wait()
		if err != nil || !strings.Contains(out.String(), "child ok") {
			t.Fatalf("child process: %v\n%s", err, out.String())
		}
		var rs []childRun
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			var i int
			var r childRun
			if n, _ := fmt.Sscanf(sc.Text(), "run %d executed=%d missing=%d", &i, &r.executed, &r.missing); n == 3 {
				rs = append(rs, r)
			}
		}
		if len(rs) != runs {
			t.Fatalf("child reported %d runs, want %d:\n%s", len(rs), runs, out.String())
		}
		return rs
	}
}

// One process runs a pipeline again and again on a cache directory while
// this one evicts from it as hard as it can, without a grace period: every
// run's values stay right (a deleted entry or result is a miss, never a
// wrong value), and the cache is whole afterwards.
func TestEvictWhileRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	dir := t.TempDir()
	// A first run creates the cache, so that Open finds it.
	in, _ := childInputs(0)
	testflow.DirAt(t, dir, time.Now()).Run(childPipeline(), []string{"combine"}, in, nil)

	const runs = 40
	wait := startChild(t, dir, runs, true)
	done := make(chan []childRun)
	go func() { done <- wait() }()

	ic, err := maintain.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	policies := []maintain.Policy{
		{MaxEntries: 3, GC: true, Grace: maintain.NoGrace},
		{OlderThan: time.Nanosecond, Grace: maintain.NoGrace},
		{MaxSize: 1, Grace: maintain.NoGrace},
		{GC: true, Grace: maintain.NoGrace},
	}
	var entries, results, rounds int
	var child []childRun
loop:
	for i := 0; ; i++ {
		select {
		case child = <-done:
			break loop
		default:
		}
		rep, err := ic.Evict(context.Background(), policies[i%len(policies)])
		if err != nil {
			t.Fatalf("evict while a pipeline runs: %v", err)
		}
		entries += len(rep.Entries)
		results += len(rep.Results)
		rounds++
	}
	missing := 0
	for _, r := range child {
		missing += r.missing
	}
	t.Logf("%d evictions deleted %d entries and %d results while %d runs ran (%d missing_result events)", rounds, entries, results, runs, missing)
	if entries == 0 || results == 0 {
		t.Fatalf("the evictions deleted %d entries and %d results: the test evicted nothing", entries, results)
	}
	// A GC leaves the cache whole; the next runs are right and warm.
	if _, err := ic.Evict(context.Background(), maintain.Policy{GC: true, Grace: maintain.NoGrace}); err != nil {
		t.Fatal(err)
	}
	rep, err := ic.Verify(context.Background(), nil)
	if err != nil || !rep.OK() {
		t.Fatalf("verify after the runs: %+v, %v", rep.Problems, err)
	}
}

// With the grace period, eviction running next to a pipeline deletes
// nothing the pipeline uses: after its first run, every run of the child
// retrieves everything, however strict the policy.
func TestEvictGraceWhileRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	dir := t.TempDir()
	in, _ := childInputs(0)
	testflow.DirAt(t, dir, time.Now()).Run(childPipeline(), []string{"combine", "big"}, in, nil)

	const runs = 15
	wait := startChild(t, dir, runs, false)
	done := make(chan []childRun)
	go func() { done <- wait() }()
	ic, err := maintain.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	strict := maintain.Policy{MaxEntries: 1, MaxSize: 1, OlderThan: time.Nanosecond, GC: true}
	var child []childRun
	protected := 0
loop:
	for {
		select {
		case child = <-done:
			break loop
		default:
		}
		rep, err := ic.Evict(context.Background(), strict)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Entries) > 0 || len(rep.Results) > 0 {
			t.Fatalf("evicted %d entries and %d results within the grace period", len(rep.Entries), len(rep.Results))
		}
		protected = rep.ProtectedEntries
	}
	if protected == 0 {
		t.Error("no entry was protected: the policy selected nothing")
	}
	for i, r := range child {
		if r.executed != 0 || r.missing != 0 {
			t.Errorf("run %d executed %d nodes (%d missing results); want everything retrieved", i, r.executed, r.missing)
		}
	}
}
