package core_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/formats"
	"github.com/flowcache/flowcache/formats/parquet"
	"github.com/flowcache/flowcache/internal/lockedbuf"
)

// diskFull makes the stores it wraps fail as a full disk does: every write
// fails with ENOSPC while full is set, and a result larger than maxResult
// bytes (when > 0) fails after maxResult bytes, as a file that does not fit.
// Reads fail with readErr when it is set.
type diskFull struct {
	full      atomic.Bool
	maxResult int
	readErr   error
}

func enospc(op string) error { return fmt.Errorf("%s: %w", op, syscall.ENOSPC) }

type fullMeta struct {
	core.MetadataStore
	d *diskFull
}

func (m fullMeta) BeginRun(ctx context.Context, r core.RunInfo) error {
	if m.d.full.Load() {
		return enospc("begin run")
	}
	return m.MetadataStore.BeginRun(ctx, r)
}

func (m fullMeta) Write(ctx context.Context, b core.Batch) error {
	if m.d.full.Load() {
		return enospc("write")
	}
	return m.MetadataStore.Write(ctx, b)
}

func (m fullMeta) Get(ctx context.Context, id core.KeyID) (core.Entry, error) {
	if m.d.readErr != nil {
		return core.Entry{}, m.d.readErr
	}
	return m.MetadataStore.Get(ctx, id)
}

type fullResults struct {
	core.ResultStore
	d *diskFull
}

func (r fullResults) Put(ctx context.Context, id core.ResultID, write func(io.Writer) error) (int64, error) {
	if r.d.full.Load() {
		return 0, enospc("put")
	}
	if r.d.maxResult <= 0 {
		return r.ResultStore.Put(ctx, id, write)
	}
	return r.ResultStore.Put(ctx, id, func(w io.Writer) error {
		return write(&fullWriter{w: w, left: r.d.maxResult})
	})
}

// fullWriter fails with ENOSPC past left bytes.
type fullWriter struct {
	w    io.Writer
	left int
}

func (f *fullWriter) Write(p []byte) (int, error) {
	if len(p) > f.left {
		n, _ := f.w.Write(p[:f.left])
		f.left = 0
		return n, enospc("write result")
	}
	f.left -= len(p)
	return f.w.Write(p)
}

// faultFlow is a dataflow whose node executions are counted: small (an
// int), big (256 KiB) and sum (of both).
type faultFlow struct {
	st    *mem.Store
	d     *diskFull
	execs atomic.Int64
	warns *lockedbuf.Buffer
	dr    *driver.Driver
}

