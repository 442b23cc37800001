package codeversion

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"go/types"
	"strconv"
	"strings"
)

// A unit is one package-level declaration of a Go file, or one function
// literal: the pieces a code version is made of. Each has the hash of its
// own tokens and the names it refers to; the module graph (graph.go) links
// the names to other units.
type unit struct {
	kind unitKind
	// key names the unit in its package: "F" for a function, "T.M" for a
	// method, the first declared name for a var or type spec, "const A"
	// for a const group (named by its first constant), "init" for an init
	// function, "" for a literal.
	key string
	// names are the package-level names the unit declares (all the names of
	// a var spec or const group, the type name, the function name).
	names []string
	recv  string // a method's receiver base type
	line  int    // line of its first token (the func keyword for functions)
	end   int    // line of its last token
	// hash is the SHA-256 of the unit's canonical tokens: comments and
	// formatting left out, a function's own name left out, and the local
	// identifiers (parameters, variables, labels declared inside the unit)
	// renamed by order of first use, so renaming a local is not a change.
	hash [32]byte
	refs refs
	// parent is, for a literal, the index of the package-level unit that
	// holds it; -1 otherwise.
	parent int
	// captured are the variables a literal captures from the function
	// around it: state the code holds at run time, which source cannot
	// version.
	captured []string
	// needsParent is true when a literal uses a constant, type or function
	// declared locally in the function around it: that function's code is
	// then part of the literal's version.
	needsParent bool
	// embeds are the //go:embed patterns of a var spec.
	embeds []string
	// refLike is true for a var spec whose type is a map, slice, pointer,
	// channel or func, as written (declared type, or make, new, &, a map
	// or slice literal, a func literal): passing it to a call may change
	// what it refers to.
	refLike bool
	// xable is true for a var spec that -ldflags -X can set: a string,
	// declared so or initialized by a string literal.
	xable bool
}

type unitKind uint8

const (
	kindFunc unitKind = iota + 1
	kindMethod
	kindInit
	kindVar
	kindConst
	kindType
	kindLit
)

func (k unitKind) String() string {
	switch k {
	case kindFunc:
		return "func"
	case kindMethod:
		return "method"
	case kindInit:
		return "init"
	case kindVar:
		return "var"
	case kindConst:
		return "const"
	case kindType:
		return "type"
	case kindLit:
		return "closure"
	}
	return "unit"
}

// refs are the names a unit uses, as written: which declaration each one
// is is decided by the module graph, which knows every package.
type refs struct {
	idents []string   // unqualified names that are not local
	pairs  []namePair // X.Sel with X an unqualified, non-local name: a qualified name or a selector
	sels   []string   // selector names on other expressions: methods (or fields)
	writes []namePair // roots of assigned expressions: {"", V} or {X, Sel}
	// args are package-level names passed to calls, or whose methods are
	// called: writes when the variable is a map, slice, pointer or channel
	// (the callee may change what it refers to), or for a method call.
	// Unlike writes, they do not make the function's callers writers.
	args []namePair
	// recv is a method's receiver type: its declaration, not its other
	// methods.
	recv []string

	// Resolved by the type checker:
	objs      []objRef // package-level objects of the module's packages
	methods   []objRef // methods of the module's types: {pkg, "T.M"}
	ifaces    []string // methods called through an interface: every method of that name
	ext       []string // import paths outside the module
	objWrites []objRef // package variables of the module assigned or changed
	objArgs   []objRef // package variables of the module passed to calls
	recvObjs  []objRef // a method's receiver type
}

// objRef names a package-level object (or a method "T.M") of a package of
// the module by import path.
type objRef struct{ pkg, name string }

// namePair is X.Sel as written (X is "" for a plain name).
type namePair struct{ x, sel string }

// importSpec is one import of a file.
type importSpec struct {
	name string // as written: "" (the package's own name), "_", "." or a name
	path string
}

