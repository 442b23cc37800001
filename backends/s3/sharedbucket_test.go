package s3_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/internal/servertest"
)

// The pipeline of TestSharedBucketKeepsHits: each run takes a few items
// from a small pool (so the processes' inputs overlap), runs two nodes per
// item and sums them. Every execution of a per-item node is appended to the
// file named by sharedLogEnv, so executions are counted across processes.
const (
	sharedURLEnv  = "FLOWCACHE_TEST_SHARED_URL"
	sharedLogEnv  = "FLOWCACHE_TEST_SHARED_LOG"
	sharedRunsEnv = "FLOWCACHE_TEST_SHARED_RUNS"
	sharedSeedEnv = "FLOWCACHE_TEST_SHARED_SEED"

	sharedPool    = 120 // items to pick from
	sharedPerRun  = 6   // items a run picks
	sharedProcs   = 8
	sharedRuns    = 50
	sharedRunsOff = 12 // runs a process makes under -short
)

var execLog struct {
	sync.Mutex
	f *os.File
}

// logExec appends "node item" to the execution log, one write a line
// (O_APPEND: lines from many processes do not interleave).
func logExec(node string, item int) {
	execLog.Lock()
	defer execLog.Unlock()
	if execLog.f == nil {
		return
	}
	if _, err := fmt.Fprintf(execLog.f, "%s %d\n", node, item); err != nil {
		panic(err)
	}
}

func sharedPicks(picks []int) []int { return picks }

func sharedLoad(item int) int {
	logExec("load", item)
	return 1000 + item
}

func sharedFeature(loaded int) int {
	logExec("feature", loaded-1000)
	return loaded * 3
}

func sharedTotal(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// sharedNodes is the pipeline. Its code versions are given: each process
// would otherwise describe the code from source when it builds (about a
// second of CPU under -race), which is not what the test is about.
func sharedNodes() []*driver.NodeDef {
	v := driver.WithCodeVersion("v1")
	return []*driver.NodeDef{
		driver.Node("items", sharedPicks, "picks", driver.Expand(), v),
		driver.Node("load", sharedLoad, "items", v),
		driver.Node("feature", sharedFeature, "load", v),
		driver.Node("total", sharedTotal, "feature", driver.Collect(), v),
	}
}

func sharedWant(picks []int) int {
	s := 0
	for _, p := range picks {
		s += 3 * (1000 + p)
	}
	return s
}

// TestSharedBucketKeepsHits: 8 OS processes run 50 runs each on one MinIO
// bucket at the same time, each run over a few items from a small pool;
// then one run over every item any process used must retrieve every
// per-item node: no process may hide from the others what it stored.
// (The preload snapshot, when every process overwrote it with its own
// view, once hid 164 of 212 inputs.)
func TestSharedBucketKeepsHits(t *testing.T) {
	if os.Getenv(sharedURLEnv) != "" {
		t.Skip("child")
	}
	bucket := servertest.S3Bucket(t)
	counter := newRequestCounter(t)
	url := counter.url(bucket, "shared")
	logPath := filepath.Join(t.TempDir(), "executions")
	runs := sharedRuns
	if testing.Short() {
		runs = sharedRunsOff
	}

	start := time.Now()
	cmds := make([]*exec.Cmd, sharedProcs)
	outs := make([]strings.Builder, sharedProcs)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^TestSharedBucketChild$", "-test.v")
		cmds[i].Env = append(os.Environ(), sharedURLEnv+"="+url, sharedLogEnv+"="+logPath,
			sharedRunsEnv+"="+strconv.Itoa(runs), sharedSeedEnv+"="+strconv.Itoa(i+1))
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int]bool{}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, outs[i].String())
		}
		out := outs[i].String()
		if !strings.Contains(out, fmt.Sprintf("child ok runs=%d", runs)) {
			t.Fatalf("process %d did not finish right:\n%s", i, out)
		}
		for line := range strings.Lines(out) {
			if rest, ok := strings.CutPrefix(line, "picked "); ok {
				for f := range strings.FieldsSeq(rest) {
					n, err := strconv.Atoi(f)
					if err != nil {
						t.Fatalf("process %d: bad line %q", i, line)
					}
					seen[n] = true
				}
			}
		}
	}
	before := countExecutions(t, logPath)
	byOp, requests := counter.take()
	t.Logf("%d processes × %d runs: %v, %d items used, %d per-item executions (%d at least), %d requests %v",
		sharedProcs, runs, time.Since(start).Round(time.Millisecond), len(seen), before, 2*len(seen), requests, byOp)
	if before < 2*len(seen) {
		t.Fatalf("only %d per-item executions for %d items: the log does not count them", before, len(seen))
	}

	// One run over every item used: each must be retrieved.
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	execLog.Lock()
	execLog.f = f
	execLog.Unlock()
	defer func() {
		execLog.Lock()
		execLog.f = nil
		execLog.Unlock()
		f.Close()
	}()
	all := slices.Sorted(func(yield func(int) bool) {
		for n := range seen {
			if !yield(n) {
				return
			}
		}
	})
	dr, err := driver.NewBuilder().WithNodes(sharedNodes()...).WithCache(driver.CacheURL(url)).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	out, err := dr.Execute(context.Background(), []string{"total"}, driver.Inputs{"picks": all}, nil)
	if err != nil || out["total"] != sharedWant(all) {
		t.Fatalf("run over every item: %v, %v; want total %d", out, err, sharedWant(all))
	}
	lines := readExecutions(t, logPath)[before:]
	lost := map[int]bool{}
	for _, l := range lines {
		lost[l.item] = true
	}
	if len(lines) > 0 {
		t.Errorf("the run over the %d items used re-executed %d of them (%d executions): hits lost", len(all), len(lost), len(lines))
	}
}

type execution struct {
	node string
	item int
}

func readExecutions(t *testing.T, path string) []execution {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []execution
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		node, item, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.Atoi(item)
		if !ok || err != nil {
			t.Fatalf("bad execution line %q", sc.Text())
		}
		out = append(out, execution{node, n})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func countExecutions(t *testing.T, path string) int { return len(readExecutions(t, path)) }

// TestSharedBucketChild is one process of TestSharedBucketKeepsHits.
func TestSharedBucketChild(t *testing.T) {
	url := os.Getenv(sharedURLEnv)
	if url == "" {
		t.Skip("run by TestSharedBucketKeepsHits")
	}
	runs, err := strconv.Atoi(os.Getenv(sharedRunsEnv))
	if err != nil {
		t.Fatal(err)
	}
	seed, err := strconv.Atoi(os.Getenv(sharedSeedEnv))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(os.Getenv(sharedLogEnv), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	execLog.Lock()
	execLog.f = f
	execLog.Unlock()

	rng := rand.New(rand.NewPCG(uint64(seed), 10))
	dr, err := driver.NewBuilder().WithNodes(sharedNodes()...).WithCache(driver.CacheURL(url)).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	for range runs {
		picks := rng.Perm(sharedPool)[:sharedPerRun]
		out, err := dr.Execute(context.Background(), []string{"total"}, driver.Inputs{"picks": picks}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if out["total"] != sharedWant(picks) {
			t.Fatalf("picks %v: total %v, want %d", picks, out["total"], sharedWant(picks))
		}
		fmt.Printf("picked %s\n", strings.Trim(fmt.Sprint(picks), "[]"))
	}
	fmt.Printf("child ok runs=%d\n", runs)
}
