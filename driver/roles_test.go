package driver_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/internal/testflow"
)

var roleX, roleB atomic.Int64

func RoleX() int      { roleX.Add(1); return 7 }
func RoleB(x int) int { roleB.Add(1); return x * 2 }

// Hamilton's precedence, through a real local cache: the behaviour X ends
// up with is seen in what two runs of X → B execute and store.
func TestRolePrecedence(t *testing.T) {
	// What two runs do, per behaviour of X: executions of X, of B, and the
	// entries stored.
	type seen struct{ x, b, entries int }
	byBehavior := map[core.Behavior]seen{
		core.Default:   {1, 1, 2},
		core.Recompute: {2, 1, 2},
		core.Disable:   {2, 2, 2}, // B once per run, under a new version of X each time
		core.Ignore:    {2, 1, 1},
	}
	cases := []struct {
		name string
		opts []driver.NodeOption
		with []driver.CacheOption
		want core.Behavior
	}{
		{"loader, nothing set", []driver.NodeOption{driver.Loader()}, nil, core.Default},
		{"loader default", []driver.NodeOption{driver.Loader()},
			[]driver.CacheOption{driver.DefaultLoaderBehavior(core.Recompute)}, core.Recompute},
		{"loader default falls back to the build default", []driver.NodeOption{driver.Loader()},
			[]driver.CacheOption{driver.DefaultBehavior(core.Disable), driver.DefaultNodes("B")}, core.Disable},
		{"loader default beats the build default", []driver.NodeOption{driver.Loader()},
			[]driver.CacheOption{driver.DefaultBehavior(core.Disable), driver.DefaultNodes("B"), driver.DefaultLoaderBehavior(core.Recompute)}, core.Recompute},
		{"own behaviour beats the loader default", []driver.NodeOption{driver.Loader(), driver.WithBehavior(core.Ignore)},
			[]driver.CacheOption{driver.DefaultLoaderBehavior(core.Recompute)}, core.Ignore},
		{"list beats own behaviour and loader default", []driver.NodeOption{driver.Loader(), driver.WithBehavior(core.Ignore)},
			[]driver.CacheOption{driver.DefaultLoaderBehavior(core.Recompute), driver.Disable("X")}, core.Disable},
		{"default list beats the loader default", []driver.NodeOption{driver.Loader()},
			[]driver.CacheOption{driver.DefaultLoaderBehavior(core.Recompute), driver.DefaultNodes("X")}, core.Default},
		{"all nodes list beats the loader default", []driver.NodeOption{driver.Loader()},
			[]driver.CacheOption{driver.DefaultLoaderBehavior(core.Recompute), driver.DefaultNodes(driver.AllNodes)}, core.Default},
		{"saver default", []driver.NodeOption{driver.Saver()},
			[]driver.CacheOption{driver.DefaultSaverBehavior(core.Disable)}, core.Disable},
		{"saver default is not the loader's", []driver.NodeOption{driver.Saver()},
			[]driver.CacheOption{driver.DefaultLoaderBehavior(core.Recompute)}, core.Default},
		{"own behaviour beats the saver default", []driver.NodeOption{driver.Saver(), driver.WithBehavior(core.Recompute)},
			[]driver.CacheOption{driver.DefaultSaverBehavior(core.Disable)}, core.Recompute},
		{"no role: neither default", nil,
			[]driver.CacheOption{driver.DefaultLoaderBehavior(core.Recompute), driver.DefaultSaverBehavior(core.Disable)}, core.Default},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			roleX.Store(0)
			roleB.Store(0)
			p := newPipeline(t)
			nodes := []*driver.NodeDef{driver.Node("X", RoleX, anys(c.opts)...), driver.Node("B", RoleB, "X")}
			var r runResult
			for range 2 {
				r = p.run(nodes, []string{"B"}, nil, nil, c.with...)
				wantOut(t, r, "B", 14)
			}
			resolved := 0
			for _, e := range r.events {
				if e.Node == "X" && e.Type == core.EventResolveBehavior {
					resolved++
					if e.Value != c.want.String() {
						t.Errorf("resolve_behavior of X: %s, want %s", e.Value, c.want)
					}
				}
			}
			if resolved != 1 {
				t.Errorf("%d resolve_behavior events of X in a run, want 1", resolved)
			}
			got := seen{int(roleX.Load()), int(roleB.Load()), p.entries()}
			if w := byBehavior[c.want]; got != w {
				t.Errorf("two runs: X executed %d times, B %d, %d entries stored; want %d, %d, %d (%s)",
					got.x, got.b, got.entries, w.x, w.b, w.entries, c.want)
			}
		})
	}
}

