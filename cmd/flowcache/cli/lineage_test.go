package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/internal/testflow"
)

// flowcache lineage NODE prints the node's history, each change explained;
// --json has it whole.
func TestLineageNode(t *testing.T) {
	dir, first, second := newCache(t) // k changed between the runs

	r := flowcache(t, dir, "lineage", "scaled")
	wantCode(t, r, exitOK)
	for _, s := range []string{
		"history of scaled: 2 step(s) in 2 run(s)\n",
		"STEP  DATA VERSION", string(first), string(second), "first_run", "key_changed",
		"\nwhy:\n  1. scaled missed: no earlier run has it",
		"  2. scaled missed: since run " + string(first) + ", the value of input k changed",
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("lineage scaled does not print %q:\n%s", s, r.stdout)
		}
	}
	// mean kept its value and key: one step, executed then retrieved.
	r = flowcache(t, dir, "lineage", "mean", "--json")
	wantCode(t, r, exitOK)
	j := decode[lineageJSON](t, r)
	if j.Kind != "node" || j.Version != nil || len(j.History) != 1 || len(j.History[0].Steps) != 1 {
		t.Fatalf("lineage mean --json: %+v", j)
	}
	if s := j.History[0].Steps[0]; s.First != first || s.Last != second || s.Runs != 2 || s.Executed != 1 || s.Retrieved != 1 || s.Why.Reason != inspect.ReasonFirstRun {
		t.Errorf("lineage mean --json: step %+v", s)
	}
	j = decode[lineageJSON](t, flowcache(t, dir, "lineage", "scaled", "--json"))
	if len(j.History) != 1 || len(j.History[0].Steps) != 2 {
		t.Fatalf("lineage scaled --json: %+v", j)
	}
	if ch := j.History[0].Steps[1].Why.Changes; len(ch) != 1 || ch[0].Kind != inspect.ChangeInput || ch[0].Dep != "k" {
		t.Errorf("lineage scaled --json: the second step's changes are %+v, want input k", ch)
	}
}

// flowcache lineage VERSION prints who produced and retrieved a value,
// upstream and downstream; a unique prefix names the version.
func TestLineageVersion(t *testing.T) {
	dir, first, second := newCache(t)
	ic, err := inspect.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := ic.Nodes(context.Background(), second)
	ic.Close()
	if err != nil {
		t.Fatal(err)
	}
	var mean core.DataVersion
	for _, n := range nodes {
		if n.Node == "mean" {
			mean = n.DataVersion
		}
	}
	if mean == "" {
		t.Fatalf("no mean in run %s: %+v", second, nodes)
	}
	prefix := string(mean)[:10]

	r := flowcache(t, dir, "lineage", prefix)
	wantCode(t, r, exitOK)
	for _, s := range []string{
		"data version " + string(mean) + " of mean\n",
		"\nproduced (executed) in 1 record(s):\n", "\nretrieved in 1 record(s):\n", "\ngiven (input or override): none\n",
		"\nupstream (computed from):\n", "\ndownstream (computed from it):\n",
		"  DEPTH  NODE", string(first), string(second),
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("lineage %s does not print %q:\n%s", prefix, s, r.stdout)
		}
	}
	for _, line := range []string{"  1      load", "  2      n", "  1      scaled"} {
		if !strings.Contains(r.stdout, line) {
			t.Errorf("lineage %s has no link %q:\n%s", prefix, line, r.stdout)
		}
	}

	j := decode[lineageJSON](t, flowcache(t, dir, "lineage", prefix, "--json"))
	vl := j.Version
	if j.Kind != "data_version" || vl == nil || vl.Version != mean || len(j.History) != 0 {
		t.Fatalf("lineage --json: %+v", j)
	}
	if len(vl.Produced) != 1 || vl.Produced[0].Run != first || vl.Produced[0].Node != "mean" || vl.Produced[0].Outcome != core.OutcomeExecuted ||
		len(vl.Retrieved) != 1 || vl.Retrieved[0].Run != second || len(vl.Given) != 0 {
		t.Errorf("lineage --json: produced %+v, retrieved %+v, given %+v", vl.Produced, vl.Retrieved, vl.Given)
	}
	var up, down []string
	for _, k := range vl.Upstream {
		up = append(up, k.Node)
	}
	for _, k := range vl.Downstream {
		down = append(down, k.Node)
	}
	// scaled has two values downstream: one per k.
	if strings.Join(up, " ") != "load n" || strings.Join(down, " ") != "scaled scaled" {
		t.Errorf("lineage --json: upstream %v, downstream %v", up, down)
	}

	// --depth 1: the direct links only.
	j = decode[lineageJSON](t, flowcache(t, dir, "lineage", prefix, "--json", "--depth", "1"))
	if len(j.Version.Upstream) != 1 || j.Version.Upstream[0].Node != "load" {
		t.Errorf("lineage --depth 1: upstream %+v", j.Version.Upstream)
	}
}

