package codeversion

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
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

func (c *counter) Inc() { c.n++ }

func (c counter) Closure() func() int {
	return func() int { return c.n + 1 }
}

type hidden struct{ n int }

// Hidden is only ever used as a method value.
func (h hidden) Hidden() int { return h.n * 7 }

func gmap[T any](xs []T, f func(T) T) []T {
	out := make([]T, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

var pkgClosure = func() string { return "pkg" }

func makeAdder(k int) func(int) int {
	return func(x int) int { return x + k }
}

// thisFile is the absolute path of this file.
var thisFile = func() string {
	info, err := Of(double)
	if err != nil {
		panic(err)
	}
	return info.File // "" without source
}()

// declLine returns the line of this file that starts with prefix.
func declLine(t *testing.T, prefix string) int {
	t.Helper()
	requireSource(t)
	b, err := os.ReadFile(thisFile)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), prefix) {
			return i + 1
		}
	}
	t.Fatalf("no line starts with %q", prefix)
	return 0
}

// requireSource skips tests that need the source of this package, which a
// test binary built with -trimpath does not know where to find.
func requireSource(t *testing.T) {
	t.Helper()
	if thisFile == "" {
		t.Skip("no source path (built with -trimpath?)")
	}
}

func mustOf(t *testing.T, fn any) Info {
	t.Helper()
	requireSource(t)
	info, err := Of(fn)
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

func TestOfTopLevel(t *testing.T) {
	d := mustOf(t, double)
	if d.Func != pkgPath+".double" {
		t.Errorf("Func = %q", d.Func)
	}
	if filepath.Base(d.File) != "codeversion_test.go" || !filepath.IsAbs(d.File) {
		t.Errorf("File = %q", d.File)
	}
	if want := declLine(t, "func double("); d.Line != want {
		t.Errorf("Line = %d, want %d", d.Line, want)
	}
	if d.Fallback != "" {
		t.Errorf("Fallback = %q for a version from source", d.Fallback)
	}
	if again := mustOf(t, double); again != d {
		t.Errorf("second Of differs: %+v != %+v", again, d)
	}
	// Same code under another name and layout: same version.
	if a := mustOf(t, doubleAgain); a.Version != d.Version {
		t.Errorf("doubleAgain %s != double %s", a.Version, d.Version)
	}
	if tr := mustOf(t, triple); tr.Version == d.Version {
		t.Errorf("triple and double have one version")
	}
}

func TestOfMethods(t *testing.T) {
	get := mustOf(t, counter.Get)
	if get.Func != pkgPath+".counter.Get" {
		t.Errorf("Func = %q", get.Func)
	}
	c := counter{n: 1}
	pc := &counter{n: 2}
	for name, fn := range map[string]any{
		"method expression through pointer": (*counter).Get,
		"method value":                      c.Get,
		"method value through pointer":      pc.Get,
	} {
		info := mustOf(t, fn)
		if info.Version != get.Version || info.File != get.File || info.Line != get.Line {
			t.Errorf("%s (%s): %+v, want the version and place of counter.Get %+v", name, info.Func, info, get)
		}
	}
	inc := mustOf(t, (*counter).Inc)
	if inc.Version == get.Version {
		t.Errorf("Inc and Get have one version")
	}
	if v := mustOf(t, pc.Inc); v.Version != inc.Version {
		t.Errorf("method value pc.Inc %s != (*counter).Inc %s", v.Version, inc.Version)
	}
	// A method only used as a method value: the wrapper is all the runtime
	// has, the source is still found.
	h := mustOf(t, hidden{n: 1}.Hidden)
	if want := declLine(t, "func (h hidden) Hidden("); h.Line != want {
		t.Errorf("hidden.Hidden: line %d, want %d (%+v)", h.Line, want, h)
	}
	// A closure inside a method.
	cl := mustOf(t, c.Closure())
	if want := declLine(t, "return func() int { return c.n + 1 }"); cl.Line != want {
		t.Errorf("closure in method: line %d, want %d (%s)", cl.Line, want, cl.Func)
	}
	if m := mustOf(t, counter.Closure); m.Version == cl.Version {
		t.Errorf("a method and its closure have one version")
	}
}

func TestOfGeneric(t *testing.T) {
	i := mustOf(t, gmap[int])
	s := mustOf(t, gmap[string])
	if i.Version != s.Version {
		t.Errorf("instantiations differ: %s %s", i.Version, s.Version)
	}
	if want := declLine(t, "func gmap["); i.Line != want {
		t.Errorf("gmap: line %d, want %d", i.Line, want)
	}
}

func TestOfClosures(t *testing.T) {
	a := func() int { return 1 }
	b := func() int { return 2 }
	c := func() int { return 1 }
	va, vb, vc := mustOf(t, a), mustOf(t, b), mustOf(t, c)
	if va.Version == vb.Version {
		t.Errorf("two closures with different bodies have one version")
	}
	// Identical text: identical code, so one version (documented).
	if va.Version != vc.Version {
		t.Errorf("two closures with the same text differ")
	}
	if va.Line == vc.Line || va.Func == vc.Func {
		t.Errorf("closures a and c not told apart: %+v %+v", va, vc)
	}
	if want := declLine(t, "a := func() int { return 1 }"); va.Line != want {
		t.Errorf("closure a: line %d, want %d", va.Line, want)
	}
	// Two literals on one line, resolved by their index in the name.
	d, e := func() int { return 3 }, func() int { return 4 }
	vd, ve := mustOf(t, d), mustOf(t, e)
	if vd.Version == ve.Version {
		t.Errorf("two closures on one line have one version (%s, %s)", vd.Func, ve.Func)
	}
	// Captured values are data, not code.
	if x, y := mustOf(t, makeAdder(1)), mustOf(t, makeAdder(2)); x.Version != y.Version {
		t.Errorf("closures of one literal differ")
	}
	p := mustOf(t, pkgClosure)
	if want := declLine(t, "var pkgClosure ="); p.Line != want {
		t.Errorf("package-level closure: line %d, want %d (%s)", p.Line, want, p.Func)
	}
	nested := func() func() string { return func() string { return "in" } }
	vn, vi := mustOf(t, nested), mustOf(t, nested())
	if vn.Version == vi.Version || vn.Line != vi.Line {
		t.Errorf("nested closures on one line: %+v %+v", vn, vi)
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
		{"double", "string"},
		{&counter{}, "*codeversion.counter"},
		{nilFunc, "func(int) error"},
	} {
		_, err := Of(tt.arg)
		if !errors.Is(err, ErrNotFunc) {
			t.Errorf("Of(%#v): error %v, want ErrNotFunc", tt.arg, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Of(%#v): error %q does not name %q", tt.arg, err, tt.want)
		}
	}
}

// fakeBuild returns build information for module example.com/app with the
// given VCS settings and one dependency.
func fakeBuild(revision, modified, depVersion string) func() (*debug.BuildInfo, bool) {
	return func() (*debug.BuildInfo, bool) {
		bi := &debug.BuildInfo{
			GoVersion: "go1.26.8",
			Main:      debug.Module{Path: pkgPath[:strings.Index(pkgPath, "/core")], Version: "(devel)"},
			Deps:      []*debug.Module{{Path: "example.com/dep", Version: depVersion, Sum: "h1:x"}},
		}
		if revision != "" {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: "vcs.revision", Value: revision})
		}
		if modified != "" {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: "vcs.modified", Value: modified})
		}
		return bi, true
	}
}

