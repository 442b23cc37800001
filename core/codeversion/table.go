package codeversion

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"go/format"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

// A build-time table holds what the source of a module says of the code
// versions of its functions (their sourceDesc), written into a Go file of
// the main package by [GenerateTable] (the flowcache codeversions command)
// and registered by that file's init function with [RegisterTable]. A
// binary that runs where its source is absent, was built with -trimpath, or
// is older than the source beside it then computes, from the table and
// its own build information, the very versions its source gives.
//
// A table is checked against the binary: each function's line must be the
// line the runtime reports for it, and a function missing from the table
// makes the table stale. A stale table is not used: the version falls back
// to the build (see the package documentation), and the fallback says to
// regenerate the table. The line check catches most edits made after the
// table was generated (any edit that moves a function); the deploy recipe
// (generate, then build, in one step) and `flowcache codeversions -check`
// in CI catch the rest.

// TableFileName is the name of the Go file GenerateTable's output is meant
// to be written to, in the main package's directory.
const TableFileName = "flowcache_codeversions.go"

// tableMagicV1 starts an encoded build-time table.
const tableMagicV1 = "flowcache build table v1\n"

// buildTable is a decoded build-time table.
type buildTable struct {
	module   string              // module path
	digest   string              // hex SHA-256 of the module's source files
	replaced map[string]string   // module replaced by a directory -> content hash
	requires map[string][]string // module -> modules its go.mod requires
	files    []string            // the module's Go files, relative to its root
	// funcs maps "pkg\x00key\x00rel" for declarations (pkg: the import
	// path, or "main" for the main package; rel: the file) and
	// "rel\x00#line" for literals.
	funcs map[string]tableFunc
}

// tableFunc is one function of a build-time table.
type tableFunc struct {
	line int // line of the func keyword
	desc sourceDesc
}

var (
	tablesMu   sync.Mutex
	registered []string // encoded tables, as registered
	decoded    []*buildTable
	tableErrs  []error
)

// RegisterTable registers a build-time table of code versions. It is called
// by the init function of the file that GenerateTable writes; a damaged
// table is reported by the first version asked for and not used.
func RegisterTable(encoded string) {
	tablesMu.Lock()
	defer tablesMu.Unlock()
	registered = append(registered, encoded)
}

// tables returns the registered tables, decoded once.
func tables() ([]*buildTable, []error) {
	tablesMu.Lock()
	defer tablesMu.Unlock()
	for len(decoded)+len(tableErrs) < len(registered) {
		t, err := decodeBuildTable(registered[len(decoded)+len(tableErrs)])
		if err != nil {
			tableErrs = append(tableErrs, err)
			continue
		}
		decoded = append(decoded, t)
	}
	return decoded, tableErrs
}

// fromTables returns the version of the function at loc from a registered
// table, or why none could give it.
func (r *resolver) fromTables(loc location, t target) (Info, string, bool) {
	tabs, errs := tables()
	if len(tabs) == 0 {
		if len(errs) > 0 {
			return Info{}, errs[0].Error(), false
		}
		return Info{}, "", false
	}
	pkg, _ := splitName(loc.name)
	for _, tab := range tabs {
		var f tableFunc
		var ok bool
		rel := tab.relOf(loc.file)
		switch {
		case t.decl != "" && rel != "":
			f, ok = tab.funcs[pkg+"\x00"+t.decl+"\x00"+rel]
		case t.decl != "":
			// A wrapper: no file. The declaration must be unique.
			prefix := pkg + "\x00" + t.decl + "\x00"
			n := 0
			for k, v := range tab.funcs {
				if strings.HasPrefix(k, prefix) {
					f, n = v, n+1
				}
			}
			ok = n == 1
		case rel != "":
			f, ok = tab.funcs[rel+"\x00#"+strconv.Itoa(t.line)]
		default:
			continue
		}
		if !ok {
			if t.decl != "" && !strings.HasPrefix(pkg, tab.module) && pkg != "main" {
				continue // another module's function
			}
			return Info{}, fmt.Sprintf("the code version table of module %s has no %s (stale: regenerate it with flowcache codeversions before building)", tab.module, loc.name), false
		}
		if t.exact && t.line > 0 && f.line != t.line {
			return Info{}, fmt.Sprintf("the code version table of module %s is stale: %s is at line %d in the binary, line %d in the table (regenerate it with flowcache codeversions before building)",
				tab.module, loc.name, t.line, f.line), false
		}
		e := r.finish(f.desc, buildEnv{replaced: tab.replaced, requires: tab.requires})
		info := Info{Version: hex.EncodeToString(e.version[:]), Func: loc.name, Line: f.line, FromSource: true, FromTable: true}
		if len(e.captured) > 0 {
			info.Captured = slices.Clone(e.captured)
		}
		return info, "", true
	}
	return Info{}, "", false
}

