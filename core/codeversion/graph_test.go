package codeversion

import (
	"encoding/base64"
	"encoding/hex"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

// baseModule is a small module whose functions exercise every kind of
// dependency a code version must follow. Each test edits one file and
// checks which functions' versions change.
var baseModule = map[string]string{
	"go.mod": "module example.com/m\n\ngo 1.26\n",
	"nodes.go": `package m

import (
	"encoding/base64"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"example.com/m/lib"
)

// Helper calls a helper in this file.
func Helper(x int) int { return double(x) }

func double(x int) int { return x * 2 }

// OtherFile calls a helper in another file of the package.
func OtherFile(x int) int { return inOther(x) }

// OtherPkg calls a helper in another package of the module.
func OtherPkg(x int) int { return lib.Scale(x) }

// Method calls a method.
func Method(x int) int { c := counter{n: x}; return c.next() }

type counter struct{ n int }

func (c counter) next() int { return c.n + 1 }

// Generic calls a generic helper.
func Generic(xs []int) []int { return mapped(xs, func(v int) int { return v + 1 }) }

func mapped[T any](xs []T, f func(T) T) []T {
	out := make([]T, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

const factor = 3

// Const reads a constant.
func Const(x int) int { return x * factor }

// ViaHelperConst calls a helper that reads a constant.
func ViaHelperConst(x int) int { return scaled(x) }

func scaled(x int) int { return x * lib.Factor }

var offset = 10

// VarInit reads a variable's initializer.
func VarInit(x int) int { return x + offset }

var transform = double

// FuncVar calls through a func-typed variable.
func FuncVar(x int) int { return transform(x) }

var level int

func init() { level = 4 }

// InitSet reads a variable set in init.
func InitSet(x int) int { return x + level }

//go:embed data.txt
var data string

// Embed reads an embedded file.
func Embed() string { return strings.TrimSpace(data) }

type point struct{ X, Y int }

// Struct formats a struct type (not its result type).
func Struct() string { return fmt.Sprintf("%v", point{1, 2}) }

type row struct {
	Name string ` + "`json:\"name\"`" + `
}

// Tag marshals a struct with tags.
func Tag() string { b, _ := json.Marshal(row{"a"}); return string(b) }

type shape interface{ area() int }

type square struct{ s int }

func (q square) area() int { return q.s * q.s }

var current shape = square{2}

// Iface calls through an interface.
func Iface() int { return current.area() }

// Locals has locals to rename.
func Locals(x int) int {
	total := 0
	for i := 0; i < x; i++ {
		total += i
	}
	return total
}

// Unrelated is called by no node.
func Unrelated() int { return 42 }

// Reader reads a package variable that Register writes from its callers.
func Reader() string { return strings.Join(names, ",") }

var names []string

func Register(n string) { names = append(names, n) }

func init() { Register("first") }

// Switch uses a type switch guard.
func Switch(v any) int {
	switch t := v.(type) {
	case int:
		return t
	}
	return 0
}
`,
	"other.go": `package m

func inOther(x int) int { return x - 1 }
`,
	"data.txt": "hello\n",
	"lib/lib.go": `package lib

// Factor is read by a helper of package m.
const Factor = 5

// Scale is called from package m.
func Scale(x int) int { return x * 7 }
`,
	"twin/twin.go": `package twin

// Helper has the text of m.Helper, in another package.
func Helper(x int) int { return double(x) }

func double(x int) int { return x * 2 }
`,
}

// writeModule writes files into a new directory.
func writeModule(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// testResolver returns a resolver with a fixed build and no persisted
// tables.
func testResolver() *resolver {
	r := newResolver()
	r.buildInfo = func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.test", Main: debug.Module{Path: "example.com/m"}}, true
	}
	r.exeHash = func() (string, error) { return "exe", nil }
	return r
}

// moduleVersions returns the version of every function and method of the
// module in dir, by "pkgdir.Key" ("..Helper", "twin.Helper",
// ".counter.next").
func moduleVersions(t *testing.T, dir string) map[string]string {
	t.Helper()
	r := testResolver()
	tr, err := scanTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := buildGraph(tr, "example.com/m", os.ReadFile)
	if len(g.parseErrs) > 0 {
		t.Fatalf("parse errors: %v", g.parseErrs)
	}
	ms := &modState{root: dir, path: "example.com/m", tree: tr, entries: map[string]tableEntry{}, embeds: map[string]bool{}}
	out := map[string]string{}
	for rel, f := range g.files {
		for key, i := range f.sum.decls {
			if k := f.sum.units[i].kind; k != kindFunc && k != kindMethod {
				continue
			}
			e := r.compute(ms, g, []int{f.base + i})
			pkg := strings.TrimSuffix(filepath.Dir(rel), ".")
			out[pkg+"."+key] = hex.EncodeToString(e.version[:])
		}
	}
	return out
}

// changed returns the functions whose versions differ between a and b.
func changed(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k+" (new)")
		}
	}
	slices.Sort(out)
	return out
}

