package driver_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/backends/local/localtest"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/core/fingerprint"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/formats"
	"github.com/flowcache/flowcache/internal/testflow"
)

// pipeline is a small harness: it builds a driver over a cache directory and
// reports, per run, which nodes were executed and which retrieved.
type pipeline struct {
	t   *testing.T
	dir string
}

func newPipeline(t *testing.T) *pipeline {
	return &pipeline{t: t, dir: t.TempDir()}
}

type runResult struct {
	out       driver.Results
	err       error
	executed  []string
	retrieved []string
	events    []core.Event
	runID     core.RunID
	dr        *driver.Driver
}

// flow is r as the runs of package testflow describe theirs.
func (r runResult) flow() testflow.Result {
	return testflow.Result{ID: r.runID, Out: r.out, Executed: r.executed, Retrieved: r.retrieved, Events: r.events}
}

// did says what happened to node in the run (see testflow.Result.Did).
func (r runResult) did(node string) string { return r.flow().Did(node) }

func (r runResult) has(node string, typ core.EventType) bool {
	for _, e := range r.events {
		if e.Node == node && e.Type == typ {
			return true
		}
	}
	return false
}

func (p *pipeline) run(nodes []*driver.NodeDef, outputs []string, inputs driver.Inputs, overrides driver.Overrides, opts ...driver.CacheOption) runResult {
	p.t.Helper()
	dr, err := driver.NewBuilder().WithNodes(nodes...).WithCache(append([]driver.CacheOption{driver.CacheDir(p.dir)}, opts...)...).Build()
	if err != nil {
		p.t.Fatalf("Build: %v", err)
	}
	p.t.Cleanup(func() { dr.Close() })
	ctx := context.Background()
	out, err := dr.Execute(ctx, outputs, inputs, overrides)
	id, _ := dr.Cache().LastRunID(ctx)
	res := testflow.NewResult(id, out, dr.Cache().Events(slog.LevelDebug, id))
	return runResult{out: out, err: err, executed: res.Executed, retrieved: res.Retrieved, events: res.Events, runID: id, dr: dr}
}

// entries counts the entries of nodes (not the code manifests, see
// core.CodeManifest).
func (p *pipeline) entries() int {
	p.t.Helper()
	st, err := local.Open(context.Background(), p.dir)
	if err != nil {
		p.t.Fatal(err)
	}
	defer st.Close()
	n := 0
	err = st.Metadata().WalkEntries(context.Background(), func(e core.Entry) error {
		if e.Key.Node != core.CodeManifestNode {
			n++
		}
		return nil
	})
	if err != nil {
		p.t.Fatal(err)
	}
	return n
}

func want(t *testing.T, r runResult, node, what string) {
	t.Helper()
	testflow.WantDid(t, r.flow(), node, what)
}

func wantOut[T comparable](t *testing.T, r runResult, name string, v T) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("Execute: %v", r.err)
	}
	got, err := driver.Get[T](r.out, name)
	if err != nil {
		t.Fatal(err)
	}
	if got != v {
		t.Errorf("output %s = %v, want %v", name, got, v)
	}
}

func A1() int { return 1 }

// A2 returns the same value as A1 with another body.
func A2() int { x := 0; return x + 1 }

func B(a int) int { return a * 10 }

func C(b int) int { return b + 5 }

// Test 1: run 1 executes A, run 2 retrieves it; a body change with the same
// value executes A and adds one entry.
func TestRetrieveThenCodeChange(t *testing.T) {
	p := newPipeline(t)
	r := p.run([]*driver.NodeDef{driver.Node("A", A1)}, []string{"A"}, nil, nil)
	wantOut(t, r, "A", 1)
	want(t, r, "A", "executed")
	if n := p.entries(); n != 1 {
		t.Fatalf("entries after run 1 = %d, want 1", n)
	}
	r = p.run([]*driver.NodeDef{driver.Node("A", A1)}, []string{"A"}, nil, nil)
	wantOut(t, r, "A", 1)
	want(t, r, "A", "retrieved")
	if !r.has("A", core.EventGetResult) {
		t.Error("no get_result event for A")
	}
	r = p.run([]*driver.NodeDef{driver.Node("A", A2)}, []string{"A"}, nil, nil)
	wantOut(t, r, "A", 1)
	want(t, r, "A", "executed")
	if n := p.entries(); n != 2 {
		t.Fatalf("entries after the code change = %d, want 2", n)
	}
}

