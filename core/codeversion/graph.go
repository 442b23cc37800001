package codeversion

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"go/ast"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// graph is the code of one module: every unit of every package, linked by
// the names they use. Names are resolved without type checking, so the
// links over-approximate: a selector x.M links to every method named M in
// the module (the method a call reaches, an interface's implementations),
// a type links to all its methods (fmt, sort and encoding/json call them
// behind the node's back), and a package variable links to every function
// that may write it (assigns it, takes its address, calls a method on it or
// passes it to a call), init functions included. A false link costs a
// false miss; a missing one would cost a stale hit.
type graph struct {
	root  string // module root directory
	path  string // module path
	files map[string]*gfile
	pkgs  []*gpkg
	// byPath maps an import path to its packages (several when a
	// directory holds files of several packages, e.g. ignored tools).
	byPath        map[string][]*gpkg
	units         []gunit
	methodsByName map[string][]int
	// parseErrs are the files that do not parse, by relative path.
	parseErrs map[string]error
}

type gpkg struct {
	path    string // import path ("_test" appended for an external test package)
	dir     string // relative directory, "." for the root
	name    string // package clause
	names   map[string][]int
	methods map[string][]int // receiver type -> methods
	mkeys   map[string][]int // "T.M" -> method
	inits   []int
	vars    []int
	writers map[string][]int // package variable -> units that assign it
	// mutators are the units that may change a package variable through
	// a method or a call: its map, slice or pointee.
	mutators map[string][]int
}

type gfile struct {
	rel     string
	pkg     *gpkg
	sum     *fileSummary
	base    int                 // index of the file's first unit in graph.units
	imports map[string][]string // local name -> import paths
	side    []string            // blank and dot imports: their package's init runs
	dot     []string            // dot imports
}

type gunit struct {
	u     *unit
	f     *gfile
	edges []int
	ext   []string // import paths outside the module that the unit uses
}

