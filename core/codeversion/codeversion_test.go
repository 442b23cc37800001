package codeversion

import (
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const pkgPath = "github.com/flowcache/flowcache/core/codeversion"

// Functions whose versions the tests compute through Of.

func double(x int) int { return x * 2 }

// doubleAgain has the code of double under another name and layout.
func doubleAgain(x int) int {
	return x *
		2 // the factor
}

func triple(x int) int { return x * 3 }

type counter struct{ n int }

func (c counter) Get() int { return c.n }

func makeAdder(k int) func(int) int {
	return func(x int) int { return x + k }
}

var pkgClosure = func() string { return "pkg" }

// thisFile is the absolute path of this file, "" without source.
var thisFile = func() string {
	info, err := Of(double)
	if err != nil {
		panic(err)
	}
	return info.File
}()

func requireSource(t *testing.T) {
	t.Helper()
	if thisFile == "" {
		t.Skip("no source path (built with -trimpath?)")
	}
}

func mustOf(t *testing.T, r *resolver, fn any) Info {
	t.Helper()
	requireSource(t)
	info, err := r.of(fn)
	if err != nil {
		t.Fatalf("Of: %v", err)
	}
	if !info.FromSource {
		t.Fatalf("Of(%s): not from source: %s", info.Func, info.Fallback)
	}
	if len(info.Version) != 64 || strings.Trim(info.Version, "0123456789abcdef") != "" {
		t.Fatalf("Of(%s): version %q is not 64 lowercase hex digits", info.Func, info.Version)
	}
	return info
}

func TestOfFunctions(t *testing.T) {
	r := newResolver()
	d := mustOf(t, r, double)
	if d.Func != pkgPath+".double" || filepath.Base(d.File) != "codeversion_test.go" {
		t.Errorf("Info %+v", d)
	}
	if da := mustOf(t, r, doubleAgain); da.Version != d.Version {
		t.Errorf("double and doubleAgain differ only in name, comments and layout, yet their versions differ")
	}
	if tr := mustOf(t, r, triple); tr.Version == d.Version {
		t.Errorf("double and triple share a version")
	}
	if g := mustOf(t, r, counter.Get); g.Receiver != "" || len(g.Captured) != 0 {
		t.Errorf("method expression: %+v, want no state", g)
	}
	if p := mustOf(t, r, pkgClosure); len(p.Captured) != 0 {
		t.Errorf("package closure: captured %v", p.Captured)
	}
}

func TestOfState(t *testing.T) {
	r := newResolver()
	add := mustOf(t, r, makeAdder(1))
	if len(add.Captured) != 1 || add.Captured[0] != "k" {
		t.Errorf("closure of makeAdder: Captured %v, want [k]", add.Captured)
	}
	if add2 := mustOf(t, r, makeAdder(2)); add2.Version != add.Version {
		t.Errorf("two closures of one literal differ in version")
	}
	c := counter{n: 3}
	mv := mustOf(t, r, c.Get)
	if mv.Receiver != pkgPath+".counter" {
		t.Errorf("method value: Receiver %q", mv.Receiver)
	}
	if me := mustOf(t, r, counter.Get); me.Version != mv.Version {
		t.Errorf("method value and method expression of one method differ")
	}
}

func TestOfNotAFunc(t *testing.T) {
	var nilFunc func(int) error
	for _, tt := range []struct {
		arg  any
		want string
	}{
		{nil, "nil"},
		{42, "int"},
		{&counter{}, "*codeversion.counter"},
		{nilFunc, "func(int) error"},
	} {
		_, err := Of(tt.arg)
		if !errors.Is(err, ErrNotFunc) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Of(%#v): error %v, want ErrNotFunc naming %q", tt.arg, err, tt.want)
		}
	}
}

// TestOfPersistedTable checks that a second process (resolver) with the
// same source and build reads the versions from the table without parsing,
// and that a damaged table is ignored.
func TestOfPersistedTable(t *testing.T) {
	requireSource(t)
	tables := t.TempDir()
	newR := func() (*resolver, *atomic.Int32) {
		r := newResolver()
		r.tables = tables
		var reads atomic.Int32
		r.readFile = func(p string) ([]byte, error) {
			if strings.HasSuffix(p, ".go") {
				reads.Add(1)
			}
			return os.ReadFile(p)
		}
		return r, &reads
	}
	r1, reads1 := newR()
	want := mustOf(t, r1, double)
	add := mustOf(t, r1, makeAdder(1))
	if reads1.Load() == 0 {
		t.Fatal("the first resolver read no source")
	}
	r1.saveTables()
	files, _ := filepath.Glob(filepath.Join(tables, "*.table"))
	if len(files) != 1 {
		t.Fatalf("tables %v, want one", files)
	}
	r2, reads2 := newR()
	if got := mustOf(t, r2, double); got.Version != want.Version {
		t.Errorf("version from the table %s, want %s", got.Version, want.Version)
	}
	if got := mustOf(t, r2, makeAdder(1)); got.Version != add.Version || len(got.Captured) != 1 {
		t.Errorf("closure from the table: %+v, want %+v", got, add)
	}
	if n := reads2.Load(); n != 0 {
		t.Errorf("the second resolver read %d source files; the table should have served it", n)
	}
	// Damage every byte in turn in a few places: never used, never a panic.
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int{len(tableMagic) + 3, len(b) / 2, len(b) - 1} {
		bad := append([]byte(nil), b...)
		bad[off] ^= 0x40
		if err := os.WriteFile(files[0], bad, 0o600); err != nil {
			t.Fatal(err)
		}
		r3, reads3 := newR()
		if got := mustOf(t, r3, double); got.Version != want.Version {
			t.Errorf("byte %d damaged: version %s, want %s", off, got.Version, want.Version)
		}
		if reads3.Load() == 0 {
			t.Errorf("byte %d damaged: the table was used", off)
		}
	}
	for n := range len(b) {
		if _, _, ok := decodeTable(b[:n], [32]byte{}); ok {
			t.Fatalf("a table cut to %d bytes decodes", n)
		}
	}
}

// TestOfStaleSource checks that source newer than the executable is not
// taken for the running code's.
func TestOfStaleSource(t *testing.T) {
	requireSource(t)
	r := newResolver()
	r.executable = func() (string, time.Time, error) {
		return "/opt/app/bin/pipeline", time.Unix(1, 0), nil
	}
	info, err := r.of(double)
	if err != nil {
		t.Fatal(err)
	}
	if info.FromSource || !strings.Contains(info.Fallback, "changed after the executable") {
		t.Errorf("source newer than the executable: %+v", info)
	}
	if src := mustOf(t, newResolver(), double); src.Version == info.Version {
		t.Errorf("the fallback version equals the source version")
	}
	// A binary that go run or go test just built is fresh.
	r = newResolver()
	r.executable = func() (string, time.Time, error) {
		return "/tmp/go-build123/b001/exe/pipeline", time.Unix(1, 0), nil
	}
	mustOf(t, r, double)
}

func TestFallbackLocations(t *testing.T) {
	r := newResolver()
	r.buildInfo = func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/flowcache/flowcache"},
			Deps: []*debug.Module{{Path: "example.com/dep", Version: "v1.0.0", Sum: "h1:x"}}}, true
	}
	r.exeHash = func() (string, error) { return "exe", nil }
	trim := r.info(location{name: "example.com/dep/sub.F", file: "example.com/dep/sub/f.go", line: 3, exact: true})
	if trim.FromSource || !strings.Contains(trim.Fallback, "-trimpath") || !strings.Contains(trim.Fallback, "example.com/dep@v1.0.0") || trim.MayCapture {
		t.Errorf("trimpath: %+v", trim)
	}
	noMod := filepath.Join(t.TempDir(), "f.go")
	if err := os.WriteFile(noMod, []byte("package p\nfunc F() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if info := r.info(location{name: "p.F", file: noMod, line: 2, exact: true}); info.FromSource || !strings.Contains(info.Fallback, "go.mod") {
		t.Errorf("no module: %+v", info)
	}
	if thisFile != "" {
		moved := r.info(location{name: pkgPath + ".TestFallbackLocations.func1", file: thisFile, line: 1, exact: true})
		if moved.FromSource || !strings.Contains(moved.Fallback, "line 1") || !moved.MayCapture {
			t.Errorf("moved closure: %+v", moved)
		}
	}
}

