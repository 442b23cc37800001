package maintain_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/backends/local/localtest"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/maintain"
)

// Floats returns n floats: 8n bytes, stored as a file when over 16 KiB.
func Floats(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i) * 0.5
	}
	return out
}

func Big1(n int) []float64      { return Floats(5000 + n) }
func Small1(n int) int          { return n + 1 }
func Big2(n int) []float64      { return Floats(3000 + n) }
func Small2(n int) int          { return n + 2 }
func Big3(n int) []float64      { return Floats(4000 + n) }
func SameA(n int) []float64     { return Floats(2500 + n) }
func SameB(n int) []float64     { return Floats(2500 + n) }
func evictNodesNames() []string { return []string{"old1", "old2", "mid", "new1", "new2"} }

func evictNodes() []*driver.NodeDef {
	return []*driver.NodeDef{
		driver.Node("old1", Big1, "n"),
		driver.Node("old2", Small1, "n"),
		driver.Node("mid", Big2, "n"),
		driver.Node("new1", Small2, "n"),
		driver.Node("new2", Big3, "n"),
		driver.Node("sameA", SameA, "n"),
		driver.Node("sameB", SameB, "n"),
	}
}

var nIn = driver.Inputs{"n": 1}

// fill runs the nodes at increasing times: old1 (day 0), old2 (day 1),
// mid (day 10), new1 and new2 (day 20), then returns an inspector whose
// clock is a minute after the last run: new1 and new2 are within the grace
// period, the others are not.
func fill(t *testing.T) (*cacheDir, *maintain.Cache) {
	c := newCacheDir(t)
	c.Run(evictNodes(), []string{"old1"}, nIn, nil)
	c.Advance(24 * time.Hour)
	c.Run(evictNodes(), []string{"old2"}, nIn, nil)
	c.Advance(9 * 24 * time.Hour)
	c.Run(evictNodes(), []string{"mid"}, nIn, nil)
	c.Advance(10 * 24 * time.Hour)
	c.Run(evictNodes(), []string{"new1", "new2"}, nIn, nil)
	ic := c.open(maintain.WithClock(func() time.Time { return c.Clock().Add(time.Minute) }))
	return c, ic
}

// evictedNodes lists the nodes whose entries rep evicted (not the code
// manifests: see evictedManifests).
func evictedNodes(rep maintain.EvictReport) []string {
	var out []string
	for _, e := range rep.Entries {
		if e.Node != core.CodeManifestNode {
			out = append(out, e.Node)
		}
	}
	slices.Sort(out)
	return out
}

// evictedManifests counts the code manifests rep evicted, checking that
// each went for its code version being unused.
func evictedManifests(t *testing.T, rep maintain.EvictReport) int {
	t.Helper()
	n := 0
	for _, e := range rep.Entries {
		if e.Node == core.CodeManifestNode {
			n++
			if e.Reason != maintain.EvictCodeUnused && e.Reason != maintain.EvictDangling {
				t.Errorf("code manifest %s evicted for %s", e.Key.Short(), e.Reason)
			}
		}
	}
	return n
}