// buildGraph parses the Go files of t with up to GOMAXPROCS goroutines and
// links their units. modPath is the module's path.
func buildGraph(t *tree, modPath string, readFile func(string) ([]byte, error)) *graph {
	g := &graph{root: t.root, path: modPath, files: map[string]*gfile{}, byPath: map[string][]*gpkg{},
		methodsByName: map[string][]int{}, parseErrs: map[string]error{}}
	var goFiles []string
	for _, e := range t.files {
		if strings.HasSuffix(e.rel, ".go") {
			goFiles = append(goFiles, e.rel)
		}
	}
	fset := token.NewFileSet()
	asts := make([]*ast.File, len(goFiles))
	srcs := make([][]byte, len(goFiles))
	errs := make([]error, len(goFiles))
	parallel(len(goFiles), func(j int) {
		abs := filepath.Join(t.root, filepath.FromSlash(goFiles[j]))
		b, err := readFile(abs)
		if err == nil {
			asts[j], err = parseFile(fset, abs, b)
		}
		srcs[j], errs[j] = b, err
	})
	// Packages for the type checker, by directory and package clause.
	type dirPkg struct{ dir, name string }
	cpkgs := map[dirPkg]*checkPackage{}
	var cpkgList []*checkPackage
	cfiles := make([]*checkFile, len(goFiles))
	for j, rel := range goFiles {
		if errs[j] != nil {
			continue
		}
		k := dirPkg{path.Dir(rel), asts[j].Name.Name}
		cp := cpkgs[k]
		if cp == nil {
			cp = &checkPackage{name: k.name, path: modPath}
			if k.dir != "." {
				cp.path += "/" + k.dir
			}
			cpkgs[k] = cp
			cpkgList = append(cpkgList, cp)
		}
		cfiles[j] = &checkFile{rel: rel, ast: asts[j], test: strings.HasSuffix(rel, "_test.go")}
		cp.files = append(cp.files, cfiles[j])
	}
	for k, cp := range cpkgs {
		if base, ok := strings.CutSuffix(k.name, "_test"); ok {
			if _, ok := cpkgs[dirPkg{k.dir, base}]; ok {
				cp.path += "_test"
			}
		}
	}
	inModule := func(p string) bool {
		if p == modPath || strings.HasPrefix(p, modPath+"/") {
			for _, cp := range cpkgList {
				if cp.path == p {
					return true
				}
			}
		}
		return false
	}
	typecheck(fset, cpkgList, inModule)
	sums := make([]*fileSummary, len(goFiles))
	parallel(len(goFiles), func(j int) {
		if errs[j] == nil {
			sums[j] = summarizeFile(fset, asts[j], srcs[j], cfiles[j].info)
		}
	})

	// Packages, by directory and package clause.
	pkgs := map[dirPkg]*gpkg{}
	for j, rel := range goFiles {
		if errs[j] != nil {
			g.parseErrs[rel] = errs[j]
			continue
		}
		dir := path.Dir(rel)
		k := dirPkg{dir, sums[j].pkg}
		p := pkgs[k]
		if p == nil {
			p = &gpkg{dir: dir, name: sums[j].pkg, names: map[string][]int{}, methods: map[string][]int{},
				mkeys: map[string][]int{}, writers: map[string][]int{}, mutators: map[string][]int{}}
			pkgs[k] = p
			g.pkgs = append(g.pkgs, p)
		}
		f := &gfile{rel: rel, pkg: p, sum: sums[j], base: len(g.units)}
		g.files[rel] = f
		for k := range f.sum.units {
			g.units = append(g.units, gunit{u: &f.sum.units[k], f: f})
		}
	}
	for _, p := range g.pkgs {
		p.path = g.path
		if p.dir != "." {
			p.path += "/" + p.dir
		}
		if base, ok := strings.CutSuffix(p.name, "_test"); ok {
			if _, ok := pkgs[dirPkg{p.dir, base}]; ok {
				p.path += "_test"
			}
		}
		g.byPath[p.path] = append(g.byPath[p.path], p)
	}
	// Names.
	for i := range g.units {
		gu := &g.units[i]
		u, p := gu.u, gu.f.pkg
		switch u.kind {
		case kindLit:
		case kindMethod:
			p.methods[u.recv] = append(p.methods[u.recv], i)
			p.mkeys[u.key] = append(p.mkeys[u.key], i)
			name := u.key[strings.IndexByte(u.key, '.')+1:]
			g.methodsByName[name] = append(g.methodsByName[name], i)
		case kindInit:
			p.inits = append(p.inits, i)
		default:
			if u.kind == kindVar {
				p.vars = append(p.vars, i)
			}
			for _, n := range u.names {
				p.names[n] = append(p.names[n], i)
			}
		}
	}
	// Imports, with the local names they may have.
	for _, f := range g.files {
		f.imports = map[string][]string{}
		for _, im := range f.sum.imports {
			switch im.name {
			case "_":
				f.side = append(f.side, im.path)
			case ".":
				f.side = append(f.side, im.path)
				f.dot = append(f.dot, im.path)
			case "":
				for _, n := range g.localNames(im.path) {
					f.imports[n] = append(f.imports[n], im.path)
				}
			default:
				f.imports[im.name] = append(f.imports[im.name], im.path)
			}
		}
	}
	// References.
	for i := range g.units {
		g.link(i)
	}
	g.linkWriters()
	return g
}

// linkWriters links every package variable to the units that may write
// it, and to the callers of those that are functions, transitively: a
// function that stores its argument in a variable (a registry's Register)
// stores what its callers pass, so their code is part of the variable's.
func (g *graph) linkWriters() {
	callers := make([][]int, len(g.units))
	for i := range g.units {
		for _, j := range g.units[i].edges {
			callers[j] = append(callers[j], i)
		}
	}
	for _, p := range g.pkgs {
		for _, v := range p.vars {
			seen := map[int]bool{}
			var stack []int
			for _, n := range g.units[v].u.names {
				for _, w := range p.writers[n] {
					if !seen[w] {
						seen[w] = true
						stack = append(stack, w)
					}
				}
			}
			for _, n := range g.units[v].u.names {
				for _, w := range p.mutators[n] {
					if !seen[w] {
						seen[w] = true
						g.units[v].edges = append(g.units[v].edges, w)
					}
				}
			}
			for len(stack) > 0 {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				g.units[v].edges = append(g.units[v].edges, w)
				if k := g.units[w].u.kind; k != kindFunc && k != kindMethod && k != kindLit {
					continue
				}
				for _, c := range callers[w] {
					if k := g.units[c].u.kind; !seen[c] && k != kindType && k != kindConst {
						seen[c] = true
						stack = append(stack, c)
					}
				}
			}
		}
	}
}