func A3() int { return 3 }

// Test 2: A's code changes but not its value: A executes, B is retrieved;
// code and value change: both execute.
func TestUpstreamCodeChange(t *testing.T) {
	p := newPipeline(t)
	nodes := func(a any) []*driver.NodeDef {
		return []*driver.NodeDef{driver.Node("A", a), driver.Node("B", B, "A")}
	}
	r := p.run(nodes(A1), []string{"B"}, nil, nil)
	wantOut(t, r, "B", 10)
	want(t, r, "A", "executed")
	want(t, r, "B", "executed")

	r = p.run(nodes(A2), []string{"B"}, nil, nil)
	wantOut(t, r, "B", 10)
	want(t, r, "A", "executed")
	want(t, r, "B", "retrieved")

	r = p.run(nodes(A3), []string{"B"}, nil, nil)
	wantOut(t, r, "B", 30)
	want(t, r, "A", "executed")
	want(t, r, "B", "executed")
}

// Test 3: B with A as an input.
func TestInputVersions(t *testing.T) {
	p := newPipeline(t)
	nodes := []*driver.NodeDef{driver.Node("B", B, "A")}
	r := p.run(nodes, []string{"B"}, driver.Inputs{"A": 2}, nil)
	wantOut(t, r, "B", 20)
	want(t, r, "B", "executed")
	if !r.has("A", core.EventIsInput) {
		t.Error("no is_input event for A")
	}
	r = p.run(nodes, []string{"B"}, driver.Inputs{"A": 2}, nil)
	wantOut(t, r, "B", 20)
	want(t, r, "B", "retrieved")
	r = p.run(nodes, []string{"B"}, driver.Inputs{"A": 4}, nil)
	wantOut(t, r, "B", 40)
	want(t, r, "B", "executed")
}

// Test 4: an override is neither executed nor stored.
func TestOverride(t *testing.T) {
	p := newPipeline(t)
	nodes := []*driver.NodeDef{driver.Node("A", A1), driver.Node("B", B, "A")}
	r := p.run(nodes, []string{"B"}, nil, driver.Overrides{"A": 13})
	wantOut(t, r, "B", 130)
	want(t, r, "A", "absent")
	want(t, r, "B", "executed")
	if !r.has("A", core.EventIsOverride) {
		t.Error("no is_override event for A")
	}
	if n := p.entries(); n != 1 {
		t.Fatalf("entries = %d, want 1 (B only: overrides are never stored)", n)
	}
	// Without the override A runs and B misses (A=1, not 13).
	r = p.run(nodes, []string{"B"}, nil, nil)
	wantOut(t, r, "B", 10)
	want(t, r, "A", "executed")
	want(t, r, "B", "executed")
	// The override again: B is retrieved from the first run.
	r = p.run(nodes, []string{"B"}, nil, driver.Overrides{"A": 13})
	wantOut(t, r, "B", 130)
	want(t, r, "B", "retrieved")
}

var errBoom = errors.New("boom")

func Fails(b int) (int, error) { return 0, errBoom }

