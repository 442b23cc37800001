// Package lineagetest holds the lineage scenario of package inspect's
// tests: a pipeline run six times on one cache with changes in between (an
// input, a node's code version, a recompute, an override), then the
// answers of inspect.Lineage checked against what the runs did. inspect's
// own tests run it on a local cache directory; inspect/remotetest runs it
// on a bucket of the test S3 server, so that inspect's tests build without
// the cloud SDKs (scripts/test runs them). It lives beside package
// testflow rather than under inspect because it drives pipelines through
// package driver, which imports inspect.
package lineagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/core/fingerprint"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/inspect"
)

// Double, Plus and Report are the pipeline's nodes: double(x), plus(double,
// k), report(plus).
func Double(x int) int    { return 2 * x }
func Plus(d, k int) int   { return d + k }
func Report(p int) string { return fmt.Sprint("total ", p) }

// V is the data version of a value, as the cache computes it.
func V(v any) core.DataVersion {
	s, err := fingerprint.Of(v)
	if err != nil {
		panic(err)
	}
	return core.DataVersion(s.String())
}

// Step is one run of the scenario.
type Step struct {
	What     string
	X        int
	Code     string        // double's code version
	Plus     core.Behavior // plus's behaviour
	Override any           // double's override, when not nil
	Values   map[string]any
	RunID    core.RunID
	Outcomes map[string]core.Outcome
}

// Run runs the scenario's six runs on the cache url names (a path or a
// store URL) and returns what they did.
func Run(t *testing.T, url string) []Step {
	t.Helper()
	steps := []Step{
		{What: "first run", X: 1, Code: "v1"},
		{What: "nothing changed", X: 1, Code: "v1"},
		{What: "input x changed", X: 2, Code: "v1"},
		{What: "double's code version changed (same value)", X: 2, Code: "v2"},
		{What: "plus recomputed (same value)", X: 2, Code: "v2", Plus: core.Recompute},
		{What: "double overridden", X: 2, Code: "v2", Override: 5},
	}
	ctx := context.Background()
	for i := range steps {
		s := &steps[i]
		dr, err := driver.NewBuilder().WithNodes(
			driver.Node("double", Double, "x", driver.WithCodeVersion(s.Code)),
			driver.Node("plus", Plus, "double", "k", driver.WithCodeVersion("p1"), driver.WithBehavior(s.Plus)),
			driver.Node("report", Report, "plus", driver.WithCodeVersion("r1")),
		).WithCache(driver.CacheURL(url)).Build()
		if err != nil {
			t.Fatalf("run %d: Build: %v", i+1, err)
		}
		var over driver.Overrides
		if s.Override != nil {
			over = driver.Overrides{"double": s.Override}
		}
		res, err := dr.Run(ctx, []string{"report"}, driver.Inputs{"x": s.X, "k": 10}, over)
		dr.Close()
		if err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		if len(res.Faults) > 0 {
			t.Fatalf("run %d: store faults: %v", i+1, res.Faults)
		}
		d := Double(s.X)
		if s.Override != nil {
			d = s.Override.(int)
		}
		s.Values = map[string]any{"x": s.X, "k": 10, "double": d, "plus": Plus(d, 10), "report": Report(Plus(d, 10))}
		if got := res.Values["report"]; got != s.Values["report"] {
			t.Fatalf("run %d: report = %v, want %v", i+1, got, s.Values["report"])
		}
		s.RunID, s.Outcomes = res.RunID, res.Outcomes
	}
	// What the scenario is about happened.
	want := []map[string]core.Outcome{
		{"double": core.OutcomeExecuted, "plus": core.OutcomeExecuted, "report": core.OutcomeExecuted},
		{"double": core.OutcomeRetrieved, "plus": core.OutcomeRetrieved, "report": core.OutcomeRetrieved},
		{"double": core.OutcomeExecuted, "plus": core.OutcomeExecuted, "report": core.OutcomeExecuted},
		{"double": core.OutcomeExecuted, "plus": core.OutcomeRetrieved, "report": core.OutcomeRetrieved},
		{"double": core.OutcomeRetrieved, "plus": core.OutcomeExecuted, "report": core.OutcomeRetrieved},
		{"double": core.OutcomeOverride, "plus": core.OutcomeExecuted, "report": core.OutcomeExecuted},
	}
	for i, w := range want {
		for n, o := range w {
			if got := steps[i].Outcomes[n]; got != o {
				t.Fatalf("run %d (%s): %s %s, want %s", i+1, steps[i].What, n, got, o)
			}
		}
	}
	return steps
}

// Check runs the scenario on the cache url names and checks the lineage
// that ic (open on the same cache, in a state of its own) gives.
func Check(t *testing.T, url string, open func(t *testing.T) *inspect.Cache) {
	steps := Run(t, url)
	ic := open(t)
	ctx := context.Background()
	l, err := ic.Lineage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(l.Runs()); got != len(steps) {
		t.Fatalf("Lineage has %d runs, want %d", got, len(steps))
	}
	checkUses(t, l, steps)
	checkGraph(t, l, steps)
	checkHistory(t, l, steps)
	checkErrors(t, l)
}