// edit returns a copy of files with old replaced by new in file name (the
// whole file when old is "").
func edit(t *testing.T, files map[string]string, name, old, new string) map[string]string {
	t.Helper()
	out := maps.Clone(files)
	if old == "" {
		out[name] = new
		return out
	}
	if !strings.Contains(out[name], old) {
		t.Fatalf("%s does not contain %q", name, old)
	}
	out[name] = strings.Replace(out[name], old, new, 1)
	return out
}

func TestModuleVersionsFollowDependencies(t *testing.T) {
	base := moduleVersions(t, writeModule(t, baseModule))
	if base[".Helper"] == base["twin.Helper"] {
		t.Errorf("m.Helper and twin.Helper have one version: the package is not part of it")
	}
	cases := []struct {
		name      string
		file      string
		old, new  string
		mustMiss  []string // must change
		mustStay  []string // must not change
		exactOnly bool     // mustMiss is the exact set of changes among nodes
	}{
		{"helper in the same file", "nodes.go", "return x * 2 }", "return x * 20 }",
			[]string{".Helper", ".FuncVar", ".double"}, []string{".Const", ".OtherFile", ".Locals", ".Unrelated"}, false},
		{"helper in another file", "other.go", "x - 1", "x - 2", []string{".OtherFile"}, []string{".Helper"}, false},
		{"helper in another package", "lib/lib.go", "x * 7", "x * 8", []string{".OtherPkg"}, []string{".ViaHelperConst", ".Helper"}, false},
		{"method", "nodes.go", "c.n + 1", "c.n + 2", []string{".Method"}, []string{".Helper"}, false},
		{"generic helper", "nodes.go", "out[i] = f(x)", "out[i] = f(f(x))", []string{".Generic"}, []string{".Helper"}, false},
		{"const", "nodes.go", "const factor = 3", "const factor = 4", []string{".Const"}, []string{".Helper"}, false},
		{"const of a helper in another package", "lib/lib.go", "Factor = 5", "Factor = 6", []string{".ViaHelperConst"}, []string{".OtherPkg"}, false},
		{"var initializer", "nodes.go", "var offset = 10", "var offset = 11", []string{".VarInit"}, []string{".Const"}, false},
		{"func var switched", "nodes.go", "var transform = double", "var transform = inOther", []string{".FuncVar"}, []string{".Helper"}, false},
		{"global set in init", "nodes.go", "level = 4", "level = 5", []string{".InitSet"}, []string{".Helper"}, false},
		{"embedded file", "data.txt", "", "bye\n", []string{".Embed"}, []string{".Helper", ".Struct"}, false},
		{"struct gains a field", "nodes.go", "type point struct{ X, Y int }", "type point struct{ X, Y, Z int }", []string{".Struct"}, []string{".Tag"}, false},
		{"field tag", "nodes.go", `json:"name"`, `json:"title"`, []string{".Tag"}, []string{".Struct"}, false},
		{"interface implementation", "nodes.go", "q.s * q.s", "q.s + q.s", []string{".Iface"}, []string{".Helper"}, false},
		{"interface variable switched", "nodes.go", "var current shape = square{2}", "var current shape = square{3}", []string{".Iface"}, []string{".Helper"}, false},
		{"caller of a registry writer", "nodes.go", `Register("first")`, `Register("second")`, []string{".Reader"}, []string{".Helper"}, false},
		// Harmless edits.
		{"comments", "nodes.go", "// Helper calls a helper in this file.", "// Helper calls double.\n// More words.", nil, []string{".Helper", ".double"}, true},
		{"formatting", "nodes.go", "func double(x int) int { return x * 2 }", "func double(x int) int {\n\treturn x *\n\t\t2\n}", nil, []string{".Helper", ".double"}, true},
		{"unrelated function added", "other.go", "", "package m\n\nfunc inOther(x int) int { return x - 1 }\n\nfunc added() int { return 7 }\n", nil, []string{".OtherFile"}, true},
		{"unreachable function edited", "nodes.go", "return 42", "return 43", []string{".Unrelated"}, []string{".Helper", ".Const"}, true},
		{"local renamed", "nodes.go", "total := 0\n\tfor i := 0; i < x; i++ {\n\t\ttotal += i\n\t}\n\treturn total", "sum := 0\n\tfor j := 0; j < x; j++ {\n\t\tsum += j\n\t}\n\treturn sum", nil, []string{".Locals"}, true},
		{"parameter renamed", "nodes.go", "func double(x int) int { return x * 2 }", "func double(y int) int { return y * 2 }", nil, []string{".double", ".Helper"}, true},
		{"type switch variable renamed", "nodes.go", "switch t := v.(type) {\n\tcase int:\n\t\treturn t", "switch u := v.(type) {\n\tcase int:\n\t\treturn u", nil, []string{".Switch"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := moduleVersions(t, writeModule(t, edit(t, baseModule, c.file, c.old, c.new)))
			diff := changed(base, got)
			for _, n := range c.mustMiss {
				if base[n] == got[n] {
					t.Errorf("%s kept its version: a stale result would be served (changed: %v)", n, diff)
				}
			}
			for _, n := range c.mustStay {
				if base[n] != got[n] {
					t.Errorf("%s changed its version: a needless miss (changed: %v)", n, diff)
				}
			}
			if c.exactOnly {
				want := slices.Clone(c.mustMiss)
				slices.Sort(want)
				var nodes []string
				for _, d := range diff {
					if !strings.HasSuffix(d, "(new)") {
						nodes = append(nodes, d)
					}
				}
				if !slices.Equal(nodes, want) {
					t.Errorf("changed %v, want exactly %v", nodes, want)
				}
			}
		})
	}
}