// Test 5: a failing node.
func TestFailingNode(t *testing.T) {
	p := newPipeline(t)
	nodes := []*driver.NodeDef{driver.Node("A", A1), driver.Node("B", B, "A"), driver.Node("F", Fails, "B")}
	r := p.run(nodes, []string{"F"}, nil, nil)
	if r.err == nil {
		t.Fatal("Execute succeeded; want the error of F")
	}
	if !errors.Is(r.err, errBoom) || !strings.Contains(r.err.Error(), `"F"`) {
		t.Fatalf("error %q does not wrap boom or name node F", r.err)
	}
	var ne *core.NodeError
	if !errors.As(r.err, &ne) || ne.Node != "F" {
		t.Fatalf("error %v is not a *core.NodeError for F", r.err)
	}
	logs := r.dr.Cache().NodeLogs(slog.LevelDebug, r.runID)
	found := false
	for _, e := range logs["F"] {
		found = found || e.Type == core.EventFailedExecution
	}
	if !found {
		t.Errorf("logs of F = %v, want a failed_execution event", logs["F"])
	}
	if n := p.entries(); n != 2 {
		t.Fatalf("entries = %d, want 2 (A and B stored, nothing for F)", n)
	}
	r = p.run(nodes, []string{"B"}, nil, nil)
	wantOut(t, r, "B", 10)
	want(t, r, "A", "retrieved")
	want(t, r, "B", "retrieved")
}

var counter atomic.Int64

func Counter() int { return int(counter.Add(1)) }

// Test 6: recompute=[A] after two runs: A executes, B is retrieved (same
// value).
func TestRecomputeList(t *testing.T) {
	p := newPipeline(t)
	nodes := []*driver.NodeDef{driver.Node("A", A1), driver.Node("B", B, "A")}
	p.run(nodes, []string{"B"}, nil, nil)
	p.run(nodes, []string{"B"}, nil, nil)
	r := p.run(nodes, []string{"B"}, nil, nil, driver.Recompute("A"))
	wantOut(t, r, "B", 10)
	want(t, r, "A", "executed")
	want(t, r, "B", "retrieved")
}

// A recomputed node replaces its mapping: a later Default run sees the new
// value, not the first one stored (Hamilton keeps the first forever).
func TestRecomputeReplacesMapping(t *testing.T) {
	p := newPipeline(t)
	counter.Store(0)
	nodes := []*driver.NodeDef{driver.Node("N", Counter)}
	r := p.run(nodes, []string{"N"}, nil, nil)
	wantOut(t, r, "N", 1)
	r = p.run(nodes, []string{"N"}, nil, nil, driver.Recompute("N"))
	wantOut(t, r, "N", 2)
	r = p.run(nodes, []string{"N"}, nil, nil)
	wantOut(t, r, "N", 2)
	want(t, r, "N", "retrieved")
	if n := p.entries(); n != 1 {
		t.Fatalf("entries = %d, want 1 (replaced, not added)", n)
	}
}

// Test 7: disable=[A] on A→B→C: A and B execute every run, C is retrieved.
func TestDisableList(t *testing.T) {
	p := newPipeline(t)
	nodes := []*driver.NodeDef{driver.Node("A", A1), driver.Node("B", B, "A"), driver.Node("C", C, "B")}
	for i := range 3 {
		r := p.run(nodes, []string{"C"}, nil, nil, driver.Disable("A"))
		wantOut(t, r, "C", 15)
		want(t, r, "A", "executed")
		want(t, r, "B", "executed")
		if i == 0 {
			want(t, r, "C", "executed")
		} else {
			want(t, r, "C", "retrieved")
		}
	}
}

// Test 8: ignore=[A] on A→B: A executes every run and is never stored; B is
// retrieved from run 2 on.
func TestIgnoreList(t *testing.T) {
	p := newPipeline(t)
	nodes := []*driver.NodeDef{driver.Node("A", A1), driver.Node("B", B, "A")}
	for i := range 3 {
		r := p.run(nodes, []string{"B"}, nil, nil, driver.Ignore("A"))
		wantOut(t, r, "B", 10)
		want(t, r, "A", "executed")
		if i == 0 {
			want(t, r, "B", "executed")
		} else {
			want(t, r, "B", "retrieved")
		}
		if r.has("A", core.EventSetResult) {
			t.Errorf("run %d stored a result for ignored A", i+1)
		}
	}
	if n := p.entries(); n != 1 {
		t.Fatalf("entries = %d, want 1 (B only)", n)
	}
}

