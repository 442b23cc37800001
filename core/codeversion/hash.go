package codeversion

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"go/scanner"
	"go/token"
)

// scheme starts every hashed stream; change it when the canonical form
// changes, so that old versions can never equal new ones.
const scheme = "flowcache/codeversion/v1\n"

// version returns the code version of the given nodes (normally one).
func (s *source) version(ids []int) string {
	if len(ids) == 1 {
		if v := s.memo[ids[0]].Load(); v != nil {
			return *v
		}
	}
	buf := make([]byte, 0, 512)
	buf = append(buf, scheme...)
	for _, i := range ids {
		buf = s.appendCanonical(buf, &s.nodes[i])
	}
	sum := sha256.Sum256(buf)
	v := hex.EncodeToString(sum[:])
	if len(ids) == 1 {
		s.memo[ids[0]].Store(&v)
	}
	return v
}

// appendCanonical appends the canonical token stream of n to buf: one byte
// for the token kind, then for identifiers and literals their length and
// text. Skipped: comments (not scanned), the name of a declaration, a
// semicolon before ')' or '}' or at the end, a comma before ')', ']' or '}'.
// Those are exactly the tokens that formatting may add or remove.
func (s *source) appendCanonical(buf []byte, n *funcNode) []byte {
	text := s.src[n.start:n.end]
	name := -1
	if n.name >= 0 {
		name = n.name - n.start
	}
	tf := token.NewFileSet().AddFile("", -1, len(text))
	var sc scanner.Scanner
	sc.Init(tf, text, nil, 0) // the file parsed: no scan errors
	emit := func(kind token.Token, lit string) {
		buf = append(buf, byte(kind))
		if kind == token.IDENT || kind.IsLiteral() {
			buf = binary.AppendUvarint(buf, uint64(len(lit)))
			buf = append(buf, lit...)
		}
	}
	pending, pendingLit := token.ILLEGAL, ""
	for {
		pos, kind, lit := sc.Scan()
		if kind == token.EOF {
			break
		}
		if tf.Offset(pos) == name {
			continue
		}
		if pending != token.ILLEGAL && !optional(pending, kind) {
			emit(pending, pendingLit)
		}
		pending, pendingLit = kind, lit
	}
	if pending != token.ILLEGAL && pending != token.SEMICOLON {
		emit(pending, pendingLit)
	}
	// Separate the nodes of an ambiguous closure set.
	return append(buf, byte(token.EOF))
}

// optional reports whether token tok may be left out before next without
// changing the program: a semicolon before ')' or '}', a trailing comma.
func optional(tok, next token.Token) bool {
	switch tok {
	case token.SEMICOLON:
		return next == token.RPAREN || next == token.RBRACE
	case token.COMMA:
		return next == token.RPAREN || next == token.RBRACK || next == token.RBRACE
	}
	return false
}