func TestModuleVersionsMoveAndReorder(t *testing.T) {
	base := moduleVersions(t, writeModule(t, baseModule))
	// double moves to other.go; Unrelated goes before Helper.
	files := edit(t, baseModule, "nodes.go", "func double(x int) int { return x * 2 }\n", "")
	files = edit(t, files, "other.go", "", baseModule["other.go"]+"\nfunc double(x int) int { return x * 2 }\n")
	files = edit(t, files, "nodes.go", "// Unrelated is called by no node.\nfunc Unrelated() int { return 42 }\n", "")
	files = edit(t, files, "nodes.go", "// Helper calls", "func Unrelated() int { return 42 }\n\n// Helper calls")
	got := moduleVersions(t, writeModule(t, files))
	if d := changed(base, got); len(d) > 0 {
		t.Errorf("moving and reordering declarations changed %v", d)
	}
}

func TestExplainNamesParts(t *testing.T) {
	dir := writeModule(t, baseModule)
	r := testResolver()
	tr, _ := scanTree(dir)
	g := buildGraph(tr, "example.com/m", os.ReadFile)
	ms := &modState{root: dir, path: "example.com/m", tree: tr, entries: map[string]tableEntry{}, embeds: map[string]bool{}}
	f := g.files["nodes.go"]
	e := r.compute(ms, g, []int{f.base + f.sum.decls["ViaHelperConst"]})
	var names []string
	for _, p := range e.parts {
		names = append(names, p.Kind+" "+p.Name+" "+p.File)
	}
	for _, want := range []string{
		"root func example.com/m.ViaHelperConst nodes.go",
		"func example.com/m.scaled nodes.go",
		"const example.com/m/lib.Factor lib/lib.go",
		"toolchain go1.test " + goosArch() + " ",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("parts %q lack %q", names, want)
		}
	}
	if slices.ContainsFunc(names, func(s string) bool { return strings.Contains(s, "Unrelated") }) {
		t.Errorf("parts %q hold Unrelated, which ViaHelperConst does not reach", names)
	}
	e = r.compute(ms, g, []int{f.base + f.sum.decls["Embed"]})
	if !slices.ContainsFunc(e.parts, func(p Part) bool { return p.Kind == "embed" && p.File == "data.txt" }) {
		t.Errorf("parts of Embed lack the embedded data.txt: %v", e.parts)
	}
}