func newFaultFlow(t *testing.T, d *diskFull) *faultFlow {
	f := &faultFlow{st: mem.Open(), d: d, warns: &lockedbuf.Buffer{}}
	small := func(x int) int { f.execs.Add(1); return x + 1 }
	big := func(x int) []byte { f.execs.Add(1); b := make([]byte, 256<<10); b[0] = byte(x); return b }
	sum := func(s int, b []byte) int { f.execs.Add(1); return s + int(b[0]) + len(b) }
	logger := slog.New(slog.NewTextHandler(f.warns, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dr, err := driver.NewBuilder().WithNodes(
		driver.Node("small", small, "x", driver.WithState()),
		driver.Node("big", big, "x", driver.WithState()),
		driver.Node("sum", sum, "small", "big", driver.WithState()),
	).WithCache(driver.CacheStores(fullMeta{f.st.Metadata(), d}, fullResults{f.st.Results(), d}), driver.CacheLogger(logger)).Build()
	if err != nil {
		t.Fatal(err)
	}
	f.dr = dr
	t.Cleanup(func() { dr.Close() })
	return f
}

// run executes sum for x, checks its value, and returns how many nodes
// executed and the warnings logged during the run.
func (f *faultFlow) run(t *testing.T, x int) (execs int64, warnings []string) {
	t.Helper()
	f.execs.Store(0)
	before := f.warns.String()
	out, err := f.dr.Execute(context.Background(), []string{"sum"}, driver.Inputs{"x": x}, nil)
	if err != nil {
		t.Fatalf("a cache fault failed the run: %v", err)
	}
	if want := x + 1 + x + 256<<10; out["sum"] != want {
		t.Fatalf("sum = %v, want %d", out["sum"], want)
	}
	for l := range strings.SplitSeq(strings.TrimPrefix(f.warns.String(), before), "\n") {
		if l != "" {
			warnings = append(warnings, l)
		}
	}
	return f.execs.Load(), warnings
}

func (f *faultFlow) entries(t *testing.T) int {
	n := 0
	if err := f.st.Metadata().WalkEntries(context.Background(), func(core.Entry) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *faultFlow) runs(t *testing.T) int {
	runs, err := f.st.Metadata().Runs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(runs)
}

// wantOneWarning checks that a run said why once, naming ENOSPC, and that
// its one cache_fault event says the same.
func wantOneWarning(t *testing.T, f *faultFlow, warnings []string, says string) {
	t.Helper()
	if len(warnings) != 1 || !strings.Contains(warnings[0], says) || !strings.Contains(warnings[0], "no space left on device") {
		t.Fatalf("want one warning saying %q and naming ENOSPC, got %d: %q", says, len(warnings), warnings)
	}
	run, err := f.dr.Cache().LastRunID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	evs := f.dr.Cache().Events(slog.LevelWarn, run)
	if len(evs) != 1 || evs[0].Type != core.EventCacheFault || !strings.Contains(evs[0].Value, "no space left on device") {
		t.Fatalf("want one cache_fault event, got %v", evs)
	}
}

// A full disk never fails a run: before the first run, between runs, and
// mid-run (one result that does not fit). The run computes what it cannot
// retrieve, serves the hits it can read, and says why once.
func TestFullDiskDoesNotFailRun(t *testing.T) {
	t.Run("before the first run", func(t *testing.T) {
		d := &diskFull{}
		d.full.Store(true)
		f := newFaultFlow(t, d)
		execs, warns := f.run(t, 1)
		if execs != 3 {
			t.Errorf("%d nodes executed, want 3", execs)
		}
		wantOneWarning(t, f, warns, "stores nothing")
		if n, r := f.entries(t), f.runs(t); n != 0 || r != 0 {
			t.Errorf("%d entries and %d runs stored on a full disk", n, r)
		}
		// The disk has room again: the next run stores.
		d.full.Store(false)
		if execs, warns := f.run(t, 1); execs != 3 || len(warns) != 0 {
			t.Errorf("after the disk was freed: %d executions, warnings %q", execs, warns)
		}
		if execs, _ := f.run(t, 1); execs != 0 {
			t.Errorf("%d executions in a warm run", execs)
		}
	})
	t.Run("between runs", func(t *testing.T) {
		d := &diskFull{}
		f := newFaultFlow(t, d)
		if execs, _ := f.run(t, 2); execs != 3 {
			t.Fatalf("cold run: %d executions", execs)
		}
		entries, runs := f.entries(t), f.runs(t)
		d.full.Store(true)
		// Hits are still served: nothing executes.
		execs, warns := f.run(t, 2)
		if execs != 0 {
			t.Errorf("%d nodes executed on a full disk, want 0 (hits still readable)", execs)
		}
		wantOneWarning(t, f, warns, "stores nothing")
		// A miss computes, and stores nothing.
		if execs, _ := f.run(t, 3); execs != 3 {
			t.Errorf("new input on a full disk: %d executions, want 3", execs)
		}
		if f.entries(t) != entries || f.runs(t) != runs {
			t.Errorf("entries %d → %d, runs %d → %d on a full disk", entries, f.entries(t), runs, f.runs(t))
		}
	})
	t.Run("mid-run", func(t *testing.T) {
		d := &diskFull{maxResult: 64 << 10}
		f := newFaultFlow(t, d)
		execs, warns := f.run(t, 4)
		if execs != 3 {
			t.Fatalf("%d executions", execs)
		}
		wantOneWarning(t, f, warns, "writing the result store failed")
		// small and sum were stored; big was not, and is computed again;
		// sum is still retrieved (big's data version is the same).
		execs, warns = f.run(t, 4)
		if execs != 1 {
			t.Errorf("%d executions after a run whose big result did not fit, want 1 (big)", execs)
		}
		if len(warns) != 1 {
			t.Errorf("second run: warnings %q, want one (big does not fit again)", warns)
		}
	})
	t.Run("metadata writes fail mid-run", func(t *testing.T) {
		d := &diskFull{}
		f := newFaultFlow(t, d)
		st := f.st
		ctx := context.Background()
		c, err := core.New(fullMeta{st.Metadata(), d}, st.Results(), core.WithBackgroundStores(0, 0), core.WithLogger(slog.New(slog.NewTextHandler(f.warns, &slog.HandlerOptions{Level: slog.LevelWarn}))))
		if err != nil {
			t.Fatal(err)
		}
		run, err := c.BeginRun(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d.full.Store(true)
		in := run.Input(ctx, "x", 1)
		spec := &core.NodeSpec{Name: "n", CodeVersion: "c", Format: formats.Gob(), Type: reflect.TypeFor[int]()}
		for range 3 {
			v, err := run.Node(ctx, spec, "", []*core.Value{in}, func(_ context.Context, args []any) (any, error) { return args[0].(int) * 2, nil })
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := v.Get(ctx); got != 2 {
				t.Fatalf("n = %v", got)
			}
			if err := run.Flush(ctx); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Flush = %v, want the store's ENOSPC", err)
			}
		}
		if err := run.End(ctx); err != nil {
			t.Fatalf("End = %v: a store fault is not the run's error", err)
		}
		faults := run.Faults()
		if len(faults) != 1 || !errors.Is(faults[0], syscall.ENOSPC) {
			t.Fatalf("Faults = %v, want one ENOSPC", faults)
		}
		// Said at the first failure, with the fix, then summed up once.
		warns := strings.Split(strings.TrimSpace(f.warns.String()), "\n")
		if len(warns) != 2 || !strings.Contains(warns[0], "fix: free space") ||
			!strings.Contains(warns[1], "cache_fault_summary") || !strings.Contains(warns[1], "3 metadata operations failed") || !strings.Contains(warns[1], "fix: free space") {
			t.Errorf("want a warning and a summary of three failed writes with the fix, got %d: %s", len(warns), f.warns)
		}
	})
}

// Stores that could not be opened: every run executes every node, stores
// nothing, reads nothing, and says why once.
func TestUnavailableStores(t *testing.T) {
	ctx := context.Background()
	var warns lockedbuf.Buffer
	u := core.Unavailable(enospc("open /cache/metadata.db"))
	c, err := core.New(u.Metadata, u.Results, core.WithLogger(slog.New(slog.NewTextHandler(&warns, nil))), core.WithRunLogs())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		run, err := c.BeginRun(ctx, "n")
		if err != nil {
			t.Fatal(err)
		}
		if run.Stores() {
			t.Error("a run over unavailable stores says it stores")
		}
		in := run.Input(ctx, "x", i)
		spec := &core.NodeSpec{Name: "n", CodeVersion: "c", Format: formats.Gob(), Type: reflect.TypeFor[int]()}
		v, err := run.Node(ctx, spec, "", []*core.Value{in}, func(_ context.Context, args []any) (any, error) { return args[0].(int) + 10, nil })
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := run.Final(ctx, v); got != i+10 {
			t.Fatalf("n = %v", got)
		}
		if err := run.End(ctx); err != nil {
			t.Fatal(err)
		}
		faults := run.Faults()
		if len(faults) != 1 || !errors.Is(faults[0], core.ErrUnavailable) || !errors.Is(faults[0], syscall.ENOSPC) {
			t.Fatalf("Faults = %v, want one ErrUnavailable wrapping ENOSPC", faults)
		}
	}
	if n := strings.Count(warns.String(), "level=WARN"); n != 2 || !strings.Contains(warns.String(), "open /cache/metadata.db") {
		t.Errorf("want one warning per run naming the store, got %d: %s", n, warns.String())
	}
}

// A metadata store whose reads fail: the nodes execute, the run succeeds,
// and says so once.
func TestMetadataReadsFail(t *testing.T) {
	d := &diskFull{readErr: errors.New("I/O error reading metadata.db")}
	f := newFaultFlow(t, d)
	execs, warns := f.run(t, 1)
	if execs != 3 {
		t.Errorf("%d executions", execs)
	}
	if len(warns) != 2 || !strings.Contains(warns[0], "the metadata store failed") || !strings.Contains(warns[0], "I/O error") {
		t.Fatalf("want a warning about reads and a summary, got %q", warns)
	}
	// Every lookup failed: the summary counts them and names the nodes (in
	// name order: small and big are looked up at once); it
	// knows no fix for an unknown I/O error, so it offers none.
	if s := warns[1]; !strings.Contains(s, "cache_fault_summary") || !strings.Contains(s, `(nodes \"big\", \"small\", \"sum\")`) || strings.Contains(s, "fix:") {
		t.Errorf("summary %q", s)
	}
}

// A cancelled context is the run's error, not a cache fault.
func TestCancelledRunIsAnError(t *testing.T) {
	d := &diskFull{}
	f := newFaultFlow(t, d)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.dr.Execute(ctx, []string{"sum"}, driver.Inputs{"x": 1}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Execute with a cancelled context = %v", err)
	}
	c, _ := core.New(f.st.Metadata(), f.st.Results())
	if _, err := c.BeginRun(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("BeginRun with a cancelled context = %v", err)
	}
	if f.warns.String() != "" {
		t.Errorf("a cancelled run warned: %s", f.warns)
	}
}

// Without WithLogger, warnings go to slog.Default() and the rest is
// discarded.
func TestDefaultLoggerWarns(t *testing.T) {
	var buf lockedbuf.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(old)
	st := mem.Open()
	d := &diskFull{}
	c, err := core.New(fullMeta{st.Metadata(), d}, st.Results())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run := func() {
		r, err := c.BeginRun(ctx)
		if err != nil {
			t.Fatal(err)
		}
		in := r.Input(ctx, "x", 1)
		spec := &core.NodeSpec{Name: "n", CodeVersion: "c", Format: formats.Gob(), Type: reflect.TypeFor[int]()}
		if _, err := r.Node(ctx, spec, "", []*core.Value{in}, func(context.Context, []any) (any, error) { return 1, nil }); err != nil {
			t.Fatal(err)
		}
		r.End(ctx)
	}
	run()
	if buf.String() != "" {
		t.Fatalf("a run without fault logged to slog.Default: %s", buf.String())
	}
	d.full.Store(true)
	run()
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "level=WARN") || !strings.Contains(out, "flowcache: the cache cannot record this run") {
		t.Fatalf("slog.Default got %q, want one warning", out)
	}
}

// Node names that are not valid UTF-8 are refused where the key is built,
// naming the name.
func TestInvalidUTF8NamesRefused(t *testing.T) {
	ctx := context.Background()
	st := mem.Open()
	c, _ := core.New(st.Metadata(), st.Results())
	run, err := c.BeginRun(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer run.End(ctx)
	exec := func(context.Context, []any) (any, error) { t.Error("executed"); return 1, nil }
	good := run.Input(ctx, "x", 1)
	bad := run.Input(ctx, "x\xff", 1)
	spec := func(name string) *core.NodeSpec {
		return &core.NodeSpec{Name: name, CodeVersion: "c", Format: formats.Gob(), Type: reflect.TypeFor[int]()}
	}
	for _, tc := range []struct {
		spec *core.NodeSpec
		task string
		deps []*core.Value
		want string
	}{
		{spec("n\xffo"), "", []*core.Value{good}, `"n\xffo"`},
		{spec("n"), "", []*core.Value{bad}, `"x\xff"`},
		{spec("n"), "t\xc3", []*core.Value{good}, `"t\xc3"`},
	} {
		_, err := run.Node(ctx, tc.spec, tc.task, tc.deps, exec)
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Node(%q, task %q) = %v, want ErrInvalid naming %s", tc.spec.Name, tc.task, err, tc.want)
		}
	}
	_, err = run.Expand(ctx, spec("e\xfe"), nil, func(context.Context, []any) ([]any, error) { t.Error("executed"); return nil, nil })
	if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), `"e\xfe"`) {
		t.Errorf("Expand = %v", err)
	}
}

