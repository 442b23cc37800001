package inspect_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/local/localtest"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/formats"
	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/internal/testflow"
	"github.com/flowcache/flowcache/maintain"
)

func Raw(x int) int      { return x * 2 }
func Clean(raw int) int  { return raw + 1 }
func Stats(c, k int) int { return c * k }

func whyNodes(opts map[string][]driver.NodeOption) []*driver.NodeDef {
	o := func(name string) []any {
		var out []any
		for _, x := range opts[name] {
			out = append(out, x)
		}
		return out
	}
	return []*driver.NodeDef{
		driver.Node("raw", Raw, append([]any{"x"}, o("raw")...)...),
		driver.Node("clean", Clean, append([]any{"raw"}, o("clean")...)...),
		driver.Node("stats", Stats, append([]any{"clean", "k"}, o("stats")...)...),
	}
}

// why returns the one explanation of node in run.
func why(t *testing.T, ic *inspect.Cache, run core.RunID, node string) inspect.Explanation {
	t.Helper()
	es, err := ic.Why(context.Background(), run, node)
	if err != nil {
		t.Fatalf("Why(%s): %v", node, err)
	}
	if len(es) != 1 {
		t.Fatalf("Why(%s): %d explanations, want 1", node, len(es))
	}
	return es[0]
}

func wantReason(t *testing.T, e inspect.Explanation, reason inspect.Reason, changes ...inspect.Change) {
	t.Helper()
	if e.Reason != reason {
		t.Errorf("%s: reason %s, want %s (%s)", e.Node, e.Reason, reason, e.Text)
		return
	}
	if len(e.Changes) != len(changes) {
		t.Errorf("%s: changes %+v, want %+v (%s)", e.Node, e.Changes, changes, e.Text)
		return
	}
	for i, ch := range changes {
		got := e.Changes[i]
		if got.Kind != ch.Kind || got.Dep != ch.Dep {
			t.Errorf("%s: change %d is %s of %q, want %s of %q (%s)", e.Node, i, got.Kind, got.Dep, ch.Kind, ch.Dep, e.Text)
		}
	}
	if e.Text == "" {
		t.Errorf("%s: no text", e.Node)
	}
}

