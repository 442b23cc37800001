package codeversion

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fileEntry is one cached source file: its text, read once, the index of
// its lines, and its parse, made only when the quick path of [quickVersion]
// cannot be used. A changed size or modification time replaces the entry.
type fileEntry struct {
	path  string
	size  int64
	mtime time.Time
	// checked is when size and mtime were last compared with the file's
	// (guarded by resolver.mu).
	checked time.Time

	read sync.Once // makes concurrent callers share one read
	text quickText
	err  error

	parse    sync.Once // makes concurrent callers share one parse
	src      *source
	parseErr error

	learned atomic.Bool // resolver.learnDir was called for the file
}

// source is the parsed index of one Go file: its text and the functions
// (declarations and literals) it holds. The AST is not kept; a function's
// tokens are scanned when its version is first asked for.
type source struct {
	src    []byte
	nodes  []funcNode     // declarations and literals, in source order
	decls  map[string]int // "F" or "T.M" -> index in nodes
	byLine map[int][]int  // line of the func keyword -> literal indices, source order
	memo   []atomic.Pointer[string]
}

// funcNode is a function declaration or a function literal.
type funcNode struct {
	start, end int // byte offsets: from the func keyword to just past the body
	name       int // offset of a declaration's name (not hashed); -1 for literals
	line       int // line of the func keyword
	endLine    int
	lit        bool
	parent     int   // enclosing function's index; -1 at package level
	children   []int // function literals directly inside, in source order
}

// file returns the cached source file at path, read when its size or
// modification time changed. When r.recheck is positive, a file checked
// less than r.recheck ago is not looked at again (a stat costs more than
// versioning a small function).
func (r *resolver) file(path string) (*fileEntry, error) {
	var now time.Time
	if r.recheck > 0 {
		now = r.now()
		r.mu.Lock()
		e := r.files[path]
		fresh := e != nil && !e.checked.IsZero() && now.Sub(e.checked) < r.recheck
		r.mu.Unlock()
		if fresh {
			return e, e.load(r.readFile)
		}
	}
	fi, err := r.stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("source file %s not found", path)
		}
		return nil, fmt.Errorf("source file %s: %v", path, err)
	}
	r.mu.Lock()
	e := r.files[path]
	if e == nil || e.size != fi.Size() || !e.mtime.Equal(fi.ModTime()) {
		e = &fileEntry{path: path, size: fi.Size(), mtime: fi.ModTime()}
		r.files[path] = e
	}
	if r.recheck > 0 && now.After(e.checked) {
		e.checked = now
	}
	r.mu.Unlock()
	return e, e.load(r.readFile)
}

// load reads the file and indexes its lines, once.
func (e *fileEntry) load(readFile func(string) ([]byte, error)) error {
	e.read.Do(func() {
		b, err := readFile(e.path)
		if err != nil {
			e.err = fmt.Errorf("source file %s: %v", e.path, err)
			return
		}
		e.text = newQuickText(b)
	})
	return e.err
}

// parsed returns the parsed file, parsing it once.
func (e *fileEntry) parsed() (*source, error) {
	e.parse.Do(func() {
		e.src, e.parseErr = parseSource(e.path, e.text.data)
	})
	return e.src, e.parseErr
}

// source returns the parsed file at path, from the cache when its size and
// modification time did not change.
func (r *resolver) source(path string) (*source, error) {
	e, err := r.file(path)
	if err != nil {
		return nil, err
	}
	return e.parsed()
}

// parseSource parses a Go file and indexes its functions.
func parseSource(path string, b []byte) (*source, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, b, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("source file %s does not parse: %v", path, err)
	}
	tf := fset.File(f.Pos())
	s := &source{src: b, decls: make(map[string]int), byLine: make(map[int][]int)}

	add := func(n funcNode, parent int) int {
		i := len(s.nodes)
		n.parent = parent
		s.nodes = append(s.nodes, n)
		if parent >= 0 {
			s.nodes[parent].children = append(s.nodes[parent].children, i)
		}
		return i
	}
	span := func(from, to token.Pos) funcNode {
		return funcNode{
			start: tf.Offset(from), end: tf.Offset(to), name: -1,
			line: tf.Line(from), endLine: tf.Line(to),
		}
	}
	// owner[n] is the index of the function node n is (for FuncDecl and
	// FuncLit), used to find the enclosing function of a literal.
	owner := make(map[ast.Node]int)
	ast.PreorderStack(f, nil, func(n ast.Node, stack []ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncDecl:
			if n.Body == nil {
				return false // declared without body (assembly or linkname)
			}
			fn := span(n.Pos(), n.End())
			fn.name = tf.Offset(n.Name.Pos())
			i := add(fn, -1)
			owner[n] = i
			if key := declKey(n); key != "" {
				s.decls[key] = i
			}
		case *ast.FuncLit:
			parent := -1
			for j := len(stack) - 1; j >= 0; j-- {
				if p, ok := owner[stack[j]]; ok {
					parent = p
					break
				}
			}
			fn := span(n.Pos(), n.End())
			fn.lit = true
			i := add(fn, parent)
			owner[n] = i
			s.byLine[fn.line] = append(s.byLine[fn.line], i)
		}
		return true
	})
	s.memo = make([]atomic.Pointer[string], len(s.nodes))
	return s, nil
}

