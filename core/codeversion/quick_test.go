package codeversion

import (
	"fmt"
	"github.com/flowcache/flowcache/internal/chaingen"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// variedSrc holds functions of many shapes. A "// want quick" comment on
// the line of a func keyword says that quickVersion must find the function
// (or closure) that starts there, "// want parse" that it must leave it to
// the parser; either way, the tests check that both give the same version.
const variedSrc = `package p

import "strings"

type T%[1]d struct{ n int }
type G%[1]d[K comparable, V any] struct{ m map[K]V }

func Plain%[1]d(x int) int { return x + %[1]d } // want quick

func MultiLine%[1]d( // want quick
	a int,
	b string,
) (
	int,
	error,
) {
	return a + len(b) + %[1]d, nil
}

// Doc comment.
func (t T%[1]d) Value() int { return t.n + %[1]d } // want quick

func (t *T%[1]d) Pointer() int { return t.n } // want quick

func (T%[1]d) Anonymous() int { return %[1]d } // want quick

func (*T%[1]d) AnonymousPointer() int { return %[1]d } // want quick

func (t (T%[1]d)) Paren() int { return %[1]d } // want quick

func (t *T%[1]d) init() {} // want quick

func ( // want quick
	t *T%[1]d,
) Split(
	x int,
) int {
	return t.n + x
}

func (g *G%[1]d[K, V]) Get(k K) (V, bool) { v, ok := g.m[k]; return v, ok } // want quick

func (g G%[1]d[K, _]) Len() int { return len(g.m) } // want quick

func Gen%[1]d[T any, U comparable](t T, u U) T { return t } // want quick

func Constrained%[1]d[T interface{ ~int | ~string }](t T) T { return t } // want quick

func StructResult%[1]d() struct{ a int } { return struct{ a int }{%[1]d} } // want quick

func IfaceResult%[1]d() interface{ M() } { return nil } // want quick

func FuncResult%[1]d() func() int { // want quick
	return func() int { return %[1]d } // want quick
}

func ChanResult%[1]d() <-chan map[string]*strings.Builder { return nil } // want quick

func Semis%[1]d() { x := 1; _ = x; } // want quick

func Commas%[1]d(a, b int,) (int,) { return g(a, b,) } // want quick

func Braces%[1]d() string { s := "}{"; r := '}'; _ = r; return s + "\"}" } // want quick

func CommentBrace%[1]d() { // } want quick
	/* { */
	// {
}

func Commented%[1]d(a int /* the input */) int { return a } // want parse

func RawOnLine%[1]d() string { return ` + "`raw`" + ` } // want parse

func RawInBody%[1]d() string { // want quick
	return ` + "`" + `multi
func RawInBody%[1]d() string { return "fake" }
line` + "`" + `
}

var _ = ` + "`" + `
func Evil%[1]d() int { return 0 }` + "`" + ` + ""; func Evil%[1]d() int { return %[1]d } // want parse

/*
func Hidden%[1]d() int { return 0 } */ func Hidden%[1]d() int { return %[1]d } // want parse

func Tick%[1]d() int { return 1 } // a ` + "`" + ` in a comment: want parse

func Asm%[1]d(x int) int // no body

func init() { _ = func() int { return %[1]d } } // want parse

func _() {} // want parse

var Var%[1]d = func() int { return %[1]d } // want quick

var Two%[1]d, Three%[1]d = func() int { return 2 }, func() int { return 3 } // want parse

func Closures%[1]d(run func(func(int) int)) []func() int { // want quick
	a := func() int { return %[1]d } // want quick
	b := func(f func() int) int { return f() } // want parse
	c := func() func() int { return func() int { return 1 } } // want parse
	run(func(x int) int { // want quick
		return x * %[1]d
	})
	go func() {}() // want quick
	defer func() { recover() }() // want quick
	fs := []func() int{a, func() int { return 2 }} // want parse
	var h func() int = func() int { return 3 } // want parse
	_ = func(x interface{ M() }) struct{ a int } { return struct{ a int }{} } // want quick
	_ = func() (r int) { return } // want quick
	_ = func() func() int { // want parse
		return func() int { return 4 } // want quick
	}
	switch x := any(a).(type) {
	case func() int:
		_ = x
	}
	_, _, _, _ = b, c, fs, h
	return nil
}

func (t T%[1]d) Closure() func() int { return func() int { return t.n } } // want quick,parse

func GenClosure%[1]d[T any](x T) func() T { // want quick
	return func() T { return x } // want quick
}

func Control%[1]d(ch chan int) (n int) { // want quick
L:
	for {
		select {
		case v := <-ch:
			switch {
			case v > %[1]d:
				break L
			default:
				n += v
			}
		}
	}
	return
}

func Ünïcode%[1]d(ß int) int { return ß } // want quick

func Last%[1]d() int { // want quick
	return %[1]d
}`

// funcAt is a function of a source, with a runtime name as the compiler
// would give it and the line of its func keyword.
type funcAt struct {
	name string
	line int
	lit  bool
	want string // "quick", "parse" or ""
}

// wantAt returns what the "want" comment of a line says of the k-th
// function (0-based) that starts on it: "want quick,parse" says quick for
// the first and parse for the others.
func wantAt(line string, k int) string {
	_, w, _ := strings.Cut(line, "want ")
	w, _, _ = strings.Cut(strings.TrimSpace(w), " ")
	ws := strings.Split(w, ",")
	return ws[min(k, len(ws)-1)]
}

// funcsOf lists the declarations (with or without body) and literals of a
// source. Closures are named after their enclosing declaration and their
// index in it, as the compiler does (package-level ones after init, which
// is not exact but leads to the same resolution).
func funcsOf(t testing.TB, src []byte) []funcAt {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "src.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(src), "\n")
	onLine := map[int]int{} // functions seen on a line
	type frame struct {
		name string
		lit  bool
		n    int // literals seen directly inside
	}
	frames := map[ast.Node]*frame{}
	var out []funcAt
	inits, globals := 0, 0
	ast.PreorderStack(f, nil, func(n ast.Node, parents []ast.Node) bool {
		var parent *frame
		for i := len(parents) - 1; i >= 0 && parent == nil; i-- {
			parent = frames[parents[i]]
		}
		fr := &frame{}
		switch n := n.(type) {
		case *ast.FuncDecl:
			fr.name = n.Name.Name
			if n.Recv != nil {
				recv := "?"
				if len(n.Recv.List) > 0 {
					recv = types(n.Recv.List[0].Type)
				}
				if strings.HasPrefix(recv, "*") {
					fr.name = "(" + recv + ")." + fr.name
				} else {
					fr.name = recv + "." + fr.name
				}
			} else if fr.name == "init" {
				fr.name = fmt.Sprintf("init.%d", inits)
				inits++
			}
		case *ast.FuncLit:
			fr.lit = true
			switch {
			case parent == nil:
				globals++
				fr.name = fmt.Sprintf("init.func%d", globals)
			case parent.lit:
				parent.n++
				fr.name = fmt.Sprintf("%s.%d", parent.name, parent.n)
			default:
				parent.n++
				fr.name = fmt.Sprintf("%s.func%d", parent.name, parent.n)
			}
		default:
			return true
		}
		frames[n] = fr
		line := fset.PositionFor(n.Pos(), false).Line
		out = append(out, funcAt{name: "p." + fr.name, line: line, lit: fr.lit, want: wantAt(lines[line-1], onLine[line])})
		onLine[line]++
		return true
	})
	return out
}

// types prints a receiver type as the runtime names it: T, *T, G[...].
func types(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.StarExpr:
		return "*" + types(x.X)
	case *ast.ParenExpr:
		return types(x.X)
	case *ast.IndexExpr:
		return types(x.X) + "[...]"
	case *ast.IndexListExpr:
		return types(x.X) + "[...]"
	case *ast.Ident:
		return x.Name
	}
	return "?"
}

