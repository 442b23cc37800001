package mutation

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/flowcache/flowcache/core/codeversion"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/flowcache/flowcache/backends/local" // the file scheme inspect.Open opens
	"github.com/flowcache/flowcache/inspect"

	"github.com/flowcache/flowcache/internal/testmodule"
)

// buildTag is the value the builds give main.buildTag with -ldflags -X,
// unless a case says otherwise.
const buildTag = "alpha"

// relVersions are the versions of example.com/rel the file proxy serves.
var relVersions = []string{"v1.0.0", "v1.1.0"}

// editMode says how an edit changes a file.
type editMode int

const (
	replaceOnce editMode = iota // replace old, which must occur exactly once, by new
	replaceAll                  // replace every occurrence of old (at least one) by new
	appendText                  // append new to the file
	createFile                  // write new as the whole file, which must not exist
)

// edit is one change of one file of a case's copy of the source.
type edit struct {
	// file is relative to the case's root, which holds pipeline/ (the main
	// module), dep/, alt1/ and alt2/.
	file     string
	old, new string
	mode     editMode
}

func (e edit) String() string {
	switch e.mode {
	case replaceAll:
		return fmt.Sprintf("%s: every %s -> %s", e.file, short(e.old), short(e.new))
	case appendText:
		return fmt.Sprintf("%s: append %s", e.file, short(e.new))
	case createFile:
		return fmt.Sprintf("%s: create with %s", e.file, short(e.new))
	}
	return fmt.Sprintf("%s: %s -> %s", e.file, short(e.old), short(e.new))
}

func short(s string) string {
	if len(s) > 120 {
		s = s[:100] + "…" + s[len(s)-15:]
	}
	return fmt.Sprintf("%q", s)
}

func (e edit) apply(root string) error {
	path := filepath.Join(root, filepath.FromSlash(e.file))
	if e.mode == createFile {
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("%s exists", e.file)
		}
		return os.WriteFile(path, []byte(e.new), 0o644)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	src := string(b)
	switch e.mode {
	case replaceOnce:
		if n := strings.Count(src, e.old); n != 1 {
			return fmt.Errorf("%s: %q occurs %d times, want once", e.file, e.old, n)
		}
		src = strings.Replace(src, e.old, e.new, 1)
	case replaceAll:
		if !strings.Contains(src, e.old) {
			return fmt.Errorf("%s: %q does not occur", e.file, e.old)
		}
		src = strings.ReplaceAll(src, e.old, e.new)
	case appendText:
		src += e.new
	}
	return os.WriteFile(path, []byte(src), 0o644)
}

// mutation is one case of the common flow: edit a copy of the baseline
// source, build it, run it once against a copy of the baseline cache.
type mutation struct {
	name string
	// what says what the case exercises, for failure messages.
	what  string
	edits []edit
	// ldflagsTag, when set, is the value of main.buildTag instead of buildTag.
	ldflagsTag string
	// exec are the nodes that must be executed; every other node must be
	// retrieved.
	exec []string
	// changed is a node whose fresh value the edit must change (a check of
	// the suite itself); "" when the edit must change no value.
	changed string
	// why is what `flowcache why changed` must say changed in the node's
	// code (a line of inspect.Change.Code), from the code manifests the
	// baseline run and the run after the edit stored.
	why string
}