// relOf returns the module-relative path of a source path the runtime
// reports (absolute, or module path + relative path under -trimpath), or "".
func (t *buildTable) relOf(file string) string {
	file = filepath.ToSlash(file)
	best := ""
	for _, f := range t.files {
		if file == t.module+"/"+f || strings.HasSuffix(file, "/"+f) {
			if len(f) > len(best) {
				best = f
			}
		}
	}
	return best
}

// GenerateTable returns the Go source of the build-time table of the main
// package in directory dir (see [TableFileName]): the code version of
// every function of the packages of its module that the main package
// imports, directly or not, as its source gives them, and what the
// versions need of other modules (the content of directories that replace
// modules, the requirements of each module's go.mod, from the module
// cache). Write it to TableFileName in dir before building:
//
//	//go:generate go run github.com/flowcache/flowcache/cmd/flowcache codeversions
func GenerateTable(dir string) ([]byte, error) {
	tab, pkgName, err := generateTable(dir)
	if err != nil {
		return nil, err
	}
	return tableSource(pkgName, tab.module, tab.digest, encodeBuildTable(tab))
}

// generateTable builds the table of the main package in dir; it returns
// the package's name too.
func generateTable(dir string) (*buildTable, string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, "", err
	}
	root := findModuleRoot(abs)
	if root == "" {
		return nil, "", fmt.Errorf("codeversion: no go.mod above %s", abs)
	}
	gm, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, "", fmt.Errorf("codeversion: %w", err)
	}
	mf, err := modfile.Parse(filepath.Join(root, "go.mod"), gm, nil)
	if err != nil || mf.Module == nil {
		return nil, "", fmt.Errorf("codeversion: %s/go.mod: no module path (%v)", root, err)
	}
	modPath := mf.Module.Mod.Path
	tr, err := scanTree(root)
	if err != nil {
		return nil, "", fmt.Errorf("codeversion: %w", err)
	}
	// The table's own file is not part of what it describes.
	relDir, _ := filepath.Rel(root, abs)
	relDir = filepath.ToSlash(relDir)
	own := path.Join(relDir, TableFileName)
	tr.files = slices.DeleteFunc(tr.files, func(e treeEntry) bool { return e.rel == own })
	r := newResolver()
	g := buildGraph(tr, modPath, os.ReadFile)
	var mainPkg *gpkg
	for _, p := range g.pkgs {
		if p.dir == relDir && !strings.HasSuffix(p.name, "_test") && (mainPkg == nil || p.name == "main") {
			mainPkg = p
		}
	}
	if mainPkg == nil {
		return nil, "", fmt.Errorf("codeversion: no Go package in %s", abs)
	}
	if bad := g.parseErrs; len(bad) > 0 {
		for _, err := range bad {
			return nil, "", fmt.Errorf("codeversion: %w", err)
		}
	}
	tab := &buildTable{module: modPath, funcs: map[string]tableFunc{}, replaced: map[string]string{}}
	ms := &modState{root: root, path: modPath, tree: tr, entries: map[string]tableEntry{}, embeds: map[string]bool{}}
	for _, p := range g.importClosure(mainPkg) {
		runtimePkg := p.path
		if p == mainPkg && p.name == "main" {
			runtimePkg = "main"
		}
		for _, f := range g.files {
			if f.pkg != p || strings.HasSuffix(f.rel, "_test.go") {
				continue
			}
			for key, i := range f.sum.decls {
				if k := f.sum.units[i].kind; k == kindFunc || k == kindMethod {
					d := r.describe(ms, g, []int{f.base + i})
					d.parts = nil
					// A declaration is keyed by its file too: files for
					// other platforms may declare it again.
					tab.funcs[runtimePkg+"\x00"+key+"\x00"+f.rel] = tableFunc{line: f.sum.units[i].line, desc: d}
				}
			}
			for line, lits := range f.sum.byLine {
				ids := make([]int, len(lits))
				for j, i := range lits {
					ids[j] = f.base + i
				}
				d := r.describe(ms, g, ids)
				d.parts = nil
				tab.funcs[f.rel+"\x00#"+strconv.Itoa(line)] = tableFunc{line: line, desc: d}
			}
		}
	}
	for _, e := range tr.files {
		if strings.HasSuffix(e.rel, ".go") {
			tab.files = append(tab.files, e.rel)
		}
	}
	// Other modules: directories that replace them, and requirements.
	for _, rep := range mf.Replace {
		if rep.New.Version != "" {
			continue
		}
		d := rep.New.Path
		if !filepath.IsAbs(d) {
			d = filepath.Join(root, d)
		}
		tab.replaced[rep.Old.Path] = r.replacedHash(root, d)
	}
	tab.requires = moduleRequirements(root, mf)
	tab.digest = treeDigest(root, tr)
	return tab, mainPkg.name, nil
}