// fileSummary is what the code versions need of one Go file.
type fileSummary struct {
	pkg     string // the package clause
	imports []importSpec
	units   []unit
	decls   map[string]int // declaration key -> unit index ("F", "T.M")
	byLine  map[int][]int  // line of a literal's func keyword -> unit indices
	// lineDirectives is true when the file holds //line directives, which
	// change the lines the runtime reports.
	lineDirectives bool
}

// summarize parses a Go file and summarizes its units, without types.
func summarize(path string, src []byte) (*fileSummary, error) {
	fset := token.NewFileSet()
	f, err := parseFile(fset, path, src)
	if err != nil {
		return nil, err
	}
	return summarizeFile(fset, f, src, nil), nil
}

// parseFile parses a Go file, with comments only when it may hold
// //go:embed directives.
func parseFile(fset *token.FileSet, path string, src []byte) (*ast.File, error) {
	mode := parser.Mode(0)
	if bytes.Contains(src, []byte("go:embed")) {
		mode |= parser.ParseComments
	}
	f, err := parser.ParseFile(fset, path, src, mode)
	if err != nil {
		return nil, fmt.Errorf("source file %s does not parse: %v", path, err)
	}
	return f, nil
}

// summarizeFile summarizes a parsed file. info, when not nil, holds the
// types of the file's package (see typecheck.go), which resolve names and
// selectors exactly where they could be checked.
func summarizeFile(fset *token.FileSet, f *ast.File, src []byte, info *typeInfo) *fileSummary {
	s := &summarizer{
		tf:   fset.File(f.Pos()),
		src:  src,
		info: info,
		sum: &fileSummary{
			pkg:    f.Name.Name,
			decls:  make(map[string]int),
			byLine: make(map[int][]int),
		},
	}
	s.sum.lineDirectives = bytes.HasPrefix(src, []byte("//line ")) || bytes.Contains(src, []byte("\n//line ")) ||
		bytes.Contains(src, []byte("/*line "))
	for _, im := range f.Imports {
		p, err := strconv.Unquote(im.Path.Value)
		if err != nil {
			continue
		}
		spec := importSpec{path: p}
		if im.Name != nil {
			spec.name = im.Name.Name
		}
		s.sum.imports = append(s.sum.imports, spec)
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			s.funcDecl(d)
		case *ast.GenDecl:
			s.genDecl(d)
		}
	}
	return s.sum
}

type summarizer struct {
	tf   *token.File
	src  []byte
	sum  *fileSummary
	info *typeInfo
}

func (s *summarizer) line(p token.Pos) int { return s.tf.Line(p) }
func (s *summarizer) off(p token.Pos) int  { return s.tf.Offset(p) }

func (s *summarizer) add(u unit) int {
	i := len(s.sum.units)
	s.sum.units = append(s.sum.units, u)
	return i
}

func (s *summarizer) funcDecl(d *ast.FuncDecl) {
	u := unit{kind: kindFunc, key: d.Name.Name, names: []string{d.Name.Name}, parent: -1,
		line: s.line(d.Pos()), end: s.line(d.End())}
	if d.Recv != nil && len(d.Recv.List) == 1 {
		u.kind = kindMethod
		u.recv = recvBase(d.Recv.List[0].Type)
		u.key = u.recv + "." + d.Name.Name
		u.names = nil
	} else if d.Name.Name == "init" {
		u.kind = kindInit
		u.names = nil
	}
	w := s.walk(d.Pos(), d.End())
	if d.Recv != nil {
		idents, objs := len(w.refs.idents), len(w.refs.objs)
		w.node(d.Recv)
		w.refs.recv = append(w.refs.recv, w.refs.idents[idents:]...)
		w.refs.idents = w.refs.idents[:idents]
		w.refs.recvObjs = append(w.refs.recvObjs, w.refs.objs[objs:]...)
		w.refs.objs = w.refs.objs[:objs]
	}
	w.node(d.Type)
	if d.Body != nil {
		w.node(d.Body)
	}
	u.refs = w.refs
	u.hash = s.hashSpan(d.Pos(), d.End(), s.off(d.Name.Pos()), w.renames, u.kind.String())
	i := s.add(u)
	if d.Name.Name != "_" && u.kind != kindInit && u.key != "" {
		s.sum.decls[u.key] = i
	}
	s.literals(d, i)
}

