package maintain_test

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/backends/local/localtest"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/maintain"
)

// resultOf returns the result id of node in the cache's last run.
func resultOf(t *testing.T, ic *maintain.Cache, run core.RunID, node string) core.ResultID {
	t.Helper()
	nodes, err := inspect.New(ic.Metadata(), ic.Results()).Nodes(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Node == node {
			return n.ResultID()
		}
	}
	t.Fatalf("node %s not in run %s", node, run)
	return core.ResultID{}
}

// Verify finds a flipped byte in a result file and in an inline result,
// and an entry whose result was removed.
func TestVerify(t *testing.T) {
	c := newCacheDir(t)
	r := c.Run(evictNodes(), evictNodesNames(), nIn, nil)
	ic := c.open()
	ctx := context.Background()

	var calls []maintain.VerifyProgress
	rep, err := ic.Verify(ctx, func(p maintain.VerifyProgress) { calls = append(calls, p) })
	// Five results and entries, and the five nodes' code manifests (one
	// result: one run stored them).
	if err != nil || !rep.OK() || rep.Results != 6 || rep.Entries != 10 {
		t.Fatalf("verify of a whole cache: %+v, %v", rep, err)
	}
	if len(calls) != 6 || calls[5].Done != 6 || calls[5].DoneBytes != rep.Bytes || calls[5].TotalBytes != rep.Bytes {
		t.Errorf("progress calls %+v, want 6 ending at %d bytes", calls, rep.Bytes)
	}

	file, inline, gone := resultOf(t, ic, r.ID, "old1"), resultOf(t, ic, r.ID, "new1"), resultOf(t, ic, r.ID, "mid")
	for _, d := range []struct {
		id core.ResultID
		d  localtest.Damage
	}{{file, localtest.FlipBit}, {inline, localtest.FlipBit}, {gone, localtest.Remove}} {
		if err := localtest.DamageResult(ctx, c.Path, d.id, d.d); err != nil {
			t.Fatal(err)
		}
	}
	rep, err = ic.Verify(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]maintain.ProblemKind{
		file.String():   maintain.ProblemCorrupt,
		inline.String(): maintain.ProblemCorrupt,
		gone.String():   maintain.ProblemMissingResult,
	}
	wantNode := map[string]string{file.String(): "old1", inline.String(): "new1", gone.String(): "mid"}
	if len(rep.Problems) != 3 {
		t.Fatalf("problems %+v, want 3", rep.Problems)
	}
	for _, p := range rep.Problems {
		if want[p.Result] != p.Kind || !slices.Equal(p.Nodes, []string{wantNode[p.Result]}) || len(p.Keys) != 1 {
			t.Errorf("problem %+v: want %s of node %s", p, want[p.Result], wantNode[p.Result])
		}
		if p.Kind == maintain.ProblemCorrupt && !strings.Contains(p.Err, "corrupt") {
			t.Errorf("corrupt problem without the store's error: %q", p.Err)
		}
	}
	if rep.Results != 2+1 {
		t.Errorf("%d results read whole, want 2 and the code manifests", rep.Results)
	}

	// The next run executes the damaged and missing nodes again, with the
	// right values, and the cache verifies clean afterwards.
	r = c.Run(evictNodes(), evictNodesNames(), nIn, nil)
	for _, n := range []string{"old1", "new1", "mid"} {
		wantDid(t, r, n, "executed")
	}
	if got := r.Out["old1"].([]float64); !slices.Equal(got, Big1(1)) {
		t.Error("old1 has a wrong value after its result was damaged")
	}
	if rep, err = ic.Verify(ctx, nil); err != nil || !rep.OK() {
		t.Errorf("verify after the run: %+v, %v", rep.Problems, err)
	}
}

// A bundle of code manifests no entry points to (a run stopped between
// storing it and writing its entries) is whole, not corrupt: it is told
// from a damaged JSON result by the hash that names it. A JSON result
// without entries that is not a bundle is still checked as JSON.
func TestVerifyOrphanCodeManifests(t *testing.T) {
	c := newCacheDir(t)
	c.Run(evictNodes(), evictNodesNames(), nIn, nil)
	ic := c.open()
	ctx := context.Background()
	walker, ok := core.As[core.EntryWalker](ic.Metadata())
	if !ok {
		t.Fatal("the local store walks no entries")
	}
	var manifests []core.KeyID
	err := walker.WalkEntries(ctx, func(e core.Entry) error {
		if core.IsCodeManifestKey(e.Key) {
			manifests = append(manifests, e.ID())
		}
		return nil
	})
	if err != nil || len(manifests) == 0 {
		t.Fatalf("code manifest entries: %d, %v", len(manifests), err)
	}
	for _, id := range manifests {
		if err := ic.Metadata().Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := ic.Verify(ctx, nil)
	if err != nil || !rep.OK() || rep.Results != 6 {
		t.Fatalf("verify with the manifests' entries gone: %d results, problems %+v, %v", rep.Results, rep.Problems, err)
	}

	// Not a bundle: JSON without its newline, under a version no hash names.
	bad := core.ResultID{Version: core.DataVersion(strings.Repeat("ab", 32)), Format: core.CodeManifestFormat}
	if _, err := ic.Results().Put(ctx, bad, func(w io.Writer) error { _, err := w.Write([]byte(`{"manifests":{}}`)); return err }); err != nil {
		t.Fatal(err)
	}
	if f, ok := core.As[core.ResultFlusher](ic.Results()); ok {
		if err := f.FlushResults(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rep, err = ic.Verify(ctx, nil)
	if err != nil || len(rep.Problems) != 1 || rep.Problems[0].Kind != maintain.ProblemCorrupt || rep.Problems[0].Result != bad.String() {
		t.Fatalf("verify with a damaged orphan JSON result: %+v, %v", rep.Problems, err)
	}
}
