package core_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats"
)

// manifestNode is a node spec whose manifest counts the calls that describe
// it, after a delay.
func manifestNode(name string, code core.CodeVersion, delay time.Duration, calls *atomic.Int64) *core.NodeSpec {
	return &core.NodeSpec{Name: name, CodeVersion: code, Format: formats.Gob(), Type: reflect.TypeFor[int](),
		Manifest: func(time.Duration) *core.CodeManifest {
			calls.Add(1)
			time.Sleep(delay)
			return &core.CodeManifest{Func: "example.com/m." + name, FuncVersion: "f-" + string(code), ResultType: "int",
				Parts: []core.CodePart{{Kind: "root func", Name: "example.com/m." + name, File: "m.go", Hash: "h1"}}}
		}}
}

// runNode runs one node with behaviour b on input x and ends the run.
func runNode(t *testing.T, c *core.Cache, spec *core.NodeSpec, b core.Behavior, x int) (executed bool, events []core.Event) {
	t.Helper()
	ctx := context.Background()
	run, err := c.BeginRun(ctx, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	s := *spec
	s.Behavior = b
	if _, err := run.Node(ctx, &s, "", []*core.Value{run.Input(ctx, "x", x)}, func(context.Context, []any) (any, error) {
		executed = true
		return x + 1, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := run.End(ctx); err != nil {
		t.Fatal(err)
	}
	return executed, c.Events(slog.LevelDebug, run.ID())
}

func hasEvent(evs []core.Event, typ core.EventType, msg core.EventMessage) bool {
	for _, e := range evs {
		if e.Type == typ && e.Message == msg {
			return true
		}
	}
	return false
}

// A node executed on a miss gets the manifest of its code version stored
// with the run; no later run describes that version again: not a hit, not
// a miss of the same version in this Cache (no lookup either) nor in
// another Cache on the same stores (one lookup).
func TestCodeManifestStored(t *testing.T) {
	ctx := context.Background()
	st := mem.Open()
	meta := &countingMeta{MetadataStore: st.Metadata()}
	c, err := core.New(meta, st.Results())
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	spec := manifestNode("n", "v1", 0, &calls)
	if executed, evs := runNode(t, c, spec, core.Default, 1); !executed || !hasEvent(evs, core.EventCodeVersion, "manifest") {
		t.Fatalf("first run: executed %v, events %v; want executed and a code_version::manifest event", executed, evs)
	}
	// The run preloaded no entry of its nodes: a new cache has no
	// manifests, none is looked up.
	if meta.gets.Load() != 0 {
		t.Errorf("the first run on a new cache looked %d keys up, want 0", meta.gets.Load())
	}
	m, err := core.ReadCodeManifest(ctx, st.Metadata(), st.Results(), "v1")
	if err != nil {
		t.Fatal(err)
	}
	if want := spec.Manifest(0); !reflect.DeepEqual(m, want) {
		t.Errorf("stored manifest %+v, want %+v", m, want)
	}
	calls.Store(0)
	if executed, _ := runNode(t, c, spec, core.Default, 1); executed {
		t.Error("second run executed n")
	}
	gets := meta.gets.Load()
	if executed, _ := runNode(t, c, spec, core.Default, 2); !executed {
		t.Error("a new input did not execute n")
	}
	if executed, _ := runNode(t, c, spec, core.Recompute, 2); !executed {
		t.Error("Recompute did not execute n")
	}
	if calls.Load() != 0 || meta.gets.Load() != gets {
		t.Errorf("the Cache described v1 %d times and looked it up %d times after storing it, want 0 and 0", calls.Load(), meta.gets.Load()-gets)
	}
	other, _ := core.New(meta, st.Results())
	if executed, _ := runNode(t, other, spec, core.Recompute, 2); !executed || calls.Load() != 0 || meta.gets.Load() != gets+1 {
		t.Errorf("another Cache: executed %v, described %d times, %d lookups; want executed, 0, 1", executed, calls.Load(), meta.gets.Load()-gets)
	}
	// A new code version is described and stored too.
	if executed, _ := runNode(t, c, manifestNode("n", "v2", 0, &calls), core.Default, 2); !executed || calls.Load() != 1 {
		t.Fatalf("v2: executed %v, described %d times", executed, calls.Load())
	}
	if _, err := core.ReadCodeManifest(ctx, st.Metadata(), st.Results(), "v2"); err != nil {
		t.Error(err)
	}
	if _, err := core.ReadCodeManifest(ctx, st.Metadata(), st.Results(), "v3"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("manifest of an unknown version: %v, want ErrNotFound", err)
	}
}

// Run.End does not wait for a description that takes longer than the
// manifest wait (a module parsed for it): the run ends, without the
// manifest, and says so; a longer wait stores it.
func TestCodeManifestSlow(t *testing.T) {
	st := mem.Open()
	c, _ := core.New(st.Metadata(), st.Results())
	var calls atomic.Int64
	start := time.Now()
	_, evs := runNode(t, c, manifestNode("n", "v1", 2*time.Second, &calls), core.Default, 1)
	if d := time.Since(start); d > time.Second {
		t.Errorf("the run took %v: it waited for a slow description", d)
	}
	if !hasEvent(evs, core.EventCodeVersion, "manifests skipped") {
		t.Errorf("no code_version::manifests skipped event: %v", evs)
	}
	if _, err := core.ReadCodeManifest(context.Background(), st.Metadata(), st.Results(), "v1"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("manifest of a skipped description: %v, want ErrNotFound", err)
	}

	// A fast description before the slow one is stored all the same
	// (results stored in the nodes' order: the manifests are described in
	// that order).
	ctx := context.Background()
	c, _ = core.New(st.Metadata(), st.Results(), core.WithBackgroundStores(0, 0))
	run, err := c.BeginRun(ctx, "fast", "slow")
	if err != nil {
		t.Fatal(err)
	}
	x := run.Input(ctx, "x", 7)
	for _, spec := range []*core.NodeSpec{manifestNode("fast", "vf", 0, &calls), manifestNode("slow", "vs", 2*time.Second, &calls)} {
		if _, err := run.Node(ctx, spec, "", []*core.Value{x}, func(context.Context, []any) (any, error) { return 1, nil }); err != nil {
			t.Fatal(err)
		}
	}
	start = time.Now()
	if err := run.End(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("End took %v: it waited for a slow description", d)
	}
	if _, err := core.ReadCodeManifest(ctx, st.Metadata(), st.Results(), "vf"); err != nil {
		t.Errorf("the fast description before a slow one: %v", err)
	}
	if _, err := core.ReadCodeManifest(ctx, st.Metadata(), st.Results(), "vs"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("the slow description: %v, want ErrNotFound", err)
	}

	c, _ = core.New(st.Metadata(), st.Results(), core.WithManifestWait(time.Minute))
	runNode(t, c, manifestNode("n", "v2", 50*time.Millisecond, &calls), core.Default, 1)
	if _, err := core.ReadCodeManifest(context.Background(), st.Metadata(), st.Results(), "v2"); err != nil {
		t.Errorf("with WithManifestWait(time.Minute): %v", err)
	}
	c, _ = core.New(st.Metadata(), st.Results(), core.WithManifestWait(-1))
	calls.Store(0)
	runNode(t, c, manifestNode("n", "v3", 0, &calls), core.Default, 1)
	if calls.Load() != 0 {
		t.Errorf("with a negative manifest wait, the code was described %d times", calls.Load())
	}
}

// manifestFailingResults refuses to store manifests only.
type manifestFailingResults struct{ core.ResultStore }

func (r manifestFailingResults) Put(ctx context.Context, id core.ResultID, write func(io.Writer) error) (int64, error) {
	if id.Format == core.CodeManifestFormat {
		return 0, errors.New("disk full")
	}
	return r.ResultStore.Put(ctx, id, write)
}

// A manifest that cannot be stored is a failed_store_write event; the run
// and its node's entry are fine.
func TestCodeManifestWriteFailure(t *testing.T) {
	st := mem.Open()
	c, _ := core.New(st.Metadata(), manifestFailingResults{st.Results()}, core.WithLogger(slog.New(slog.DiscardHandler)))
	var calls atomic.Int64
	spec := manifestNode("n", "v1", 0, &calls)
	_, evs := runNode(t, c, spec, core.Default, 1)
	failed, faults := false, 0
	for _, e := range evs {
		failed = failed || e.Type == core.EventFailedStoreWrite && e.Message == "code manifest" && strings.Contains(e.Value, "disk full")
		if e.Type == core.EventCacheFault && strings.Contains(e.Value, "disk full") {
			faults++
		}
	}
	if !failed {
		t.Errorf("no failed_store_write event for the manifest: %v", evs)
	}
	if faults != 1 {
		t.Errorf("%d cache_fault events for the manifest, want 1: %v", faults, evs)
	}
	if executed, _ := runNode(t, c, spec, core.Default, 1); executed {
		t.Error("the node's entry was not stored")
	}
}

// A stored manifest is verified: bytes that do not hash to its entry's
// data version, stored manifests without the version, or an entry of
// another format, are ErrCorrupt.
func TestCodeManifestVerified(t *testing.T) {
	ctx := context.Background()
	st := mem.Open()
	c, _ := core.New(st.Metadata(), st.Results())
	var calls atomic.Int64
	runNode(t, c, manifestNode("n", "v1", 0, &calls), core.Default, 1)
	runNode(t, c, manifestNode("n", "v2", 0, &calls), core.Default, 1)
	e, err := st.Metadata().Get(ctx, core.CodeManifestKey("v1").ID())
	if err != nil {
		t.Fatal(err)
	}
	e2, err := st.Metadata().Get(ctx, core.CodeManifestKey("v2").ID())
	if err != nil {
		t.Fatal(err)
	}
	moved := e
	moved.DataVersion = e2.DataVersion
	if err := st.Metadata().Write(ctx, core.Batch{Entries: []core.Entry{moved}, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := core.ReadCodeManifest(ctx, st.Metadata(), st.Results(), "v1"); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("manifest entry pointing to the stored manifests of v2: %v, want ErrCorrupt", err)
	}
	if err := st.Metadata().Write(ctx, core.Batch{Entries: []core.Entry{e}, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	rid := core.ResultID{Version: e.DataVersion, Format: e.Format}
	if err := st.Results().Delete(ctx, rid); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Results().Put(ctx, rid, func(w io.Writer) error { _, err := io.WriteString(w, `{"func":"other"}`); return err }); err != nil {
		t.Fatal(err)
	}
	if _, err := core.ReadCodeManifest(ctx, st.Metadata(), st.Results(), "v1"); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("manifest with other bytes: %v, want ErrCorrupt", err)
	}
	e.Format = "gob"
	if err := st.Metadata().Write(ctx, core.Batch{Entries: []core.Entry{e}, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := core.ReadCodeManifest(ctx, st.Metadata(), st.Results(), "v1"); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("manifest entry of format gob: %v, want ErrCorrupt", err)
	}
}

// A run that began on a cache without its nodes looks no manifest up even
// when it lasts longer than the preload's freshness: its refreshed preload
// holds the entries it stored itself, and is no sign of an older cache
// (on a bucket, each lookup was two requests: 678 a cold 1000-node run).
func TestCodeManifestLongColdRun(t *testing.T) {
	ctx := context.Background()
	st := mem.Open()
	meta := &countingMeta{MetadataStore: st.Metadata()}
	clock := newTestClock()
	// Results stored before a node returns, so that Flush writes a's entry.
	c, err := core.New(meta, st.Results(), core.WithClock(clock.now), core.WithBackgroundStores(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	run, err := c.BeginRun(ctx, "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	inc := func(_ context.Context, args []any) (any, error) { return args[0].(int) + 1, nil }
	a, err := run.Node(ctx, manifestNode("a", "va", 0, &calls), "", []*core.Value{run.Input(ctx, "x", 1)}, inc)
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(mustWalk(t, meta)); n == 0 {
		t.Fatal("a's entry is not stored after Flush")
	}
	clock.advance(3 * time.Second) // past preloadFresh: b's miss preloads again, and finds a
	if _, err := run.Node(ctx, manifestNode("b", "vb", 0, &calls), "", []*core.Value{a}, inc); err != nil {
		t.Fatal(err)
	}
	if err := run.End(ctx); err != nil {
		t.Fatal(err)
	}
	if meta.preloads.Load() != 2 {
		t.Errorf("preloads = %d, want 2 (the run's, and the refresh of b's miss)", meta.preloads.Load())
	}
	if g := meta.gets.Load(); g != 0 {
		t.Errorf("the run looked %d keys up (manifests), want 0: it began on a new cache", g)
	}
	for _, v := range []core.CodeVersion{"va", "vb"} {
		if _, err := core.ReadCodeManifest(ctx, st.Metadata(), st.Results(), v); err != nil {
			t.Errorf("manifest of %s: %v", v, err)
		}
	}
}

func mustWalk(t *testing.T, meta core.MetadataStore) []core.Entry {
	t.Helper()
	var out []core.Entry
	w, ok := core.As[core.EntryWalker](meta)
	if !ok {
		t.Fatal("the store cannot walk its entries")
	}
	if err := w.WalkEntries(context.Background(), func(e core.Entry) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}