// missingSource returns a resolver that sees no source files.
func missingSource(build func() (*debug.BuildInfo, bool), exe func() (string, error)) *resolver {
	r := newResolver()
	r.stat = func(string) (fs.FileInfo, error) { return nil, fs.ErrNotExist }
	r.buildInfo = build
	r.exeHash = exe
	return r
}

func noExe() (string, error) { return "", errors.New("test: executable not read") }

func TestFallbackMissingSource(t *testing.T) {
	requireSource(t)
	r := missingSource(fakeBuild("abc123", "false", "v1.0.0"), noExe)
	info, err := r.of(double)
	if err != nil {
		t.Fatal(err)
	}
	if info.FromSource || info.File != "" {
		t.Errorf("FromSource %v File %q, want a fallback", info.FromSource, info.File)
	}
	if !strings.Contains(info.Fallback, "not found") || !strings.Contains(info.Fallback, "codeversion_test.go") ||
		!strings.Contains(info.Fallback, "abc123") {
		t.Errorf("Fallback = %q, want the missing file and the revision", info.Fallback)
	}
	if len(info.Version) != 64 || info.Func != pkgPath+".double" {
		t.Errorf("fallback info %+v", info)
	}
	if src := mustOf(t, double); src.Version == info.Version {
		t.Errorf("fallback version equals the source version")
	}
	// Deterministic: the same build gives the same version, in this and in
	// another resolver (another process).
	again, _ := r.of(double)
	other, _ := missingSource(fakeBuild("abc123", "false", "v1.0.0"), noExe).of(double)
	if again != info || other != info {
		t.Errorf("fallback is not deterministic: %+v %+v %+v", info, again, other)
	}
	// The function's name counts; doubleAgain has the same source code but
	// without the source nothing says so.
	if da, _ := r.of(doubleAgain); da.Version == info.Version {
		t.Errorf("two functions share a fallback version")
	}
	// Another revision or a dirty tree: another version.
	rev, _ := missingSource(fakeBuild("def456", "false", "v1.0.0"), noExe).of(double)
	if rev.Version == info.Version {
		t.Errorf("another revision, same fallback version")
	}
	// A dependency's version does not concern a main-module function.
	dep, _ := missingSource(fakeBuild("abc123", "false", "v2.0.0"), noExe).of(double)
	if dep.Version != info.Version {
		t.Errorf("a dependency's version changed a main-module fallback version")
	}
}

