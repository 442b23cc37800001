// Package dotquote writes the quoted strings of Graphviz's DOT language
// for package view and the web view: IDs that stay distinct, and labels.
package dotquote

import (
	"fmt"
	"strings"
)

// Label returns a DOT label of lines, each centred. Labels are plain
// strings, not HTML-like ones: Graphviz writes a plain line as one SVG text
// anchored at its middle, so it stays centred whatever font the viewer
// substitutes, while the spans of an HTML-like label are placed by
// Graphviz's own estimate of their widths and overlap in a wider font.
// Control characters become U+FFFD.
func Label(lines ...string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, l := range lines {
		if i > 0 {
			b.WriteString(`\n`)
		}
		for _, r := range sanitize(l) {
			switch {
			case r == '"':
				b.WriteString(`\"`)
			case r == '\\':
				b.WriteString(`\\`) // \\ is one backslash in a label (\N would be the node's name)
			case r < 0x20 || r == 0x7f:
				b.WriteRune('\uFFFD')
			default:
				b.WriteRune(r)
			}
		}
	}
	if strings.HasSuffix(b.String(), `\`) {
		// A backslash right before the closing quote would escape it.
		b.WriteByte(' ')
	}
	b.WriteByte('"')
	return b.String()
}

// ID quotes s as a DOT ID (or any attribute value taken as is, such as a
// URL). In a quoted DOT string \" is an escape and a backslash is otherwise
// kept, so a backslash before the closing quote would escape it:
// backslashes and control characters are written as the text \xNN instead.
// Every backslash of the result starts \" or \xNN, so the mapping is
// one-to-one: distinct names stay distinct IDs.
func ID(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range sanitize(s) {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\' || r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// sanitize replaces invalid UTF-8 (Graphviz reads UTF-8).
func sanitize(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