// declKey is the index key of a function declaration: "F" for a function,
// "T.M" for a method of T or *T (type parameters dropped). init functions
// and blank names are not indexed: they cannot be referred to.
func declKey(d *ast.FuncDecl) string {
	name := d.Name.Name
	if name == "_" || (name == "init" && d.Recv == nil) {
		return ""
	}
	if d.Recv == nil || len(d.Recv.List) != 1 {
		return name
	}
	t := d.Recv.List[0].Type
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
			return x.Name + "." + name
		default:
			return ""
		}
	}
}

// splitName splits a runtime function name into its package path and the
// rest: "example.com/a/b.(*T).M" -> "example.com/a/b", "(*T).M". The linker
// escapes dots in the last element of a package path ("yaml%2ev3"), so the
// first dot after the last slash ends the path.
func splitName(name string) (pkg, rest string) {
	head := name
	if i := strings.IndexByte(head, '['); i >= 0 {
		head = head[:i]
	}
	slash := strings.LastIndexByte(head, '/')
	dot := strings.IndexByte(name[slash+1:], '.')
	if dot < 0 {
		return "", name
	}
	return name[:slash+1+dot], name[slash+1+dot+1:]
}

// runtimeName is a parsed runtime function name, relative to its package.
type runtimeName struct {
	key     string // declaration key: "F" or "T.M"
	closure []int  // closure path: N of funcN, then the nested indices
	// plain is true when the name is a declaration key followed by a
	// well-formed closure path, i.e. when the compiler did not rename the
	// function because of inlining or range-over-func rewriting.
	plain bool
}

// parseRuntimeName parses the part of a runtime name after the package,
// e.g. "(*T).M-fm", "G[...].M", "Outer.func2.1".
func parseRuntimeName(rest string) runtimeName {
	rest = strings.TrimSuffix(rest, "-fm")
	rest = strings.ReplaceAll(rest, "[...]", "")
	// strings.Split(rest, "."), without allocating for short names.
	var short [8]string
	segs := short[:0]
	for s := rest; ; {
		seg, after, found := strings.Cut(s, ".")
		segs = append(segs, seg)
		if !found {
			break
		}
		s = after
	}
	var n runtimeName
	i := 1
	switch {
	case strings.HasPrefix(segs[0], "(*") && strings.HasSuffix(segs[0], ")") && len(segs) > 1:
		n.key = segs[0][2:len(segs[0])-1] + "." + segs[1]
		i = 2
	case len(segs) > 1 && closureIndex(segs[1], true) == 0:
		n.key = rest[:len(segs[0])+1+len(segs[1])] // segs[0] + "." + segs[1]
		i = 2
	default:
		n.key = segs[0]
	}
	n.plain = validIdent(n.key)
	for j, seg := range segs[i:] {
		k := closureIndex(seg, j == 0)
		if k == 0 {
			n.plain = false
			break
		}
		n.closure = append(n.closure, k)
	}
	return n
}

// closureIndex returns N for "funcN" (first) or "N" (nested), 0 otherwise.
func closureIndex(seg string, first bool) int {
	if first {
		var ok bool
		if seg, ok = strings.CutPrefix(seg, "func"); !ok {
			return 0
		}
	}
	if seg == "" || seg[0] == '0' {
		return 0
	}
	k, err := strconv.Atoi(seg)
	if err != nil || k <= 0 {
		return 0
	}
	return k
}

// validIdent reports whether key is "F" or "T.M" made of identifiers.
func validIdent(key string) bool {
	for part := range strings.SplitSeq(key, ".") {
		if !token.IsIdentifier(part) {
			return false
		}
	}
	return true
}

// resolve finds the function with the given runtime name whose func keyword
// is on line (exact) or, when !exact, whose first instruction is on line. It
// returns the node indices to hash (more than one only for ambiguous
// closures, see the package documentation) and the function's line.
func (s *source) resolve(name string, line int, exact bool) ([]int, int, error) {
	_, rest := splitName(name)
	rn := parseRuntimeName(rest)
	if len(rn.closure) == 0 && rn.plain {
		if i, ok := s.decls[rn.key]; ok {
			return []int{i}, s.nodes[i].line, nil
		}
		return nil, 0, fmt.Errorf("no declaration of %s in the source file (changed since the build?)", rn.key)
	}
	// A closure, or a name the compiler rewrote: T.M.Other.func1 is a
	// closure of Other inlined into T.M, not T.M.
	cands := s.literalsAt(line, exact)
	switch len(cands) {
	case 0:
		return nil, 0, fmt.Errorf("no function literal at line %d of the source file (changed since the build?)", line)
	case 1:
		return cands, s.nodes[cands[0]].line, nil
	}
	// Several literals start on the line: follow the closure path.
	if i, ok := s.decls[rn.key]; ok && rn.plain {
		for _, k := range rn.closure {
			ch := s.nodes[i].children
			if k > len(ch) {
				i = -1
				break
			}
			i = ch[k-1]
		}
		for _, c := range cands {
			if c == i {
				return []int{i}, line, nil
			}
		}
	}
	return cands, s.nodes[cands[0]].line, nil
}

// literalsAt returns the function literals whose func keyword is on line.
// When !exact and none is, it returns the innermost literal containing line.
func (s *source) literalsAt(line int, exact bool) []int {
	if c := s.byLine[line]; len(c) > 0 || exact {
		return c
	}
	best := -1
	for i, n := range s.nodes {
		if n.lit && n.line <= line && line <= n.endLine {
			best = i // later nodes in source order are nested deeper
		}
	}
	if best < 0 {
		return nil
	}
	return []int{best}
}