func (s *summarizer) genDecl(d *ast.GenDecl) {
	switch d.Tok {
	case token.CONST:
		// A const group is one unit: iota and implicit repetition make
		// every constant depend on the specs before it.
		u := unit{kind: kindConst, parent: -1, line: s.line(d.Pos()), end: s.line(d.End())}
		w := s.walk(d.Pos(), d.End())
		for _, sp := range d.Specs {
			vs := sp.(*ast.ValueSpec)
			for _, n := range vs.Names {
				u.names = append(u.names, n.Name)
			}
			if vs.Type != nil {
				w.node(vs.Type)
			}
			for _, v := range vs.Values {
				w.node(v)
			}
		}
		if len(u.names) > 0 {
			u.key = "const " + u.names[0]
		}
		u.refs = w.refs
		u.hash = s.hashSpan(d.Pos(), d.End(), -1, w.renames, "const")
		i := s.add(u)
		s.literals(d, i)
	case token.VAR:
		for _, sp := range d.Specs {
			vs := sp.(*ast.ValueSpec)
			u := unit{kind: kindVar, parent: -1, line: s.line(vs.Pos()), end: s.line(vs.End())}
			for _, n := range vs.Names {
				u.names = append(u.names, n.Name)
			}
			u.key = u.names[0]
			w := s.walk(vs.Pos(), vs.End())
			if vs.Type != nil {
				w.node(vs.Type)
			}
			for _, v := range vs.Values {
				w.node(v)
			}
			u.refs = w.refs
			doc := vs.Doc
			if doc == nil && len(d.Specs) == 1 {
				doc = d.Doc
			}
			u.embeds = embedPatterns(doc)
			u.refLike = refLike(vs)
			u.xable = xable(vs) && len(u.embeds) == 0
			u.hash = s.hashSpan(vs.Pos(), vs.End(), -1, w.renames, "var")
			i := s.add(u)
			s.literals(vs, i)
		}
	case token.TYPE:
		for _, sp := range d.Specs {
			ts := sp.(*ast.TypeSpec)
			u := unit{kind: kindType, key: ts.Name.Name, names: []string{ts.Name.Name}, parent: -1,
				line: s.line(ts.Pos()), end: s.line(ts.End())}
			w := s.walk(ts.Pos(), ts.End())
			if ts.TypeParams != nil {
				w.node(ts.TypeParams)
			}
			w.node(ts.Type)
			u.refs = w.refs
			u.hash = s.hashSpan(ts.Pos(), ts.End(), -1, w.renames, "type")
			i := s.add(u)
			s.literals(ts, i)
		}
	}
}

// literals adds a unit for every function literal inside the package-level
// unit parent (declared by n).
func (s *summarizer) literals(decl ast.Node, parent int) {
	ast.Inspect(decl, func(n ast.Node) bool {
		lit, ok := n.(*ast.FuncLit)
		if !ok {
			return true
		}
		u := unit{kind: kindLit, parent: parent, line: s.line(lit.Pos()), end: s.line(lit.End())}
		w := s.walk(lit.Pos(), lit.End())
		w.lit, w.outerFrom, w.outerTo = true, decl.Pos(), decl.End()
		w.node(lit.Type)
		w.node(lit.Body)
		u.refs = w.refs
		u.captured = w.captured
		u.needsParent = w.needsParent
		u.hash = s.hashSpan(lit.Pos(), lit.End(), -1, w.renames, "closure")
		i := s.add(u)
		s.sum.byLine[u.line] = append(s.sum.byLine[u.line], i)
		return true // nested literals are units too
	})
}

// walk returns a reference collector for the unit spanning [from, to).
func (s *summarizer) walk(from, to token.Pos) *refWalker {
	return &refWalker{s: s, from: from, to: to, renames: make(map[int]string), locals: make(map[token.Pos]int)}
}

