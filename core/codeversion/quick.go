package codeversion

import (
	"bytes"
	"go/scanner"
	"go/token"
	"strings"
	"sync"
)

// quickText is a source file prepared for [quickVersion].
type quickText struct {
	data []byte
	nl   []int // offsets of the '\n' bytes of data
	// directives is true when data may hold //line or /*line comments.
	// They change the lines the runtime and the parser report, not those
	// of nl: such files are left to the parser.
	directives bool
}

func newQuickText(b []byte) quickText {
	nl := make([]int, 0, bytes.Count(b, []byte{'\n'}))
	for off := 0; ; off++ {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			break
		}
		off += i
		nl = append(nl, off)
	}
	directives := bytes.HasPrefix(b, []byte("//line ")) || bytes.Contains(b, []byte("\n//line ")) ||
		bytes.Contains(b, []byte("/*line "))
	return quickText{data: b, nl: nl, directives: directives}
}

// quickVersion computes the version of the function with runtime name name
// whose func keyword is on line (1-based) of t, without parsing the file: it
// scans tokens from the start of that line to the end of the function's
// body and hashes the same canonical stream as the full parse does.
//
// ok is false whenever the scan cannot be sure to find the function the
// full parse would find; the caller then parses the file, which also gives
// the reason of a failure. lit reports a function literal.
//
// A declaration "F" or "T.M" must start the line with func F, or with func
// and a receiver of type T, T[...] or *T (named or not, in parentheses or
// not) followed by M. A closure must be the only func keyword on the line,
// which is how the full parse finds it too when it is the only literal on
// the line; several func keywords (several literals, a parameter or result
// of func type, a method declaration with its closure) are left to the
// parser.
func quickVersion(t *quickText, name string, line int) (version string, lit, ok bool) {
	if t.directives {
		return "", false, false
	}
	data := t.data
	_, short := splitName(name)
	rn := parseRuntimeName(short)
	var recv, fname string
	lit = len(rn.closure) > 0 || !rn.plain // as in source.resolve
	if !lit {
		fname = rn.key
		if i := strings.IndexByte(fname, '.'); i >= 0 {
			recv, fname = fname[:i], fname[i+1:]
		}
		if fname == "_" || (recv == "" && fname == "init") {
			return "", false, false // not indexed by the full parse
		}
	}
	start, end, found := lineSpan(len(data), t.nl, line)
	if !found {
		return "", false, false
	}
	// Scanning from the start of the line gives the file's tokens unless
	// the line starts inside a raw string or a block comment. Such a string
	// or comment ends on the line, before the func keyword the runtime
	// reports there, so a line without '`' and "*/" starts outside of them.
	text := data[start:end]
	if bytes.IndexByte(text, '`') >= 0 || bytes.Contains(text, []byte("*/")) {
		return "", false, false
	}
	rest := data[start:]
	lineEnd := end - start
	if len(rest) > quickWindow && lineEnd < quickWindow {
		// Most functions end within a few kilobytes: scan a window of the
		// file, with a token.File of the window's size from a pool (one
		// per scan costs a few allocations).
		tf := windowFiles.Get().(*token.File)
		version, ok = quickScanFunc(tf, rest[:quickWindow], lineEnd, recv, fname, lit)
		windowFiles.Put(tf)
		if ok {
			return version, lit, true
		}
		// The function may go on past the window (its tokens up to the
		// cut are those of the file, then the scan fails): scan on.
	}
	tf := token.NewFileSet().AddFile("", -1, len(rest))
	version, ok = quickScanFunc(tf, rest, lineEnd, recv, fname, lit)
	return version, lit, ok
}

// quickWindow is the size of the part of a file scanned first.
const quickWindow = 16 << 10

// windowFiles holds token.Files of size quickWindow for scanning windows.
// A scanner records the line starts it meets in its token.File, which
// ignores those not after its last one, so reusing one is harmless: only
// offsets are taken from the positions.
var windowFiles = sync.Pool{New: func() any {
	return token.NewFileSet().AddFile("", -1, quickWindow)
}}

// quickScanFunc scans the function whose func keyword is on the first line
// of src, a line of lineEnd bytes, as described at [quickVersion], and
// returns its version.
func quickScanFunc(tf *token.File, src []byte, lineEnd int, recv, fname string, lit bool) (string, bool) {
	q := quickScan{base: tf.Base(), lineEnd: lineEnd, literal: lit}
	q.sc.Init(tf, src, nil, 0)
	c := newCanonical()
	defer c.free()

	// The func keyword: first on the line for a declaration, the first
	// and only one on the line for a literal.
	prev := token.ILLEGAL
	for q.next() != token.FUNC {
		if !lit || q.off >= q.lineEnd || q.tok == token.EOF || q.tok == token.ILLEGAL {
			return "", false
		}
		prev = q.tok
	}
	if q.off >= q.lineEnd || prev == token.RBRACK { // ]func() T{...} is a composite literal
		return "", false
	}
	c.add(token.FUNC, q.lit)
	q.next()
	if lit {
		if q.tok != token.LPAREN { // func Name: a declaration
			return "", false
		}
	} else {
		if recv != "" {
			if q.tok != token.LPAREN || !q.receiver(c, recv) {
				return "", false
			}
			q.next()
		}
		if q.tok != token.IDENT || q.lit != fname {
			return "", false
		}
		// The name is not hashed.
		q.next()
		if q.tok != token.LPAREN && (recv != "" || q.tok != token.LBRACK) {
			return "", false
		}
	}
	if !q.signatureAndBody(c) {
		return "", false
	}
	c.end()
	return c.version(), true
}

