package inspect_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/local/localtest"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/formats"
	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/internal/testflow"
)

type loadStats struct {
	Mean  float64
	Count int
	Tags  map[string][]int
}

func loadSeries(n int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = float64(i) / 2
	}
	return xs
}

func loadSummarize(xs []float64) loadStats {
	s := loadStats{Count: len(xs), Tags: map[string][]int{"n": {len(xs)}}}
	for _, x := range xs {
		s.Mean += x
	}
	if len(xs) > 0 {
		s.Mean /= float64(len(xs))
	}
	return s
}

func loadLabel(s loadStats) string { return strings.Repeat("*", s.Count) }

func loadNodes(opts ...any) []*driver.NodeDef {
	return []*driver.NodeDef{
		driver.Node("series", loadSeries, "n"),
		driver.Node("summary", loadSummarize, "series"),
		driver.Node("label", loadLabel, append([]any{"summary"}, opts...)...),
	}
}

// Load reads the value a node had in a past run: the newest run in which
// the node appears by default, or a run named by id, prefix or "last".
func TestLoad(t *testing.T) {
	ctx := context.Background()
	c := newCacheDir(t)
	first := c.Run(loadNodes(), []string{"label"}, driver.Inputs{"n": 3}, nil)
	second := c.Run(loadNodes(), []string{"label"}, driver.Inputs{"n": 5}, nil)
	// A third run without the node summary.
	c.Run(loadNodes(), []string{"series"}, driver.Inputs{"n": 7}, nil)
	ic := c.open()

	got, err := inspect.Load[loadStats](ctx, ic, "summary", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := loadSummarize(loadSeries(5)); !reflect.DeepEqual(got, want) {
		t.Errorf("latest summary = %+v, want %+v (of the second run, the newest with it)", got, want)
	}
	old, err := inspect.Load[loadStats](ctx, ic, "summary", first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := loadSummarize(loadSeries(3)); !reflect.DeepEqual(old, want) {
		t.Errorf("summary of the first run = %+v, want %+v", old, want)
	}
	xs, err := inspect.Load[[]float64](ctx, ic, "series", "last")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(xs, loadSeries(7)) {
		t.Errorf("series of the last run = %v", xs)
	}
	lbl, err := inspect.Load[string](ctx, ic, "label", second.ID[:len(second.ID)-4])
	if err != nil || lbl != "*****" {
		t.Errorf("label by run prefix = %q, %v", lbl, err)
	}

	r, err := ic.FindResult(ctx, "summary", "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Run != second.ID || r.Format != "gob" || r.Type != "inspect_test.loadStats" || !r.DataVersion.Storable() {
		t.Errorf("FindResult = %+v", r)
	}

	// Errors name the node, the run and the types.
	_, err = inspect.Load[string](ctx, ic, "series", "")
	if !errors.Is(err, inspect.ErrWrongType) || !strings.Contains(err.Error(), `node "series"`) ||
		!strings.Contains(err.Error(), "holds a []float64, not a string") {
		t.Errorf("Load[string] of a []float64: %v", err)
	}
	_, err = inspect.Load[int](ctx, ic, "nosuch", "")
	if !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), `node "nosuch" is in none of the 3 runs`) {
		t.Errorf("Load of an unknown node: %v", err)
	}
	_, err = inspect.Load[loadStats](ctx, ic, "summary", "last")
	if !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), `node "summary" is not in run`) {
		t.Errorf("Load of a node absent from the run: %v", err)
	}
	_, err = inspect.Load[int](ctx, ic, "n", "")
	if !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), "inputs are not stored") {
		t.Errorf("Load of an input: %v", err)
	}
	_, err = inspect.Load[int](ctx, ic, "series", "zzz")
	if !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), `no run "zzz"`) {
		t.Errorf("Load from an unknown run: %v", err)
	}
}

// Without the code manifest, a value of another type is still told from a
// damaged one: its bytes check out without their type.
func TestLoadWrongTypeWithoutManifest(t *testing.T) {
	ctx := context.Background()
	c := newCacheDir(t)
	c.Run(loadNodes(), []string{"label"}, driver.Inputs{"n": 3}, nil, driver.CacheCoreOptions(core.WithManifestWait(-1)))
	ic := c.open()
	r, err := ic.FindResult(ctx, "series", "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != "" {
		t.Fatalf("a run without manifests: type %q", r.Type)
	}
	for _, load := range []func() error{
		func() error { _, err := inspect.Load[string](ctx, ic, "series", ""); return err },
		func() error { _, err := inspect.Load[[]float32](ctx, ic, "series", ""); return err },
		func() error { _, err := inspect.Load[[]int](ctx, ic, "series", ""); return err },
	} {
		err := load()
		if !errors.Is(err, inspect.ErrWrongType) || errors.Is(err, core.ErrCorrupt) || !strings.Contains(err.Error(), `node "series" of run`) {
			t.Errorf("wrong type without a manifest: %v", err)
		}
	}
	if xs, err := inspect.Load[[]float64](ctx, ic, "series", ""); err != nil || len(xs) != 3 {
		t.Errorf("Load = %v, %v", xs, err)
	}
}