// fullVersion resolves a function the way the full parse does.
func fullVersion(s *source, name string, line int) (string, bool, error) {
	ids, _, err := s.resolve(name, line, true)
	if err != nil {
		return "", false, err
	}
	return s.version(ids), s.nodes[ids[0]].lit, nil
}

// checkQuick checks that quickVersion gives the version of the full parse
// for every function of src, at its line and, when cross, at the line of
// every other function, and honors the "want" comments. It returns how many
// functions quickVersion found at their own line.
func checkQuick(t *testing.T, label string, src []byte, cross bool) (quick, total int) {
	t.Helper()
	s, err := parseSource(label, src)
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	text := newQuickText(src)
	fns := funcsOf(t, src)
	check := func(fn funcAt, line int) bool {
		v, lit, ok := quickVersion(&text, fn.name, line)
		if !ok {
			return false
		}
		want, wantLit, err := fullVersion(s, fn.name, line)
		switch {
		case err != nil:
			t.Errorf("%s: %s at line %d: quick version, but the parse says: %v", label, fn.name, line, err)
		case v != want || lit != wantLit:
			t.Errorf("%s: %s at line %d: quick %s (literal %v), parse %s (literal %v)", label, fn.name, line, v, lit, want, wantLit)
		}
		return true
	}
	for _, fn := range fns {
		ok := check(fn, fn.line)
		switch {
		case fn.want == "quick" && !ok:
			t.Errorf("%s: %s at line %d: left to the parser, want quick", label, fn.name, fn.line)
		case fn.want == "parse" && ok:
			t.Errorf("%s: %s at line %d: quick, want it left to the parser", label, fn.name, fn.line)
		}
		if ok {
			quick++
		}
		if cross {
			for _, other := range fns {
				if other.line != fn.line {
					check(fn, other.line)
				}
			}
		}
	}
	return quick, len(fns)
}