// lineSpan returns the offsets of the start and end (the '\n' or the end of
// the file) of line in a file of size bytes with line breaks at nl.
func lineSpan(size int, nl []int, line int) (start, end int, ok bool) {
	if line < 1 || line > len(nl)+1 {
		return 0, 0, false
	}
	if line > 1 {
		start = nl[line-2] + 1
	}
	end = size
	if line <= len(nl) {
		end = nl[line-1]
	}
	return start, end, true
}

// quickScan scans a file from the start of a function's line.
type quickScan struct {
	sc      scanner.Scanner
	base    int  // token.Pos of offset 0
	lineEnd int  // offset of the end of the function's line
	literal bool // looking for a function literal
	tok     token.Token
	lit     string // the current token's text
	off     int    // the current token's offset
}

func (q *quickScan) next() token.Token {
	pos, tok, lit := q.sc.Scan()
	q.tok, q.lit, q.off = tok, lit, int(pos)-q.base
	return tok
}

// receiver adds the tokens of a receiver, from its '(' (the current token)
// to its ')', and reports whether its base type is typ.
func (q *quickScan) receiver(c *canonical, typ string) bool {
	parens, brackets, idents, last := 0, 0, 0, ""
	comma := false // a trailing comma, which only ')' may follow
	for tok := q.tok; ; tok = q.next() {
		if comma && tok != token.RPAREN {
			return false
		}
		switch tok {
		case token.EOF, token.ILLEGAL, token.SEMICOLON:
			return false
		case token.LPAREN:
			parens++
		case token.RPAREN:
			parens--
		case token.LBRACK:
			brackets++
		case token.RBRACK:
			if brackets--; brackets < 0 {
				return false
			}
		case token.IDENT:
			if brackets == 0 {
				idents++
				last = q.lit
			}
		case token.MUL:
		case token.COMMA:
			comma = brackets == 0
		default:
			if brackets == 0 { // a qualified type, several receivers...
				return false
			}
		}
		c.add(tok, q.lit)
		if parens == 0 {
			// (T), (t T), (t *T), (t T[P]), (t (*T)): the last identifier
			// outside brackets is the type, as in declKey.
			return brackets == 0 && (idents == 1 || idents == 2) && last == typ
		}
	}
}

// signatureAndBody adds the tokens from the current one, the '(' or '[' that
// follows func or the name, to the '}' that ends the body. It fails when the
// braces do not balance, when the function has no body, when a literal turns
// out to be a method declaration, or, for a literal, when another func
// keyword is on the line.
func (q *quickScan) signatureAndBody(c *canonical) bool {
	depth, body := 0, false
	prev := token.FUNC
	// shape follows a literal's first parenthesized group: 1 just after
	// it, 2 after an identifier that follows it; -1 once past.
	shape := 0
	for tok := q.tok; ; tok = q.next() {
		if tok == token.EOF || tok == token.ILLEGAL {
			return false
		}
		if q.literal {
			if tok == token.FUNC && q.off < q.lineEnd {
				return false // several func keywords on the line
			}
			if !body {
				switch {
				case shape == 1 && tok == token.IDENT:
					shape = 2
				case shape == 2 && tok == token.LPAREN:
					return false // func (r T) M(: a method declaration
				case shape > 0:
					shape = -1
				}
			}
		}
		switch tok {
		case token.LPAREN, token.LBRACK:
			depth++
		case token.LBRACE:
			// The body is the first '{' outside parentheses and brackets
			// that does not follow struct or interface (a result type).
			if depth == 0 && !body && prev != token.STRUCT && prev != token.INTERFACE {
				body = true
			}
			depth++
		case token.RPAREN, token.RBRACK, token.RBRACE:
			if depth--; depth < 0 {
				return false
			}
			if tok == token.RPAREN && depth == 0 && shape == 0 {
				shape = 1
			}
		default:
			if depth == 0 && !body && !signatureToken(tok) {
				return false // no body (declared elsewhere), or a func type
			}
		}
		c.add(tok, q.lit)
		if body && depth == 0 {
			break
		}
		prev = tok
	}
	if q.literal {
		// The rest of the line must hold no other func keyword.
		for q.next(); q.off < q.lineEnd; q.next() {
			if q.tok == token.FUNC || q.tok == token.ILLEGAL || q.tok == token.EOF {
				return false
			}
		}
	}
	return q.sc.ErrorCount == 0
}

// signatureToken reports whether tok may appear in a signature outside
// parentheses and brackets: in a result type, such as pkg.T, *T, chan<- T,
// map[K]V, func() T or struct{...}.
func signatureToken(tok token.Token) bool {
	switch tok {
	case token.IDENT, token.PERIOD, token.MUL, token.ARROW, token.CHAN, token.MAP,
		token.FUNC, token.STRUCT, token.INTERFACE:
		return true
	}
	return false
}
