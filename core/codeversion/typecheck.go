package codeversion

import (
	"go/ast"
	"go/token"
	"go/types"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// typeInfo is what the type checker learned of one package of the module:
// which object each identifier names and what each selector selects. The
// module's packages are checked against each other; the packages of other
// modules and of the standard library are stand-ins without members (no
// compiler, export data or go command is needed at run time), so an
// expression whose type comes from outside the module is not typed, and its
// selectors are resolved by name instead, as without types.
type typeInfo struct {
	info     *types.Info
	inModule func(path string) bool
}

// use returns the object id names, or nil.
func (t *typeInfo) use(id *ast.Ident) types.Object {
	if t == nil {
		return nil
	}
	if o := t.info.Uses[id]; o != nil {
		return o
	}
	return nil
}

// packageLevel reports whether o is declared at the top level of a package
// (not in a function, not a field or method).
func packageLevel(o types.Object) bool {
	return o.Pkg() != nil && o.Parent() == o.Pkg().Scope()
}

// recvName returns the name of the named type a method is declared on, and
// whether the method belongs to an interface (called dynamically).
func recvName(fn *types.Func) (name string, iface bool) {
	sig, ok := fn.Type().(*types.Signature)
	if !ok || sig.Recv() == nil {
		return "", false
	}
	t := sig.Recv().Type()
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	if _, ok := t.Underlying().(*types.Interface); ok {
		return "", true
	}
	if n, ok := t.(*types.Named); ok {
		return n.Origin().Obj().Name(), false
	}
	return "", true // unknown: treat as dynamic
}

// checkFile is one parsed file of the module for type checking.
type checkFile struct {
	rel  string
	ast  *ast.File
	test bool // a _test.go file
	info *typeInfo
}

// checkPackage is one package (a directory and a package clause).
type checkPackage struct {
	path  string
	name  string
	files []*checkFile
	// prod is the package type-checked without its _test.go files, which
	// is what the module's other packages import.
	prod *types.Package
}

// typecheck type-checks the packages of the module: each package without
// its test files, in import order, then each package with its test files
// (and each external test package) against those. It sets the info of
// every file. Errors (mostly from the stand-ins of other modules) are
// ignored: what could not be typed is resolved by name.
func typecheck(fset *token.FileSet, pkgs []*checkPackage, inModule func(string) bool) {
	byPath := map[string]*checkPackage{}
	for _, p := range pkgs {
		if strings.HasSuffix(p.path, "_test") {
			continue
		}
		if q := byPath[p.path]; q == nil || (q.name == "main" && p.name != "main") || len(p.files) > len(q.files) && p.name != "main" {
			byPath[p.path] = p
		}
	}
	var extMu sync.Mutex
	ext := map[string]*types.Package{}
	stub := func(path string) *types.Package {
		extMu.Lock()
		defer extMu.Unlock()
		if p := ext[path]; p != nil {
			return p
		}
		name := guessName(path)
		if path == "C" {
			name = "C"
		}
		p := types.NewPackage(path, name)
		p.MarkComplete()
		ext[path] = p
		return p
	}
	importsOf := func(p *checkPackage) []string {
		var out []string
		for _, f := range p.files {
			if f.test {
				continue
			}
			for _, im := range f.ast.Imports {
				if ip, err := strconv.Unquote(im.Path.Value); err == nil {
					out = append(out, ip)
				}
			}
		}
		return out
	}
	// importer resolves the module's packages to their production variants
	// when already checked (always, but for packages in an import cycle,
	// which only code that does not compile has), else to stand-ins. It
	// never waits.
	var doneMu sync.Mutex
	importer := func(self *checkPackage) types.ImporterFrom {
		return importerFunc(func(path string) (*types.Package, error) {
			if q := byPath[path]; q != nil && q != self {
				doneMu.Lock()
				tp := q.prod
				doneMu.Unlock()
				if tp != nil {
					return tp, nil
				}
			}
			return stub(path), nil
		})
	}
	check := func(p *checkPackage, tests bool) *types.Package {
		var files []*ast.File
		var infoFiles []*checkFile
		for _, f := range p.files {
			if f.test && !tests {
				continue
			}
			files = append(files, f.ast)
			if f.test == tests {
				infoFiles = append(infoFiles, f)
			}
		}
		if len(files) == 0 {
			return nil
		}
		info := &types.Info{
			Uses:       map[*ast.Ident]types.Object{},
			Defs:       map[*ast.Ident]types.Object{},
			Selections: map[*ast.SelectorExpr]*types.Selection{},
		}
		conf := types.Config{Importer: importer(p), Error: func(error) {}, FakeImportC: true}
		tp, _ := conf.Check(p.path, fset, files, info)
		ti := &typeInfo{info: info, inModule: inModule}
		for _, f := range infoFiles {
			f.info = ti
		}
		return tp
	}
	// Production variants in import order (Kahn's algorithm), a level at a
	// time, each level on all cores; what is left is in a cycle.
	var prods []*checkPackage
	deps := map[*checkPackage][]*checkPackage{}
	users := map[*checkPackage][]*checkPackage{}
	for _, p := range pkgs {
		if strings.HasSuffix(p.path, "_test") {
			continue
		}
		prods = append(prods, p)
		seen := map[*checkPackage]bool{}
		for _, ip := range importsOf(p) {
			if q := byPath[ip]; q != nil && q != p && !seen[q] {
				seen[q] = true
				deps[p] = append(deps[p], q)
				users[q] = append(users[q], p)
			}
		}
	}
	pending := map[*checkPackage]int{}
	var level []*checkPackage
	for _, p := range prods {
		pending[p] = len(deps[p])
		if pending[p] == 0 {
			level = append(level, p)
		}
	}
	checked := map[*checkPackage]bool{}
	run := func(ps []*checkPackage, tests bool) {
		sem := make(chan struct{}, runtime.GOMAXPROCS(0))
		var wg sync.WaitGroup
		for _, p := range ps {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				tp := check(p, tests)
				if !tests {
					doneMu.Lock()
					p.prod = tp
					doneMu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	for len(level) > 0 {
		run(level, false)
		var next []*checkPackage
		for _, p := range level {
			checked[p] = true
			for _, u := range users[p] {
				if pending[u]--; pending[u] == 0 {
					next = append(next, u)
				}
			}
		}
		level = next
	}
	var cyclic []*checkPackage
	for _, p := range prods {
		if !checked[p] {
			cyclic = append(cyclic, p)
		}
	}
	run(cyclic, false)
	// Test variants: in-package tests with the package's files, external
	// test packages alone.
	var tests []*checkPackage
	for _, p := range pkgs {
		for _, f := range p.files {
			if f.test {
				tests = append(tests, p)
				break
			}
		}
	}
	run(tests, true)
}

type importerFunc func(path string) (*types.Package, error)

func (f importerFunc) Import(path string) (*types.Package, error) { return f(path) }
func (f importerFunc) ImportFrom(path, _ string, _ types.ImportMode) (*types.Package, error) {
	return f(path)
}

// pathBase returns the last element of an import path without a major
// version suffix: "example.com/foo/v2" -> foo, "gopkg.in/yaml.v3" -> yaml.
func pathBase(path string) string {
	elems := strings.Split(path, "/")
	last := elems[len(elems)-1]
	if len(elems) > 1 && len(last) > 1 && last[0] == 'v' && strings.Trim(last[1:], "0123456789") == "" {
		last = elems[len(elems)-2]
	}
	if i := strings.Index(last, ".v"); i > 0 {
		last = last[:i]
	}
	return last
}

// guessName guesses the package name of an import path outside the module
// (see graph.localNames): the last element without a major version suffix.
func guessName(path string) string {
	last := strings.TrimPrefix(pathBase(path), "go-")
	last = strings.TrimSuffix(last, "-go")
	return strings.NewReplacer("-", "_", ".", "_").Replace(last)
}
