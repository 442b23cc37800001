package core_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/formats"
	"github.com/flowcache/flowcache/internal/lockedbuf"
)

// failingResults refuses every write.
type failingResults struct{ core.ResultStore }

func (failingResults) Put(context.Context, core.ResultID, func(io.Writer) error) (int64, error) {
	return 0, errors.New("disk full")
}

func one() int        { return 1 }
func plus(a int) int  { return a + 1 }
func twice(a int) int { return 2 * a }

// A result store that cannot write does not fail the run: the values are
// right, the failure is an event and a warning, and no entry points to the
// missing result.
func TestStoreWriteFailureDoesNotFailRun(t *testing.T) {
	st := mem.Open()
	var logBuf lockedbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dr, err := driver.NewBuilder().WithNodes(driver.Node("a", one), driver.Node("b", plus, "a")).
		WithCache(driver.CacheStores(st.Metadata(), failingResults{st.Results()}), driver.CacheLogger(logger)).Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	out, err := dr.Execute(ctx, []string{"b"}, nil, nil)
	if err != nil || out["b"] != 2 {
		t.Fatalf("Execute = %v, %v", out, err)
	}
	run, _ := dr.Cache().LastRunID(ctx)
	failed := 0
	for _, e := range dr.Cache().Events(slog.LevelDebug, run) {
		if e.Type == core.EventFailedStoreWrite && strings.Contains(e.Value, "disk full") {
			failed++
		}
	}
	if failed != 2 {
		t.Fatalf("failed_store_write events = %d, want 2", failed)
	}
	// Said when it first happened, and summed up at the end of the run:
	// not once per node.
	warns := strings.Split(strings.TrimSpace(logBuf.String()), "\n")
	if len(warns) != 2 || !strings.Contains(warns[0], "disk full") || !strings.Contains(warns[0], "event_type=cache_fault") {
		t.Fatalf("want a warning naming the error and a summary, got %d: %q", len(warns), logBuf.String())
	}
	if s := warns[1]; !strings.Contains(s, "event_type=cache_fault_summary") || !strings.Contains(s, "2 results not stored") ||
		!strings.Contains(s, `\"a\"`) || !strings.Contains(s, `\"b\"`) {
		t.Errorf("summary %q does not count the two results of a and b", s)
	}
	n := 0
	st.Metadata().WalkEntries(ctx, func(core.Entry) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d entries point at results that were never written", n)
	}
}