// localNames returns the names an import of path may be known by in a file
// that does not name it: the package clause of a package of the module, or
// guesses from the path for others ("gopkg.in/yaml.v3" -> yaml,
// "example.com/go-foo/v2" -> foo, go_foo, go-foo). A wrong guess only
// makes the selector an unknown qualifier, which links to every import of
// the file.
func (g *graph) localNames(importPath string) []string {
	if ps := g.byPath[importPath]; len(ps) > 0 {
		var out []string
		for _, p := range ps {
			out = append(out, p.name)
		}
		return out
	}
	last := pathBase(importPath)
	out := []string{last}
	for _, s := range []string{strings.TrimPrefix(last, "go-"), strings.TrimSuffix(last, "-go"),
		strings.ReplaceAll(last, "-", "_"), strings.ReplaceAll(last, "-", ""), strings.ReplaceAll(last, ".", "_")} {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// link resolves the references of unit i into edges.
func (g *graph) link(i int) {
	gu := &g.units[i]
	u, f, p := gu.u, gu.f, gu.f.pkg
	// named links to the units that declare n in q; a type comes with
	// its methods, which code outside the module (fmt, sort,
	// encoding/json) may call.
	named := func(q *gpkg, n string) {
		for _, j := range q.names[n] {
			gu.edges = append(gu.edges, j)
			if g.units[j].u.kind == kindType {
				gu.edges = append(gu.edges, q.methods[n]...)
			}
		}
	}
	name := func(n string) {
		named(p, n)
		for _, d := range f.dot {
			for _, q := range g.byPath[d] {
				named(q, n)
			}
		}
	}
	qualified := func(paths []string, n string) {
		for _, ip := range paths {
			if qs := g.byPath[ip]; len(qs) > 0 {
				for _, q := range qs {
					named(q, n)
				}
			} else {
				gu.ext = append(gu.ext, ip)
			}
		}
	}
	for _, n := range u.refs.idents {
		name(n)
	}
	for _, pr := range u.refs.pairs {
		if paths, ok := f.imports[pr.x]; ok {
			qualified(paths, pr.sel)
			continue
		}
		gu.edges = append(gu.edges, g.methodsByName[pr.sel]...)
		if _, ok := p.names[pr.x]; ok {
			name(pr.x)
			continue
		}
		// Neither a package of the file nor a name of the package: an
		// import whose name was not guessed. Link to all of them.
		for _, paths := range f.imports {
			qualified(paths, pr.sel)
		}
		name(pr.x)
	}
	for _, s := range u.refs.sels {
		gu.edges = append(gu.edges, g.methodsByName[s]...)
	}
	for _, r := range u.refs.recv {
		gu.edges = append(gu.edges, p.names[r]...)
	}
	for _, o := range u.refs.objs {
		for _, q := range g.byPath[o.pkg] {
			named(q, o.name)
		}
	}
	for _, o := range u.refs.recvObjs {
		for _, q := range g.byPath[o.pkg] {
			gu.edges = append(gu.edges, q.names[o.name]...)
		}
	}
	for _, m := range u.refs.methods {
		for _, q := range g.byPath[m.pkg] {
			gu.edges = append(gu.edges, q.mkeys[m.name]...)
		}
	}
	for _, n := range u.refs.ifaces {
		gu.edges = append(gu.edges, g.methodsByName[n]...)
	}
	gu.ext = append(gu.ext, u.refs.ext...)
	if u.kind == kindLit {
		// A literal's writes are its parent's, which holds its code.
		g.linkSide(i)
		return
	}
	for _, o := range u.refs.objWrites {
		for _, q := range g.byPath[o.pkg] {
			q.writers[o.name] = append(q.writers[o.name], i)
		}
	}
	for _, a := range u.refs.objArgs {
		for _, q := range g.byPath[a.pkg] {
			for _, j := range q.names[a.name] {
				if v := g.units[j].u; v.kind == kindVar {
					q.mutators[a.name] = append(q.mutators[a.name], i)
				}
			}
		}
	}
	record := func(w namePair, writers func(*gpkg) map[string][]int) {
		if w.x == "" {
			writers(p)[w.sel] = append(writers(p)[w.sel], i)
			for _, d := range f.dot {
				for _, q := range g.byPath[d] {
					writers(q)[w.sel] = append(writers(q)[w.sel], i)
				}
			}
			return
		}
		if paths, ok := f.imports[w.x]; ok {
			for _, ip := range paths {
				for _, q := range g.byPath[ip] {
					writers(q)[w.sel] = append(writers(q)[w.sel], i)
				}
			}
			return
		}
		writers(p)[w.x] = append(writers(p)[w.x], i)
	}
	for _, w := range u.refs.writes {
		record(w, func(q *gpkg) map[string][]int { return q.writers })
	}
	for _, a := range u.refs.args {
		if g.refLikeVar(f, a) {
			record(a, func(q *gpkg) map[string][]int { return q.mutators })
		}
	}
	g.linkSide(i)
}

// linkSide links unit i to the parent a literal needs and to the packages
// its file imports for their side effects.
func (g *graph) linkSide(i int) {
	gu := &g.units[i]
	if gu.u.kind == kindLit && gu.u.needsParent {
		gu.edges = append(gu.edges, gu.f.base+gu.u.parent)
	}
	// A blank or dot import of a package of the module runs its init
	// functions, whose effect on the module's variables is followed
	// through the writers of those variables (linkWriters); an import of
	// another module brings that module's code.
	for _, ip := range gu.f.side {
		if len(g.byPath[ip]) == 0 {
			gu.ext = append(gu.ext, ip)
		}
	}
}

// refLikeVar reports whether name a, used in file f, is a package variable
// holding a reference (unit.refLike).
func (g *graph) refLikeVar(f *gfile, a namePair) bool {
	var pkgs []*gpkg
	n := a.sel
	if a.x == "" {
		pkgs = []*gpkg{f.pkg}
	} else if paths, ok := f.imports[a.x]; ok {
		for _, ip := range paths {
			pkgs = append(pkgs, g.byPath[ip]...)
		}
	} else {
		pkgs, n = []*gpkg{f.pkg}, a.x
	}
	for _, q := range pkgs {
		for _, j := range q.names[n] {
			if u := g.units[j].u; u.kind == kindVar && u.refLike {
				return true
			}
		}
	}
	return false
}

// parallel calls f(0..n-1) on GOMAXPROCS goroutines.
func parallel(n int, f func(int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(1, n)) {
		wg.Go(func() {
			for {
				j := int(next.Add(1)) - 1
				if j >= n {
					return
				}
				f(j)
			}
		})
	}
	wg.Wait()
}

// closure is what a unit's code version covers.
type closure struct {
	units []int    // reached units, the root first
	ext   []string // import paths outside the module, sorted, unique
}

// reach returns the closure of unit root.
func (g *graph) reach(root int) closure {
	seen := make(map[int]bool)
	var c closure
	extSeen := map[string]bool{}
	stack := []int{root}
	seen[root] = true
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		c.units = append(c.units, i)
		for _, e := range g.units[i].ext {
			if !extSeen[e] {
				extSeen[e] = true
				c.ext = append(c.ext, e)
			}
		}
		for _, j := range g.units[i].edges {
			if !seen[j] {
				seen[j] = true
				stack = append(stack, j)
			}
		}
	}
	slices.Sort(c.ext)
	return c
}

// Part is one piece of code a code version covers, as [Explain] lists them:
// a function, method, variable, constant, type, closure or embedded file of
// the module, another module, or the toolchain.
type Part struct {
	// Kind is "func", "method", "init", "var", "const", "type", "closure",
	// "embed", "module", "ldflag" or "toolchain".
	Kind string `json:"kind"`
	// Name is the qualified name: "example.com/m/pkg.Helper",
	// "example.com/m/pkg.T.Method", "example.com/dep" for a module.
	Name string `json:"name"`
	// File is the file that holds it, relative to the module root, or
	// the module's version for a module ("v1.2.0").
	File string `json:"file,omitempty"`
	// Hash identifies its content: the hex SHA-256 of its canonical tokens,
	// of an embedded file's bytes, of a module's path, version and sum, or
	// of the toolchain and build settings.
	Hash string `json:"hash"`
}

// unitPart describes unit i as a Part.
func (g *graph) unitPart(i int) Part {
	gu := &g.units[i]
	name := gu.f.pkg.path
	switch gu.u.kind {
	case kindLit:
		name += ".func@" + gu.f.rel + ":" + strconv.Itoa(gu.u.line)
	case kindInit:
		name += ".init" // several are told apart by their hashes
	default:
		name += "." + strings.TrimPrefix(gu.u.key, "const ")
	}
	return Part{Kind: gu.u.kind.String(), Name: name, File: gu.f.rel, Hash: hex.EncodeToString(gu.u.hash[:])}
}

// embedParts returns a part per file embedded by the var units of c.
func (g *graph) embedParts(c closure, readFile func(string) ([]byte, error)) []Part {
	var out []Part
	for _, i := range c.units {
		gu := &g.units[i]
		if len(gu.u.embeds) == 0 {
			continue
		}
		dir := filepath.Join(g.root, filepath.FromSlash(gu.f.pkg.dir))
		for _, rel := range embedFiles(dir, gu.u.embeds) {
			h := "missing"
			if b, err := readFile(filepath.Join(dir, filepath.FromSlash(rel))); err == nil {
				s := sha256.Sum256(b)
				h = hex.EncodeToString(s[:])
			}
			out = append(out, Part{Kind: "embed", Name: gu.f.pkg.path + "/" + rel, File: path.Join(gu.f.pkg.dir, rel), Hash: h})
		}
	}
	return out
}

// embedFiles lists the files //go:embed patterns match in dir, relative
// to dir: a pattern naming a directory takes the files under it, except
// those starting with '.' or '_' unless the pattern starts with "all:".
// A pattern that matches nothing is kept as a name with a "missing" hash,
// so a file appearing later changes the version.
func embedFiles(dir string, patterns []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(rel string) {
		if !seen[rel] {
			seen[rel] = true
			out = append(out, rel)
		}
	}
	for _, pat := range patterns {
		all := false
		if p, ok := strings.CutPrefix(pat, "all:"); ok {
			pat, all = p, true
		}
		matches, err := filepath.Glob(filepath.Join(dir, filepath.FromSlash(pat)))
		if err != nil || len(matches) == 0 {
			add(pat)
			continue
		}
		for _, m := range matches {
			fi, err := os.Stat(m)
			if err != nil {
				continue
			}
			if !fi.IsDir() {
				if rel, err := filepath.Rel(dir, m); err == nil {
					add(filepath.ToSlash(rel))
				}
				continue
			}
			_ = filepath.WalkDir(m, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return nil
				}
				if p != m && !all && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_")) {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				if d.Type().IsRegular() {
					if rel, err := filepath.Rel(dir, p); err == nil {
						add(filepath.ToSlash(rel))
					}
				}
				return nil
			})
		}
	}
	slices.Sort(out)
	return out
}

// sortParts orders parts by kind and name, so that a version does not
// depend on the order units were reached in.
func sortParts(ps []Part) {
	slices.SortFunc(ps, func(a, b Part) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name), cmp.Compare(a.File, b.File), cmp.Compare(a.Hash, b.Hash))
	})
}