// importClosure returns p and the packages of the module it imports,
// directly or not (test files left out).
func (g *graph) importClosure(p *gpkg) []*gpkg {
	seen := map[*gpkg]bool{p: true}
	out := []*gpkg{p}
	for i := 0; i < len(out); i++ {
		for _, f := range g.files {
			if f.pkg != out[i] || strings.HasSuffix(f.rel, "_test.go") {
				continue
			}
			for _, im := range f.sum.imports {
				for _, q := range g.byPath[im.path] {
					if !seen[q] {
						seen[q] = true
						out = append(out, q)
					}
				}
			}
		}
	}
	return out
}

// moduleRequirements returns, for the main module and every module its
// go.mod requires, transitively, the modules each requires: from the go.mod
// of a replacing directory or the module cache. A module whose go.mod
// cannot be read is left out (its reached functions then take every module
// of the build).
func moduleRequirements(root string, mf *modfile.File) map[string][]string {
	out := map[string][]string{}
	replace := map[string]module.Version{}
	for _, rep := range mf.Replace {
		replace[rep.Old.Path] = rep.New
	}
	type mod struct{ path, version string }
	var queue []mod
	for _, req := range mf.Require {
		queue = append(queue, mod{req.Mod.Path, req.Mod.Version})
	}
	cache := modCache()
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		if _, done := out[m.path]; done {
			continue
		}
		var file string
		if rep, ok := replace[m.path]; ok && rep.Version == "" {
			file = replacedGoMod(root, rep.Path)
		} else {
			p, v := m.path, m.version
			if ok {
				p, v = rep.Path, rep.Version
			}
			if file = cachedGoMod(cache, p, v); file == "" {
				continue
			}
		}
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		f, err := modfile.ParseLax(file, b, nil)
		if err != nil {
			continue
		}
		reqs := []string{}
		for _, req := range f.Require {
			reqs = append(reqs, req.Mod.Path)
			queue = append(queue, mod{req.Mod.Path, req.Mod.Version})
		}
		out[m.path] = reqs
	}
	return out
}