func TestLineageErrors(t *testing.T) {
	dir, _, _ := newCache(t)
	r := flowcache(t, dir, "lineage", "nope")
	wantCode(t, r, exitNotFound)
	if !strings.Contains(r.stderr, `"nope" is neither a node nor a data version in the 2 runs`) {
		t.Errorf("lineage nope: %s", r.stderr)
	}
	r = flowcache(t, dir, "lineage", "scaled@items[3]")
	wantCode(t, r, exitNotFound)
	if !strings.Contains(r.stderr, "node scaled has no task items[3]") {
		t.Errorf("lineage scaled@items[3]: %s", r.stderr)
	}
	wantCode(t, flowcache(t, dir, "lineage", "scaled", "--depth", "-1"), exitUsage)
	wantCode(t, flowcache(t, dir, "lineage"), exitUsage)
	// A prefix of several versions: a usage error naming them.
	var versions []string
	for _, node := range []string{"n", "k", "load", "mean", "scaled"} {
		for _, s := range decode[lineageJSON](t, flowcache(t, dir, "lineage", node, "--json")).History[0].Steps {
			versions = append(versions, string(s.Version))
		}
	}
	var a, b string
	for i, v := range versions {
		for _, w := range versions[i+1:] {
			if n := commonPrefix(v, w); v != w && n > commonPrefix(a, b) {
				a, b = v, w
			}
		}
	}
	if n := commonPrefix(a, b); n > 0 {
		r = flowcache(t, dir, "lineage", a[:n])
		wantCode(t, r, exitUsage)
		if !strings.Contains(r.stderr, "matches several") || !strings.Contains(r.stderr, a) || !strings.Contains(r.stderr, b) {
			t.Errorf("lineage %s: %s", a[:n], r.stderr)
		}
	} else {
		t.Logf("no two data versions share a prefix: %v", versions)
	}
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// A fan-out branch node named alone: one line per task; node@task: the
// task's history.
func TestLineageFanOut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	c := testflow.DirAt(t, dir, time.Now())
	nodes := testflow.FanOut("n", "items", "total")
	c.Run(nodes, []string{"total"}, driver.Inputs{"n": 2}, nil)
	c.Run(nodes, []string{"total"}, driver.Inputs{"n": 3}, nil)

	r := flowcache(t, dir, "lineage", "square")
	wantCode(t, r, exitOK)
	for _, s := range []string{"square ran as 3 tasks across runs\n", "TASK", "square@items[0]  1      2", "square@items[2]  1      1", "first_run",
		"(flowcache lineage 'square@items[0]' shows the history of one task)"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("lineage square does not print %q:\n%s", s, r.stdout)
		}
	}
	j := decode[lineageJSON](t, flowcache(t, dir, "lineage", "square", "--json"))
	if len(j.History) != 3 || j.History[2].Task != "items[2]" {
		t.Errorf("lineage square --json: %+v", j.History)
	}
	r = flowcache(t, dir, "lineage", "square@items[1]")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "history of square@items[1]: 1 step(s) in 2 run(s)\n") {
		t.Errorf("lineage square@items[1]:\n%s", r.stdout)
	}
}