// Test 9: behaviour resolution.
func TestBehaviorResolution(t *testing.T) {
	t.Run("node option alone", func(t *testing.T) {
		p := newPipeline(t)
		nodes := []*driver.NodeDef{driver.Node("A", A1, driver.WithBehavior(core.Recompute)), driver.Node("B", B, "A")}
		p.run(nodes, []string{"B"}, nil, nil)
		r := p.run(nodes, []string{"B"}, nil, nil)
		want(t, r, "A", "executed")
		want(t, r, "B", "retrieved")
	})
	t.Run("build list beats node option", func(t *testing.T) {
		p := newPipeline(t)
		nodes := []*driver.NodeDef{driver.Node("A", A1, driver.WithBehavior(core.Recompute)), driver.Node("B", B, "A")}
		p.run(nodes, []string{"B"}, nil, nil, driver.DefaultNodes("A"))
		r := p.run(nodes, []string{"B"}, nil, nil, driver.DefaultNodes("A"))
		want(t, r, "A", "retrieved")
		want(t, r, "B", "retrieved")
	})
	t.Run("node in two lists", func(t *testing.T) {
		_, err := driver.NewBuilder().WithNodes(driver.Node("A", A1)).
			WithCache(driver.CacheDir(t.TempDir()), driver.Recompute("A"), driver.Ignore("A")).Build()
		if err == nil || !strings.Contains(err.Error(), `"A"`) {
			t.Fatalf("Build error = %v, want one naming node A", err)
		}
	})
	t.Run("default behavior disable", func(t *testing.T) {
		// Only C is cached; B (disabled) executes every run, and so would
		// anything depending on it.
		p := newPipeline(t)
		nodes := []*driver.NodeDef{driver.Node("A", A1), driver.Node("B", B, "A"), driver.Node("C", C, "x")}
		opts := []driver.CacheOption{driver.DefaultBehavior(core.Disable), driver.DefaultNodes("C")}
		p.run(nodes, []string{"B", "C"}, driver.Inputs{"x": 1}, nil, opts...)
		r := p.run(nodes, []string{"B", "C"}, driver.Inputs{"x": 1}, nil, opts...)
		wantOut(t, r, "C", 6)
		wantOut(t, r, "B", 10)
		want(t, r, "A", "executed")
		want(t, r, "B", "executed")
		want(t, r, "C", "retrieved")
		if n := p.entries(); n != 1 {
			t.Fatalf("entries = %d, want 1 (only C is cached)", n)
		}
	})
}

// Test 10: fan-out of 6 items and a collect.
func TestFanOut(t *testing.T) {
	p := newPipeline(t)
	nodes := testflow.FanOut("n", "items", "total")
	r := p.run(nodes, []string{"total"}, driver.Inputs{"n": 6}, nil)
	wantOut(t, r, "total", 91)
	if len(r.executed) != 8 {
		t.Fatalf("run 1 executed %v, want items, 6 squares and total", r.executed)
	}
	tasks := map[string]bool{}
	for _, e := range r.events {
		if e.Node == "square" && e.Type == core.EventExecuteNode {
			tasks[e.Task] = true
			if !strings.Contains(e.String(), "square::items[") {
				t.Errorf("event text %q lacks the task id", e.String())
			}
		}
	}
	if len(tasks) != 6 || !tasks["items[0]"] || !tasks["items[5]"] {
		t.Errorf("square tasks = %v, want items[0]..items[5]", tasks)
	}
	r = p.run(nodes, []string{"total"}, driver.Inputs{"n": 6}, nil)
	wantOut(t, r, "total", 91)
	if !slices.Equal(r.executed, []string{"items"}) {
		t.Fatalf("run 2 executed %v, want only items", r.executed)
	}
	want(t, r, "total", "retrieved")
	// One more item: the six squares are retrieved, one executes, total
	// executes.
	r = p.run(nodes, []string{"total"}, driver.Inputs{"n": 7}, nil)
	wantOut(t, r, "total", 140)
	slices.Sort(r.executed)
	if !slices.Equal(r.executed, []string{"items", "square@items[6]", "total"}) {
		t.Fatalf("run 3 executed %v", r.executed)
	}
}

type deep struct{ Next *deep }

func Deep() *deep {
	d := &deep{}
	for range 10 {
		d = &deep{Next: d}
	}
	return d
}