// refWalker collects the references of one unit and the renames of its
// local identifiers.
type refWalker struct {
	s        *summarizer
	from, to token.Pos
	refs     refs
	renames  map[int]string    // offset of a local identifier -> canonical name
	locals   map[token.Pos]int // declaration of a local -> its canonical number
	keep     map[*ast.Ident]bool
	// guards are the identifiers declared by type switch guards (x in
	// switch x := v.(type)), whose objects are per clause.
	guards map[token.Pos]bool
	// mutating is set while recording the receiver of a method call: a
	// change that does not flow from the caller's arguments.
	mutating bool
	// For literals: objects declared outside [from, to) but inside the
	// package-level declaration around it, [outerFrom, outerTo), are
	// captured (variables) or need its code (constants, types).
	lit                bool
	outerFrom, outerTo token.Pos
	captured           []string
	needsParent        bool
	seenCapture        map[string]bool
}

// objOf returns the object id declares or uses, or nil (no types, or a
// name the type checker could not resolve).
func (w *refWalker) objOf(id *ast.Ident) types.Object {
	if w.s.info == nil {
		return nil
	}
	if o := w.s.info.info.Defs[id]; o != nil {
		return o
	}
	return w.s.info.info.Uses[id]
}

// declPos returns where the object of id is declared when it is declared
// in a function (a parameter, a local variable, constant, type or label),
// and false for package-level objects, fields, the universe and names not
// resolved.
func (w *refWalker) declPos(id *ast.Ident) (token.Pos, bool) {
	o := w.objOf(id)
	if o == nil {
		if w.guards[id.Pos()] {
			return id.Pos(), true
		}
		return token.NoPos, false
	}
	if o.Pkg() == nil || packageLevel(o) {
		return token.NoPos, false
	}
	if v, ok := o.(*types.Var); ok && v.IsField() {
		return token.NoPos, false
	}
	return o.Pos(), o.Pos().IsValid()
}

// local reports whether id names an object declared inside the unit.
func (w *refWalker) local(id *ast.Ident) bool {
	p, ok := w.declPos(id)
	return ok && p >= w.from && p < w.to
}

func (w *refWalker) ident(id *ast.Ident) {
	if id.Name == "_" {
		return
	}
	p, inFunc := w.declPos(id)
	if inFunc && p >= w.from && p < w.to {
		if w.keep[id] {
			return // never renamed
		}
		k, ok := w.locals[p]
		if !ok {
			k = len(w.locals)
			w.locals[p] = k
		}
		w.renames[w.s.off(id.Pos())] = "\x00" + strconv.Itoa(k)
		return
	}
	if inFunc && w.lit && p >= w.outerFrom && p < w.outerTo {
		// Declared in the function around the literal.
		if _, ok := w.objOf(id).(*types.Var); ok || w.guards[p] {
			if w.seenCapture == nil {
				w.seenCapture = map[string]bool{}
			}
			if !w.seenCapture[id.Name] {
				w.seenCapture[id.Name] = true
				w.captured = append(w.captured, id.Name)
			}
		} else {
			w.needsParent = true
		}
		return
	}
	if o := w.s.info.use(id); o != nil {
		w.object(o)
		return
	}
	if inFunc {
		return
	}
	w.refs.idents = append(w.refs.idents, id.Name)
}

// object records a use of an object the type checker resolved.
func (w *refWalker) object(o types.Object) {
	switch o := o.(type) {
	case *types.PkgName, *types.Builtin, *types.Nil, *types.Label:
		return
	case *types.Var:
		if o.IsField() {
			return // part of its struct type
		}
	}
	if o.Pkg() == nil || !packageLevel(o) {
		return // the universe, or local (declared in a function: in the unit)
	}
	if p := o.Pkg().Path(); w.s.info.inModule(p) {
		w.refs.objs = append(w.refs.objs, objRef{p, o.Name()})
	} else {
		w.refs.ext = append(w.refs.ext, p)
	}
}