// Each kind of miss is explained by naming the part of the key that
// changed, on a real cache directory.
func TestWhy(t *testing.T) {
	c := newCacheDir(t)
	ins := driver.Inputs{"x": 1, "k": 3}
	all := []string{"stats"}

	r1 := c.Run(whyNodes(nil), all, ins, nil)
	ic := c.open()
	wantReason(t, why(t, ic, r1.ID, "stats"), inspect.ReasonFirstRun)
	wantReason(t, why(t, ic, r1.ID, "x"), inspect.ReasonInput)

	t.Run("retrieved", func(t *testing.T) {
		r := c.Run(whyNodes(nil), all, ins, nil)
		wantDid(t, r, "stats", "retrieved")
		wantReason(t, why(t, ic, r.ID, "stats"), inspect.ReasonRetrieved)
	})

	t.Run("code version", func(t *testing.T) {
		r := c.Run(whyNodes(map[string][]driver.NodeOption{"clean": {driver.WithCodeVersion("v2")}}), all, ins, nil)
		wantDid(t, r, "clean", "executed")
		e := why(t, ic, r.ID, "clean")
		wantReason(t, e, inspect.ReasonKeyChanged, inspect.Change{Kind: inspect.ChangeCodeVersion})
		// The code manifests of both versions say what changed.
		if code := e.Changes[0].Code; len(code) != 1 || code[0].What != inspect.CodeExplicit || code[0].New != "v2" ||
			!strings.Contains(e.Text, "it has WithCodeVersion v2 now") {
			t.Errorf("code changes %+v, text %q: want the explicit version v2", code, e.Text)
		}
		// Same value: stats is retrieved.
		wantDid(t, r, "stats", "retrieved")
	})

	t.Run("input value", func(t *testing.T) {
		r := c.Run(whyNodes(map[string][]driver.NodeOption{"clean": {driver.WithCodeVersion("v2")}}), all, driver.Inputs{"x": 1, "k": 4}, nil)
		wantDid(t, r, "stats", "executed")
		e := why(t, ic, r.ID, "stats")
		wantReason(t, e, inspect.ReasonKeyChanged, inspect.Change{Kind: inspect.ChangeInput, Dep: "k"})
		if !strings.Contains(e.Text, "input k") {
			t.Errorf("text %q does not name input k", e.Text)
		}
		wantReason(t, why(t, ic, r.ID, "k"), inspect.ReasonInput, inspect.Change{Kind: inspect.ChangeInput, Dep: "k"})
	})

	t.Run("upstream value", func(t *testing.T) {
		r := c.Run(whyNodes(map[string][]driver.NodeOption{"clean": {driver.WithCodeVersion("v2")}}), all, driver.Inputs{"x": 2, "k": 4}, nil)
		wantReason(t, why(t, ic, r.ID, "raw"), inspect.ReasonKeyChanged, inspect.Change{Kind: inspect.ChangeInput, Dep: "x"})
		e := why(t, ic, r.ID, "clean")
		wantReason(t, e, inspect.ReasonKeyChanged, inspect.Change{Kind: inspect.ChangeUpstream, Dep: "raw"})
		if !strings.Contains(e.Text, "upstream raw") || e.Changes[0].Detail != "executed" {
			t.Errorf("text %q / detail %q: want upstream raw, executed", e.Text, e.Changes[0].Detail)
		}
		wantReason(t, why(t, ic, r.ID, "stats"), inspect.ReasonKeyChanged, inspect.Change{Kind: inspect.ChangeUpstream, Dep: "clean"})
	})

	v2 := map[string][]driver.NodeOption{"clean": {driver.WithCodeVersion("v2")}}
	ins2 := driver.Inputs{"x": 2, "k": 4}

	t.Run("override", func(t *testing.T) {
		r := c.Run(whyNodes(v2), all, ins2, driver.Overrides{"clean": 100})
		wantReason(t, why(t, ic, r.ID, "clean"), inspect.ReasonOverride, inspect.Change{Kind: inspect.ChangeOverride, Dep: "clean"})
		wantReason(t, why(t, ic, r.ID, "stats"), inspect.ReasonKeyChanged, inspect.Change{Kind: inspect.ChangeOverride, Dep: "clean"})
		// Back without the override: stats is retrieved again (its key is the
		// one of the run before).
		r = c.Run(whyNodes(v2), all, ins2, nil)
		wantDid(t, r, "stats", "retrieved")
	})

	t.Run("behavior", func(t *testing.T) {
		r := c.Run(whyNodes(v2), all, ins2, nil, driver.Recompute("raw"))
		wantReason(t, why(t, ic, r.ID, "raw"), inspect.ReasonBehavior, inspect.Change{Kind: inspect.ChangeBehavior})
		r = c.Run(whyNodes(v2), all, ins2, nil, driver.Disable("raw"))
		e := why(t, ic, r.ID, "raw")
		wantReason(t, e, inspect.ReasonBehavior, inspect.Change{Kind: inspect.ChangeBehavior})
		if !strings.Contains(e.Text, "disable") {
			t.Errorf("text %q does not name the behaviour", e.Text)
		}
		wantDid(t, r, "clean", "executed")
		wantReason(t, why(t, ic, r.ID, "clean"), inspect.ReasonKeyChanged, inspect.Change{Kind: inspect.ChangeDisabled, Dep: "raw"})
		// raw cached again, on a new value: clean's key had raw's unique
		// version in the run before.
		r = c.Run(whyNodes(v2), all, driver.Inputs{"x": 7, "k": 4}, nil)
		e = why(t, ic, r.ID, "clean")
		wantReason(t, e, inspect.ReasonKeyChanged, inspect.Change{Kind: inspect.ChangeDisabled, Dep: "raw"})
		if !strings.Contains(e.Text, "had behaviour disable in run") {
			t.Errorf("text %q does not say raw was disabled in the run before", e.Text)
		}
		// A new input value with clean ignored, then the same value with
		// clean cached: clean had behaviour ignore in the run before, and
		// stored nothing then.
		ins3 := driver.Inputs{"x": 5, "k": 4}
		r = c.Run(whyNodes(v2), all, ins3, nil, driver.Ignore("clean"))
		wantReason(t, why(t, ic, r.ID, "clean"), inspect.ReasonBehavior, inspect.Change{Kind: inspect.ChangeBehavior})
		r = c.Run(whyNodes(v2), all, ins3, nil)
		wantDid(t, r, "clean", "executed")
		wantReason(t, why(t, ic, r.ID, "clean"), inspect.ReasonNotStored, inspect.Change{Kind: inspect.ChangeBehavior})
	})

	t.Run("format", func(t *testing.T) {
		c.Run(whyNodes(v2), all, ins2, nil)
		r := c.Run(whyNodes(map[string][]driver.NodeOption{"clean": {driver.WithCodeVersion("v2")}, "stats": {driver.WithFormat(formats.JSON())}}), all, ins2, nil)
		wantDid(t, r, "stats", "executed")
		wantReason(t, why(t, ic, r.ID, "stats"), inspect.ReasonFormatChanged, inspect.Change{Kind: inspect.ChangeFormat})
	})

	t.Run("entry evicted", func(t *testing.T) {
		c.Run(whyNodes(v2), all, ins2, nil)
		c.Advance(30 * 24 * time.Hour)
		ev, err := maintain.Open(context.Background(), c.Path, maintain.WithClock(func() time.Time { return c.Clock().Add(time.Minute) }))
		if err != nil {
			t.Fatal(err)
		}
		defer ev.Close()
		rep, err := ev.Evict(context.Background(), maintain.Policy{OlderThan: 24 * time.Hour})
		if err != nil || len(rep.Entries) == 0 {
			t.Fatalf("Evict: %d entries, %v", len(rep.Entries), err)
		}
		r := c.Run(whyNodes(v2), all, ins2, nil)
		wantDid(t, r, "stats", "executed")
		wantReason(t, why(t, ic, r.ID, "stats"), inspect.ReasonEntryGone)
	})

	t.Run("result missing", func(t *testing.T) {
		r := c.Run(whyNodes(v2), all, ins2, nil)
		nodes, err := ic.Nodes(context.Background(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if n.Node == "stats" {
				if err := localtest.DamageResult(context.Background(), c.Path, n.ResultID(), localtest.Remove); err != nil {
					t.Fatal(err)
				}
			}
		}
		r = c.Run(whyNodes(v2), all, ins2, nil)
		wantDid(t, r, "stats", "executed")
		wantReason(t, why(t, ic, r.ID, "stats"), inspect.ReasonResultMissing)
	})

	t.Run("latest run by default", func(t *testing.T) {
		es, err := ic.Why(context.Background(), "", "stats")
		if err != nil || len(es) != 1 {
			t.Fatalf("Why: %v, %v", es, err)
		}
		runs, _ := ic.Runs(context.Background())
		if es[0].Run != runs[len(runs)-1].ID {
			t.Errorf("explained run %s, want the last %s", es[0].Run, runs[len(runs)-1].ID)
		}
	})

	t.Run("unknown node", func(t *testing.T) {
		_, err := ic.Why(context.Background(), r1.ID, "nope")
		if !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
			t.Errorf("err = %v, want not found naming the node", err)
		}
	})
}

