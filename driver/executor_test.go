package driver_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
)

func items3() []int        { return []int{1, 2, 3} }
func noItems() []int       { return nil }
func twice(x int) int      { return 2 * x }
func sumInts(xs []int) int { return sum(xs) }
func plus(x, y int) int    { return x + y }
func sum(xs []int) (s int) {
	for _, x := range xs {
		s += x
	}
	return s
}
func failOnTwo(x int) (int, error) {
	if x == 2 {
		return 0, errors.New("two")
	}
	return x, nil
}

// buildBoth builds nodes without a cache and with an in-memory one, at
// parallelism 1 and 4.
func buildBoth(t *testing.T, nodes ...*driver.NodeDef) map[string]*driver.Driver {
	t.Helper()
	out := map[string]*driver.Driver{}
	for _, cached := range []bool{false, true} {
		for _, p := range []int{1, 4} {
			b := driver.NewBuilder().WithNodes(nodes...).WithParallelism(p)
			if cached {
				st := mem.Open()
				b = b.WithCache(driver.CacheStores(st.Metadata(), st.Results()))
			}
			dr, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { dr.Close() })
			out[fmt.Sprintf("cached=%v,p=%d", cached, p)] = dr
		}
	}
	return out
}

// A branch node may depend on a Collect node of its own fan-out: its
// tasks wait for that node, which waits for the other branch's tasks.
func TestBranchAfterCollect(t *testing.T) {
	drs := buildBoth(t,
		driver.Node("e", items3, driver.Expand()),
		driver.Node("b", twice, "e"),
		driver.Node("c", sumInts, "b", driver.Collect()),
		driver.Node("b2", plus, "e", "c"),
		driver.Node("c2", sumInts, "b2", driver.Collect()),
	)
	for name, dr := range drs {
		for range 2 { // cold, then warm
			out, err := dr.Execute(context.Background(), []string{"c2", "c", "e"}, nil, nil)
			if err != nil || out["c"] != 12 || out["c2"] != 42 || !slices.Equal(out["e"].([]int), []int{1, 2, 3}) {
				t.Fatalf("%s: %v, %v; want c 12, c2 42", name, out, err)
			}
		}
	}
}

// A fan-out of no items gives its Collect nodes empty slices; with a
// cache, a second run retrieves them (the expanding node is executed in
// every run).
func TestEmptyFanOut(t *testing.T) {
	drs := buildBoth(t,
		driver.Node("e", noItems, driver.Expand()),
		driver.Node("b", twice, "e"),
		driver.Node("c", sumInts, "b", driver.Collect()),
		driver.Node("d", twice, "c"),
	)
	for name, dr := range drs {
		for i, then := range []core.Outcome{core.OutcomeExecuted, core.OutcomeRetrieved} {
			if i == 1 && strings.HasPrefix(name, "cached=false") {
				then = core.OutcomeExecuted
			}
			res, err := dr.Run(context.Background(), []string{"d"}, nil, nil)
			if err != nil || res.Values["d"] != 0 {
				t.Fatalf("%s, run %d: %v, %v", name, i+1, res, err)
			}
			want := map[string]core.Outcome{"e": core.OutcomeExecuted, "c": then, "d": then}
			if !maps.Equal(res.Outcomes, want) {
				t.Errorf("%s, run %d: outcomes %v, want %v", name, i+1, res.Outcomes, want)
			}
		}
	}
}

// A failing task stops the run: the error names the task; the other
// tasks ran or were skipped, and the Collect node was skipped.
func TestFailedTask(t *testing.T) {
	drs := buildBoth(t,
		driver.Node("e", items3, driver.Expand()),
		driver.Node("b", failOnTwo, "e"),
		driver.Node("c", sumInts, "b", driver.Collect()),
	)
	for name, dr := range drs {
		res, err := dr.Run(context.Background(), []string{"c"}, nil, nil)
		var ne *core.NodeError
		if !errors.As(err, &ne) || ne.Node != "b" || ne.Task != "e[1]" {
			t.Fatalf("%s: error %v, want b's task e[1]", name, err)
		}
		o := res.Outcomes
		if o["e"] != core.OutcomeExecuted || o["b@e[1]"] != core.OutcomeFailed || o["c"] != core.OutcomeSkipped {
			t.Errorf("%s: outcomes %v", name, o)
		}
		// The others ran, were stopped (a cached run records a task the
		// cancellation interrupted as failed) or were skipped; one at a
		// time, in item order: the first ran, the last was skipped.
		for _, k := range []string{"b@e[0]", "b@e[2]"} {
			if o[k] != core.OutcomeExecuted && o[k] != core.OutcomeSkipped && o[k] != core.OutcomeFailed {
				t.Errorf("%s: %s is %q", name, k, o[k])
			}
		}
		if strings.HasSuffix(name, ",p=1") && (o["b@e[0]"] != core.OutcomeExecuted || o["b@e[2]"] != core.OutcomeSkipped) {
			t.Errorf("%s: outcomes %v, want b@e[0] executed and b@e[2] skipped", name, o)
		}
		if len(o) != 5 {
			t.Errorf("%s: outcomes %v, want 5", name, o)
		}
	}
}

// The wide graph of the benchmark gives its sum at every parallelism, and
// Run says every node was executed.
func TestWideGraph(t *testing.T) {
	const n = 100
	for name, dr := range buildBoth(t, wide(n)...) {
		res, err := dr.Run(context.Background(), []string{wideOut(n)}, nil, nil)
		if err != nil || res.Values[wideOut(n)] != n {
			t.Fatalf("%s: %v, %v", name, res, err)
		}
		if len(res.Outcomes) != n+12 {
			t.Errorf("%s: %d outcomes, want %d", name, len(res.Outcomes), n+12)
		}
		for k, o := range res.Outcomes {
			if o != core.OutcomeExecuted {
				t.Errorf("%s: %s %s", name, k, o)
			}
		}
	}
}

// A long chain runs without a goroutine per node, and a cancelled context
// stops it before its first node.
func TestChainCancelled(t *testing.T) {
	dr, err := driver.NewBuilder().WithNodes(chain(200)...).Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := dr.Run(ctx, []string{"n199"}, nil, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	want := map[string]core.Outcome{}
	for i := range 200 {
		want["n"+strconv.Itoa(i)] = core.OutcomeSkipped
	}
	if !maps.Equal(res.Outcomes, want) {
		t.Errorf("outcomes %v", res.Outcomes)
	}
}

// A node's function that calls runtime.Goexit on a worker stops the run
// instead of leaving it waiting for that worker.
func TestGoexitInNode(t *testing.T) {
	exit := func(x int) int { runtime.Goexit(); return x }
	dr, err := driver.NewBuilder().WithParallelism(2).WithNodes(
		driver.Node("a", inc, "x"), driver.Node("b", inc, "x"),
		driver.Node("exit", exit, "b", driver.WithCodeVersion("1")),
		driver.Node("sum", plus, "a", "exit"),
	).Build()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := dr.Execute(context.Background(), []string{"sum"}, driver.Inputs{"x": 1}, nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "Goexit") {
			t.Errorf("err = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the run never ended")
	}
}