// node walks n, collecting references.
func (w *refWalker) node(n ast.Node) {
	ast.Inspect(n, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.Ident:
			w.ident(n)
			return false
		case *ast.SelectorExpr:
			if w.s.info != nil && w.typedSelector(n) {
				return false
			}
			if x, ok := n.X.(*ast.Ident); ok && w.objOf(x) == nil && !w.guards[x.Pos()] {
				// Not resolved: a package (whose name was not guessed) or
				// a name of the package, resolved by name.
				w.refs.pairs = append(w.refs.pairs, namePair{x.Name, n.Sel.Name})
				return false
			}
			w.node(n.X)
			w.refs.sels = append(w.refs.sels, n.Sel.Name)
			return false
		case *ast.KeyValueExpr:
			// A composite literal key may be a struct field or a value
			// (a constant of a map key): refer to it, never rename it.
			if id, ok := n.Key.(*ast.Ident); ok {
				if w.keep == nil {
					w.keep = map[*ast.Ident]bool{}
				}
				w.keep[id] = true
				if o := w.s.info.use(id); o != nil {
					w.object(o) // a field, or a constant or variable
				} else {
					w.refs.idents = append(w.refs.idents, id.Name)
				}
				w.node(n.Value)
				return false
			}
		case *ast.StructType, *ast.InterfaceType:
			// Field and method names are part of the type as written
			// (never renamed, not references); their types refer.
			var fl *ast.FieldList
			if st, ok := n.(*ast.StructType); ok {
				fl = st.Fields
			} else {
				fl = n.(*ast.InterfaceType).Methods
			}
			if fl != nil {
				for _, f := range fl.List {
					w.node(f.Type)
				}
			}
			return false
		case *ast.Field:
			// Parameter and result names are locals; their types refer.
			for _, id := range n.Names {
				w.ident(id)
			}
			if n.Type != nil {
				w.node(n.Type)
			}
			return false
		case *ast.TypeSwitchStmt:
			if as, ok := n.Assign.(*ast.AssignStmt); ok && len(as.Lhs) == 1 {
				if id, ok := as.Lhs[0].(*ast.Ident); ok {
					if w.guards == nil {
						w.guards = map[token.Pos]bool{}
					}
					w.guards[id.Pos()] = true
				}
			}
		case *ast.LabeledStmt:
			w.ident(n.Label)
			w.node(n.Stmt)
			return false
		case *ast.BranchStmt:
			if n.Label != nil {
				w.ident(n.Label)
			}
			return false
		case *ast.AssignStmt:
			if n.Tok != token.DEFINE {
				for _, l := range n.Lhs {
					w.write(l)
				}
			}
		case *ast.IncDecStmt:
			w.write(n.X)
		case *ast.RangeStmt:
			if n.Tok == token.ASSIGN {
				if n.Key != nil {
					w.write(n.Key)
				}
				if n.Value != nil {
					w.write(n.Value)
				}
			}
		case *ast.UnaryExpr:
			if n.Op == token.AND {
				w.write(n.X)
			}
		case *ast.CallExpr:
			// A method call may change its receiver, and a call may change
			// what its arguments point to: both count as writes.
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
				w.mutating = true
				w.write(sel.X)
				w.mutating = false
			}
			for _, a := range n.Args {
				w.arg(a)
			}
		}
		return true
	})
}

