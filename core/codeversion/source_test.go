package codeversion

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// versionOfSource returns the version of the function with runtime name
// funcName whose func keyword is on line of src.
func versionOfSource(src []byte, funcName string, line int) (string, error) {
	s, err := parseSource("src.go", src)
	if err != nil {
		return "", err
	}
	ids, _, err := s.resolve(funcName, line, true)
	if err != nil {
		return "", err
	}
	return s.version(ids), nil
}

// lineOf returns the 1-based line of the first line of src containing
// marker.
func lineOf(t testing.TB, src, marker string) int {
	t.Helper()
	for i, l := range strings.Split(src, "\n") {
		if strings.Contains(l, marker) {
			return i + 1
		}
	}
	t.Fatalf("marker %q not in source", marker)
	return 0
}

func mustVersion(t *testing.T, src, name, marker string) string {
	t.Helper()
	line := 0
	if marker != "" {
		line = lineOf(t, src, marker)
	}
	v, err := versionOfSource([]byte(src), name, line)
	if err != nil {
		t.Fatalf("versionOfSource(%s): %v\n%s", name, err, src)
	}
	if len(v) != 64 || strings.Trim(v, "0123456789abcdef") != "" {
		t.Fatalf("version %q is not 64 lowercase hex digits", v)
	}
	return v
}

const baseSrc = `package p

import "strings"

// F cleans x.
//
// It is a doc comment.
func F(x int, s string) (int, string) {
	y := x * 2 // twice
	return y, strings.TrimSpace(s)
}
`

func TestSourceFormattingAndCommentsKeepVersion(t *testing.T) {
	want := mustVersion(t, baseSrc, "p.F", "")
	same := map[string]string{
		"no comments": `package p
import "strings"
func F(x int, s string) (int, string) {
	y := x * 2
	return y, strings.TrimSpace(s)
}`,
		"one line": `package p; import "strings"; func F(x int, s string) (int, string) { y := x * 2; return y, strings.TrimSpace(s) }`,
		"layout": `package p

import "strings"



func F(
	x int,
	s string,
) (
	int,
	string,
) {

      y   :=   x*2


      return y,
        strings.TrimSpace(
            s,
        )
}
`,
		"block comments": `package p
import "strings"
/* F
   is documented here. */
func F(x int /* input */, s string) (int, string) {
	y := x * /* the factor */ 2
	/*
	  a long comment
	*/
	return y, strings.TrimSpace(s) // done
}
`,
		"explicit semicolons": "package p\nimport \"strings\"\nfunc F(x int, s string) (int, string) {\n\ty := x * 2;\n\treturn y, strings.TrimSpace(s);\n};\n",
		"CRLF":                strings.ReplaceAll(baseSrc, "\n", "\r\n"),
		"other doc comment":   strings.Replace(baseSrc, "It is a doc comment.", "Another text.", 1),
	}
	for name, src := range same {
		if got := mustVersion(t, src, "p.F", ""); got != want {
			t.Errorf("%s: version changed: %s != %s", name, got, want)
		}
	}
	// The name of a top-level function is not part of the version.
	renamed := strings.Replace(baseSrc, "func F(", "func Clean(", 1)
	if got := mustVersion(t, renamed, "p.Clean", ""); got != want {
		t.Errorf("renamed function: version changed")
	}
}

func TestSourceChangesAlterVersion(t *testing.T) {
	base := mustVersion(t, baseSrc, "p.F", "")
	changes := map[string][2]string{
		"literal":              {"x * 2", "x * 3"},
		"operator":             {"x * 2", "x + 2"},
		"identifier":           {"return y, strings.TrimSpace(s)", "return x, strings.TrimSpace(s)"},
		"called function":      {"strings.TrimSpace(s)", "strings.ToLower(s)"},
		"statement added":      {"y := x * 2 // twice", "y := x * 2\n\ty++"},
		"parenthesised":        {"return y,", "return (y),"},
		"parameter type":       {"x int, s string", "x int64, s string"},
		"parameter name":       {"func F(x int, s string)", "func F(x int, str string)"},
		"result added":         {"(int, string) {", "(int, string, error) {"},
		"variadic":             {"s string)", "s ...string)"},
		"string literal":       {"strings.TrimSpace(s)", `strings.TrimSpace(s + "")`},
		"statement order":      {"y := x * 2 // twice\n\treturn", "y := x * 2; _ = y\n\treturn"},
		"outside the function": {"import \"strings\"\n", "import \"strings\"\n\nvar _ = 1\n"},
	}
	for name, c := range changes {
		src := strings.Replace(baseSrc, c[0], c[1], 1)
		if src == baseSrc {
			t.Fatalf("%s: %q not in the source", name, c[0])
		}
		got := mustVersion(t, src, "p.F", "")
		if name == "outside the function" {
			// Code outside the function does not count.
			if got != base {
				t.Errorf("%s: version changed by code outside the function", name)
			}
			continue
		}
		if got == base {
			t.Errorf("%s: version did not change", name)
		}
	}
}

