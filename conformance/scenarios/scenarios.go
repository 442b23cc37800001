package scenarios

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
)

func scenA() int       { return 1 }
func scenB(a int) int  { return a * 10 }
func scenItems() []int { return []int{1, 2, 3, 4, 5, 6} }
func scenSq(x int) int { return x * x }
func scenSum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// TestScenarios runs the caching scenarios of flowcache's model end to end, through
// the reference driver, on stores that open returns (new and empty for each
// call; the suite closes nothing it did not open). It asserts on what was
// executed and retrieved and on what the metadata store holds.
func TestScenarios(t *testing.T, open func(t *testing.T) (core.MetadataStore, core.ResultStore)) {
	type result struct {
		out       driver.Results
		executed  []string
		retrieved []string
	}
	run := func(t *testing.T, meta core.MetadataStore, res core.ResultStore, nodes []*driver.NodeDef, outputs []string, overrides driver.Overrides, opts ...driver.CacheOption) result {
		t.Helper()
		dr, err := driver.NewBuilder().WithNodes(nodes...).WithCache(append([]driver.CacheOption{driver.CacheStores(meta, res)}, opts...)...).Build()
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		defer dr.Close()
		ctx := context.Background()
		out, err := dr.Execute(ctx, outputs, nil, overrides)
		if err != nil {
			t.Fatalf("Execute: %v", err)
		}
		r := result{out: out}
		id, _ := dr.Cache().LastRunID(ctx)
		for _, e := range dr.Cache().Events(slog.LevelDebug, id) {
			switch {
			case e.Type == core.EventExecuteNode:
				r.executed = append(r.executed, e.Node)
			case e.Type == core.EventGetResult && e.Actor == core.ActorAdapter && e.Message == "hit":
				r.retrieved = append(r.retrieved, e.Node)
			}
		}
		return r
	}
	// entries counts the entries of nodes (not the code manifests, which
	// depend on how long describing code takes: see core.WithManifestWait).
	entries := func(t *testing.T, meta core.MetadataStore) int {
		w, ok := core.As[core.EntryWalker](meta)
		if !ok {
			return -1
		}
		n := 0
		err := w.WalkEntries(context.Background(), func(e core.Entry) error {
			if e.Key.Node != core.CodeManifestNode {
				n++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	chain := func(code string) []*driver.NodeDef {
		return []*driver.NodeDef{driver.Node("A", scenA, driver.WithCodeVersion(code)), driver.Node("B", scenB, "A")}
	}

	t.Run("RetrieveThenCodeChange", func(t *testing.T) {
		meta, res := open(t)
		if r := run(t, meta, res, chain("v1"), []string{"B"}, nil); len(r.executed) != 2 || r.out["B"] != 10 {
			t.Fatalf("run 1: executed %v, B=%v", r.executed, r.out["B"])
		}
		if r := run(t, meta, res, chain("v1"), []string{"B"}, nil); len(r.executed) != 0 || !slices.Contains(r.retrieved, "B") || r.out["B"] != 10 {
			t.Fatalf("run 2: executed %v, retrieved %v", r.executed, r.retrieved)
		}
		r := run(t, meta, res, chain("v2"), []string{"B"}, nil)
		if !slices.Equal(r.executed, []string{"A"}) || !slices.Contains(r.retrieved, "B") {
			t.Fatalf("after A's code changed (same value): executed %v, retrieved %v; want A executed, B retrieved", r.executed, r.retrieved)
		}
		if n := entries(t, meta); n != -1 && n != 3 {
			t.Fatalf("entries = %d, want 3", n)
		}
	})
	t.Run("CodeManifests", func(t *testing.T) {
		// Nodes with explicit code versions have manifests that need no
		// description of code (no module to parse): each version's is
		// stored by the run that executes it, and read back whole. End
		// waits for the descriptions as long as they take (the default 5 ms
		// was passed once on a loaded CI machine, and the manifest was
		// skipped, as it should be then).
		meta, res := open(t)
		var versions []core.CodeVersion
		for _, code := range []string{"v1", "v2"} {
			nodes := []*driver.NodeDef{driver.Node("A", scenA, driver.WithCodeVersion(code)), driver.Node("B", scenB, "A", driver.WithCodeVersion("b1"))}
			dr, err := driver.NewBuilder().WithNodes(nodes...).WithCache(driver.CacheStores(meta, res),
				driver.CacheCoreOptions(core.WithManifestWait(time.Minute))).Build()
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			ctx := context.Background()
			if _, err := dr.Execute(ctx, []string{"B"}, nil, nil); err != nil {
				t.Fatalf("Execute: %v", err)
			}
			id, _ := dr.Cache().LastRunID(ctx)
			recs, err := meta.Run(ctx, id)
			dr.Close()
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if r.Node == "A" {
					versions = append(versions, r.Key.CodeVersion)
				}
			}
		}
		if len(versions) != 2 || versions[0] == versions[1] {
			t.Fatalf("code versions of A in the two runs: %v", versions)
		}
		for i, v := range versions {
			m, err := core.ReadCodeManifest(context.Background(), meta, res, v)
			if err != nil {
				t.Fatalf("manifest of A's version %d: %v", i+1, err)
			}
			if want := []string{"v1", "v2"}[i]; m.Explicit != want || m.ResultType != "int" || m.Func == "" {
				t.Errorf("manifest of A's version %d: %+v, want explicit version %s, result type int, a function name", i+1, m, want)
			}
		}
	})
	t.Run("OverrideNotStored", func(t *testing.T) {
		meta, res := open(t)
		r := run(t, meta, res, chain("v1"), []string{"B"}, driver.Overrides{"A": 13})
		if r.out["B"] != 130 || !slices.Equal(r.executed, []string{"B"}) {
			t.Fatalf("executed %v, B=%v", r.executed, r.out["B"])
		}
		if n := entries(t, meta); n != -1 && n != 1 {
			t.Fatalf("entries = %d, want 1 (the override is not stored)", n)
		}
	})
	t.Run("RecomputeAndDisable", func(t *testing.T) {
		meta, res := open(t)
		run(t, meta, res, chain("v1"), []string{"B"}, nil)
		r := run(t, meta, res, chain("v1"), []string{"B"}, nil, driver.Recompute("A"))
		if !slices.Equal(r.executed, []string{"A"}) {
			t.Fatalf("recompute=[A]: executed %v", r.executed)
		}
		r = run(t, meta, res, chain("v1"), []string{"B"}, nil, driver.Disable("A"))
		if len(r.executed) != 2 {
			t.Fatalf("disable=[A]: executed %v, want A and B", r.executed)
		}
	})
	t.Run("FanOut", func(t *testing.T) {
		meta, res := open(t)
		nodes := []*driver.NodeDef{
			driver.Node("items", scenItems, driver.Expand()),
			driver.Node("sq", scenSq, "items"),
			driver.Node("total", scenSum, "sq", driver.Collect()),
		}
		if r := run(t, meta, res, nodes, []string{"total"}, nil); r.out["total"] != 91 || len(r.executed) != 8 {
			t.Fatalf("run 1: executed %v, total=%v", r.executed, r.out["total"])
		}
		if r := run(t, meta, res, nodes, []string{"total"}, nil); r.out["total"] != 91 || !slices.Equal(r.executed, []string{"items"}) {
			t.Fatalf("run 2: executed %v, want only items", r.executed)
		}
	})
}