// treeDigest hashes the paths and contents of the files of a module tree.
func treeDigest(root string, t *tree) string {
	h := newFieldHash()
	for _, e := range t.files {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(e.rel)))
		if err != nil {
			b = []byte("unreadable")
		}
		h.field(e.rel)
		s := sha256.Sum256(b)
		h.Write(s[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// tableSource lays out the generated Go file.
func tableSource(pkgName, modPath, digest string, enc []byte) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by flowcache codeversions; DO NOT EDIT.\n\n")
	fmt.Fprintf(&b, "// The code versions of the functions of module %s, for binaries that run\n", modPath)
	fmt.Fprintf(&b, "// without their source (see go doc github.com/flowcache/flowcache/core/codeversion).\n")
	fmt.Fprintf(&b, "// Source digest: %s\n\n", digest)
	fmt.Fprintf(&b, "package %s\n\n", pkgName)
	fmt.Fprintf(&b, "import \"github.com/flowcache/flowcache/core/codeversion\"\n\n")
	fmt.Fprintf(&b, "func init() { codeversion.RegisterTable(flowcacheCodeVersions) }\n\n")
	s := base64.StdEncoding.EncodeToString(enc)
	fmt.Fprintf(&b, "const flowcacheCodeVersions = \"\" +\n")
	for len(s) > 0 {
		n := min(len(s), 96)
		fmt.Fprintf(&b, "\t%q", s[:n])
		s = s[n:]
		if len(s) > 0 {
			b.WriteString(" +")
		}
		b.WriteString("\n")
	}
	return format.Source(b.Bytes())
}

// encodeBuildTable lays a table out as magic, a table of the strings the
// lists use (each once: a module's functions share most of their import
// paths and variables), the fields, and a CRC-32C.
func encodeBuildTable(t *buildTable) []byte {
	index := map[string]int{}
	var pool []string
	intern := func(ss ...[]string) {
		for _, l := range ss {
			for _, s := range l {
				if _, ok := index[s]; !ok {
					index[s] = len(pool)
					pool = append(pool, s)
				}
			}
		}
	}
	for _, k := range slices.Sorted(mapKeys(t.requires)) {
		intern([]string{k}, t.requires[k])
	}
	intern(t.files)
	for _, k := range slices.Sorted(mapKeys(t.funcs)) {
		f := t.funcs[k]
		intern(f.desc.ext, f.desc.xnames, f.desc.captured)
	}
	b := []byte(tableMagicV1)
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	refs := func(ss []string) {
		b = binary.AppendUvarint(b, uint64(len(ss)))
		for _, s := range ss {
			b = binary.AppendUvarint(b, uint64(index[s]))
		}
	}
	str(t.module)
	str(t.digest)
	b = binary.AppendUvarint(b, uint64(len(pool)))
	for _, s := range pool {
		str(s)
	}
	keys := slices.Sorted(mapKeys(t.replaced))
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		str(k)
		str(t.replaced[k])
	}
	keys = slices.Sorted(mapKeys(t.requires))
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		refs([]string{k})
		refs(t.requires[k])
	}
	refs(t.files)
	keys = slices.Sorted(mapKeys(t.funcs))
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		f := t.funcs[k]
		str(k)
		b = binary.AppendUvarint(b, uint64(f.line))
		b = append(b, f.desc.digest[:]...)
		refs(f.desc.ext)
		refs(f.desc.xnames)
		refs(f.desc.captured)
	}
	return seal(b)
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

var errBuildTable = errors.New("codeversion: damaged code version table (regenerate it with flowcache codeversions)")

// decodeBuildTable decodes a registered table, checking every length
// against what remains.
func decodeBuildTable(s string) (*buildTable, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errBuildTable
	}
	body, ok := unseal(b, tableMagicV1)
	if !ok {
		return nil, errBuildTable
	}
	w := wire{d: body}
	t := &buildTable{module: w.str(), digest: w.str(), replaced: map[string]string{}, requires: map[string][]string{}, funcs: map[string]tableFunc{}}
	pool := make([]string, w.count(1))
	for i := range pool {
		pool[i] = w.str()
	}
	strs := func() []string {
		n := w.count(1)
		out := make([]string, 0, n)
		for range n {
			i := w.uv()
			if w.bad || i >= uint64(len(pool)) {
				w.bad = true
				return nil
			}
			out = append(out, pool[i])
		}
		return out
	}
	for range w.count(1) {
		k := w.str()
		t.replaced[k] = w.str()
	}
	for range w.count(1) {
		k := strs()
		if len(k) != 1 {
			return nil, errBuildTable
		}
		t.requires[k[0]] = strs()
	}
	t.files = strs()
	for range w.count(1) {
		k := w.str()
		var f tableFunc
		f.line = int(w.uv())
		digest := w.bytes(32)
		if w.bad {
			return nil, errBuildTable
		}
		copy(f.desc.digest[:], digest)
		f.desc.ext = strs()
		f.desc.xnames = strs()
		f.desc.captured = strs()
		if len(f.desc.captured) == 0 {
			f.desc.captured = nil
		}
		t.funcs[k] = f
	}
	if !w.done() {
		return nil, errBuildTable
	}
	return t, nil
}