// A new fan-out item is a first run for its task; the others are retrieved.
func TestWhyFanOut(t *testing.T) {
	c := newCacheDir(t)
	nodes := testflow.FanOut("n", "files", "total")
	c.Run(nodes, []string{"total"}, driver.Inputs{"n": 2}, nil)
	r := c.Run(nodes, []string{"total"}, driver.Inputs{"n": 3}, nil)
	ic := c.open()
	es, err := ic.Why(context.Background(), r.ID, "square")
	if err != nil || len(es) != 3 {
		t.Fatalf("Why(square): %d explanations, %v", len(es), err)
	}
	for _, e := range es {
		want := inspect.ReasonRetrieved
		if e.Task == "files[2]" {
			want = inspect.ReasonFirstRun
		}
		wantReason(t, e, want)
	}
	wantReason(t, why(t, ic, r.ID, "square@files[2]"), inspect.ReasonFirstRun)
	wantReason(t, why(t, ic, r.ID, "files"), inspect.ReasonBehavior, inspect.Change{Kind: inspect.ChangeBehavior})
	wantReason(t, why(t, ic, r.ID, "total"), inspect.ReasonKeyChanged, inspect.Change{Kind: inspect.ChangeUpstream, Dep: "square"})
}

// Why lists the tasks of a fan-out in item order ("files[2]" before
// "files[10]"), whatever order they finished in.
func TestWhyFanOutItemOrder(t *testing.T) {
	c := newCacheDir(t)
	nodes := testflow.FanOut("n", "files", "total")
	r := c.Run(nodes, []string{"total"}, driver.Inputs{"n": 12}, nil)
	es, err := c.open().Why(context.Background(), r.ID, "square")
	if err != nil || len(es) != 12 {
		t.Fatalf("Why(square): %d explanations, %v", len(es), err)
	}
	for i, e := range es {
		if want := core.TaskID("files", i); e.Task != want {
			t.Errorf("explanation %d is of task %s, want %s", i, e.Task, want)
		}
	}
}