const methodSrc = `package p

type T struct{ n int }
type U struct{ n int }
type G[X any] struct{ x X }

func (t T) Get() int { return t.n }

func (t *T) Ptr() int { return t.n }

func (t *T) Get2() int { return t.n }

func (t U) Get3() int { return t.n }

func (g G[X]) Get() X { return g.x }

func (g *G[X]) Set(x X) { g.x = x }

func Gen[X any](x X) X { return x }
`

func TestSourceMethods(t *testing.T) {
	get := mustVersion(t, methodSrc, "p.T.Get", "")
	if v := mustVersion(t, methodSrc, "p.(*T).Get", ""); v != get {
		t.Errorf("(*T).Get wrapper of value method: %s != %s", v, get)
	}
	if v := mustVersion(t, methodSrc, "p.T.Get-fm", ""); v != get {
		t.Errorf("method value T.Get-fm: %s != %s", v, get)
	}
	// Same body, pointer receiver: differs. Different receiver type: differs.
	ptr := mustVersion(t, methodSrc, "p.(*T).Get2", "")
	u := mustVersion(t, methodSrc, "p.U.Get3", "")
	if ptr == get || u == get || u == ptr {
		t.Errorf("receivers do not count: value %s pointer %s other type %s", get, ptr, u)
	}
	// Methods of generic types and generic functions.
	g := mustVersion(t, methodSrc, "p.G[...].Get", "")
	if g == get {
		t.Errorf("G.Get and T.Get have the same version")
	}
	if v := mustVersion(t, methodSrc, "p.G[...].Get-fm", ""); v != g {
		t.Errorf("G[...].Get-fm: %s != %s", v, g)
	}
	if s := mustVersion(t, methodSrc, "p.(*G[...]).Set", ""); s == g {
		t.Errorf("G.Set and G.Get have the same version")
	}
	mustVersion(t, methodSrc, "p.Gen[...]", "")
	if _, err := versionOfSource([]byte(methodSrc), "p.T.Missing", 0); err == nil {
		t.Errorf("missing method: no error")
	}
	if _, err := versionOfSource([]byte(methodSrc), "p.Missing", 0); err == nil {
		t.Errorf("missing function: no error")
	}
}

const closureSrc = `package p

func Outer() []func() int {
	a := func() int { return 1 } // a
	b := func() int { return 2 } // b
	c := func() int { return 1 } // c
	d, e := func() int { return 3 }, func() int { return 4 } // de
	f := func() func() int { return func() int { return 5 } } // f
	return []func() int{a, b, c, d, e, f()}
}

var G = func() int { // G
	return 6
}

func (t T) M() func() int {
	return func() int { return 7 } // M
}

type T struct{}
`

func TestSourceClosures(t *testing.T) {
	v := func(name, marker string) string { return mustVersion(t, closureSrc, name, marker) }
	a := v("p.Outer.func1", "// a")
	b := v("p.Outer.func2", "// b")
	c := v("p.Outer.func3", "// c")
	d := v("p.Outer.func4", "// de")
	e := v("p.Outer.func5", "// de")
	f := v("p.Outer.func6", "// f")
	f1 := v("p.Outer.func6.1", "// f")
	if a == b {
		t.Errorf("two closures with different bodies have one version")
	}
	if a != c {
		t.Errorf("two closures with the same text have different versions")
	}
	if d == e || d == a || e == a {
		t.Errorf("closures on one line are not told apart: %s %s", d, e)
	}
	if f == f1 {
		t.Errorf("a closure and the closure it returns have one version")
	}
	outer := v("p.Outer", "")
	for _, x := range []string{a, b, d, e, f, f1} {
		if x == outer {
			t.Errorf("a closure has the version of its enclosing function")
		}
	}
	// A name the compiler rewrote after inlining Outer into main: the line
	// has two literals and the index does not identify one, so the version
	// covers both.
	both := v("p.main.Outer.func9", "// de")
	if both == d || both == e {
		t.Errorf("ambiguous closure got the version of one candidate")
	}
	changed := strings.Replace(closureSrc, "return 4", "return 40", 1)
	if mustVersion(t, changed, "p.main.Outer.func9", "// de") == both {
		t.Errorf("ambiguous closure: a change in a candidate does not change the version")
	}
	if mustVersion(t, changed, "p.Outer.func4", "// de") != d {
		t.Errorf("changing closure e changed the version of closure d")
	}
	// Closures in a package-level initializer and in a method.
	g := v("p.init.func1", "// G")
	m := v("p.T.M.func1", "// M")
	if g == m || g == a {
		t.Errorf("package-level or method closure versions collide")
	}
	// Formatting inside a closure does not count.
	reformatted := strings.Replace(closureSrc, "func() int { return 2 } // b", "func() int {\n\t\treturn 2\n\t} // b", 1)
	if mustVersion(t, reformatted, "p.Outer.func2", "b := func") != b {
		t.Errorf("reformatting a closure changed its version")
	}
	// No literal at the line: an error (the caller falls back).
	if _, err := versionOfSource([]byte(closureSrc), "p.Outer.func1", 2); err == nil {
		t.Errorf("closure at a line without literal: no error")
	}
}

