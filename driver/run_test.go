package driver_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/internal/testflow"
)

func addOne(x int) int         { return x + 1 }
func double(x int) int         { return 2 * x }
func failing(int) (int, error) { return 0, errors.New("boom") }

// historyOutcomes returns the outcomes the metadata store recorded for run,
// by core.RecordName (last record wins, as in Cache.DataVersions).
func historyOutcomes(t *testing.T, c *core.Cache, run core.RunID) map[string]core.Outcome {
	t.Helper()
	recs, err := c.Metadata().Run(context.Background(), run)
	if err != nil {
		t.Fatalf("history of run %s: %v", run, err)
	}
	out := map[string]core.Outcome{}
	for _, r := range recs {
		out[core.RecordName(r.Node, r.Task)] = r.Outcome
	}
	return out
}

func wantOutcomes(t *testing.T, what string, res *driver.RunResult, want map[string]core.Outcome, dr *driver.Driver) {
	t.Helper()
	if !maps.Equal(res.Outcomes, want) {
		t.Errorf("%s: outcomes %v, want %v", what, res.Outcomes, want)
	}
	if dr.Cache() == nil {
		return
	}
	hist := historyOutcomes(t, dr.Cache(), res.RunID)
	if !maps.Equal(hist, want) {
		t.Errorf("%s: run history of %s holds %v, want %v", what, res.RunID, hist, want)
	}
}

func TestRunOutcomes(t *testing.T) {
	st := mem.Open()
	dr, err := driver.NewBuilder().WithNodes(
		driver.Node("a", addOne, "x"),
		driver.Node("b", double, "a"),
		driver.Node("c", addOne, "b"),
		driver.Node("items", testflow.Items, "c", driver.Expand()),
		driver.Node("square", testflow.Square, "items"),
		driver.Node("total", testflow.Sum, "square", driver.Collect()),
	).WithCache(driver.CacheStores(st.Metadata(), st.Results())).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	ctx := context.Background()
	run := func(what string, outputs []string, in driver.Inputs, over driver.Overrides, want map[string]core.Outcome) *driver.RunResult {
		t.Helper()
		res, err := dr.Run(ctx, outputs, in, over)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if res.RunID == "" || len(res.Faults) != 0 {
			t.Errorf("%s: run id %q, faults %v", what, res.RunID, res.Faults)
		}
		wantOutcomes(t, what, res, want, dr)
		return res
	}
	// x=0: a=1, b=2, c=3; items 1..3, total 1+4+9.
	in := driver.Inputs{"x": 0}
	E, R := core.OutcomeExecuted, core.OutcomeRetrieved
	cold := run("cold", []string{"total"}, in, nil, map[string]core.Outcome{
		"x": core.OutcomeInput, "a": E, "b": E, "c": E, "items": E,
		"square@items[0]": E, "square@items[1]": E, "square@items[2]": E, "total": E,
	})
	if got, _ := driver.Get[int](cold.Values, "total"); got != 14 {
		t.Errorf("cold total = %d, want 14", got)
	}
	warm := run("warm", []string{"total"}, in, nil, map[string]core.Outcome{
		"x": core.OutcomeInput, "a": R, "b": R, "c": R, "items": E,
		"square@items[0]": R, "square@items[1]": R, "square@items[2]": R, "total": R,
	})
	if warm.RunID == cold.RunID {
		t.Errorf("two runs share run id %s", warm.RunID)
	}
	if got, _ := driver.Get[int](warm.Values, "total"); got != 14 {
		t.Errorf("warm total = %d, want 14", got)
	}
	// An override stands for b: a is not needed, c is executed (b's value
	// differs), b is neither executed nor retrieved.
	over := run("override", []string{"c"}, nil, driver.Overrides{"b": 10}, map[string]core.Outcome{
		"b": core.OutcomeOverride, "c": E,
	})
	if got, _ := driver.Get[int](over.Values, "c"); got != 11 {
		t.Errorf("c with b overridden = %d, want 11", got)
	}
	// Execute is Run's values.
	out, err := dr.Execute(ctx, []string{"c"}, in, nil)
	if err != nil || out["c"] != 3 {
		t.Errorf("Execute = %v, %v", out, err)
	}
}

func TestRunFailedNode(t *testing.T) {
	drs := buildBoth(t,
		driver.Node("a", addOne, "x"),
		driver.Node("f", failing, "a"),
		driver.Node("g", double, "f"),
	)
	for name, dr := range drs {
		res, err := dr.Run(context.Background(), []string{"g"}, driver.Inputs{"x": 1}, nil)
		var ne *core.NodeError
		if !errors.As(err, &ne) || ne.Node != "f" {
			t.Fatalf("%s: error %v, want f's", name, err)
		}
		if res == nil || res.Values != nil {
			t.Fatalf("%s: result %+v, want outcomes and no values", name, res)
		}
		if cached := strings.HasPrefix(name, "cached=true"); cached == (res.RunID == "") {
			t.Errorf("%s: run id %q", name, res.RunID)
		}
		want := map[string]core.Outcome{"x": core.OutcomeInput, "a": core.OutcomeExecuted, "f": core.OutcomeFailed, "g": core.OutcomeSkipped}
		if !maps.Equal(res.Outcomes, want) {
			t.Errorf("%s: outcomes %v, want %v", name, res.Outcomes, want)
		}
	}
	// A call refused before the run starts has no result.
	dr, _ := driver.NewBuilder().WithNodes(driver.Node("a", addOne, "x")).Build()
	if res, err := dr.Run(context.Background(), []string{"nope"}, nil, nil); err == nil || res != nil {
		t.Errorf("unknown output: %v, %v", res, err)
	}
}