func TestFallbackExecutableHash(t *testing.T) {
	var calls atomic.Int32
	exe := func(sum string) func() (string, error) {
		return func() (string, error) { calls.Add(1); return sum, nil }
	}
	// A clean revision identifies the code: the executable is not read.
	missingSource(fakeBuild("abc123", "false", "v1.0.0"), exe("e1")).of(double)
	if calls.Load() != 0 {
		t.Errorf("executable hashed with a clean revision")
	}
	// Without a revision or with a modified tree it is, and it counts.
	for _, settings := range [][2]string{{"", ""}, {"abc123", "true"}} {
		r1 := missingSource(fakeBuild(settings[0], settings[1], "v1.0.0"), exe("e1"))
		r2 := missingSource(fakeBuild(settings[0], settings[1], "v1.0.0"), exe("e2"))
		a, _ := r1.of(double)
		r1.of(triple)
		b, _ := r2.of(double)
		if a.Version == b.Version {
			t.Errorf("settings %q: the executable does not count", settings)
		}
		if !strings.Contains(a.Fallback, "executable") {
			t.Errorf("settings %q: Fallback %q does not mention the executable", settings, a.Fallback)
		}
	}
	if calls.Load() != 4 {
		t.Errorf("executable hashed %d times, want once per resolver (4)", calls.Load())
	}
	// An unreadable executable without revision: the fallback says changes
	// go undetected.
	a, _ := missingSource(fakeBuild("", "", "v1.0.0"), noExe).of(double)
	if !strings.Contains(a.Fallback, "not detected") {
		t.Errorf("Fallback %q does not warn", a.Fallback)
	}
}

func TestFallbackLocations(t *testing.T) {
	requireSource(t)
	r := missingSource(fakeBuild("abc123", "false", "v1.0.0"), noExe)
	r.stat = os.Stat
	// -trimpath: the path is not absolute.
	trim := r.info(location{name: "example.com/dep/sub.F", file: "example.com/dep/sub/f.go", line: 3, exact: true})
	if trim.FromSource || !strings.Contains(trim.Fallback, "-trimpath") || trim.Line != 3 {
		t.Errorf("trimpath: %+v", trim)
	}
	// A dependency's function: its module version counts, the main
	// revision does not.
	r2 := missingSource(fakeBuild("def456", "false", "v1.0.0"), noExe)
	r3 := missingSource(fakeBuild("abc123", "false", "v1.0.1"), noExe)
	trim2 := r2.info(location{name: "example.com/dep/sub.F", file: "example.com/dep/sub/f.go"})
	trim3 := r3.info(location{name: "example.com/dep/sub.F", file: "example.com/dep/sub/f.go"})
	if trim2.Version != trim.Version || trim3.Version == trim.Version {
		t.Errorf("dependency fallback: revision change %v, dep version change %v",
			trim2.Version != trim.Version, trim3.Version != trim.Version)
	}
	if !strings.Contains(trim.Fallback, "example.com/dep@v1.0.0") {
		t.Errorf("dependency fallback: %q", trim.Fallback)
	}
	// The source changed since the build: the closure is not on its line.
	moved := r.info(location{name: pkgPath + ".TestOfClosures.func1", file: thisFile, line: 1, exact: true})
	if moved.FromSource || !strings.Contains(moved.Fallback, "line 1") {
		t.Errorf("moved closure: %+v", moved)
	}
	// A source file that no longer parses.
	bad := filepath.Join(t.TempDir(), "bad.go")
	if err := os.WriteFile(bad, []byte("package p\nfunc F( {"), 0o644); err != nil {
		t.Fatal(err)
	}
	broken := r.info(location{name: "p.F", file: bad, line: 2, exact: true})
	if broken.FromSource || !strings.Contains(broken.Fallback, "does not parse") {
		t.Errorf("broken source: %+v", broken)
	}
}

// statInfo overrides the modification time of a FileInfo.
type statInfo struct {
	fs.FileInfo
	mtime time.Time
}

func (s statInfo) ModTime() time.Time { return s.mtime }