func TestSourceInexactLine(t *testing.T) {
	s, err := parseSource("src.go", []byte(closureSrc))
	if err != nil {
		t.Fatal(err)
	}
	// Without the start line, the first instruction's line selects the
	// innermost literal containing it.
	ids, line, err := s.resolve("p.init.func1", lineOf(t, closureSrc, "return 6"), false)
	if err != nil {
		t.Fatal(err)
	}
	if want := lineOf(t, closureSrc, "// G"); line != want || len(ids) != 1 {
		t.Errorf("inexact resolve: line %d ids %v, want line %d", line, ids, want)
	}
}

func TestParseRuntimeName(t *testing.T) {
	tests := []struct {
		rest    string
		key     string
		closure []int
		plain   bool
	}{
		{"F", "F", nil, true},
		{"T.M", "T.M", nil, true},
		{"(*T).M", "T.M", nil, true},
		{"T.M-fm", "T.M", nil, true},
		{"G[...].M", "G.M", nil, true},
		{"(*G[...]).M-fm", "G.M", nil, true},
		{"Gen[...]", "Gen", nil, true},
		{"F.func2", "F", []int{2}, true},
		{"F.func2.1.3", "F", []int{2, 1, 3}, true},
		{"T.M.func1", "T.M", []int{1}, true},
		{"(*T).M.func1.2", "T.M", []int{1, 2}, true},
		{"init.func3", "init", []int{3}, true},
		{"init.0.func1", "init.0", []int{1}, false},
		{"glob..func1", "glob.", []int{1}, false},
		{"main.Outer.func4", "main.Outer", []int{4}, true},
		{"F.F.Seq.func3.F-range1.func4", "F.F", nil, false},
	}
	for _, tt := range tests {
		got := parseRuntimeName(tt.rest)
		if got.key != tt.key || got.plain != tt.plain || !equalInts(got.closure, tt.closure) {
			t.Errorf("parseRuntimeName(%q) = %+v, want key %q closure %v plain %v", tt.rest, got, tt.key, tt.closure, tt.plain)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSplitName(t *testing.T) {
	tests := []struct{ name, pkg, rest string }{
		{"main.main.func1", "main", "main.func1"},
		{"github.com/a/b.(*T).M", "github.com/a/b", "(*T).M"},
		{"gopkg.in/yaml%2ev3.Marshal", "gopkg.in/yaml%2ev3", "Marshal"},
		{"example.com/p.G[...].M-fm", "example.com/p", "G[...].M-fm"},
		{"nodot", "", "nodot"},
	}
	for _, tt := range tests {
		if pkg, rest := splitName(tt.name); pkg != tt.pkg || rest != tt.rest {
			t.Errorf("splitName(%q) = %q, %q; want %q, %q", tt.name, pkg, rest, tt.pkg, tt.rest)
		}
	}
}

func TestSearchDirBuildConstraints(t *testing.T) {
	dir := t.TempDir()
	other := "windows"
	if filepath.Separator == '\\' {
		other = "linux"
	}
	files := map[string]string{
		"t.go":               "package p\ntype T struct{}\n",
		"m_" + other + ".go": "package p\nfunc (T) M() int { return 1 }\n",
		"m_other.go":         "//go:build " + "!" + other + "\n\npackage p\nfunc (T) M() int { return 2 }\n",
		"broken.go":          "package p\nfunc (",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := newResolver()
	got := r.searchDir(dir, "T.M")
	if filepath.Base(got.file) != "m_other.go" {
		t.Errorf("searchDir = %+v, want m_other.go", got)
	}
	if got := r.searchDir(dir, "T.Promoted"); got.file != "" || got.reason == "" {
		t.Errorf("searchDir for a missing method = %+v, want a reason", got)
	}
}