func TestXValues(t *testing.T) {
	got := xValues(`-s -w -X main.version=1.2 -X 'example.com/m/cfg.Name=a b' -X=main.other=x`)
	want := map[string]string{"main.version": "1.2", "example.com/m/cfg.Name": "a b", "main.other": "x"}
	if len(got) != len(want) {
		t.Fatalf("xValues = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("xValues[%q] = %q, want %q", k, got[k], v)
		}
	}
}

func TestTrimTables(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	for name, age := range map[string]time.Duration{"old.table": 40 * 24 * time.Hour, "new.table": time.Hour, "other.txt": 90 * 24 * time.Hour} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, now.Add(-age), now.Add(-age))
	}
	trimTables(dir, now)
	for name, want := range map[string]bool{"old.table": false, "new.table": true, "other.txt": true, "trim.txt": true} {
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", name, err == nil, want)
		}
	}
	// Within a day of the last trim, nothing is looked at.
	p := filepath.Join(dir, "new.table")
	os.Chtimes(p, now.Add(-50*24*time.Hour), now.Add(-50*24*time.Hour))
	trimTables(dir, now.Add(time.Hour))
	if _, err := os.Stat(p); err != nil {
		t.Errorf("trimmed twice in a day")
	}
}

// Explain may run in several goroutines at once (two drivers of one
// process storing their code manifests): each gets the parts. (The race
// that was there — the embedded files a version reads, noted in the
// module's state outside its lock — needs a function that reaches a
// //go:embed variable; driver's TestCacheURLLeaseTTL met it under -race.)
func TestExplainConcurrent(t *testing.T) {
	r := newResolver()
	want := mustOf(t, r, triple)
	var wg sync.WaitGroup
	for _, fn := range []any{double, triple, doubleAgain, double, triple, doubleAgain} {
		wg.Go(func() {
			parts, err := r.explain(fn)
			if err != nil || len(parts) == 0 {
				t.Errorf("explain: %d parts, %v", len(parts), err)
			}
		})
	}
	wg.Wait()
	if again := mustOf(t, r, triple); again.Version != want.Version {
		t.Errorf("triple's version changed under concurrent Explain: %s, then %s", want.Version, again.Version)
	}
}