func Depth(d *deep) int {
	n := 0
	for ; d != nil; d = d.Next {
		n++
	}
	return n
}

// Test 11 (the adapter part; fingerprint details are tested in package
// fingerprint): a value past max depth is unhashable, and neither it nor
// what depends on it is ever retrieved.
func TestUnhashableNeverRetrieved(t *testing.T) {
	p := newPipeline(t)
	nodes := []*driver.NodeDef{driver.Node("deep", Deep), driver.Node("depth", Depth, "deep")}
	for i := range 2 {
		r := p.run(nodes, []string{"depth"}, nil, nil, driver.CacheHasher(fingerprint.New()))
		wantOut(t, r, "depth", 11)
		want(t, r, "deep", "executed")
		want(t, r, "depth", "executed")
		if !r.has("deep", core.EventUnhashable) {
			t.Errorf("run %d: no unhashable_data_version event for deep", i+1)
		}
	}
}

// Test 14: a stored result deleted, truncated or with a flipped byte
// (inline in metadata.db or as a file: localtest finds it either way).
func TestDamagedResult(t *testing.T) {
	damage := map[string]localtest.Damage{
		"deleted":   localtest.Remove,
		"truncated": localtest.Truncate,
		"flipped":   localtest.FlipBit,
	}
	for name, d := range damage {
		t.Run(name, func(t *testing.T) {
			p := newPipeline(t)
			nodes := []*driver.NodeDef{driver.Node("A", A1), driver.Node("B", B, "A")}
			r := p.run(nodes, []string{"B"}, nil, nil)
			wantOut(t, r, "B", 10)
			ids, err := localtest.Results(context.Background(), p.dir)
			// The results of A and B, not the code manifests.
			ids = slices.DeleteFunc(ids, func(id core.ResultID) bool { return id.Format == core.CodeManifestFormat })
			if err != nil || len(ids) != 2 {
				t.Fatalf("stored results = %v, %v; want 2", ids, err)
			}
			for _, id := range ids {
				if err := localtest.DamageResult(context.Background(), p.dir, id, d); err != nil {
					t.Fatal(err)
				}
			}
			r = p.run(nodes, []string{"B"}, nil, nil)
			wantOut(t, r, "B", 10)
			want(t, r, "B", "executed")
			if !r.has("B", core.EventMissingResult) {
				t.Error("no missing_result event for B")
			}
			// B was stored again; the next run reads it.
			r = p.run(nodes, []string{"B"}, nil, nil)
			wantOut(t, r, "B", 10)
			want(t, r, "B", "retrieved")
			if r.has("B", core.EventMissingResult) {
				t.Error("missing_result again after B was stored again")
			}
		})
	}
}

