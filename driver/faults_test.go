package driver_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/internal/lockedbuf"
	"github.com/flowcache/flowcache/internal/tmpfs"
)

// faultPipeline is three nodes (small, big of bigSize bytes, sum of both)
// over a cache opened by URL or path, counting executions and keeping the
// warnings of each run.
type faultPipeline struct {
	cache   string
	bigSize int
	execs   atomic.Int64
	warns   lockedbuf.Buffer
}

func (p *faultPipeline) build(t *testing.T) *driver.Driver {
	t.Helper()
	small := func(x int) int { p.execs.Add(1); return x + 1 }
	big := func(x int) []byte { p.execs.Add(1); b := make([]byte, p.bigSize); b[0] = byte(x); return b }
	sum := func(s int, b []byte) int { p.execs.Add(1); return s + int(b[0]) + len(b) }
	logger := slog.New(slog.NewTextHandler(&p.warns, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dr, err := driver.NewBuilder().WithNodes(
		driver.Node("small", small, "x", driver.WithState()),
		driver.Node("big", big, "x", driver.WithState()),
		driver.Node("sum", sum, "small", "big", driver.WithState()),
	).WithCache(driver.CacheURL(p.cache), driver.CacheLogger(logger)).Build()
	if err != nil {
		t.Fatalf("Build over %s: %v", p.cache, err)
	}
	return dr
}

// run builds a driver, runs sum for x, checks the value, and returns the
// number of executions and the warnings of the run.
func (p *faultPipeline) run(t *testing.T, x int) (int64, []string) {
	t.Helper()
	dr := p.build(t)
	defer dr.Close()
	return p.runOn(t, dr, x)
}

// runOn is run on a driver built before.
func (p *faultPipeline) runOn(t *testing.T, dr *driver.Driver, x int) (int64, []string) {
	t.Helper()
	p.execs.Store(0)
	n := len(p.warns.Lines())
	out, err := dr.Execute(context.Background(), []string{"sum"}, driver.Inputs{"x": x}, nil)
	if err != nil {
		t.Fatalf("a cache fault failed the run: %v", err)
	}
	if want := 2*x + 1 + p.bigSize; out["sum"] != want {
		t.Fatalf("sum = %v, want %d", out["sum"], want)
	}
	return p.execs.Load(), p.warns.Lines()[n:]
}

func wantWarning(t *testing.T, warns []string, parts ...string) {
	t.Helper()
	if len(warns) != 1 {
		t.Fatalf("want one warning, got %d: %q", len(warns), warns)
	}
	for _, s := range parts {
		if !strings.Contains(warns[0], s) {
			t.Errorf("the warning does not say %q: %s", s, warns[0])
		}
	}
}

// A cache that cannot be opened does not fail the build nor the runs: they
// compute everything and say why once each; a URL that is wrong still
// fails the build.
func TestCacheCannotBeOpened(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("not a directory"), 0o644)
	p := &faultPipeline{cache: filepath.Join(file, "cache"), bigSize: 10}
	for range 2 {
		execs, warns := p.run(t, 1)
		if execs != 3 {
			t.Errorf("%d executions, want 3", execs)
		}
		wantWarning(t, warns, "the cache is unavailable", "not a directory", file)
	}
	for _, u := range []string{"nosuchscheme://x", filepath.Join(t.TempDir(), "c") + "?mode=maybe", filepath.Join(t.TempDir(), "c") + "?nope=1"} {
		_, err := driver.NewBuilder().WithNodes(driver.Node("a", A1)).WithCache(driver.CacheURL(u)).Build()
		if !errors.Is(err, core.ErrInvalid) {
			t.Errorf("Build with %s = %v, want ErrInvalid", u, err)
		}
	}
}

// mode=ro on a writable directory: hits are served, nothing executes, the
// run says once that it stores nothing, and no byte of the cache changes.
func TestReadOnlyCacheURL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	p := &faultPipeline{cache: dir, bigSize: 64 << 10}
	if execs, warns := p.run(t, 1); execs != 3 || len(warns) != 0 {
		t.Fatalf("cold run: %d executions, warnings %q", execs, warns)
	}
	before, _ := tmpfs.TreeHash(t, dir)
	p.cache = dir + "?mode=ro"
	execs, warns := p.run(t, 1)
	if execs != 0 {
		t.Errorf("%d executions over a read-only cache holding every result", execs)
	}
	wantWarning(t, warns, "read-only", "stores nothing", dir, "mode=ro")
	// A miss computes and stores nothing.
	if execs, _ := p.run(t, 2); execs != 3 {
		t.Errorf("%d executions for a new input", execs)
	}
	after, sqlite := tmpfs.TreeHash(t, dir)
	if after != before {
		t.Error("a run over mode=ro changed the cache directory")
	}
	for name, size := range sqlite {
		if strings.HasSuffix(name, "-wal") && size != 0 {
			t.Errorf("%s holds %d bytes after read-only runs", name, size)
		}
	}
	p.cache = dir
	if execs, _ := p.run(t, 2); execs != 3 {
		t.Errorf("input 2 was stored by a read-only run: %d executions", execs)
	}
}

// Node and dependency names that are not valid UTF-8 are refused at Build,
// naming the name.
func TestInvalidUTF8NodeNames(t *testing.T) {
	for _, tc := range []struct {
		node *driver.NodeDef
		want string
	}{
		{driver.Node("a\xff", A1), `"a\xff"`},
		{driver.Node("b", B, "in\xc3("), `"in\xc3("`},
	} {
		_, err := driver.NewBuilder().WithNodes(tc.node).WithCache(driver.CacheDir(t.TempDir())).Build()
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "UTF-8") {
			t.Errorf("Build = %v, want an error naming %s", err, tc.want)
		}
	}
}

func Données(entrée int) int { return entrée * 3 }

// Names in any script, valid UTF-8, are stored and found again.
func TestUnicodeNodeNamesRetrieved(t *testing.T) {
	dir := t.TempDir()
	for i, want := range []string{"executed", "retrieved"} {
		dr, err := driver.NewBuilder().WithNodes(driver.Node("données_名前_🙂", Données, "entrée")).WithCache(driver.CacheDir(dir)).Build()
		if err != nil {
			t.Fatal(err)
		}
		out, err := dr.Execute(context.Background(), []string{"données_名前_🙂"}, driver.Inputs{"entrée": 2}, nil)
		if err != nil || out["données_名前_🙂"] != 6 {
			t.Fatalf("run %d: %v, %v", i, out, err)
		}
		run, _ := dr.Cache().LastRunID(context.Background())
		got := "executed"
		for _, e := range dr.Cache().Events(slog.LevelInfo, run) {
			if e.Type == core.EventGetResult && e.Message == "hit" {
				got = "retrieved"
			}
		}
		if got != want {
			t.Errorf("run %d: the node was %s, want %s", i, got, want)
		}
		dr.Close()
	}
}