func anys(opts []driver.NodeOption) []any {
	out := make([]any, len(opts))
	for i, o := range opts {
		out[i] = o
	}
	return out
}

var readN, cleanN, statsN atomic.Int64

func ReadText(path string) (string, error) {
	readN.Add(1)
	b, err := os.ReadFile(path)
	return string(b), err
}

func CleanText(s string) string { cleanN.Add(1); return strings.ToLower(strings.TrimSpace(s)) }

func WordCount(s string) int { statsN.Add(1); return len(strings.Fields(s)) }

// Hamilton's typical use: loaders Recompute. The loader reads its file in
// every run; while the file is unchanged its dependants are retrieved, and
// a change is seen at once. With the Default behaviour the loader would be
// retrieved and the change missed.
func TestLoaderRecomputeRetrievesDependants(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.txt")
	if err := os.WriteFile(path, []byte("To be or not"), 0o644); err != nil {
		t.Fatal(err)
	}
	nodes := []*driver.NodeDef{
		driver.Node("raw", ReadText, "path", driver.Loader()),
		driver.Node("clean", CleanText, "raw"),
		driver.Node("count", WordCount, "clean"),
	}
	in := driver.Inputs{"path": path}
	counts := func() [3]int64 { return [3]int64{readN.Swap(0), cleanN.Swap(0), statsN.Swap(0)} }
	counts()

	p := newPipeline(t)
	loaders := driver.DefaultLoaderBehavior(core.Recompute)
	r := p.run(nodes, []string{"count"}, in, nil, loaders)
	wantOut(t, r, "count", 4)
	if got := counts(); got != [3]int64{1, 1, 1} {
		t.Fatalf("cold run executed raw, clean, count %v times, want once each", got)
	}
	r = p.run(nodes, []string{"count"}, in, nil, loaders)
	wantOut(t, r, "count", 4)
	want(t, r, "raw", "executed")
	want(t, r, "clean", "retrieved")
	want(t, r, "count", "retrieved")
	if got := counts(); got != [3]int64{1, 0, 0} {
		t.Fatalf("warm run, same file: executed raw, clean, count %v times, want 1, 0, 0", got)
	}
	if err := os.WriteFile(path, []byte("to be or not to be"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = p.run(nodes, []string{"count"}, in, nil, loaders)
	wantOut(t, r, "count", 6)
	if got := counts(); got != [3]int64{1, 1, 1} {
		t.Fatalf("changed file: executed raw, clean, count %v times, want once each", got)
	}

	// The same graph without the loader default: the loader is retrieved,
	// and the next change of the file is not seen.
	if err := os.WriteFile(path, []byte("to be"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = p.run(nodes, []string{"count"}, in, nil)
	wantOut(t, r, "count", 6)
	want(t, r, "raw", "retrieved")
}

var savedN atomic.Int64

// SaveText writes s to path and returns what it wrote: the path and size,
// not a time, so that its data version is stable.
func SaveText(s, path string) (string, error) {
	savedN.Add(1)
	return path, os.WriteFile(path, []byte(s), 0o644)
}

// A saver with DefaultSaverBehavior(core.Disable) writes in every run; with
// the Default behaviour it is retrieved while its inputs are unchanged, and
// a file deleted behind the cache's back stays deleted.
func TestSaverDefaultBehavior(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.txt")
	nodes := []*driver.NodeDef{
		driver.Node("clean", CleanText, "text"),
		driver.Node("save", SaveText, "clean", "out", driver.Saver()),
	}
	in := driver.Inputs{"text": " Hello ", "out": out}
	t.Run("disable", func(t *testing.T) {
		p := newPipeline(t)
		savedN.Store(0)
		for i := range 3 {
			os.Remove(out)
			r := p.run(nodes, []string{"save"}, in, nil, driver.DefaultSaverBehavior(core.Disable))
			wantOut(t, r, "save", out)
			want(t, r, "save", "executed")
			if i > 0 {
				want(t, r, "clean", "retrieved")
			}
			if b, err := os.ReadFile(out); err != nil || string(b) != "hello" {
				t.Fatalf("run %d: %s = %q, %v; want it written", i+1, out, b, err)
			}
		}
		if n := savedN.Load(); n != 3 {
			t.Fatalf("saver executed %d times in 3 runs, want 3", n)
		}
	})
	t.Run("default", func(t *testing.T) {
		p := newPipeline(t)
		savedN.Store(0)
		for range 2 {
			os.Remove(out)
			r := p.run(nodes, []string{"save"}, in, nil)
			wantOut(t, r, "save", out)
		}
		if n := savedN.Load(); n != 1 {
			t.Fatalf("saver executed %d times in 2 runs, want 1 (retrieved)", n)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s was written again: %v", out, err)
		}
	})
}

var listN, readItemN atomic.Int64

func ListItems(n int) []int { listN.Add(1); return testflow.Items(n) }

func ReadItem(x int) int { readItemN.Add(1); return x * x }

// Roles in a fan-out: an expanding loader is executed in every run (as any
// expanding node); a loader in the branch is recomputed per item, and the
// Collect node is retrieved while the items read the same.
func TestRolesInFanOut(t *testing.T) {
	p := newPipeline(t)
	nodes := []*driver.NodeDef{
		driver.Node("files", ListItems, "n", driver.Expand(), driver.Loader()),
		driver.Node("read", ReadItem, "files", driver.Loader()),
		driver.Node("total", testflow.Sum, "read", driver.Collect(), driver.Saver()),
	}
	in := driver.Inputs{"n": 3}
	opts := []driver.CacheOption{driver.DefaultLoaderBehavior(core.Recompute), driver.DefaultSaverBehavior(core.Default)}
	listN.Store(0)
	readItemN.Store(0)
	p.run(nodes, []string{"total"}, in, nil, opts...)
	r := p.run(nodes, []string{"total"}, in, nil, opts...)
	wantOut(t, r, "total", 14)
	want(t, r, "total", "retrieved")
	if l, n := listN.Load(), readItemN.Load(); l != 2 || n != 6 {
		t.Fatalf("two runs: files executed %d times, read %d; want 2 and 6 (every run, every item)", l, n)
	}
}

// An override stands in for a loader: it is not executed, whatever its
// behaviour.
func TestLoaderOverride(t *testing.T) {
	p := newPipeline(t)
	readN.Store(0)
	nodes := []*driver.NodeDef{
		driver.Node("raw", ReadText, "path", driver.Loader()),
		driver.Node("count", WordCount, "raw"),
	}
	r := p.run(nodes, []string{"count"}, nil, driver.Overrides{"raw": "a b c"}, driver.DefaultLoaderBehavior(core.Recompute))
	wantOut(t, r, "count", 3)
	if n := readN.Load(); n != 0 {
		t.Fatalf("overridden loader executed %d times", n)
	}
}

func TestRoleBuildErrors(t *testing.T) {
	cases := []struct {
		name  string
		nodes []*driver.NodeDef
		opts  []driver.CacheOption
		want  string
	}{
		{"loader and saver", []*driver.NodeDef{driver.Node("io", A1, driver.Loader(), driver.Saver())}, nil,
			`node "io": Loader and Saver on one node`},
		{"loader and saver without a cache", []*driver.NodeDef{driver.Node("io", A1, driver.Saver(), driver.Loader())}, nil,
			`node "io": Loader and Saver on one node`},
		{"unset loader default", []*driver.NodeDef{driver.Node("A", A1)}, []driver.CacheOption{driver.DefaultLoaderBehavior(core.Unset)},
			"DefaultLoaderBehavior(unset): not a behavior"},
		{"bad saver default", []*driver.NodeDef{driver.Node("A", A1)}, []driver.CacheOption{driver.DefaultSaverBehavior(core.Behavior(9))},
			"DefaultSaverBehavior(Behavior(9)): not a behavior"},
		{"unset build default", []*driver.NodeDef{driver.Node("A", A1)}, []driver.CacheOption{driver.DefaultBehavior(core.Unset)},
			"DefaultBehavior(unset): not a behavior"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := driver.NewBuilder().WithNodes(c.nodes...)
			if i != 1 {
				b.WithCache(append([]driver.CacheOption{driver.CacheDir(t.TempDir())}, c.opts...)...)
			}
			dr, err := b.BuildContext(context.Background())
			if err == nil {
				dr.Close()
				t.Fatal("Build succeeded")
			}
			if !strings.Contains(err.Error(), c.want) || !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("Build: %v; want core.ErrInvalid containing %q", err, c.want)
			}
		})
	}
}
