package codeversion

import (
	"crypto/sha256"
	"encoding/binary"
	"go/token"
	"sync"
)

// scheme starts every hashed stream; change it when the canonical form
// changes, so that old versions can never equal new ones.
const scheme = "flowcache/codeversion/v2\n"

// canonical builds the hashed stream of one or more functions: the scheme,
// then for each function its tokens, one byte for the token kind, then for
// identifiers and literals their length and text, and a final EOF byte.
// Skipped: comments (not scanned), the name of a declaration (not added by
// the callers), a semicolon before ')' or '}' or at the end, a comma before
// ')', ']' or '}'. Those are exactly the tokens that formatting may add or
// remove. Both the full parse and [quickVersion] feed it, so that they
// give the same versions.
type canonical struct {
	buf        []byte
	pending    token.Token // the last token added, not yet written
	pendingLit string
}

// canonicals recycles the buffers of [canonical].
var canonicals = sync.Pool{New: func() any { return &canonical{buf: make([]byte, 0, 1024)} }}

// newCanonical returns an empty stream; free it after use.
func newCanonical() *canonical {
	c := canonicals.Get().(*canonical)
	c.buf = append(c.buf[:0], scheme...)
	c.pending, c.pendingLit = token.ILLEGAL, ""
	return c
}

// free recycles c, unless its buffer grew large.
func (c *canonical) free() {
	if cap(c.buf) <= 64<<10 {
		c.pendingLit = ""
		canonicals.Put(c)
	}
}

// add adds the next token of the function.
func (c *canonical) add(kind token.Token, lit string) {
	if c.pending != token.ILLEGAL && !optional(c.pending, kind) {
		c.write(c.pending, c.pendingLit)
	}
	c.pending, c.pendingLit = kind, lit
}

// end ends the function: its last token is written unless it is a
// semicolon, and the functions of an ambiguous closure set are separated.
func (c *canonical) end() {
	if c.pending != token.ILLEGAL && c.pending != token.SEMICOLON {
		c.write(c.pending, c.pendingLit)
	}
	c.pending, c.pendingLit = token.ILLEGAL, ""
	c.buf = append(c.buf, byte(token.EOF))
}

func (c *canonical) write(kind token.Token, lit string) {
	c.buf = append(c.buf, byte(kind))
	if kind == token.IDENT || kind.IsLiteral() {
		c.buf = binary.AppendUvarint(c.buf, uint64(len(lit)))
		c.buf = append(c.buf, lit...)
	}
}

// sum returns the SHA-256 of the stream.
func (c *canonical) sum() [32]byte { return sha256.Sum256(c.buf) }

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