func (m mutation) describe() string {
	var parts []string
	for _, e := range m.edits {
		parts = append(parts, e.String())
	}
	if m.ldflagsTag != "" {
		parts = append(parts, fmt.Sprintf("build flag -ldflags '-X main.buildTag=%s' (was %s)", m.ldflagsTag, buildTag))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// reexecuteCases must execute the node whose code changed.
var reexecuteCases = []mutation{
	{
		name: "helper/same_file", what: "a helper in the node's file is edited",
		edits:   []edit{{file: "pipeline/nodes.go", old: "return x*10 + 1", new: "return x*10 + 2"}},
		exec:    []string{"same_file_helper", "downstream"},
		changed: "same_file_helper",
		why:     "func example.com/pipeline.sameFileHelp (nodes.go) changed",
	},
	{
		name: "helper/other_file", what: "a helper in another file of the package is edited",
		edits:   []edit{{file: "pipeline/helpers.go", old: "return x*10 + 3", new: "return x*10 + 4"}},
		exec:    []string{"other_file_helper"},
		changed: "other_file_helper",
		why:     "func example.com/pipeline.otherFileHelp (helpers.go) changed",
	},
	{
		name: "helper/other_package", what: "a helper in another package of the module is edited",
		edits:   []edit{{file: "pipeline/util/util.go", old: "return x * 100", new: "return x * 200"}},
		exec:    []string{"other_package_helper"},
		changed: "other_package_helper",
		why:     "func example.com/pipeline/util.Scale (util/util.go) changed",
	},
	{
		name: "helper/method", what: "a method the node calls is edited",
		edits:   []edit{{file: "pipeline/helpers.go", old: "return a.base + x", new: "return a.base + 2*x"}},
		exec:    []string{"method"},
		changed: "method",
		why:     "method example.com/pipeline.acc.add (helpers.go) changed",
	},
	{
		name: "helper/generic", what: "a generic helper the node instantiates is edited",
		edits:   []edit{{file: "pipeline/helpers.go", old: "s += v\n", new: "s += v * v\n"}},
		exec:    []string{"generic_helper"},
		changed: "generic_helper",
		why:     "func example.com/pipeline.sumOf (helpers.go) changed",
	},
	{
		name: "const/read_by_node", what: "a package-level constant the node reads is changed",
		edits: []edit{{file: "pipeline/nodes.go", old: "const factor = 3", new: "const factor = 5"}},
		// 15 -> 25: parity executes (its input changed), its value (1)
		// does not change, so parity_label is retrieved.
		exec:    []string{"const_read", "parity"},
		changed: "const_read",
		why:     "const example.com/pipeline.factor (nodes.go) changed",
	},
	{
		name: "const/read_by_helper", what: "a constant read by a helper of the node is changed",
		edits:   []edit{{file: "pipeline/helpers.go", old: "const helperLimit = 7", new: "const helperLimit = 8"}},
		exec:    []string{"helper_const"},
		changed: "helper_const",
		why:     "const example.com/pipeline.helperLimit (helpers.go) changed",
	},
	{
		name: "var/initializer", what: "the initializer of a package variable the node reads is changed",
		edits:   []edit{{file: "pipeline/nodes.go", old: `strings.Repeat("ab", 2)`, new: `strings.Repeat("ab", 3)`}},
		exec:    []string{"var_initializer"},
		changed: "var_initializer",
		why:     "var example.com/pipeline.greeting (nodes.go) changed",
	},
	{
		name: "var/func_switched", what: "a func-typed package variable is switched to another function",
		edits:   []edit{{file: "pipeline/nodes.go", old: "var transform = double", new: "var transform = triple"}},
		exec:    []string{"func_var"},
		changed: "func_var",
		why:     "var example.com/pipeline.transform (nodes.go) changed",
	},
	{
		name: "var/set_in_init", what: "the value init gives a package variable is changed",
		edits:   []edit{{file: "pipeline/nodes.go", old: "initValue = 11", new: "initValue = 12"}},
		exec:    []string{"init_global"},
		changed: "init_global",
		why:     "init example.com/pipeline.init (nodes.go) changed",
	},
	{
		name: "embed/file_content", what: "the content of a //go:embed file is changed",
		edits:   []edit{{file: "pipeline/data.txt", old: "alpha", new: "beta"}},
		exec:    []string{"embed_file"},
		changed: "embed_file",
		why:     "embedded file example.com/pipeline/data.txt (data.txt) changed",
	},
	{
		name: "type/field_added", what: "a struct type used by the node (not its result type) gains a field",
		edits:   []edit{{file: "pipeline/nodes.go", old: "\tW, H int\n", new: "\tW, H int\n\tD    int\n"}},
		exec:    []string{"struct_field"},
		changed: "struct_field",
		why:     "type example.com/pipeline.box (nodes.go) changed",
	},
	{
		name: "type/field_tag", what: "a struct field tag read by encoding/json is changed",
		edits:   []edit{{file: "pipeline/nodes.go", old: "`json:\"name\"`", new: "`json:\"title\"`"}},
		exec:    []string{"struct_tag"},
		changed: "struct_tag",
		why:     "type example.com/pipeline.record (nodes.go) changed",
	},
	{
		name: "interface/method_body", what: "the method body of the implementation behind an interface is edited",
		edits:   []edit{{file: "pipeline/helpers.go", old: `"hello %d"`, new: `"hi %d"`}},
		exec:    []string{"interface_method"},
		changed: "interface_method",
		why:     "method example.com/pipeline.english.Greet (helpers.go) changed",
	},
	{
		name: "interface/impl_switched", what: "the variable holding an interface's implementation is switched to another type",
		edits:   []edit{{file: "pipeline/helpers.go", old: "var scaler Scaler = byTen{}", new: "var scaler Scaler = byHundred{}"}},
		exec:    []string{"interface_impl"},
		changed: "interface_impl",
		why:     "var example.com/pipeline.scaler (helpers.go) changed",
	},
	{
		name: "module/replaced_dir_edited", what: "a module replaced by a directory is edited in place",
		edits:   []edit{{file: "dep/dep.go", old: `"dep-"`, new: `"dep-edited-"`}},
		exec:    []string{"dep_module"},
		changed: "dep_module",
		why:     "module example.com/dep (=> ../dep) changed: the code of its directory",
	},
	{
		name: "module/replace_switched", what: "a replace directive is switched to another directory with other code",
		edits:   []edit{{file: "pipeline/go.mod", old: "=> ../alt1", new: "=> ../alt2"}},
		exec:    []string{"dep_replaced"},
		changed: "dep_replaced",
		why:     "module example.com/alt => ../alt2 now, was => ../alt1",
	},
	{
		name: "module/require_bumped", what: "a required module is bumped from v1.0.0 to v1.1.0",
		edits:   []edit{{file: "pipeline/go.mod", old: "example.com/rel v1.0.0", new: "example.com/rel v1.1.0"}},
		exec:    []string{"dep_required"},
		changed: "dep_required",
		why:     "module example.com/rel v1.0.0 -> v1.1.0",
	},
	{
		name: "build/ldflags_X", what: "a -ldflags -X value read by the node is changed",
		ldflagsTag: "beta",
		exec:       []string{"ldflags_var"},
		changed:    "ldflags_var",
		why:        "the -ldflags -X main.buildTag value changed",
	},
	{
		name: "func/same_text_other_package", what: "the node is switched from pkg1.F to pkg2.F: identical text, different helpers",
		edits: []edit{
			{file: "pipeline/main.go", old: `"example.com/pipeline/pkg1"`, new: `"example.com/pipeline/pkg2"`},
			{file: "pipeline/main.go", old: `{"pkg_switch", pkg1.F, x}`, new: `{"pkg_switch", pkg2.F, x}`},
		},
		exec:    []string{"pkg_switch"},
		changed: "pkg_switch",
		why:     "its function is func example.com/pipeline/pkg2.F (pkg2/pkg2.go) now, was example.com/pipeline/pkg1.F",
	},
}

// hitCases must retrieve every node but those whose own code changed.
var hitCases = []mutation{
	{
		name: "control/unchanged_rebuilt_elsewhere", what: "nothing is edited; the source is rebuilt in another directory",
	},
	{
		name: "comment/edited", what: "comments inside a node function and a helper are added and edited",
		edits: []edit{
			{file: "pipeline/nodes.go", old: "\treturn sameFileHelp(x)\n", new: "\t// The helper decides.\n\treturn sameFileHelp( /* the input */ x)\n"},
			{file: "pipeline/helpers.go", old: "return x*10 + 3\n", new: "return x*10 + 3 // three, not four\n"},
			{file: "pipeline/helpers.go", old: "// helperLimit is read by withLimit, not by the node.", new: "// helperLimit is the limit.\n// It is read by withLimit, not by the node."},
		},
	},
	{
		name: "comment/doc_edited", what: "doc comments of node functions, helpers, types and constants are edited",
		edits: []edit{
			{file: "pipeline/nodes.go", old: "// SameFileHelper calls a helper declared in this file.", new: "// SameFileHelper is a node.\n//\n// It calls a helper declared in this file."},
			{file: "pipeline/nodes.go", old: "// sameFileHelp is the helper of SameFileHelper.", new: "// sameFileHelp computes SameFileHelper's value."},
			{file: "pipeline/nodes.go", old: "// factor is read by ConstRead.", new: "// factor is the factor."},
			{file: "pipeline/nodes.go", old: "// box is used by StructField; it is not its result type.", new: "// box is a box."},
			{file: "pipeline/helpers.go", old: "// acc has the method Method calls.", new: "// acc accumulates."},
			{file: "pipeline/util/util.go", old: "// Scale is called by the node other_package_helper.", new: "// Scale scales x."},
		},
	},
	{
		name: "format/reformatted", what: "a file is reformatted: spaces for tabs, other line breaks",
		edits: []edit{
			{file: "pipeline/nodes.go", old: "func SameFileHelper(x int) int {\n", new: "func SameFileHelper(\n\tx int,\n) int {\n"},
			{file: "pipeline/nodes.go", old: "func double(x int) int { return x * 2 }", new: "func double(x int) int {\n\treturn x*2\n}"},
			{file: "pipeline/nodes.go", old: "\treturn x*10 + 1\n", new: "\treturn x * 10 +\n\t\t1;\n"},
			{file: "pipeline/nodes.go", old: "return acc{base: 2}.add(x)", new: "return acc{\n\t\tbase: 2,\n\t}.add(x)"},
			{file: "pipeline/nodes.go", old: "\n\n", new: "\n\n\n", mode: replaceAll},
			{file: "pipeline/nodes.go", old: "\t", new: "    ", mode: replaceAll},
			{file: "pipeline/helpers.go", old: "\t", new: "  ", mode: replaceAll},
		},
	},
	{
		name: "decl/unrelated_function_added", what: "a function no node calls is added",
		edits: []edit{
			{file: "pipeline/nodes.go", mode: appendText, new: "\n// unrelatedAddition is called by nothing.\nfunc unrelatedAddition(x int) int {\n\treturn x * 99\n}\n"},
			{file: "pipeline/helpers.go", old: "// acc has the method Method calls.", new: "func anotherUnrelated() string { return \"unused\" }\n\n// acc has the method Method calls."},
		},
	},
	{
		name: "decl/function_moved_to_other_file", what: "a helper of a node is moved to a new file of the package",
		edits: []edit{
			{file: "pipeline/nodes.go", old: "// sameFileHelp is the helper of SameFileHelper.\nfunc sameFileHelp(x int) int {\n\treturn x*10 + 1\n}\n\n", new: ""},
			{file: "pipeline/moved.go", mode: createFile, new: "package main\n\n// sameFileHelp is the helper of SameFileHelper.\nfunc sameFileHelp(x int) int {\n\treturn x*10 + 1\n}\n"},
		},
	},
	{
		name: "decl/reordered", what: "top-level declarations are reordered",
		edits: []edit{
			{file: "pipeline/nodes.go", old: "func double(x int) int { return x * 2 }\n\nfunc triple(x int) int { return x * 3 }\n", new: "func triple(x int) int { return x * 3 }\n\nfunc double(x int) int { return x * 2 }\n"},
			{file: "pipeline/nodes.go",
				old: "// SameFileHelper calls a helper declared in this file.\nfunc SameFileHelper(x int) int {\n\treturn sameFileHelp(x)\n}\n\n// sameFileHelp is the helper of SameFileHelper.\nfunc sameFileHelp(x int) int {\n\treturn x*10 + 1\n}\n",
				new: "// sameFileHelp is the helper of SameFileHelper.\nfunc sameFileHelp(x int) int {\n\treturn x*10 + 1\n}\n\n// SameFileHelper calls a helper declared in this file.\nfunc SameFileHelper(x int) int {\n\treturn sameFileHelp(x)\n}\n"},
			{file: "pipeline/helpers.go",
				old: "// helperLimit is read by withLimit, not by the node.\nconst helperLimit = 7\n\nfunc withLimit(x int) int {\n\treturn x + helperLimit\n}\n",
				new: "func withLimit(x int) int {\n\treturn x + helperLimit\n}\n\n// helperLimit is read by withLimit, not by the node.\nconst helperLimit = 7\n"},
		},
	},
	{
		name: "decl/unreachable_function_edited", what: "a function of the node's package that no node can reach (main's harnessNote) is edited",
		edits: []edit{{file: "pipeline/main.go", old: `return "mutation pipeline"`, new: `return "mutation pipeline, edited"`}},
	},
	{
		name: "rename/local_in_node", what: "a local variable of a node function is renamed (all its uses)",
		edits: []edit{{file: "pipeline/nodes.go",
			old: "\ttotal := x * 3\n\ttotal += 4\n\treturn total\n",
			new: "\tsum := x * 3\n\tsum += 4\n\treturn sum\n"}},
	},
	{
		name: "rename/local_in_helper", what: "a local variable of a helper is renamed (all its uses)",
		edits: []edit{{file: "pipeline/helpers.go",
			old: "\tcount := x + 8\n\tcount *= 2\n\treturn count\n",
			new: "\tn := x + 8\n\tn *= 2\n\treturn n\n"}},
	},
	{
		name: "other_node/edited", what: "another node's own code is edited: only that node re-executes",
		edits:   []edit{{file: "pipeline/nodes.go", old: "return x + 1000", new: "return x + 2000"}},
		exec:    []string{"plain"},
		changed: "plain",
		why:     "its own function, func example.com/pipeline.Plain (nodes.go), changed",
	},
}

// childGoflags returns the GOFLAGS of the child builds: the ambient ones
// without the flags that would change what the suite measures or slow it
// (-race, -msan, -asan, -cover..., -trimpath, -mod), plus -mod=mod, which
// lets the go command complete go.mod and go.sum of the copies.
func childGoflags(ambient string) string {
	var keep []string
	for _, f := range strings.Fields(ambient) {
		name, _, _ := strings.Cut(strings.TrimLeft(f, "-"), "=")
		switch {
		case name == "race", name == "msan", name == "asan", name == "trimpath", name == "mod",
			strings.HasPrefix(name, "cover"):
			continue
		}
		keep = append(keep, f)
	}
	return strings.Join(append(keep, "-mod=mod"), " ")
}

// suite is what the cases share: the tools, the environment of the go
// command and the baseline.
type suite struct {
	goBin string
	env   []string
	// src is the baseline source: pipeline/, dep/, alt1/, alt2/, with the
	// go.mod and go.sum of pipeline/ resolved by the baseline build.
	src string
	// bin and cache are the baseline binary and its cache after two runs.
	bin, cache string
	// fresh are the baseline values by node, as JSON.
	fresh map[string]string
	// order lists the nodes in the program's order.
	order []string
}

func TestMutations(t *testing.T) {
	if testing.Short() {
		t.Skip("mutation suite skipped with -short: it builds about 40 binaries of a template pipeline (run it without -short)")
	}
	start := time.Now()
	s := setup(t)
	t.Logf("baseline ready in %v", time.Since(start).Round(time.Millisecond))
	// Cleanup runs when every case is done: the two groups run in parallel.
	t.Cleanup(func() { t.Logf("suite took %v", time.Since(start).Round(time.Millisecond)) })

	t.Run("reexecute", func(t *testing.T) {
		t.Parallel()
		for _, m := range reexecuteCases {
			t.Run(m.name, func(t *testing.T) {
				t.Parallel()
				s.runMutation(t, m)
			})
		}
		t.Run("old_binary", func(t *testing.T) {
			t.Parallel()
			s.runOldBinary(t)
		})
		t.Run("trimpath", func(t *testing.T) {
			t.Parallel()
			s.runTrimpath(t)
		})
		t.Run("deployed", func(t *testing.T) {
			t.Parallel()
			s.runDeployed(t)
		})
		t.Run("state", func(t *testing.T) {
			t.Parallel()
			s.runState(t)
		})
	})
	t.Run("hit", func(t *testing.T) {
		t.Parallel()
		for _, m := range hitCases {
			t.Run(m.name, func(t *testing.T) {
				t.Parallel()
				s.runMutation(t, m)
			})
		}
	})
}

// setup finds the tools, writes the file proxy, and builds and runs the
// baseline twice.
func setup(t *testing.T) *suite {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the mutation suite builds Go programs and needs the go command on PATH: %v", err)
	}
	root, err := testmodule.Root()
	if err != nil {
		t.Fatal(err)
	}
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	s := &suite{goBin: goBin}

	goEnv := func(name string) string {
		out, err := exec.Command(goBin, "env", name).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", name, err)
		}
		return strings.TrimSpace(string(out))
	}
	tmp := t.TempDir()
	proxy := filepath.Join(tmp, "proxy")
	if err := writeProxy(proxy, filepath.Join(testdata, "rel")); err != nil {
		t.Fatalf("writing the module proxy: %v", err)
	}
	goproxy := "file://" + filepath.ToSlash(proxy)
	if orig := goEnv("GOPROXY"); orig != "" {
		goproxy += "," + orig
	}
	s.env = append(os.Environ(),
		"GOFLAGS="+childGoflags(goEnv("GOFLAGS")),
		"GOPROXY="+goproxy,
		// example.com/rel is not in any checksum database. GOPRIVATE is
		// not set: it would imply GONOPROXY and bypass the file proxy.
		"GOSUMDB=off",
		"GONOSUMDB=example.com",
		"GOWORK=off",
		// The programs keep their code version tables here, not in the
		// user's cache directory (one table per temporary module).
		"FLOWCACHE_CODEVERSION_CACHE="+filepath.Join(tmp, "codeversion"),
	)

	// The baseline source: the template, with a go.mod pointing at this
	// checkout and this checkout's go.sum.
	s.src = filepath.Join(tmp, "src")
	for _, d := range []string{"pipeline", "dep", "alt1", "alt2"} {
		if err := copyTree(filepath.Join(testdata, d), filepath.Join(s.src, d)); err != nil {
			t.Fatal(err)
		}
	}
	goVersion, err := testmodule.GoVersion(root)
	if err != nil {
		t.Fatal(err)
	}
	gomod := baselineGoMod(goVersion, root)
	if err := os.WriteFile(filepath.Join(s.src, "pipeline", "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(filepath.Join(root, "go.sum"), filepath.Join(s.src, "pipeline", "go.sum")); err != nil {
		t.Fatal(err)
	}

	s.bin = filepath.Join(tmp, "baseline")
	buildStart := time.Now()
	if err := s.build(t, s.src, s.bin, buildTag); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	t.Logf("baseline build: %v", time.Since(buildStart).Round(time.Millisecond))
	s.cache = filepath.Join(tmp, "cache")
	run1, err := s.run(s.bin, s.cache)
	if err != nil {
		t.Fatalf("baseline run 1: %v", err)
	}
	for _, n := range run1.Nodes {
		s.order = append(s.order, n.Name)
	}
	s.fresh = run1.freshByNode()
	var problems []string
	problems = append(problems, check(run1, s.order, "run 1 of the baseline")...)
	run2, err := s.run(s.bin, s.cache)
	if err != nil {
		t.Fatalf("baseline run 2: %v", err)
	}
	problems = append(problems, check(run2, nil, "run 2 of the baseline")...)
	if want := `"rel-v1.0.0-5"`; s.fresh["dep_required"] != want {
		problems = append(problems, fmt.Sprintf("suite: dep_required is %s, want %s: the module cache may hold another example.com/rel v1.0.0 (go clean -modcache)", s.fresh["dep_required"], want))
	}
	if len(problems) > 0 {
		t.Fatalf("the baseline must execute every node in its first run and retrieve every node in its second:\n\t%s", strings.Join(problems, "\n\t"))
	}
	return s
}

// baselineGoMod returns the go.mod of the template's pipeline/: its
// modules, with flowcache replaced by the checkout at root.
func baselineGoMod(goVersion, root string) string {
	return fmt.Sprintf(`module example.com/pipeline

go %s

require (
	example.com/alt v0.0.0
	example.com/dep v0.0.0
	example.com/rel v1.0.0
	github.com/flowcache/flowcache v0.0.0
)

replace (
	example.com/alt => ../alt1
	example.com/dep => ../dep
	github.com/flowcache/flowcache => %s
)
`, goVersion, root)
}

// runMutation is the common flow of a case.
func (s *suite) runMutation(t *testing.T, m mutation) {
	dir := t.TempDir()
	if err := copyTree(s.src, dir); err != nil {
		t.Fatal(err)
	}
	for _, e := range m.edits {
		if err := e.apply(dir); err != nil {
			t.Fatalf("suite: cannot apply edit: %v", err)
		}
	}
	tag := buildTag
	if m.ldflagsTag != "" {
		tag = m.ldflagsTag
	}
	bin := filepath.Join(dir, "bin")
	if err := s.build(t, dir, bin, tag); err != nil {
		t.Fatalf("%s\nedit: %s", err, m.describe())
	}
	cache := filepath.Join(dir, "cache")
	if err := copyTree(s.cache, cache); err != nil {
		t.Fatal(err)
	}
	out, err := s.run(bin, cache)
	if err != nil {
		t.Fatalf("%v\nedit: %s", err, m.describe())
	}
	problems := s.selfCheck(out, m.changed, m.exec)
	problems = append(problems, check(out, m.exec, "the run after the edit")...)
	if len(problems) > 0 {
		t.Errorf("%s\n\tedit: %s\n\twant executed %v, every other node retrieved; got executed %v\n\t%s",
			m.what, m.describe(), orNone(m.exec), orNone(out.executed()), strings.Join(problems, "\n\t"))
	}
	if m.why != "" {
		checkWhy(t, cache, m)
	}
}

// checkWhy checks that Why explains the miss of the edited node by naming
// what the edit changed in its code.
func checkWhy(t *testing.T, cache string, m mutation) {
	t.Helper()
	ctx := t.Context()
	ic, err := inspect.Open(ctx, cache)
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	es, err := ic.Why(ctx, "", m.changed)
	if err != nil {
		t.Fatalf("why %s: %v", m.changed, err)
	}
	var lines []string
	for _, e := range es {
		for _, ch := range e.Changes {
			for _, c := range ch.Code {
				lines = append(lines, c.Text)
			}
		}
	}
	if !slices.Contains(lines, m.why) {
		t.Errorf("%s\n\tedit: %s\n\twhy %s names %q in its code; want %q\n\t%s", m.what, m.describe(), m.changed, lines, m.why, es[0].Text)
	}
}

// selfCheck verifies the suite's own premise: the edit changes the fresh
// value of changed and of no node outside exec.
func (s *suite) selfCheck(out *output, changed string, exec []string) []string {
	var problems []string
	fresh := out.freshByNode()
	if changed != "" && fresh[changed] == s.fresh[changed] {
		problems = append(problems, fmt.Sprintf("suite: the edit does not change the value of %s (%s): the case tests nothing", changed, fresh[changed]))
	}
	for _, name := range s.order {
		if !slices.Contains(exec, name) && fresh[name] != s.fresh[name] {
			problems = append(problems, fmt.Sprintf("suite: the edit changes the value of %s (%s, was %s), which the case expects to be retrieved", name, fresh[name], s.fresh[name]))
		}
	}
	return problems
}

// runOldBinary builds bin1 from source A, edits the source to B in place
// and builds bin2, then runs them in turn against one new cache: bin2 (all
// executed), bin1 (it runs next to source B; old_binary must execute and
// return A's value), bin2 (all retrieved, B's values), bin1 (all retrieved,
// A's values).
func (s *suite) runOldBinary(t *testing.T) {
	e := edit{file: "pipeline/nodes.go", old: "return x * 7", new: "return x * 8"}
	dir := t.TempDir()
	if err := copyTree(s.src, dir); err != nil {
		t.Fatal(err)
	}
	bin1, bin2 := filepath.Join(dir, "bin1"), filepath.Join(dir, "bin2")
	if err := s.build(t, dir, bin1, buildTag); err != nil {
		t.Fatal(err)
	}
	if err := e.apply(dir); err != nil {
		t.Fatalf("suite: %v", err)
	}
	if err := s.build(t, dir, bin2, buildTag); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	// bin1 is older than the source beside it: its versions come from the
	// build (its executable), so any of its nodes may execute, but
	// old_binary must, and with A's value.
	steps := []struct {
		bin, label string
		exec       []string
		fallback   bool
	}{
		{bin2, "run 1: bin2 (source B) on an empty cache", s.order, false},
		{bin1, "run 2: bin1 (built from A, run next to source B)", []string{"old_binary"}, true},
		{bin2, "run 3: bin2 again", nil, false},
		{bin1, "run 4: bin1 again", nil, false},
	}
	var vals [2]string
	for i, st := range steps {
		out, err := s.run(st.bin, cache)
		if err != nil {
			t.Fatalf("%s: %v", st.label, err)
		}
		vals[i%2] = out.freshByNode()["old_binary"]
		problems := check(out, st.exec, st.label)
		if st.fallback {
			problems = checkFallback(out, st.exec, st.label)
		}
		if len(problems) > 0 {
			t.Errorf("an old binary run next to newer source must not retrieve the newer code's results\n\tedit between the builds: %s\n\t%s: want executed %v; got executed %v\n\t%s",
				e, st.label, orNone(st.exec), orNone(out.executed()), strings.Join(problems, "\n\t"))
		}
	}
	if vals[0] == vals[1] {
		t.Errorf("suite: the edit does not change old_binary's value (%s)", vals[0])
	}
}

// runTrimpath builds with -trimpath, runs twice (all executed, all
// retrieved), edits the node trimpath, rebuilds with -trimpath and runs:
// trimpath must execute, with the new value (the others may: without
// source, versions come from the build).
func (s *suite) runTrimpath(t *testing.T) {
	e := edit{file: "pipeline/nodes.go", old: "return x * 11", new: "return x * 12"}
	dir := t.TempDir()
	if err := copyTree(s.src, dir); err != nil {
		t.Fatal(err)
	}
	bin1, bin2 := filepath.Join(dir, "bin1"), filepath.Join(dir, "bin2")
	if err := s.build(t, dir, bin1, buildTag, "-trimpath"); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	fail := func(label string, want []string, out *output, problems []string) {
		t.Errorf("binaries built with -trimpath (source paths not on disk)\n\tedit before the second build: %s\n\t%s: want executed %v; got executed %v\n\t%s",
			e, label, orNone(want), orNone(out.executed()), strings.Join(problems, "\n\t"))
	}
	for i, want := range [][]string{s.order, nil} {
		label := fmt.Sprintf("run %d of the -trimpath baseline", i+1)
		out, err := s.run(bin1, cache)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		if problems := check(out, want, label); len(problems) > 0 {
			fail(label, want, out, problems)
		}
	}
	if err := e.apply(dir); err != nil {
		t.Fatalf("suite: %v", err)
	}
	if err := s.build(t, dir, bin2, buildTag, "-trimpath"); err != nil {
		t.Fatal(err)
	}
	out, err := s.run(bin2, cache)
	if err != nil {
		t.Fatal(err)
	}
	// Without source the versions come from the build: every node may
	// execute after a rebuild, trimpath must.
	problems := s.selfCheck(out, "trimpath", []string{"trimpath"})
	problems = append(problems, checkFallback(out, []string{"trimpath"}, "the run after the edit")...)
	if len(problems) > 0 {
		fail("the run after the edit", []string{"trimpath"}, out, problems)
	}
}

// runDeployed follows the deploy recipe: the build-time table of code
// versions is generated (codeversion.GenerateTable, what flowcache
// codeversions writes) before each build, and binaries are built with
// -trimpath, so their source paths are not on disk. Their versions must be
// the very ones the source gives: a source-mode binary retrieves what a
// deployed one stored; after an edit only the edited node executes; the
// old binary, run next to the edited source, still retrieves its own
// results.
func (s *suite) runDeployed(t *testing.T) {
	e := edit{file: "pipeline/nodes.go", old: "return x * 11", new: "return x * 12"}
	dir := t.TempDir()
	if err := copyTree(s.src, dir); err != nil {
		t.Fatal(err)
	}
	generate := func() {
		t.Helper()
		pkg := filepath.Join(dir, "pipeline")
		src, err := codeversion.GenerateTable(pkg)
		if err != nil {
			t.Fatalf("GenerateTable: %v", err)
		}
		if err := os.WriteFile(filepath.Join(pkg, codeversion.TableFileName), src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cache := filepath.Join(dir, "cache")
	step := func(bin, label string, exec []string) *output {
		t.Helper()
		out, err := s.run(bin, cache)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		if problems := check(out, exec, label); len(problems) > 0 {
			t.Errorf("deployed binaries (build-time table, -trimpath)\n\t%s: want executed %v; got executed %v\n\t%s",
				label, orNone(exec), orNone(out.executed()), strings.Join(problems, "\n\t"))
		}
		return out
	}
	generate()
	bin1, src1, bin2 := filepath.Join(dir, "bin1"), filepath.Join(dir, "src1"), filepath.Join(dir, "bin2")
	if err := s.build(t, dir, bin1, buildTag, "-trimpath"); err != nil {
		t.Fatal(err)
	}
	if err := s.build(t, dir, src1, buildTag); err != nil {
		t.Fatal(err)
	}
	// A -trimpath build does not record -ldflags: a node that reads a
	// string variable -X may set is versioned with the executable, so
	// ldflags_var differs between the deployed and the source binary, and
	// executes after every rebuild of the deployed one.
	step(bin1, "run 1: the deployed binary on an empty cache", s.order)
	step(src1, "run 2: a binary of the same source, versioned from the source", []string{"ldflags_var"})
	if err := e.apply(dir); err != nil {
		t.Fatalf("suite: %v", err)
	}
	generate()
	if err := s.build(t, dir, bin2, buildTag, "-trimpath"); err != nil {
		t.Fatal(err)
	}
	out := step(bin2, "run 3: the deployed binary after an edit of node trimpath", []string{"trimpath", "ldflags_var"})
	if problems := s.selfCheck(out, "trimpath", []string{"trimpath", "ldflags_var"}); len(problems) > 0 {
		t.Errorf("%s", strings.Join(problems, "\n\t"))
	}
	step(bin1, "run 4: the old deployed binary, next to the edited source", nil)
	step(src1, "run 5: the old source-mode binary, next to the edited source (older than it: its table)", nil)
}

// runState builds testdata/pipeline/cmd/state once and runs its cases: a
// closure capturing k, and a method value whose receiver holds k.
func (s *suite) runState(t *testing.T) {
	dir := t.TempDir()
	if err := copyTree(s.src, dir); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "state")
	buildErr := s.build(t, dir, bin, buildTag, "./cmd/state")
	cases := []struct {
		node, captured string
		// fresh computes the node's value from k, as the program does.
		fresh func(k int) int
	}{
		{"closure", "captur", func(k int) int { return 5 * k }},
		{"method_value", "receiver", func(k int) int { return 5*k + 1 }},
	}
	for _, c := range cases {
		t.Run(c.node+"/without_state", func(t *testing.T) {
			t.Parallel()
			if buildErr != nil {
				t.Fatalf("cmd/state does not build (is driver.WithState there yet?): %v", buildErr)
			}
			cache := filepath.Join(t.TempDir(), "cache")
			out, err := runJSON(bin, "-cache", cache, "-node", c.node, "-k", "3")
			if err != nil {
				t.Fatal(err)
			}
			msg := out.BuildError
			switch {
			case msg == "":
				t.Errorf("node %s holds state at run time (k=3) and has neither WithState nor WithCodeVersion: Build must fail, naming the node and what is %sed; it succeeded (%s)",
					c.node, c.captured, out.summary())
			case !strings.Contains(msg, c.node) || !strings.Contains(strings.ToLower(msg), c.captured):
				t.Errorf("Build without WithState failed with %q; want an error naming the node %q and mentioning %q", msg, c.node, c.captured)
			}
		})
		t.Run(c.node+"/with_state", func(t *testing.T) {
			t.Parallel()
			if buildErr != nil {
				t.Fatalf("cmd/state does not build (is driver.WithState there yet?): %v", buildErr)
			}
			cache := filepath.Join(t.TempDir(), "cache")
			for i, st := range []struct {
				k      int
				status string
			}{{3, "executed"}, {3, "retrieved"}, {4, "executed"}, {3, "retrieved"}} {
				label := fmt.Sprintf("run %d (k=%d)", i+1, st.k)
				out, err := runJSON(bin, "-cache", cache, "-node", c.node, "-k", fmt.Sprint(st.k), "-with-state")
				if err != nil {
					t.Fatalf("%s: %v", label, err)
				}
				if out.BuildError != "" {
					t.Fatalf("%s: Build with driver.WithState failed: %s", label, out.BuildError)
				}
				if len(out.Nodes) != 1 {
					t.Fatalf("%s: want one node in the output, got %s", label, out.summary())
				}
				n := out.Nodes[0]
				want := fmt.Sprint(c.fresh(st.k))
				switch {
				case n.Status != st.status && n.Status == "retrieved" && string(n.Value) != want:
					t.Errorf("%s of %s with WithState(k): STALE HIT: retrieved %s, the state k=%d computes %s (runs so far: k=3, k=3, k=4, k=3)", label, c.node, n.Value, st.k, want)
				case n.Status != st.status:
					t.Errorf("%s of %s with WithState(k): %s, want %s (value %s, want %s)", label, c.node, n.Status, st.status, n.Value, want)
				case string(n.Value) != want || string(n.Fresh) != want:
					t.Errorf("%s of %s: value %s, fresh %s, want %s", label, c.node, n.Value, n.Fresh, want)
				}
			}
		})
	}
}

// output is what the programs print.
type output struct {
	Nodes      []nodeOut `json:"nodes"`
	BuildError string    `json:"build_error"`
}

type nodeOut struct {
	Name   string          `json:"name"`
	Status string          `json:"status"`
	Value  json.RawMessage `json:"value"`
	Fresh  json.RawMessage `json:"fresh"`
}

func (o *output) freshByNode() map[string]string {
	m := map[string]string{}
	for _, n := range o.Nodes {
		m[n.Name] = string(n.Fresh)
	}
	return m
}

func (o *output) executed() []string {
	var names []string
	for _, n := range o.Nodes {
		if n.Status == "executed" {
			names = append(names, n.Name)
		}
	}
	return names
}

func (o *output) summary() string {
	var parts []string
	for _, n := range o.Nodes {
		parts = append(parts, fmt.Sprintf("%s %s %s", n.Name, n.Status, n.Value))
	}
	return strings.Join(parts, ", ")
}

// check compares a run with what it must be: the nodes in exec executed,
// every other node retrieved, and every value equal to the one the current
// code computes. It returns one line per problem.
func check(out *output, exec []string, label string) []string {
	return checkRun(out, exec, false, label)
}

// checkFallback is check for a binary whose code versions come from the
// build (no source of its own on disk): the nodes in exec must execute, any
// other node may execute too (every version changes with the binary), and
// no node may return a value its code does not compute.
func checkFallback(out *output, exec []string, label string) []string {
	return checkRun(out, exec, true, label)
}

func checkRun(out *output, exec []string, mayExecute bool, label string) []string {
	var problems []string
	if len(out.Nodes) == 0 {
		return []string{label + ": the program reported no nodes"}
	}
	for _, n := range out.Nodes {
		want := "retrieved"
		if slices.Contains(exec, n.Name) {
			want = "executed"
		}
		stale := n.Status == "retrieved" && !bytes.Equal(n.Value, n.Fresh)
		switch {
		case stale:
			problems = append(problems, fmt.Sprintf("STALE HIT: node %s retrieved %s; the current code computes %s", n.Name, n.Value, n.Fresh))
		case n.Status != want && !(mayExecute && n.Status == "executed"):
			problems = append(problems, fmt.Sprintf("node %s: %s, want %s (value %s)", n.Name, n.Status, want, n.Value))
		case !bytes.Equal(n.Value, n.Fresh):
			problems = append(problems, fmt.Sprintf("node %s: %s with value %s; the current code computes %s", n.Name, n.Status, n.Value, n.Fresh))
		}
	}
	for _, name := range exec {
		if !slices.ContainsFunc(out.Nodes, func(n nodeOut) bool { return n.Name == name }) {
			problems = append(problems, fmt.Sprintf("suite: node %s is not in the program's output", name))
		}
	}
	return problems
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "[none]"
	}
	return fmt.Sprint(names)
}

// build builds the main package of dir/pipeline (or pkg, when given as the
// last of extra and starting with "./") into bin, with main.buildTag set to
// tag.
func (s *suite) build(t *testing.T, dir, bin, tag string, extra ...string) error {
	args := []string{"build", "-o", bin, "-ldflags=-X main.buildTag=" + tag}
	pkg := "."
	for _, a := range extra {
		if strings.HasPrefix(a, "./") {
			pkg = a
			continue
		}
		args = append(args, a)
	}
	args = append(args, pkg)
	cmd := exec.CommandContext(t.Context(), s.goBin, args...)
	cmd.Dir = filepath.Join(dir, "pipeline")
	cmd.Env = s.env
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	t.Logf("go %s: %v", strings.Join(args[3:], " "), time.Since(start).Round(time.Millisecond))
	return nil
}

// run runs a pipeline binary against cache.
func (s *suite) run(bin, cache string) (*output, error) {
	return runJSON(bin, "-cache", cache)
}

func runJSON(bin string, args ...string) (*output, error) {
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.Bytes())
	}
	var out output
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("%s: output is not JSON: %v\n%s", filepath.Base(bin), err, stdout.Bytes())
	}
	return &out, nil
}

// writeProxy writes a GOPROXY file tree serving example.com/rel at
// relVersions, from src/<version>, in the layout of the module proxy
// protocol (go help goproxy) and the module zip format.
func writeProxy(dir, src string) error {
	at := filepath.Join(dir, "example.com", "rel", "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		return err
	}
	for _, v := range relVersions {
		modDir := filepath.Join(src, v)
		gomod, err := os.ReadFile(filepath.Join(modDir, "go.mod"))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(at, v+".mod"), gomod, 0o644); err != nil {
			return err
		}
		info := fmt.Sprintf(`{"Version":%q,"Time":"2024-01-01T00:00:00Z"}`, v)
		if err := os.WriteFile(filepath.Join(at, v+".info"), []byte(info), 0o644); err != nil {
			return err
		}
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		entries, err := os.ReadDir(modDir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(modDir, e.Name()))
			if err != nil {
				return err
			}
			w, err := zw.Create("example.com/rel@" + v + "/" + e.Name())
			if err != nil {
				return err
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		if err := zw.Close(); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(at, v+".zip"), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(at, "list"), []byte(strings.Join(relVersions, "\n")+"\n"), 0o644)
}

// copyTree copies the regular files under src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return copyFile(path, target)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