// Test 13: two OS processes run the same pipeline on one cache directory at
// once.
func TestTwoProcesses(t *testing.T) {
	if os.Getenv("FLOWCACHE_CHILD_DIR") != "" {
		t.Skip("child")
	}
	dir := t.TempDir()
	const procs = 2
	cmds := make([]*exec.Cmd, procs)
	outs := make([]strings.Builder, procs)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^TestChildProcess$", "-test.v")
		cmds[i].Env = append(os.Environ(), "FLOWCACHE_CHILD_DIR="+dir)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, outs[i].String())
		}
		if !strings.Contains(outs[i].String(), "child ok total=") {
			t.Fatalf("process %d did not finish:\n%s", i, outs[i].String())
		}
	}
	// The store is consistent: every entry's result is readable, and a
	// third run retrieves everything.
	p := &pipeline{t: t, dir: dir}
	r := p.run(childNodes(), []string{"total"}, driver.Inputs{"n": 40}, nil)
	wantOut(t, r, "total", childTotal(40))
	if !slices.Equal(r.executed, []string{"items"}) {
		t.Fatalf("run after the two processes executed %v, want only items", r.executed)
	}
	st, err := local.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.Metadata().Runs(context.Background())
	if err != nil || len(runs) != 4*procs+1 {
		t.Fatalf("runs = %d (%v), want %d", len(runs), err, 4*procs+1)
	}
	err = st.Metadata().WalkEntries(context.Background(), func(e core.Entry) error {
		ok, err := st.Results().Exists(context.Background(), core.ResultID{Version: e.DataVersion, Format: e.Format})
		if err != nil || !ok {
			return fmt.Errorf("entry %s points at a missing result (%v)", e.Key, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func Slow(x int) int {
	s := 0
	for i := range 20000 {
		s += (x * i) % 7
	}
	return x*3 + s*0
}

func childNodes() []*driver.NodeDef {
	return []*driver.NodeDef{
		driver.Node("items", testflow.Items, "n", driver.Expand()),
		driver.Node("slow", Slow, "items"),
		driver.Node("total", testflow.Sum, "slow", driver.Collect()),
	}
}

func childTotal(n int) int {
	s := 0
	for i := 1; i <= n; i++ {
		s += i * 3
	}
	return s
}

func TestChildProcess(t *testing.T) {
	dir := os.Getenv("FLOWCACHE_CHILD_DIR")
	if dir == "" {
		t.Skip("run by TestTwoProcesses")
	}
	for range 4 {
		dr, err := driver.NewBuilder().WithNodes(childNodes()...).WithCache(driver.CacheDir(dir)).Build()
		if err != nil {
			t.Fatal(err)
		}
		out, err := dr.Execute(context.Background(), []string{"total"}, driver.Inputs{"n": 40}, nil)
		dr.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := out["total"].(int); got != childTotal(40) {
			t.Fatalf("total = %d, want %d", got, childTotal(40))
		}
	}
	fmt.Printf("child ok total=%d\n", childTotal(40))
}

type resultV1 struct{ A int }

type resultV2 struct {
	A int
	B int
}

// The result type is part of a node's code version: the same function
// source returning a changed struct is a miss.
func TestResultTypeChangeIsMiss(t *testing.T) {
	p := newPipeline(t)
	mk1 := func() resultV1 { return resultV1{A: 1} }
	r := p.run([]*driver.NodeDef{driver.Node("R", mk1, driver.WithCodeVersion("same"))}, []string{"R"}, nil, nil)
	want(t, r, "R", "executed")
	mk2 := func() resultV2 { return resultV2{A: 1, B: 2} }
	r = p.run([]*driver.NodeDef{driver.Node("R", mk2, driver.WithCodeVersion("same"))}, []string{"R"}, nil, nil)
	want(t, r, "R", "executed")
	if got := r.out["R"].(resultV2); got.B != 2 {
		t.Fatalf("R = %+v, want B=2 (not old bytes decoded into the new type)", got)
	}
}

// Changing a node's format is a miss (the result is stored again in the new
// format), never a wrong decoding.
func TestFormatChangeIsMiss(t *testing.T) {
	p := newPipeline(t)
	gobNode := []*driver.NodeDef{driver.Node("A", A1)}
	jsonNode := []*driver.NodeDef{driver.Node("A", A1, driver.WithFormat(formats.JSON()))}
	r := p.run(gobNode, []string{"A"}, nil, nil)
	want(t, r, "A", "executed")
	r = p.run(jsonNode, []string{"A"}, nil, nil)
	wantOut(t, r, "A", 1)
	want(t, r, "A", "executed")
	r = p.run(jsonNode, []string{"A"}, nil, nil)
	wantOut(t, r, "A", 1)
	want(t, r, "A", "retrieved")
	if !r.has("A", core.EventGetResult) {
		t.Fatal("no get_result for A")
	}
}

type withCallback struct {
	Name string
	Fn   func() int
}

func Callback() withCallback { return withCallback{Name: "x"} }

func TestBuildRejectsTypeTheFormatCannotStore(t *testing.T) {
	_, err := driver.NewBuilder().
		WithNodes(driver.Node("cb", Callback, driver.WithFormat(formats.JSON()))).
		WithCache(driver.CacheDir(t.TempDir())).Build()
	for _, w := range []string{`node "cb"`, "json", "withCallback", "Fn"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Fatalf("Build error %v does not name %q", err, w)
		}
	}
}