func goosArch() string { return runtime.GOOS + "/" + runtime.GOARCH }

func TestBuildTableRoundTripAndDamage(t *testing.T) {
	dir := writeModule(t, edit(t, baseModule, "nodes.go", "package m", "package main"))
	tab, name, err := generateTable(dir)
	if err != nil {
		t.Fatal(err)
	}
	if name != "main" || tab.module != "example.com/m" {
		t.Fatalf("table of %s, package %s", tab.module, name)
	}
	f, ok := tab.funcs["main\x00Helper\x00nodes.go"]
	if !ok {
		t.Fatalf("no Helper in the table: %d funcs", len(tab.funcs))
	}
	enc := encodeBuildTable(tab)
	got, err := decodeBuildTable(base64.StdEncoding.EncodeToString(enc))
	if err != nil {
		t.Fatal(err)
	}
	if g := got.funcs["main\x00Helper\x00nodes.go"]; g.desc.digest != f.desc.digest || g.line != f.line {
		t.Errorf("Helper after a round trip: %+v, want %+v", g, f)
	}
	// The versions of a table are those of the source.
	r := testResolver()
	tr, _ := scanTree(dir)
	gr := buildGraph(tr, "example.com/m", os.ReadFile)
	ms := &modState{root: dir, tree: tr, entries: map[string]tableEntry{}, embeds: map[string]bool{}}
	nf := gr.files["nodes.go"]
	src := r.compute(ms, gr, []int{nf.base + nf.sum.decls["Helper"]})
	fromTab := r.finish(got.funcs["main\x00Helper\x00nodes.go"].desc, buildEnv{replaced: got.replaced, requires: got.requires})
	if src.version != fromTab.version {
		t.Errorf("the table's version of Helper differs from the source's")
	}
	// Damage: every cut and a flipped byte in each tenth is an error, never a
	// panic or a table.
	for n := 0; n < len(enc); n += max(1, len(enc)/200) {
		if _, err := decodeBuildTable(base64.StdEncoding.EncodeToString(enc[:n])); err == nil {
			t.Fatalf("a table cut to %d bytes decodes", n)
		}
	}
	for i := 0; i < 10; i++ {
		bad := slices.Clone(enc)
		bad[len(bad)*i/10] ^= 0x10
		if _, err := decodeBuildTable(base64.StdEncoding.EncodeToString(bad)); err == nil {
			t.Errorf("a table with byte %d flipped decodes", len(bad)*i/10)
		}
	}
}