// checkNextRun runs every node and checks that the evicted ones execute and
// the others are retrieved, in the events and in the run's records.
func checkNextRun(t *testing.T, c *cacheDir, ic *maintain.Cache, evicted ...string) {
	t.Helper()
	c.Advance(time.Hour)
	r := c.Run(evictNodes(), evictNodesNames(), nIn, nil)
	nodes, err := inspect.New(ic.Metadata(), ic.Results()).Nodes(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	outcome := map[string]core.Outcome{}
	for _, n := range nodes {
		outcome[n.Node] = n.Outcome
	}
	for _, name := range evictNodesNames() {
		want, wantOutcome := "retrieved", core.OutcomeRetrieved
		if slices.Contains(evicted, name) {
			want, wantOutcome = "executed", core.OutcomeExecuted
		}
		wantDid(t, r, name, want)
		if outcome[name] != wantOutcome {
			t.Errorf("run record of %s: %s, want %s", name, outcome[name], wantOutcome)
		}
	}
	if got, want := r.Out["old1"].([]float64), Big1(1); !slices.Equal(got, want) {
		t.Errorf("old1 = %d floats, want %d", len(got), len(want))
	}
}

func TestEvictOlderThan(t *testing.T) {
	c, ic := fill(t)
	rep, err := ic.Evict(context.Background(), maintain.Policy{OlderThan: 15 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got := evictedNodes(rep); !slices.Equal(got, []string{"old1", "old2"}) {
		t.Fatalf("evicted %v, want old1 and old2", got)
	}
	// Their code manifests went with them: no entry has their code
	// versions any more.
	if n := evictedManifests(t, rep); n != 2 {
		t.Errorf("%d code manifests evicted, want old1's and old2's", n)
	}
	for _, e := range rep.Entries {
		if e.Reason != maintain.EvictOlderThan && e.Node != core.CodeManifestNode {
			t.Errorf("entry of %s: reason %s", e.Node, e.Reason)
		}
	}
	// old1's result (a file) and old2's (inline) went with their entries,
	// and the manifests their runs stored.
	if len(rep.Results) != 4 || rep.FreedBytes <= 16<<10 {
		t.Errorf("results %+v, freed %d: want the two results of old1 and old2, and two results of manifests", rep.Results, rep.FreedBytes)
	}
	// Left: mid, new1 and new2 and their manifests (new1's and new2's in
	// one result, stored by one run).
	if rep.After.Entries != 3+3 || rep.After.Results != 3+2 {
		t.Errorf("after: %+v, want 3 entries and 3 results, and 3 manifests in 2 results", rep.After)
	}
	checkNextRun(t, c, ic, "old1", "old2")
}

func TestEvictMaxEntries(t *testing.T) {
	c, ic := fill(t)
	rep, err := ic.Evict(context.Background(), maintain.Policy{MaxEntries: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := evictedNodes(rep); !slices.Equal(got, []string{"old1", "old2"}) {
		t.Fatalf("evicted %v, want the two least recently used", got)
	}
	checkNextRun(t, c, ic, "old1", "old2")
}

// MaxEntries below what the grace period protects stops at the protected
// entries.
func TestEvictMaxEntriesProtected(t *testing.T) {
	c, ic := fill(t)
	rep, err := ic.Evict(context.Background(), maintain.Policy{MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := evictedNodes(rep); !slices.Equal(got, []string{"mid", "old1", "old2"}) {
		t.Fatalf("evicted %v, want old1, old2, mid", got)
	}
	if rep.ProtectedEntries != 2 || rep.After.Entries != 2+2 {
		t.Errorf("protected %d, left %d entries: want new1 and new2 protected and kept", rep.ProtectedEntries, rep.After.Entries)
	}
	checkNextRun(t, c, ic, "old1", "old2", "mid")
}

func TestEvictMaxSize(t *testing.T) {
	c, ic := fill(t)
	u, err := ic.Usage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var old1 int64
	for _, n := range u.Nodes {
		if n.Node == "old1" {
			old1 = n.Bytes
		}
	}
	if old1 <= 16<<10 || u.Entries != 5+5 || u.Results != 5+4 || u.CodeManifests != 5 || len(u.Nodes) != 5 {
		t.Fatalf("usage %+v: want 5 entries and results (and 5 code manifests, stored by 4 runs), old1 over 16 KiB (a file)", u)
	}
	rep, err := ic.Evict(context.Background(), maintain.Policy{MaxSize: u.ResultBytes - old1})
	if err != nil {
		t.Fatal(err)
	}
	if got := evictedNodes(rep); !slices.Equal(got, []string{"old1"}) {
		t.Fatalf("evicted %v, want only old1", got)
	}
	// And old1's code manifest.
	if n := evictedManifests(t, rep); n != 1 || len(rep.Results) != 2 || rep.FreedBytes <= old1 || rep.After.Bytes != u.ResultBytes-rep.FreedBytes {
		t.Errorf("freed %d in %d results, %d manifests, after %d bytes; want %d freed and old1's manifest", rep.FreedBytes, len(rep.Results), n, rep.After.Bytes, old1)
	}
	checkNextRun(t, c, ic, "old1")
}

func TestEvictGC(t *testing.T) {
	c, ic := fill(t)
	ctx := context.Background()
	st, err := local.Open(ctx, c.Path)
	if err != nil {
		t.Fatal(err)
	}
	var midResult, old2Result core.ResultID
	err = st.Metadata().WalkEntries(ctx, func(e core.Entry) error {
		switch e.Key.Node {
		case "mid": // its result becomes unreferenced
			midResult = core.ResultID{Version: e.DataVersion, Format: e.Format}
			return st.Metadata().Delete(ctx, e.ID())
		case "old2": // its entry becomes dangling
			old2Result = core.ResultID{Version: e.DataVersion, Format: e.Format}
		}
		return nil
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := localtest.DamageResult(ctx, c.Path, old2Result, localtest.Remove); err != nil {
		t.Fatal(err)
	}
	u, _ := ic.Usage(ctx)
	if u.UnreferencedResults != 1 || u.DanglingEntries != 1 {
		t.Fatalf("usage: %d unreferenced, %d dangling; want 1 and 1", u.UnreferencedResults, u.DanglingEntries)
	}

	dry, err := ic.Evict(ctx, maintain.Policy{GC: true, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ic.Evict(ctx, maintain.Policy{GC: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []maintain.EvictReport{dry, rep} {
		// The code manifests of mid (whose entry is gone) and of old2
		// (whose entry goes) go too.
		var nodes []maintain.EvictedEntry
		for _, e := range r.Entries {
			if e.Node != core.CodeManifestNode {
				nodes = append(nodes, e)
			}
		}
		if len(nodes) != 1 || nodes[0].Node != "old2" || nodes[0].Reason != maintain.EvictDangling || evictedManifests(t, r) != 2 {
			t.Errorf("dry run %v: entries %+v, want old2's dangling entry and two code manifests", r.DryRun, r.Entries)
		}
		var results []maintain.EvictedResult
		for _, x := range r.Results {
			if !strings.HasSuffix(x.Result, "."+core.CodeManifestFormat) {
				results = append(results, x)
			}
		}
		if len(results) != 1 || results[0].Result != midResult.String() || results[0].Reason != maintain.EvictUnreferenced || len(r.Results) != 3 {
			t.Errorf("dry run %v: results %+v, want mid's unreferenced result and two manifests", r.DryRun, r.Results)
		}
	}
	u, _ = ic.Usage(ctx)
	if u.UnreferencedResults != 0 || u.DanglingEntries != 0 || u.Entries != 3+3 || u.Results != 3+2 || u.CodeManifests != 3 {
		t.Errorf("after GC: %+v", u)
	}
	vr, err := ic.Verify(ctx, nil)
	if err != nil || !vr.OK() {
		t.Errorf("verify after GC: %+v, %v", vr.Problems, err)
	}
	checkNextRun(t, c, ic, "old2", "mid")
}

// A dry run lists what would go and deletes nothing.
func TestEvictDryRun(t *testing.T) {
	c, ic := fill(t)
	rep, err := ic.Evict(context.Background(), maintain.Policy{OlderThan: 15 * 24 * time.Hour, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := evictedNodes(rep); !rep.DryRun || !slices.Equal(got, []string{"old1", "old2"}) || len(rep.Results) != 2+2 || evictedManifests(t, rep) != 2 {
		t.Fatalf("dry run lists %v and %d results, want old1, old2 and their results and code manifests", got, len(rep.Results))
	}
	checkNextRun(t, c, ic)
}

// Right after the runs, everything is within the grace period: nothing goes
// however strict the policy, unless the grace period is turned off.
func TestEvictGrace(t *testing.T) {
	c := newCacheDir(t)
	c.SetClock(time.Now()) // entries stamped with the real time, like the results
	c.Run(evictNodes(), evictNodesNames(), nIn, nil)
	ic := c.open() // the real clock
	rep, err := ic.Evict(context.Background(), maintain.Policy{MaxEntries: 1, MaxSize: 1, GC: true, OlderThan: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Entries) != 0 || len(rep.Results) != 0 {
		t.Fatalf("evicted %v and %d results within the grace period", evictedNodes(rep), len(rep.Results))
	}
	if rep.ProtectedEntries != 5 || rep.Grace != maintain.DefaultGrace {
		t.Errorf("protected %d entries with grace %v, want 5 with %v", rep.ProtectedEntries, rep.Grace, maintain.DefaultGrace)
	}
	checkNextRun(t, c, ic)

	rep, err = ic.Evict(context.Background(), maintain.Policy{MaxEntries: 1, Grace: maintain.NoGrace})
	if err != nil {
		t.Fatal(err)
	}
	if len(evictedNodes(rep)) != 4 || evictedManifests(t, rep) != 4 || rep.After.Entries != 1+1 || rep.After.Results != 1+1 {
		t.Fatalf("without grace: evicted %v, %+v left; want 4 evicted, 1 entry and result left", evictedNodes(rep), rep.After)
	}
}

// Results are content-addressed: one result shared by two entries stays
// until the last of them goes.
func TestEvictSharedResult(t *testing.T) {
	c := newCacheDir(t)
	c.Run(evictNodes(), []string{"sameA"}, nIn, nil)
	c.Advance(10 * 24 * time.Hour)
	c.Run(evictNodes(), []string{"sameB"}, nIn, nil)
	c.Advance(10 * 24 * time.Hour)
	ic := c.open(maintain.WithClock(c.Clock))
	u, _ := ic.Usage(context.Background())
	// SameA and SameB have one text, so one code version: one manifest.
	if u.Entries != 2+1 || u.Results != 1+1 || u.SharedResults != 1 || u.CodeManifests != 1 {
		t.Fatalf("usage %+v: want 2 entries sharing 1 result, and a code manifest", u)
	}
	rep, err := ic.Evict(context.Background(), maintain.Policy{OlderThan: 15 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got := evictedNodes(rep); !slices.Equal(got, []string{"sameA"}) || len(rep.Results) != 0 || len(rep.Entries) != 1 {
		t.Fatalf("evicted %v and %d results; want sameA's entry only, its result and code manifest kept for sameB", got, len(rep.Results))
	}
	r := c.Run(evictNodes(), []string{"sameB"}, nIn, nil)
	wantDid(t, r, "sameB", "retrieved")
	c.Advance(30 * 24 * time.Hour)
	rep, err = ic.Evict(context.Background(), maintain.Policy{OlderThan: 15 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Entries) != 2 || len(rep.Results) != 2 || rep.Results[0].Reason != maintain.EvictLastReference || evictedManifests(t, rep) != 1 {
		t.Fatalf("second eviction: %+v; want sameB's entry and the shared result, and the code manifest", rep)
	}
}

// Least recently used is as exact as LastUsed, which a hit refreshes once
// per core.LastUsedResolution: an entry stored first and used last, within
// one such period, still goes first (ties go by Created, as Policy says),
// and an entry used after the period has passed is kept.
func TestEvictLastUsedResolution(t *testing.T) {
	c := newCacheDir(t)
	nodes := []*driver.NodeDef{
		driver.Node("first", func() int { return 1 }),
		driver.Node("second", func() int { return 2 }),
	}
	c.Run(nodes, []string{"first"}, nil, nil)
	c.Advance(time.Minute)
	c.Run(nodes, []string{"second"}, nil, nil)
	c.Advance(10 * time.Minute)
	wantDid(t, c.Run(nodes, []string{"first"}, nil, nil), "first", "retrieved")
	plan := func() []string {
		ic := c.open(maintain.WithClock(func() time.Time { return c.Clock().Add(time.Minute) }))
		defer ic.Close()
		rep, err := ic.Evict(context.Background(), maintain.Policy{MaxEntries: 1, Grace: maintain.NoGrace, DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		return evictedNodes(rep)
	}
	if got := plan(); !slices.Equal(got, []string{"first"}) {
		t.Fatalf("within the resolution: evicted %v, want first (stored first; its use is not recorded yet)", got)
	}
	c.Advance(core.LastUsedResolution)
	wantDid(t, c.Run(nodes, []string{"first"}, nil, nil), "first", "retrieved")
	if got := plan(); !slices.Equal(got, []string{"second"}) {
		t.Fatalf("after the resolution: evicted %v, want second (first's use is recorded)", got)
	}
}
