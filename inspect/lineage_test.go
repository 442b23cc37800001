package inspect_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/internal/lineagetest"
	"github.com/flowcache/flowcache/internal/testflow"
)

// openURL opens the cache url names for inspection, in a Cache of its own.
func openURL(url string) func(t *testing.T) *inspect.Cache {
	return func(t *testing.T) *inspect.Cache {
		ic, err := inspect.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ic.Close() })
		return ic
	}
}

// The lineage of a pipeline run six times with changes in between, on a
// local cache directory (inspect/remotetest runs it on a bucket).
func TestLineageLocal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	lineagetest.Check(t, dir, openURL(dir))
}

// In a fan-out, an item comes from the expanding node's list, and the
// collect node's value from the tasks of the branch node: the graph links
// them, and a branch node's history is one per task.
func TestLineageFanOut(t *testing.T) {
	c := newCacheDir(t)
	nodes := testflow.FanOut("n", "items", "total")
	c.Run(nodes, []string{"total"}, driver.Inputs{"n": 2}, nil)
	c.Run(nodes, []string{"total"}, driver.Inputs{"n": 3}, nil)
	ctx := context.Background()
	l, err := c.open().Lineage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// total=14 (1+4+9) of run 2: from the squares 1, 4, 9 (a join), from
	// the items 1, 2, 3 of the list [1 2 3], from n=3.
	vl, err := l.Version(string(lineagetest.V(14)))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]inspect.LinkKind{}
	for _, k := range vl.Upstream {
		kinds[k.Node+"="+string(k.Version)] = k.Kind
	}
	for _, w := range []struct {
		node  string
		value any
		kind  inspect.LinkKind
	}{
		{"square", 9, inspect.LinkJoin}, {"square", 4, inspect.LinkJoin}, {"square", 1, inspect.LinkJoin},
		{"items", 3, inspect.LinkDependency}, {"n", 3, inspect.LinkDependency},
	} {
		if got := kinds[w.node+"="+string(lineagetest.V(w.value))]; got != w.kind {
			t.Errorf("upstream of total=14: %s=%v is %q, want %q (upstream %+v)", w.node, w.value, got, w.kind, vl.Upstream)
		}
	}
	// The item 3 comes from the list of run 2, which came from n=3.
	var list core.DataVersion
	for _, k := range vl.Upstream {
		if k.Kind == inspect.LinkItem && k.OfNode == "items" && k.Of == lineagetest.V(3) {
			list = k.Version
		}
	}
	if list == "" || !slices.ContainsFunc(vl.Upstream, func(k inspect.Link) bool {
		return k.Node == "n" && k.Version == lineagetest.V(3) && k.OfNode == "items" && k.Of == list
	}) {
		t.Errorf("upstream of total=14: no item 3 from a list from n=3: %+v", vl.Upstream)
	}
	// What total received from square (the join of its tasks) has no
	// record of its own, but a lineage: the three squares, and total.
	var joined core.DataVersion
	for _, k := range vl.Upstream {
		if k.Depth == 1 && k.Node == "square" {
			joined = k.Version
		}
	}
	jl, err := l.Version(string(joined))
	if err != nil {
		t.Fatal(err)
	}
	if len(jl.Produced)+len(jl.Retrieved)+len(jl.Given) != 0 || len(jl.Nodes) != 1 || jl.Nodes[0] != "square" ||
		len(jl.Downstream) != 1 || jl.Downstream[0].Node != "total" || len(lineageHops(jl.Upstream)) < 3 {
		t.Errorf("Version(joined squares): %+v", jl)
	}
	// square@items[2]=9, new in run 2, reaches total=14 downstream.
	vl, err = l.Version(string(lineagetest.V(9)))
	if err != nil {
		t.Fatal(err)
	}
	if len(vl.Produced) != 1 || vl.Produced[0].Name() != "square@items[2]" {
		t.Errorf("9 produced by %+v, want square@items[2]", vl.Produced)
	}
	if h := lineageHops(vl.Downstream); h["total="+string(lineagetest.V(14))] == 0 {
		t.Errorf("total=14 is not downstream of square=9: %+v", vl.Downstream)
	}
	hs, err := l.History(ctx, "square")
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 3 || hs[0].Task != "items[0]" || hs[2].Task != "items[2]" {
		t.Fatalf("History(square): %+v, want 3 tasks in item order", hs)
	}
	if s := hs[0].Steps; len(s) != 1 || s[0].Runs != 2 || s[0].Retrieved != 1 {
		t.Errorf("square@items[0]: %+v, want one step of 2 runs", s)
	}
	if s := hs[2].Steps; len(s) != 1 || s[0].Why.Reason != inspect.ReasonFirstRun {
		t.Errorf("square@items[2]: %+v, want a first run", s)
	}
	one, err := l.History(ctx, "square@items[1]")
	if err != nil || len(one) != 1 || one[0].Task != "items[1]" {
		t.Errorf("History(square@items[1]) = %+v, %v", one, err)
	}
	if _, err := l.History(ctx, "square@items[7]"); !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), "no task items[7]") {
		t.Errorf("History(square@items[7]): %v", err)
	}
}

func lineageHops(links []inspect.Link) map[string]int {
	out := map[string]int{}
	for _, k := range links {
		out[k.Node+"="+string(k.Version)] = k.Depth
	}
	return out
}