// checkUses compares, for every value a run had, the records Version
// lists with the outcomes the driver reported.
func checkUses(t *testing.T, l *inspect.Lineage, steps []Step) {
	t.Helper()
	type use struct {
		run  core.RunID
		node string
	}
	want := map[core.DataVersion]map[core.Outcome][]use{}
	for _, s := range steps {
		for node, o := range s.Outcomes {
			v := V(s.Values[node])
			if want[v] == nil {
				want[v] = map[core.Outcome][]use{}
			}
			if o == core.OutcomeOverride {
				o = core.OutcomeInput // both are Given
			}
			want[v][o] = append(want[v][o], use{s.RunID, node})
		}
	}
	for v, byOutcome := range want {
		vl, err := l.Version(string(v))
		if err != nil {
			t.Fatalf("Version(%s): %v", v.Short(), err)
		}
		got := func(us []inspect.Use) []use {
			out := []use{}
			for _, u := range us {
				out = append(out, use{u.Run, u.Node})
			}
			return out
		}
		sorted := func(us []use) []use {
			us = append([]use{}, us...)
			slices.SortFunc(us, func(a, b use) int {
				if a.run != b.run {
					return runIndex(steps, a.run) - runIndex(steps, b.run)
				}
				if a.node < b.node {
					return -1
				}
				if a.node > b.node {
					return 1
				}
				return 0
			})
			return us
		}
		for o, gotUses := range map[core.Outcome][]inspect.Use{core.OutcomeExecuted: vl.Produced, core.OutcomeRetrieved: vl.Retrieved, core.OutcomeInput: vl.Given} {
			if g, w := sorted(got(gotUses)), sorted(byOutcome[o]); !slices.Equal(g, w) && (len(g) > 0 || len(w) > 0) {
				t.Errorf("Version(%s) %s: %v, want %v", v.Short(), o, g, w)
			}
		}
	}
}

func runIndex(steps []Step, id core.RunID) int {
	return slices.IndexFunc(steps, func(s Step) bool { return s.RunID == id })
}

type hop struct {
	Node  string
	Value any
	Depth int
}

func hops(links []inspect.Link) map[string]int {
	out := map[string]int{}
	for _, k := range links {
		key := k.Node + "=" + string(k.Version)
		if d, ok := out[key]; !ok || k.Depth < d {
			out[key] = k.Depth
		}
	}
	return out
}

func wantHops(hs ...hop) map[string]int {
	out := map[string]int{}
	for _, h := range hs {
		out[h.Node+"="+string(V(h.Value))] = h.Depth
	}
	return out
}

