package driver_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/internal/testflow"
)

type hidden struct {
	Visible int
	secret  string
}

func Hidden() hidden { return hidden{Visible: 1, secret: "x"} }

func UseHidden(h hidden) int { return h.Visible }

func TakesString(s string) int { return len(s) }

func TwoParams(a, b int) int { return a + b }

func NoResult(a int) {}

func TestBuildErrors(t *testing.T) {
	cases := []struct {
		name  string
		nodes []*driver.NodeDef
		cache bool
		want  []string
	}{
		{"cycle", []*driver.NodeDef{driver.Node("a", B, "c"), driver.Node("b", B, "a"), driver.Node("c", B, "b")}, false,
			[]string{"cycle", "a -> c -> b -> a"}},
		{"parameter type", []*driver.NodeDef{driver.Node("a", A1), driver.Node("b", TakesString, "a")}, false,
			[]string{`node "b"`, "parameter 1", "string", `"a"`, "int"}},
		{"parameter count", []*driver.NodeDef{driver.Node("a", A1), driver.Node("b", TwoParams, "a")}, false,
			[]string{`node "b"`, "2 parameters", "1 dependencies"}},
		{"not a function", []*driver.NodeDef{driver.Node("a", 42)}, false, []string{`node "a"`, "int is not a function"}},
		{"no result", []*driver.NodeDef{driver.Node("a", NoResult, "x")}, false, []string{`node "a"`, "must return one value"}},
		{"duplicate", []*driver.NodeDef{driver.Node("a", A1), driver.Node("a", A2)}, false, []string{`node "a" declared twice`}},
		{"bad argument", []*driver.NodeDef{driver.Node("a", B, 3)}, false, []string{`node "a"`, "argument 3", "int"}},
		{"gob unexported field", []*driver.NodeDef{driver.Node("h", Hidden), driver.Node("u", UseHidden, "h")}, true,
			[]string{`node "h"`, "secret", "unexported", "gob"}},
		{"collect without branch", []*driver.NodeDef{driver.Node("a", testflow.Items, "n"), driver.Node("s", testflow.Sum, "a", driver.Collect())}, false,
			[]string{`Collect node "s"`}},
		{"expand must return a slice", []*driver.NodeDef{driver.Node("a", A1, driver.Expand())}, false, []string{`node "a"`, "slice"}},
		{"reserved name", []*driver.NodeDef{driver.Node("@code", A1)}, false, []string{`node "@code"`, `"@"`, "reserved"}},
		{"reserved dependency name", []*driver.NodeDef{driver.Node("b", B, "@x")}, false, []string{`node "b"`, `dependency "@x"`, "reserved"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := driver.NewBuilder().WithNodes(c.nodes...)
			if c.cache {
				st := mem.Open()
				b = b.WithCache(driver.CacheStores(st.Metadata(), st.Results()))
			}
			_, err := b.Build()
			if err == nil {
				t.Fatal("Build succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestGobUnexportedAllowedWhenNotStored(t *testing.T) {
	st := mem.Open()
	for _, b := range []core.Behavior{core.Ignore, core.Disable} {
		dr, err := driver.NewBuilder().WithNodes(driver.Node("h", Hidden, driver.WithBehavior(b)), driver.Node("u", UseHidden, "h")).
			WithCache(driver.CacheStores(st.Metadata(), st.Results())).Build()
		if err != nil {
			t.Fatalf("%v: %v", b, err)
		}
		out, err := dr.Execute(context.Background(), []string{"u"}, nil, nil)
		if err != nil || out["u"] != 1 {
			t.Fatalf("%v: %v %v", b, out, err)
		}
	}
}

func TestWithCacheTwice(t *testing.T) {
	_, err := driver.NewBuilder().WithNodes(driver.Node("a", A1)).WithCache().WithCache().Build()
	if err == nil || !strings.Contains(err.Error(), "WithCache called twice") {
		t.Fatalf("err = %v", err)
	}
}

func TestExecuteErrors(t *testing.T) {
	dr, err := driver.NewBuilder().WithNodes(driver.Node("b", B, "a")).Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := dr.Execute(ctx, []string{"b"}, nil, nil); err == nil || !strings.Contains(err.Error(), `node "b" needs input "a"`) {
		t.Errorf("missing input: %v", err)
	}
	if _, err := dr.Execute(ctx, []string{"b"}, driver.Inputs{"a": "x"}, nil); err == nil || !strings.Contains(err.Error(), `input "a"`) || !strings.Contains(err.Error(), "string") {
		t.Errorf("wrong input type: %v", err)
	}
	if _, err := dr.Execute(ctx, []string{"zz"}, nil, nil); err == nil || !strings.Contains(err.Error(), `"zz"`) {
		t.Errorf("unknown output: %v", err)
	}
	if _, err := dr.Execute(ctx, []string{"b"}, driver.Inputs{"a": 1}, driver.Overrides{"b": "x"}); err == nil || !strings.Contains(err.Error(), `override "b"`) {
		t.Errorf("bad override: %v", err)
	}
	out, err := dr.Execute(ctx, []string{"b", "a"}, driver.Inputs{"a": 2}, nil)
	if err != nil || out["b"] != 20 || out["a"] != 2 {
		t.Errorf("outputs %v, %v", out, err)
	}
}

func Panics(a int) int { panic("kaboom") }

func TestPanicIsNodeError(t *testing.T) {
	dr, err := driver.NewBuilder().WithNodes(driver.Node("p", Panics, "a")).Build()
	if err != nil {
		t.Fatal(err)
	}
	_, err = dr.Execute(context.Background(), []string{"p"}, driver.Inputs{"a": 1}, nil)
	var ne *core.NodeError
	if !errors.As(err, &ne) || ne.Node != "p" || !strings.Contains(err.Error(), "kaboom") {
		t.Fatalf("err = %v", err)
	}
}

// Independent nodes run at the same time: each waits until the other has
// started, which only works if they run in parallel.
func TestParallelBranches(t *testing.T) {
	var started atomic.Int32
	wait := func(ctx context.Context) (int, error) {
		started.Add(1)
		deadline := time.Now().Add(5 * time.Second)
		for started.Load() < 2 {
			if time.Now().After(deadline) {
				return 0, errors.New("the other node never started")
			}
			time.Sleep(time.Millisecond)
		}
		return 1, nil
	}
	left := func(ctx context.Context) (int, error) { return wait(ctx) }
	right := func(ctx context.Context) (int, error) { return wait(ctx) }
	dr, err := driver.NewBuilder().WithParallelism(2).WithNodes(
		driver.Node("left", left), driver.Node("right", right), driver.Node("sum", TwoParams, "left", "right"),
	).Build()
	if err != nil {
		t.Fatal(err)
	}
	out, err := dr.Execute(context.Background(), []string{"sum"}, nil, nil)
	if err != nil || out["sum"] != 2 {
		t.Fatalf("%v %v", out, err)
	}
}

func TestCancelStopsRun(t *testing.T) {
	var ran atomic.Int32
	slow := func(ctx context.Context, x int) (int, error) {
		ran.Add(1)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Second):
			return x, nil
		}
	}
	after := func(x int) int { ran.Add(100); return x }
	dr, err := driver.NewBuilder().WithNodes(driver.Node("slow", slow, "x"), driver.Node("after", after, "slow")).Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = dr.Execute(ctx, []string{"after"}, driver.Inputs{"x": 1}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if time.Since(start) > 5*time.Second || ran.Load() != 1 {
		t.Fatalf("run did not stop: ran=%d after %v", ran.Load(), time.Since(start))
	}
}

// Only the values something needs are loaded: on a warm A→B→C run asking
// for C, A and B are retrieved without reading their results.
func TestWarmRunLoadsOnlyWhatIsNeeded(t *testing.T) {
	p := newPipeline(t)
	nodes := []*driver.NodeDef{driver.Node("A", A1), driver.Node("B", B, "A"), driver.Node("C", C, "B")}
	p.run(nodes, []string{"C"}, nil, nil)
	r := p.run(nodes, []string{"C"}, nil, nil)
	wantOut(t, r, "C", 15)
	var loaded []string
	for _, e := range r.events {
		if e.Type == core.EventGetResult && e.Actor == core.ActorResultStore {
			loaded = append(loaded, e.Node)
		}
	}
	if len(loaded) != 1 || loaded[0] != "C" {
		t.Fatalf("results read: %v, want only C", loaded)
	}
	// Recomputing C needs B's value: B is loaded, A is not.
	r = p.run(nodes, []string{"C"}, nil, nil, driver.Recompute("C"))
	loaded = loaded[:0]
	for _, e := range r.events {
		if e.Type == core.EventGetResult && e.Actor == core.ActorResultStore {
			loaded = append(loaded, e.Node)
		}
	}
	if len(loaded) != 1 || loaded[0] != "B" {
		t.Fatalf("results read when recomputing C: %v, want only B", loaded)
	}
}

func TestLogsAndLogFile(t *testing.T) {
	p := newPipeline(t)
	nodes := []*driver.NodeDef{driver.Node("A", A1), driver.Node("B", B, "A")}
	r1 := p.run(nodes, []string{"B"}, nil, nil, driver.LogToFile(""))
	r2 := p.run(nodes, []string{"B"}, nil, nil, driver.LogToFile(""))
	// Per run: keyed by run id; one run: keyed by node.
	byRun := r2.dr.Cache().Logs(slog.LevelDebug)
	if len(byRun) != 1 || len(byRun[r2.runID]) == 0 {
		t.Fatalf("Logs(all) keys: %v", len(byRun))
	}
	byNode := r2.dr.Cache().NodeLogs(slog.LevelInfo, r2.runID)
	if len(byNode["B"]) == 0 || len(byNode["A"]) == 0 {
		t.Fatalf("Logs(run) = %v", byNode)
	}
	for _, evs := range byNode {
		for _, e := range evs {
			if e.Type != core.EventGetResult && e.Type != core.EventExecuteNode {
				t.Errorf("INFO log holds %v", e)
			}
		}
	}
	// LogToFile(""): each run's log in the cache directory, one file each.
	for _, r := range []runResult{r1, r2} {
		evs, err := core.ReadLogFile(filepath.Join(p.dir, "logs", string(r.runID)+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != len(r.events) {
			t.Fatalf("log file of run %s has %d events, want %d", r.runID, len(evs), len(r.events))
		}
	}
	// The run history in the metadata store.
	vers, err := r2.dr.Cache().DataVersions(context.Background(), r2.runID)
	if err != nil || vers["A"] == "" || vers["B"] == "" {
		t.Fatalf("DataVersions = %v, %v", vers, err)
	}
	ids, err := r2.dr.Cache().RunIDs(context.Background())
	if err != nil || len(ids) != 2 || ids[0] != r1.runID || ids[1] != r2.runID {
		t.Fatalf("RunIDs = %v, %v", ids, err)
	}
	if _, err := os.Stat(filepath.Join(p.dir, "metadata.db")); err != nil {
		t.Fatal(err)
	}
}