// The data version of an executed node is recorded, and a changed format is
// a miss, not a wrong decoding.
func TestRunHistoryAndKeys(t *testing.T) {
	st := mem.Open()
	ctx := context.Background()
	build := func() *driver.Driver {
		dr, err := driver.NewBuilder().WithNodes(driver.Node("a", one), driver.Node("b", twice, "a")).
			WithCache(driver.CacheStores(st.Metadata(), st.Results())).Build()
		if err != nil {
			t.Fatal(err)
		}
		return dr
	}
	dr := build()
	if _, err := dr.Execute(ctx, []string{"b"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	run, _ := dr.Cache().LastRunID(ctx)
	recs, err := st.Metadata().Run(ctx, run)
	if err != nil || len(recs) != 2 {
		t.Fatalf("Run = %v, %v", recs, err)
	}
	var a, b core.NodeRecord
	for _, r := range recs {
		switch r.Node {
		case "a":
			a = r
		case "b":
			b = r
		}
	}
	if a.Outcome != core.OutcomeExecuted || b.Outcome != core.OutcomeExecuted || a.Size <= 0 {
		t.Fatalf("records %+v %+v", a, b)
	}
	// B's key names A's data version: the graph can be rebuilt from metadata.
	if v, ok := b.Key.Dep("a"); !ok || v != a.DataVersion {
		t.Fatalf("b's key %v does not hold a's version %s", b.Key, a.DataVersion)
	}
	e, err := st.Metadata().Get(ctx, b.Key.ID())
	if err != nil || e.DataVersion != b.DataVersion || e.Format != "gob" {
		t.Fatalf("entry of b = %+v, %v", e, err)
	}
	if _, err := st.Metadata().Run(ctx, "no-such-run"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("unknown run: %v", err)
	}
}

// slowResults delays every write, like a remote store.
type slowResults struct {
	core.ResultStore
	delay time.Duration
	// puts counts the results of nodes, manifests the code manifests.
	puts, manifests atomic.Int64
}

func (s *slowResults) Put(ctx context.Context, id core.ResultID, write func(io.Writer) error) (int64, error) {
	if id.Format == core.CodeManifestFormat {
		s.manifests.Add(1)
	} else {
		s.puts.Add(1)
	}
	time.Sleep(s.delay)
	return s.ResultStore.Put(ctx, id, write)
}

func makeSlice() []int    { return []int{1, 2, 3} }
func mutate(xs []int) int { xs[0] = 100; return xs[0] + xs[1] + xs[2] }
func chainStep(x int) int { return x + 1 }

// Results are written in the background: a chain does not wait for each
// upload, a value changed by a later node is stored as it was returned, and
// End returns only when every result and its entry are stored.
func TestBackgroundStores(t *testing.T) {
	ctx := context.Background()
	st := mem.Open()
	slow := &slowResults{ResultStore: st.Results(), delay: 20 * time.Millisecond}
	nodes := []*driver.NodeDef{driver.Node("s", makeSlice), driver.Node("m", mutate, "s")}
	prev := "m"
	for i := range 10 {
		name := fmt.Sprint("c", i)
		nodes = append(nodes, driver.Node(name, chainStep, prev))
		prev = name
	}
	dr, err := driver.NewBuilder().WithNodes(nodes...).WithParallelism(1).
		WithCache(driver.CacheStores(st.Metadata(), slow), driver.CacheCoreOptions(core.WithManifestWait(time.Minute))).Build()
	if err != nil {
		t.Fatal(err)
	}
	out, err := dr.Execute(ctx, []string{prev, "s"}, nil, nil)
	if err != nil || out[prev] != 115 {
		t.Fatalf("Execute = %v, %v", out, err)
	}
	// The code manifests too: one per code version (the chain's steps
	// share one), stored together in one result.
	if slow.puts.Load() != 12 || slow.manifests.Load() != 1 {
		t.Fatalf("%d results and %d results of code manifests stored by the end of the run, want 12 and 1", slow.puts.Load(), slow.manifests.Load())
	}
	n := 0
	st.Metadata().WalkEntries(ctx, func(core.Entry) error { n++; return nil })
	if n != 12+3 {
		t.Fatalf("%d entries after the run, want 12 and 3 code manifests", n)
	}
	// The stored s is what s returned, not what m made of it.
	out, err = dr.Execute(ctx, []string{"s", prev}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := out["s"].([]int); got[0] != 1 {
		t.Errorf("retrieved s = %v: the stored result took a later change", got)
	}
	run, _ := dr.Cache().LastRunID(ctx)
	for _, e := range dr.Cache().Events(slog.LevelInfo, run) {
		if e.Type == core.EventExecuteNode {
			t.Errorf("warm run executed %s", e.Node)
		}
	}
}

// testClock is a clock the test moves (core.WithClock).
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Unix(1_000_000, 0)} }

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// countingMeta is a mem metadata store that preloads (from WalkEntries) and
// counts Preload and Get calls.
type countingMeta struct {
	*mem.MetadataStore
	preloads, gets atomic.Int64
}

func (m *countingMeta) Get(ctx context.Context, id core.KeyID) (core.Entry, error) {
	m.gets.Add(1)
	return m.MetadataStore.Get(ctx, id)
}

func (m *countingMeta) Preload(ctx context.Context, nodes []string) (map[core.KeyID]core.Entry, error) {
	m.preloads.Add(1)
	want := map[string]bool{}
	for _, n := range nodes {
		want[n] = true
	}
	out := map[core.KeyID]core.Entry{}
	err := m.WalkEntries(ctx, func(e core.Entry) error {
		if want[e.Key.Node] {
			out[e.ID()] = e
		}
		return nil
	})
	return out, err
}

// Once the preloaded entries are older than the freshness window, a lookup
// preloads again (one request) instead of asking for its key alone, and
// sees what another process stored meanwhile.
func TestPreloadRefresh(t *testing.T) {
	ctx := context.Background()
	st := mem.Open()
	meta := &countingMeta{MetadataStore: st.Metadata()}
	clock := newTestClock()
	c, err := core.New(meta, st.Results(), core.WithClock(clock.now))
	if err != nil {
		t.Fatal(err)
	}
	spec := &core.NodeSpec{Name: "n", CodeVersion: "v1", Format: formats.Gob(), Type: reflect.TypeFor[int]()}
	run, err := c.BeginRun(ctx, "n")
	if err != nil {
		t.Fatal(err)
	}
	x := run.Input(ctx, "x", 1)
	// Another process stores n's result after this run preloaded.
	other, _ := core.New(st.Metadata(), st.Results())
	orun, _ := other.BeginRun(ctx)
	if _, err := orun.Node(ctx, spec, "", []*core.Value{orun.Input(ctx, "x", 1)}, func(context.Context, []any) (any, error) { return 7, nil }); err != nil {
		t.Fatal(err)
	}
	orun.End(ctx)
	clock.advance(3 * time.Second)
	executed := false
	v, err := run.Node(ctx, spec, "", []*core.Value{x}, func(context.Context, []any) (any, error) { executed = true; return 7, nil })
	if err != nil {
		t.Fatal(err)
	}
	if executed {
		t.Error("the node was executed: the refreshed preload did not see the other process's entry")
	}
	if got, _ := run.Final(ctx, v); got != 7 {
		t.Errorf("value = %v", got)
	}
	if meta.preloads.Load() != 2 || meta.gets.Load() != 0 {
		t.Errorf("preloads = %d, gets = %d; want 2 and 0", meta.preloads.Load(), meta.gets.Load())
	}
	run.End(ctx)
}

// lossyFormat stores with gob but loads every int back as 7, like a format
// that drops a detail of the value.
type lossyFormat struct{ core.Format }

func (lossyFormat) Name() string { return "lossy" }

func (l lossyFormat) Decode(r io.Reader, t reflect.Type) (any, error) {
	if _, err := l.Format.Decode(r, t); err != nil {
		return nil, err
	}
	return 7, nil
}

// A result that loads back as another value than the one its data version
// stands for is a miss: the node executes again and the run returns the
// right value, never the one the format made of it.
func TestLoadedValueMustMatchDataVersion(t *testing.T) {
	ctx := context.Background()
	st := mem.Open()
	build := func() *driver.Driver {
		dr, err := driver.NewBuilder().WithNodes(driver.Node("a", one, driver.WithFormat(lossyFormat{formats.Gob()})), driver.Node("b", twice, "a")).
			WithCache(driver.CacheStores(st.Metadata(), st.Results())).Build()
		if err != nil {
			t.Fatal(err)
		}
		return dr
	}
	dr := build()
	if out, err := dr.Execute(ctx, []string{"b"}, nil, nil); err != nil || out["b"] != 2 {
		t.Fatalf("cold run = %v, %v", out, err)
	}
	for range 2 {
		dr = build()
		out, err := dr.Execute(ctx, []string{"a", "b"}, nil, nil)
		if err != nil || out["a"] != 1 || out["b"] != 2 {
			t.Fatalf("warm run = %v, %v; want a=1 b=2", out, err)
		}
		run, _ := dr.Cache().LastRunID(ctx)
		var executed []string
		mismatch := false
		for _, e := range dr.Cache().Events(slog.LevelDebug, run) {
			switch {
			case e.Type == core.EventExecuteNode:
				executed = append(executed, e.Node)
			case e.Type == core.EventMissingResult && e.Node == "a" && strings.Contains(e.Value, "loaded back as another value"):
				mismatch = true
			}
		}
		if !mismatch || !reflect.DeepEqual(executed, []string{"a"}) {
			t.Errorf("warm run: executed %v, mismatch event %v; want a executed again after its result loaded back different", executed, mismatch)
		}
		dr.Close()
	}
}

// indexMeta is countingMeta with an IndexPreloader too, counting its calls.
type indexMeta struct {
	*countingMeta
	indexes atomic.Int64
}

func (m *indexMeta) PreloadIndex(ctx context.Context, nodes []string) (core.PreloadIndex, error) {
	m.indexes.Add(1)
	mp, err := m.countingMeta.Preload(ctx, nodes)
	m.preloads.Add(-1)
	return core.EntryMap(mp), err
}

// A store that is an IndexPreloader is preloaded through it, not through
// Preloader, and a hit is looked up in the index: no Get.
func TestPreloadIndexPreferred(t *testing.T) {
	ctx := context.Background()
	st := mem.Open()
	meta := &indexMeta{countingMeta: &countingMeta{MetadataStore: st.Metadata()}}
	c, err := core.New(meta, st.Results())
	if err != nil {
		t.Fatal(err)
	}
	spec := &core.NodeSpec{Name: "n", CodeVersion: "v1", Format: formats.Gob(), Type: reflect.TypeFor[int]()}
	for i, wantExec := range []bool{true, false} {
		run, err := c.BeginRunFrom(ctx, c.Prefetch(ctx, []string{"n"}))
		if err != nil {
			t.Fatal(err)
		}
		executed := false
		v, err := run.Node(ctx, spec, "", []*core.Value{run.Input(ctx, "x", 1)}, func(context.Context, []any) (any, error) { executed = true; return 7, nil })
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := run.Final(ctx, v); got != 7 || executed != wantExec {
			t.Errorf("run %d: value %v, executed %v; want 7, %v", i, got, executed, wantExec)
		}
		run.End(ctx)
	}
	if meta.indexes.Load() != 2 || meta.preloads.Load() != 0 || meta.gets.Load() != 0 {
		t.Errorf("indexes = %d, preloads = %d, gets = %d; want 2, 0, 0", meta.indexes.Load(), meta.preloads.Load(), meta.gets.Load())
	}
}