// typedSelector records a selector the type checker resolved: a qualified
// name, a field (nothing: its struct type is referred to where the value
// is made), or a method, exactly for a concrete type and by name through an
// interface. It reports false when the selector was not typed.
func (w *refWalker) typedSelector(n *ast.SelectorExpr) bool {
	if x, ok := n.X.(*ast.Ident); ok {
		if pn, ok := w.s.info.use(x).(*types.PkgName); ok {
			p := pn.Imported().Path()
			if w.s.info.inModule(p) {
				w.refs.objs = append(w.refs.objs, objRef{p, n.Sel.Name})
			} else {
				w.refs.ext = append(w.refs.ext, p)
			}
			return true
		}
	}
	sel, ok := w.s.info.info.Selections[n]
	if !ok {
		if x, ok := n.X.(*ast.Ident); ok && w.objOf(x) == nil && !w.guards[x.Pos()] {
			return false // an unknown name: resolved by name
		}
		// X was not typed: its type comes from outside the module, whose
		// methods are not the module's code. A method of the module
		// reached through such a value (an interface of another module
		// holding a value of the module) is covered by the rule that a
		// type named anywhere in the closure brings all its methods.
		w.node(n.X)
		return true
	}
	switch sel.Kind() {
	case types.FieldVal:
	case types.MethodVal, types.MethodExpr:
		fn, ok := sel.Obj().(*types.Func)
		if !ok {
			return false
		}
		recv, dynamic := recvName(fn)
		switch {
		case dynamic:
			w.refs.ifaces = append(w.refs.ifaces, fn.Name())
		case fn.Pkg() == nil:
		case w.s.info.inModule(fn.Pkg().Path()):
			w.refs.methods = append(w.refs.methods, objRef{fn.Pkg().Path(), recv + "." + fn.Name()})
		default:
			w.refs.ext = append(w.refs.ext, fn.Pkg().Path())
		}
	}
	w.node(n.X)
	return true
}

// rootObject returns the package variable of the module that ident id or
// selector pkg.V names, when the type checker resolved it.
func (w *refWalker) rootObject(e ast.Expr) (objRef, bool) {
	var o types.Object
	switch x := e.(type) {
	case *ast.Ident:
		o = w.s.info.use(x)
	case *ast.SelectorExpr:
		if id, ok := x.X.(*ast.Ident); ok {
			if _, ok := w.s.info.use(id).(*types.PkgName); ok {
				o = w.s.info.use(x.Sel)
			}
		}
	}
	if v, ok := o.(*types.Var); ok && !v.IsField() && packageLevel(v) && w.s.info.inModule(v.Pkg().Path()) {
		return objRef{v.Pkg().Path(), v.Name()}, true
	}
	return objRef{}, false
}

func (w *refWalker) objWrite(r objRef) {
	if w.mutating {
		w.refs.objArgs = append(w.refs.objArgs, r)
	} else {
		w.refs.objWrites = append(w.refs.objWrites, r)
	}
}

func (w *refWalker) nameWrite(p namePair) {
	if w.mutating {
		w.refs.args = append(w.refs.args, p)
	} else {
		w.refs.writes = append(w.refs.writes, p)
	}
}

// write records the root of an assigned (or possibly changed) expression.
func (w *refWalker) write(e ast.Expr) {
	for {
		switch x := e.(type) {
		case *ast.ParenExpr:
			e = x.X
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.UnaryExpr:
			e = x.X
		case *ast.SelectorExpr:
			if r, ok := w.rootObject(x); ok {
				w.objWrite(r)
				return
			}
			if id, ok := x.X.(*ast.Ident); ok && w.s.info.use(id) == nil {
				if !w.local(id) && w.objOf(id) == nil {
					w.nameWrite(namePair{id.Name, x.Sel.Name})
					return
				}
			}
			e = x.X
		case *ast.Ident:
			if r, ok := w.rootObject(x); ok {
				w.objWrite(r)
				return
			}
			if !w.local(x) && x.Name != "_" && w.s.info.use(x) == nil {
				w.nameWrite(namePair{"", x.Name})
			}
			return
		default:
			return
		}
	}
}

// arg records a name passed to a call (see refs.args); &x is a write.
func (w *refWalker) arg(e ast.Expr) {
	for {
		p, ok := e.(*ast.ParenExpr)
		if !ok {
			break
		}
		e = p.X
	}
	if r, ok := w.rootObject(e); ok {
		w.refs.objArgs = append(w.refs.objArgs, r)
		return
	}
	if u, ok := e.(*ast.UnaryExpr); ok && u.Op == token.AND {
		return // &x: a write, recorded by node
	}
	switch x := e.(type) {
	case *ast.Ident:
		if !w.local(x) && x.Name != "_" && w.s.info.use(x) == nil {
			w.refs.args = append(w.refs.args, namePair{"", x.Name})
		}
	case *ast.SelectorExpr:
		if id, ok := x.X.(*ast.Ident); ok && !w.local(id) && w.objOf(id) == nil {
			w.refs.args = append(w.refs.args, namePair{id.Name, x.Sel.Name})
		}
	}
}