// gateInside counts the calls of gate.
var gateInside atomic.Int32

// gate returns x once two calls of it have started.
func gate(x int) (int, error) {
	gateInside.Add(1)
	deadline := time.Now().Add(10 * time.Second)
	for gateInside.Load() < 2 {
		if time.Now().After(deadline) {
			return 0, errors.New("the other run never came")
		}
		time.Sleep(time.Millisecond)
	}
	return x, nil
}

// TestConcurrentRuns runs two Runs of one driver at once (each node waits
// until both runs are inside a node): each result names its own run, whose
// history holds what the result says; Cache().LastRunID can name only one.
func TestConcurrentRuns(t *testing.T) {
	gateInside.Store(0)
	st := mem.Open()
	dr, err := driver.NewBuilder().WithNodes(
		driver.Node("p", gate, "x"),
		driver.Node("q", gate, "x"),
		driver.Node("p2", double, "p"),
	).WithCache(driver.CacheStores(st.Metadata(), st.Results())).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	ctx := context.Background()
	type done struct {
		res *driver.RunResult
		err error
	}
	pc, qc := make(chan done), make(chan done)
	go func() { r, err := dr.Run(ctx, []string{"p2"}, driver.Inputs{"x": 1}, nil); pc <- done{r, err} }()
	go func() { r, err := dr.Run(ctx, []string{"q"}, driver.Inputs{"x": 2}, nil); qc <- done{r, err} }()
	p, q := <-pc, <-qc
	if p.err != nil || q.err != nil {
		t.Fatalf("runs: %v, %v", p.err, q.err)
	}
	if p.res.RunID == q.res.RunID {
		t.Fatalf("both runs have id %s", p.res.RunID)
	}
	E := core.OutcomeExecuted
	wantOutcomes(t, "p run", p.res, map[string]core.Outcome{"x": core.OutcomeInput, "p": E, "p2": E}, dr)
	wantOutcomes(t, "q run", q.res, map[string]core.Outcome{"x": core.OutcomeInput, "q": E}, dr)
	if p.res.Values["p2"] != 2 || q.res.Values["q"] != 2 || len(p.res.Values) != 1 || len(q.res.Values) != 1 {
		t.Errorf("values %v and %v", p.res.Values, q.res.Values)
	}
	ids, err := dr.Cache().RunIDs(ctx)
	if err != nil || len(ids) != 2 {
		t.Fatalf("run history %v, %v", ids, err)
	}
	dv := func(run core.RunID) map[string]core.DataVersion {
		m, err := dr.Cache().DataVersions(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if dp, dq := dv(p.res.RunID), dv(q.res.RunID); dp["x"] == dq["x"] || dp["x"] == "" {
		t.Errorf("the runs' histories do not hold their own inputs: %v, %v", dp, dq)
	}
}

// refusingMeta is a metadata store that cannot record a run.
type refusingMeta struct{ core.MetadataStore }

func (refusingMeta) BeginRun(context.Context, core.RunInfo) error {
	return errors.New("disk full")
}

// A run whose cache cannot record it still says what it did, and why the
// history does not hold it.
func TestRunOutcomesWithoutHistory(t *testing.T) {
	st := mem.Open()
	dr, err := driver.NewBuilder().WithNodes(driver.Node("a", addOne, "x"), driver.Node("b", double, "a")).
		WithCache(driver.CacheStores(refusingMeta{st.Metadata()}, st.Results()),
			driver.CacheLogger(slog.New(slog.DiscardHandler))).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	res, err := dr.Run(context.Background(), []string{"b"}, driver.Inputs{"x": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]core.Outcome{"x": core.OutcomeInput, "a": core.OutcomeExecuted, "b": core.OutcomeExecuted}
	if !maps.Equal(res.Outcomes, want) || res.Values["b"] != 4 || res.RunID == "" {
		t.Errorf("result %+v, want outcomes %v and b = 4", res, want)
	}
	if len(res.Faults) != 1 || !strings.Contains(res.Faults[0].Error(), "disk full") {
		t.Errorf("faults %v, want the refused run", res.Faults)
	}
	if recs, err := st.Metadata().Run(context.Background(), res.RunID); len(recs) != 0 {
		t.Errorf("history of an unrecorded run: %v, %v", recs, err)
	}
}