func TestQuickVariedSources(t *testing.T) {
	long := strings.Repeat("\tx += 1 // padding past the scan window\n", 2*quickWindow/40)
	sources := map[string]string{
		"varied": fmt.Sprintf(variedSrc, 1),
		"CRLF":   strings.ReplaceAll(fmt.Sprintf(variedSrc, 2), "\n", "\r\n"),
		// Functions longer than the scan window, before and after others.
		"long": fmt.Sprintf(variedSrc, 3) + "\n\nfunc Long() (x int) { // want quick\n" + long + "\treturn\n}\n\n" +
			"func AfterLong() int { return 1 } // want quick\n" +
			"var _ = func() int { // want quick\n" + long + "\treturn 0\n}\n" +
			fmt.Sprintf(strings.Replace(variedSrc, "package p\n\nimport \"strings\"\n", "", 1), 4),
		"test constants": strings.Join([]string{baseSrc, methodSrc[len("package p\n"):], closureSrc[len("package p\n"):]}, "\n"),
	}
	for label, src := range sources {
		quick, total := checkQuick(t, label, []byte(src), label != "long")
		t.Logf("%s: %d of %d functions found without a parse", label, quick, total)
	}
}

func TestQuickGeneratedFiles(t *testing.T) {
	// The benchmark's and flowbench's form, and writeManyFuncs'.
	src, err := os.ReadFile("../../internal/chaingen/chain_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if quick, total := checkQuick(t, "chain", src, false); quick != total {
		t.Errorf("chain: %d of %d functions found without a parse, want all", quick, total)
	}
	path, _ := writeManyFuncs(t, t.TempDir(), 1000)
	if src, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	if quick, total := checkQuick(t, "many", src, false); quick != total {
		t.Errorf("many: %d of %d functions found without a parse, want all", quick, total)
	}
}

func TestQuickPackageAndStdlibSources(t *testing.T) {
	var files []string
	own, _ := filepath.Glob("*.go")
	files = append(files, own...)
	if !testing.Short() && build.Default.GOROOT != "" {
		for _, pkg := range []string{"go/ast", "go/parser", "go/printer", "go/scanner", "strings", "fmt", "sort", "encoding/json", "net/http"} {
			more, _ := filepath.Glob(filepath.Join(build.Default.GOROOT, "src", pkg, "*.go"))
			files = append(files, more...)
		}
	}
	quick, total := 0, 0
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseSource(file, src); err != nil {
			continue // testdata
		}
		q, n := checkQuick(t, file, src, false)
		quick, total = quick+q, total+n
	}
	t.Logf("%d files: %d of %d functions found without a parse", len(files), quick, total)
	if quick < total*3/4 {
		t.Errorf("only %d of %d functions found without a parse", quick, total)
	}
}

func TestQuickLineDirectives(t *testing.T) {
	src := "package p\n\n//line other.go:10\nfunc F() int { return 1 }\n"
	text := newQuickText([]byte(src))
	if _, _, ok := quickVersion(&text, "p.F", 4); ok {
		t.Errorf("quick version in a file with //line directives")
	}
	src = "package p\n\nfunc F() int { return 1 }\n"
	text = newQuickText([]byte(src))
	if _, _, ok := quickVersion(&text, "p.F", 3); !ok {
		t.Errorf("no quick version in a plain file")
	}
	for _, line := range []int{-1, 0, 2, 4, 5} {
		if _, _, ok := quickVersion(&text, "p.F", line); ok {
			t.Errorf("quick version at line %d", line)
		}
	}
}