func equalHops(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// checkGraph checks upstream and downstream of the values of the
// scenario, by hand.
func checkGraph(t *testing.T, l *inspect.Lineage, steps []Step) {
	t.Helper()
	cases := []struct {
		value            any
		nodes            []string
		up, down         []hop
		produced, gotten int
	}{
		// plus=12 of runs 1 and 2: from double=2, k=10, x=1; report="total 12" from it.
		{value: 12, nodes: []string{"plus"},
			up:   []hop{{"double", 2, 1}, {"k", 10, 1}, {"x", 1, 2}},
			down: []hop{{"report", "total 12", 1}}},
		// 2 is double's value in run 1 and x's in runs 3-6: two nodes, kept
		// apart: x=2 gave double=4, double=2 gave plus=12.
		{value: 2, nodes: []string{"double", "x"},
			up: []hop{{"x", 1, 1}},
			down: []hop{{"double", 4, 1}, {"plus", 12, 1}, {"plus", 14, 2}, {"report", "total 12", 2},
				{"report", "total 14", 3}}},
		// x=1: everything of runs 1 and 2 downstream.
		{value: 1, nodes: []string{"x"},
			down: []hop{{"double", 2, 1}, {"plus", 12, 2}, {"report", "total 12", 3}}},
		// report="total 15" of run 6: double=5 was an override (no key, so
		// nothing upstream of it).
		{value: "total 15", nodes: []string{"report"},
			up: []hop{{"plus", 15, 1}, {"double", 5, 2}, {"k", 10, 2}}},
		// k=10 feeds every plus and report.
		{value: 10, nodes: []string{"k"},
			down: []hop{{"plus", 12, 1}, {"plus", 14, 1}, {"plus", 15, 1},
				{"report", "total 12", 2}, {"report", "total 14", 2}, {"report", "total 15", 2}}},
	}
	for _, c := range cases {
		v := V(c.value)
		// A unique prefix names the version.
		vl, err := l.Version(string(v)[:16])
		if err != nil {
			t.Fatalf("Version(%v): %v", c.value, err)
		}
		if vl.Version != v || !slices.Equal(vl.Nodes, c.nodes) {
			t.Errorf("Version(%v): %s of %v, want %s of %v", c.value, vl.Version.Short(), vl.Nodes, v.Short(), c.nodes)
		}
		if got, want := hops(vl.Upstream), wantHops(c.up...); !equalHops(got, want) {
			t.Errorf("Version(%v).Upstream = %v, want %v", c.value, got, want)
		}
		if got, want := hops(vl.Downstream), wantHops(c.down...); !equalHops(got, want) {
			t.Errorf("Version(%v).Downstream = %v, want %v", c.value, got, want)
		}
		for _, k := range append(slices.Clone(vl.Upstream), vl.Downstream...) {
			if len(k.Runs) == 0 || k.Kind != inspect.LinkDependency || k.OfNode == "" || k.Of == "" {
				t.Errorf("Version(%v): link %+v", c.value, k)
			}
		}
	}
	// The link from double=4 to plus=14 was recorded by runs 3, 4 (plus
	// retrieved) and 5 (plus recomputed).
	vl, _ := l.Version(string(V(14)))
	for _, k := range vl.Upstream {
		if k.Node == "double" && k.Version == V(4) {
			if want := []core.RunID{steps[2].RunID, steps[3].RunID, steps[4].RunID}; !slices.Equal(k.Runs, want) {
				t.Errorf("link double=4 → plus=14 recorded by %v, want runs 3-5 %v", k.Runs, want)
			}
		}
	}
}

// checkHistory checks the histories of the three nodes, with the reasons
// of each change.
func checkHistory(t *testing.T, l *inspect.Lineage, steps []Step) {
	t.Helper()
	ctx := context.Background()
	type wantStep struct {
		value               any
		first, last         int // runs, from 1
		executed, retrieved int
		reason              inspect.Reason
		change              inspect.ChangeKind
		dep                 string
	}
	want := map[string][]wantStep{
		"double": {
			{2, 1, 2, 1, 1, inspect.ReasonFirstRun, "", ""},
			{4, 3, 3, 1, 0, inspect.ReasonKeyChanged, inspect.ChangeInput, "x"},
			{4, 4, 5, 1, 1, inspect.ReasonKeyChanged, inspect.ChangeCodeVersion, ""},
			{5, 6, 6, 0, 0, inspect.ReasonOverride, "", ""},
		},
		"plus": {
			{12, 1, 2, 1, 1, inspect.ReasonFirstRun, "", ""},
			// Runs 4 (retrieved) and 5 (recomputed, same value) keep the
			// key and the version of run 3.
			{14, 3, 5, 2, 1, inspect.ReasonKeyChanged, inspect.ChangeUpstream, "double"},
			{15, 6, 6, 1, 0, inspect.ReasonKeyChanged, inspect.ChangeOverride, "double"},
		},
		"report": {
			{"total 12", 1, 2, 1, 1, inspect.ReasonFirstRun, "", ""},
			{"total 14", 3, 5, 1, 2, inspect.ReasonKeyChanged, inspect.ChangeUpstream, "plus"},
			{"total 15", 6, 6, 1, 0, inspect.ReasonKeyChanged, inspect.ChangeUpstream, "plus"},
		},
	}
	for node, ws := range want {
		hs, err := l.History(ctx, node)
		if err != nil {
			t.Fatalf("History(%s): %v", node, err)
		}
		if len(hs) != 1 || hs[0].Node != node || hs[0].Task != "" {
			t.Fatalf("History(%s): %d histories, want one", node, len(hs))
		}
		got := hs[0].Steps
		if len(got) != len(ws) {
			t.Errorf("History(%s): %d steps, want %d: %+v", node, len(got), len(ws), got)
			continue
		}
		for i, w := range ws {
			g := got[i]
			ok := g.Version == V(w.value) && g.First == steps[w.first-1].RunID && g.Last == steps[w.last-1].RunID &&
				g.Runs == w.last-w.first+1 && g.Executed == w.executed && g.Retrieved == w.retrieved &&
				g.Why.Reason == w.reason && g.Why.Run == g.First && g.Why.Text != ""
			if w.change != "" {
				ok = ok && len(g.Why.Changes) == 1 && g.Why.Changes[0].Kind == w.change && g.Why.Changes[0].Dep == w.dep
			}
			if !ok {
				t.Errorf("History(%s) step %d: %+v\nwant %+v", node, i+1, g, w)
			}
		}
	}
}

func checkErrors(t *testing.T, l *inspect.Lineage) {
	t.Helper()
	ctx := context.Background()
	if _, err := l.History(ctx, "nope"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("History(nope): %v, want ErrNotFound", err)
	}
	if _, err := l.Version("zz"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Version(zz): %v, want ErrNotFound", err)
	}
	// A prefix of several versions is ambiguous, and the error names them.
	seen := map[byte]core.DataVersion{}
	for _, v := range []any{1, 2, 4, 5, 10, 12, 14, 15, "total 12", "total 14", "total 15"} {
		dv := V(v)
		if other, ok := seen[dv[0]]; ok {
			_, err := l.Version(string(dv[:1]))
			if !errors.Is(err, inspect.ErrAmbiguous) || !containsAll(err.Error(), string(dv), string(other)) {
				t.Errorf("Version(%q): %v, want ErrAmbiguous naming %s and %s", dv[:1], err, dv.Short(), other.Short())
			}
			return
		}
		seen[dv[0]] = dv
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