func TestFileCache(t *testing.T) {
	requireSource(t)
	r := newResolver()
	var reads atomic.Int32
	var mtime atomic.Int64
	r.readFile = func(path string) ([]byte, error) {
		if path == thisFile {
			reads.Add(1)
		}
		return os.ReadFile(path)
	}
	r.stat = func(path string) (fs.FileInfo, error) {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		return statInfo{fi, time.Unix(mtime.Load(), 0)}, nil
	}
	fns := []any{double, triple, counter.Get, (*counter).Inc, gmap[int], pkgClosure, makeAdder(3)}
	want := make([]Info, len(fns))
	for i, fn := range fns {
		want[i], _ = r.of(fn)
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("read this file %d times for %d functions, want once", n, len(fns))
	}
	// Concurrent use gives the same answers.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i, fn := range fns {
				if got, _ := r.of(fn); got != want[i] {
					t.Errorf("concurrent Of(%s) = %+v, want %+v", want[i].Func, got, want[i])
				}
			}
		})
	}
	wg.Wait()
	if n := reads.Load(); n != 1 {
		t.Errorf("read this file %d times, want once", n)
	}
	// Versions are kept per function: asking again touches no file.
	var stats atomic.Int32
	stat := r.stat
	r.stat = func(path string) (fs.FileInfo, error) { stats.Add(1); return stat(path) }
	for _, fn := range fns {
		r.of(fn)
	}
	if n := stats.Load(); n != 0 {
		t.Errorf("%d stats for versions already known", n)
	}
	// A new modification time: the file is parsed again, once.
	mtime.Store(1)
	for range 3 {
		if got := r.info(locate(reflect.ValueOf(double).Pointer())); got != want[0] {
			t.Errorf("after touch: %+v", got)
		}
	}
	if n := reads.Load(); n != 2 {
		t.Errorf("after touch: read %d times, want 2", n)
	}
}

func TestFileCacheManyFunctions(t *testing.T) {
	path, lines := writeManyFuncs(t, t.TempDir(), 1000)
	r := newResolver()
	var reads atomic.Int32
	r.readFile = func(path string) ([]byte, error) { reads.Add(1); return os.ReadFile(path) }
	seen := make(map[string]int)
	for i := range 1000 {
		name := fmt.Sprintf("gen.f%04d", i)
		info := r.info(location{name: name, file: path, line: lines[i], exact: true})
		if !info.FromSource || info.Line != lines[i] {
			t.Fatalf("%s: %s", name, info.Fallback)
		}
		if j, dup := seen[info.Version]; dup {
			t.Fatalf("f%04d and f%04d share a version", i, j)
		}
		seen[info.Version] = i
	}
	if reads.Load() != 1 {
		t.Errorf("read the file %d times for 1000 functions", reads.Load())
	}
}

// writeManyFuncs writes package gen with n functions f0000... into dir and
// returns its path and the line of each function.
func writeManyFuncs(t testing.TB, dir string, n int) (string, []int) {
	var b strings.Builder
	line := 1
	write := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		line += strings.Count(s, "\n")
		b.WriteString(s)
	}
	write("package gen\n\nimport \"strings\"\n")
	lines := make([]int, n)
	for i := range n {
		write("\n// f%04d is generated.\n", i)
		lines[i] = line
		write("func f%04d(s string, n int) (string, int) {\n", i)
		write("\tif n > %d {\n\t\treturn strings.ToUpper(s), n - %d\n\t}\n", i, i)
		write("\tfor j := 0; j < n; j++ {\n\t\ts += \"x\"\n\t}\n\treturn s, n * %d\n}\n", i+1)
	}
	path := filepath.Join(dir, "gen.go")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, lines
}

// unlinked has a method that no code calls: the linker drops it, so only
// the package's source directory can show where it is declared.
type unlinked struct{}

// Dropped is never called.
func (unlinked) Dropped() int { return 0 }

var _ = unlinked{}

func TestWrapperDirectorySearch(t *testing.T) {
	requireSource(t)
	r := newResolver()
	start := time.Now()
	got := r.findWrapped(reflect.ValueOf(double).Pointer(), pkgPath, "unlinked.Dropped")
	if got.file != thisFile {
		t.Errorf("findWrapped = %+v, want %s", got, thisFile)
	}
	t.Logf("searching %d functions each way and the directory took %v", maxNeighbors, time.Since(start))
	// An unknown package has no directory.
	if got := r.findWrapped(reflect.ValueOf(double).Pointer(), "example.com/none", "T.M"); got.file != "" || got.reason == "" {
		t.Errorf("findWrapped for an unknown package = %+v", got)
	}
}