// refLike reports whether a var spec holds a reference, as written: see
// unit.refLike. A spec whose type cannot be told (a call's result) is not.
func refLike(vs *ast.ValueSpec) bool {
	isRef := func(t ast.Expr) bool {
		switch t.(type) {
		case *ast.MapType, *ast.ArrayType, *ast.StarExpr, *ast.ChanType, *ast.FuncType:
			if at, ok := t.(*ast.ArrayType); ok && at.Len != nil {
				return false // an array is a value
			}
			return true
		}
		return false
	}
	if vs.Type != nil {
		return isRef(vs.Type)
	}
	for _, v := range vs.Values {
		switch v := v.(type) {
		case *ast.UnaryExpr:
			if v.Op == token.AND {
				return true
			}
		case *ast.CompositeLit:
			if isRef(v.Type) {
				return true
			}
		case *ast.FuncLit:
			return true
		case *ast.CallExpr:
			if id, ok := v.Fun.(*ast.Ident); ok && (id.Name == "make" || id.Name == "new") {
				return true
			}
		}
	}
	return false
}

// xable reports whether the linker's -X flag may set the variables of vs:
// strings, declared with type string or initialized by a string literal.
func xable(vs *ast.ValueSpec) bool {
	if id, ok := vs.Type.(*ast.Ident); ok {
		return id.Name == "string"
	}
	if vs.Type != nil {
		return false
	}
	for _, v := range vs.Values {
		if lit, ok := v.(*ast.BasicLit); !ok || lit.Kind != token.STRING {
			return false
		}
	}
	return len(vs.Values) > 0
}

// recvBase returns the base type name of a receiver type expression.
func recvBase(t ast.Expr) string {
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
		case *ast.ParenExpr:
			t = x.X
		case *ast.IndexExpr:
			t = x.X
		case *ast.IndexListExpr:
			t = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

// embedPatterns returns the patterns of the //go:embed lines of doc.
func embedPatterns(doc *ast.CommentGroup) []string {
	if doc == nil {
		return nil
	}
	var out []string
	for _, c := range doc.List {
		rest, ok := strings.CutPrefix(c.Text, "//go:embed")
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '\t') {
			continue
		}
		out = append(out, splitEmbed(rest)...)
	}
	return out
}

// splitEmbed splits the patterns of a //go:embed line: separated by spaces,
// each bare or quoted ("..." or `...`).
func splitEmbed(s string) []string {
	var out []string
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return out
		}
		if s[0] == '"' || s[0] == '`' {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return append(out, s) // malformed: kept whole, so it still counts
			}
			u, _ := strconv.Unquote(q)
			out = append(out, u)
			s = s[len(q):]
			continue
		}
		i := strings.IndexAny(s, " \t")
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i])
		s = s[i:]
	}
}

// hashSpan hashes the canonical tokens of src[from:to): the kind, then the
// tokens, with the identifier at offset skip left out (a function's own
// name) and local identifiers replaced as renames says.
func (s *summarizer) hashSpan(from, to token.Pos, skip int, renames map[int]string, kind string) [32]byte {
	start, end := s.off(from), s.off(to)
	text := s.src[start:end]
	tf := token.NewFileSet().AddFile("", -1, len(text))
	var sc scanner.Scanner
	sc.Init(tf, text, nil, 0)
	c := newCanonical()
	defer c.free()
	c.add(token.IDENT, kind)
	for {
		pos, tok, lit := sc.Scan()
		if tok == token.EOF {
			break
		}
		off := start + tf.Offset(pos)
		if off == skip {
			continue
		}
		if tok == token.IDENT {
			if r, ok := renames[off]; ok {
				lit = r
			}
		}
		c.add(tok, lit)
	}
	c.end()
	return c.sum()
}