// TestOfQuickMatchesParse checks the functions of this test binary: their
// versions through Of (mostly by the quick path) against the full parse
// of their files.
func TestOfQuickMatchesParse(t *testing.T) {
	requireSource(t)
	c := counter{n: 1}
	d, e := func() int { return 3 }, func() int { return 4 }
	fns := []any{
		double, doubleAgain, triple, counter.Get, (*counter).Inc, c.Closure(), counter.Closure,
		gmap[int], gmap[string], pkgClosure, makeAdder(1), d, e, hidden{}.Hidden, c.Get,
		versionOfSource, funcsOf, TestOfQuickMatchesParse,
	}
	fns = append(fns, chaingen.Funcs...)
	r := newProcessResolver()
	parsed := map[string]*source{}
	quick := 0
	for _, fn := range fns {
		info, err := r.of(fn)
		if err != nil || !info.FromSource {
			t.Fatalf("Of: %v %s", err, info.Fallback)
		}
		loc := locate(reflect.ValueOf(fn).Pointer())
		if loc.file == "<autogenerated>" {
			continue // a wrapper: the full parse only
		}
		s := parsed[loc.file]
		if s == nil {
			if s, err = parseFile(loc.file); err != nil {
				t.Fatal(err)
			}
			parsed[loc.file] = s
		}
		want, _, err := fullVersion(s, loc.name, loc.line)
		if err != nil {
			t.Fatalf("%s: %v", loc.name, err)
		}
		if info.Version != want {
			t.Errorf("%s: Of %s, full parse %s", loc.name, info.Version, want)
		}
		text := newQuickText(s.src)
		if _, _, ok := quickVersion(&text, loc.name, loc.line); ok {
			quick++
		} else if strings.Contains(loc.name, ".chain") {
			t.Errorf("%s: not found without a parse", loc.name)
		} else {
			t.Logf("%s: left to the parser", loc.name)
		}
	}
	t.Logf("%d of %d functions found without a parse", quick, len(fns))
}

func parseFile(path string) (*source, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseSource(path, b)
}

func TestOfQuickParsesOnlyWhenNeeded(t *testing.T) {
	requireSource(t)
	// A closure the quick path leaves to the parser, on a line with two.
	d, e := func() int { return 3 }, func() int { return 4 }
	r := newProcessResolver()
	for _, fn := range append([]any{}, chaingen.Funcs[:100]...) {
		r.of(fn)
	}
	f, err := r.file(filepath.Join(filepath.Dir(thisFile), "..", "..", "internal", "chaingen", "chain_gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	if f.src != nil {
		t.Errorf("chain_gen.go was parsed")
	}
	vd, _ := r.of(d)
	ve, _ := r.of(e)
	if !vd.FromSource || !ve.FromSource || vd.Version == ve.Version {
		t.Errorf("two closures on one line: %+v %+v", vd, ve)
	}
}

func TestRecheckSources(t *testing.T) {
	requireSource(t)
	r := newProcessResolver()
	var now atomic.Int64
	r.now = func() time.Time { return time.Unix(0, now.Load()) }
	var stats, reads atomic.Int32
	var mtime atomic.Int64
	r.stat = func(path string) (fs.FileInfo, error) {
		stats.Add(1)
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		return statInfo{fi, time.Unix(mtime.Load(), 0)}, nil
	}
	r.readFile = func(path string) ([]byte, error) { reads.Add(1); return os.ReadFile(path) }
	for _, fn := range chaingen.Funcs[:10] {
		r.of(fn)
	}
	if stats.Load() != 1 || reads.Load() != 1 {
		t.Errorf("10 functions of one file: %d stats, %d reads; want 1 and 1", stats.Load(), reads.Load())
	}
	// Within the interval, a changed file is not looked at.
	mtime.Store(1)
	now.Add(int64(recheckSources) - 1)
	r.of(chaingen.Funcs[10])
	if stats.Load() != 1 || reads.Load() != 1 {
		t.Errorf("within the interval: %d stats, %d reads; want 1 and 1", stats.Load(), reads.Load())
	}
	// After it, it is, and read again since it changed.
	now.Add(1)
	r.of(chaingen.Funcs[11])
	r.of(chaingen.Funcs[12])
	if stats.Load() != 2 || reads.Load() != 2 {
		t.Errorf("after the interval: %d stats, %d reads; want 2 and 2", stats.Load(), reads.Load())
	}
}

type inliner struct{}

// M returns the closure of adderOf, inlined here: the closure's runtime
// name is codeversion.inliner.M.adderOf.func1.
//
//go:noinline
func (inliner) M() func() int { return adderOf(5) }

func adderOf(k int) func() int { return func() int { return k * 2 } }

func TestOfInlinedClosureInMethod(t *testing.T) {
	cl := mustOf(t, inliner{}.M())
	m := mustOf(t, inliner.M)
	if !strings.Contains(cl.Func, "inliner.M.adderOf.func") {
		t.Logf("closure name %s: not inlined as expected", cl.Func)
	}
	if cl.Version == m.Version || cl.Line == m.Line {
		t.Errorf("closure %s has the version or line of method %s: %+v", cl.Func, m.Func, cl)
	}
	if direct := mustOf(t, adderOf(1)); direct.Version != cl.Version || direct.Line != cl.Line {
		t.Errorf("closures of one literal differ: %+v %+v", direct, cl)
	}
}