// A damaged result is an error naming the node and the run, never a value;
// a result no longer stored is one wrapping core.ErrNotFound.
func TestLoadDamaged(t *testing.T) {
	ctx := context.Background()
	c := newCacheDir(t)
	run := c.Run(loadNodes(), []string{"label"}, driver.Inputs{"n": 300}, nil)
	ic := c.open()
	r, err := ic.FindResult(ctx, "series", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := localtest.DamageResult(ctx, c.Path, r.ResultID(), localtest.FlipBit); err != nil {
		t.Fatal(err)
	}
	xs, err := inspect.Load[[]float64](ctx, ic, "series", "")
	if !errors.Is(err, core.ErrCorrupt) || xs != nil ||
		!strings.Contains(err.Error(), `node "series" of run `+string(run.ID)) {
		t.Errorf("Load of a damaged result = %v, %v", xs, err)
	}
	if err := ic.Results().Delete(ctx, r.ResultID()); err != nil {
		t.Fatal(err)
	}
	_, err = inspect.Load[[]float64](ctx, ic, "series", "")
	if !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), "no longer stored") {
		t.Errorf("Load of a deleted result: %v", err)
	}
}

// A node with behaviour Disable or Ignore has no stored value: the error
// says so.
func TestLoadNotStored(t *testing.T) {
	ctx := context.Background()
	for _, b := range []core.Behavior{core.Disable, core.Ignore} {
		c := newCacheDir(t)
		c.Run(loadNodes(driver.WithBehavior(b)), []string{"label"}, driver.Inputs{"n": 3}, nil)
		ic := c.open()
		_, err := inspect.Load[string](ctx, ic, "label", "")
		if !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), `node "label" has no stored value in run`) ||
			!strings.Contains(err.Error(), "its behaviour was "+b.String()) {
			t.Errorf("%v: %v", b, err)
		}
	}
}

// A task of a fan-out is named node@task; the node alone is an error that
// lists its tasks.
func TestLoadFanOut(t *testing.T) {
	ctx := context.Background()
	c := newCacheDir(t)
	c.Run(testflow.FanOut("n", "items", "total"), []string{"total"}, driver.Inputs{"n": 12}, nil)
	ic := c.open()
	for i, want := range []int{1, 4, 9, 16, 25, 36, 49, 64, 81, 100, 121, 144} {
		name := core.RecordName("square", core.TaskID("items", i))
		got, err := inspect.Load[int](ctx, ic, name, "")
		if err != nil || got != want {
			t.Errorf("Load(%s) = %d, %v; want %d", name, got, err, want)
		}
	}
	if got, err := inspect.Load[int](ctx, ic, "total", ""); err != nil || got != 650 {
		t.Errorf("Load(total) = %d, %v", got, err)
	}
	_, err := inspect.Load[int](ctx, ic, "square", "")
	if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "ran as 12 tasks in run") ||
		!strings.Contains(err.Error(), "like square@items[0], square@items[1], square@items[2], square@items[3], square@items[4] and 7 more") {
		t.Errorf("Load of a fan-out node without its task: %v", err)
	}
	_, err = inspect.Load[[]int](ctx, ic, "items", "")
	if !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), "it expands a fan-out") || !strings.Contains(err.Error(), "like square@items[0])") {
		t.Errorf("Load of the expanding node: %v", err)
	}
	_, err = inspect.Load[int](ctx, ic, "square@items[12]", "")
	if !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Load of a task that did not run: %v", err)
	}
}

func lossyTime() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600)) }

// A result that decodes to another value than the one stored (json keeps a
// time's offset, not its zone's name) is an error, never that other value.
func TestLoadLossy(t *testing.T) {
	ctx := context.Background()
	c := newCacheDir(t)
	c.Run([]*driver.NodeDef{driver.Node("at", lossyTime, driver.WithFormat(formats.JSON()))}, []string{"at"}, nil, nil)
	got, err := inspect.Load[time.Time](ctx, c.open(), "at", "")
	if !errors.Is(err, core.ErrCorrupt) || errors.Is(err, inspect.ErrWrongType) || !got.IsZero() || !strings.Contains(err.Error(), "decoded to another value") {
		t.Errorf("Load of a value json cannot keep = %v, %v", got, err)
	}
}