// flushFails is a buffering result store whose flush fails.
type flushFails struct{ core.ResultStore }

func (flushFails) FlushResults(context.Context) error { return enospc("flush results") }

// A batch whose results could not be flushed is written without its
// entries (they could point at results that are not stored), with its
// history.
func TestResultFlushFailureDropsEntries(t *testing.T) {
	ctx := context.Background()
	st := mem.Open()
	var warns lockedbuf.Buffer
	c, err := core.New(st.Metadata(), flushFails{st.Results()}, core.WithBackgroundStores(0, 0),
		core.WithLogger(slog.New(slog.NewTextHandler(&warns, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.BeginRun(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in := run.Input(ctx, "x", 1)
	spec := &core.NodeSpec{Name: "n", CodeVersion: "c", Format: formats.Gob(), Type: reflect.TypeFor[int]()}
	v, err := run.Node(ctx, spec, "", []*core.Value{in}, func(context.Context, []any) (any, error) { return 5, nil })
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := run.Final(ctx, v); got != 5 {
		t.Fatalf("n = %v", got)
	}
	if err := run.End(ctx); err != nil {
		t.Fatal(err)
	}
	n := 0
	st.Metadata().WalkEntries(ctx, func(core.Entry) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d entries written although the results were not flushed", n)
	}
	recs, err := st.Metadata().Run(ctx, run.ID())
	if err != nil || len(recs) != 2 {
		t.Errorf("history of the run: %d records, %v; want 2", len(recs), err)
	}
	if got := strings.Count(warns.String(), "level=WARN"); got != 1 || !strings.Contains(warns.String(), "flush results") {
		t.Errorf("want one warning naming the flush, got %d: %s", got, warns.String())
	}
}

// A run that does not write (its store could not record it) reads around a
// damaged result and leaves it: removing it is for a run that can store the
// replacement.
func TestRunThatDoesNotWriteKeepsDamagedResult(t *testing.T) {
	ctx := context.Background()
	d := &diskFull{}
	f := newFaultFlow(t, d)
	if execs, _ := f.run(t, 1); execs != 3 {
		t.Fatalf("first run executed %d nodes, want 3", execs)
	}
	// Damage the large result: one byte in the middle of its object.
	b := f.st.Results().Bucket()
	var damaged string
	if err := f.st.Results().Walk(ctx, func(id core.ResultID, size int64) error {
		if size > 100<<10 {
			damaged = f.st.Results().Key(id)
		}
		return nil
	}); err != nil || damaged == "" {
		t.Fatalf("no large result to damage: %v", err)
	}
	obj, err := b.ReadAll(ctx, damaged)
	if err != nil {
		t.Fatal(err)
	}
	obj[len(obj)/2] ^= 0x10
	if err := b.WriteAll(ctx, damaged, obj, nil); err != nil {
		t.Fatal(err)
	}

	big := func() int64 {
		t.Helper()
		f.execs.Store(0)
		out, err := f.dr.Execute(ctx, []string{"big"}, driver.Inputs{"x": 1}, nil)
		if err != nil {
			t.Fatalf("a cache fault failed the run: %v", err)
		}
		if b := out["big"].([]byte); len(b) != 256<<10 || b[0] != 1 {
			t.Fatalf("big is wrong after damage")
		}
		return f.execs.Load()
	}
	d.full.Store(true)
	if execs := big(); execs != 1 {
		t.Errorf("a run that does not write executed %d nodes, want 1", execs)
	}
	if ok, err := b.Exists(ctx, damaged); err != nil || !ok {
		t.Errorf("a run that does not write removed the damaged result (exists %v, %v)", ok, err)
	}
	d.full.Store(false)
	if execs := big(); execs != 1 {
		t.Errorf("a writing run executed %d nodes, want 1", execs)
	}
	if execs := big(); execs != 0 {
		t.Errorf("after the damaged result was replaced, a run executed %d nodes, want 0", execs)
	}
}

// A value its node's format cannot encode (a time not in UTC, in Parquet)
// is a fault of its own kind, not a failing store: the run goes on, the
// warning says the format could not encode it and how to fix that, and,
// when it happened for several tasks of a fan-out, the end of the run sums
// them up, naming the node. A real local directory stores the rest.
func TestValueTheFormatCannotEncode(t *testing.T) {
	type event struct {
		At   time.Time
		Kind string
	}
	paris := time.FixedZone("CET", 3600)
	var warns lockedbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&warns, &slog.HandlerOptions{Level: slog.LevelWarn}))
	execs := 0
	dr, err := driver.NewBuilder().WithNodes(
		driver.Node("days", func() []int { return []int{1, 2, 3} }, driver.Expand()),
		driver.Node("events", func(d int) []event {
			execs++
			return []event{{At: time.Date(2026, 1, d, 12, 0, 0, 0, paris), Kind: "x"}}
		}, "days", driver.WithFormat(parquet.New()), driver.WithState()),
		driver.Node("count", func(es [][]event) int { return len(es) }, "events", driver.Collect()),
	).WithParallelism(1).WithCache(driver.CacheDir(t.TempDir()), driver.CacheLogger(logger)).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	res, err := dr.Run(context.Background(), []string{"count"}, nil, nil)
	if err != nil {
		t.Fatalf("a value the format cannot encode failed the run: %v", err)
	}
	if res.Values["count"] != 3 || execs != 3 {
		t.Fatalf("count = %v after %d executions", res.Values["count"], execs)
	}
	if len(res.Faults) != 1 || !strings.Contains(res.Faults[0].Error(), "UTC") {
		t.Fatalf("Faults = %v, want the format's error naming UTC", res.Faults)
	}
	lines := strings.Split(strings.TrimSpace(warns.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a warning and a summary, got %q", lines)
	}
	if w := lines[0]; !strings.Contains(w, "could not be encoded in its node's format") || !strings.Contains(w, "driver.WithFormat") || strings.Contains(w, "writing the result store failed") {
		t.Errorf("warning %q does not say the format could not encode the value, with the fix", w)
	}
	if s := lines[1]; !strings.Contains(s, `3 results could not be encoded (node \"events\")`) || !strings.Contains(s, "UTC") {
		t.Errorf("summary %q does not count the three tasks of events", s)
	}
	// Nothing of events was stored: the next run executes it again, and
	// says so again.
	execs = 0
	if _, err := dr.Execute(context.Background(), []string{"count"}, nil, nil); err != nil || execs != 3 {
		t.Fatalf("second run: %v, %d executions, want 3", err, execs)
	}
}
