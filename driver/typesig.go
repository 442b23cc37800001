package driver

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strconv"
	"strings"
)

// typeSignature describes the structure of t: kinds, names, struct field
// names, tags and types, recursively. It is part of every node's code
// version, because the stored bytes of a result are only meaningful for the
// type they were encoded from: a field added to a result struct, with the
// node's function unchanged, must be a miss, not old bytes decoded into the
// new type (gob would silently leave the new field zero).
func typeSignature(t reflect.Type) string {
	var b strings.Builder
	writeTypeSig(&b, t, map[reflect.Type]int{})
	return b.String()
}

func writeTypeSig(b *strings.Builder, t reflect.Type, seen map[reflect.Type]int) {
	if i, ok := seen[t]; ok {
		b.WriteString("#" + strconv.Itoa(i)) // a recursive type
		return
	}
	seen[t] = len(seen)
	if t.Name() != "" {
		b.WriteString(t.PkgPath() + "." + t.Name() + "=")
	}
	b.WriteString(t.Kind().String())
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice:
		b.WriteString("(")
		writeTypeSig(b, t.Elem(), seen)
		b.WriteString(")")
	case reflect.Array:
		b.WriteString("[" + strconv.Itoa(t.Len()) + "](")
		writeTypeSig(b, t.Elem(), seen)
		b.WriteString(")")
	case reflect.Map:
		b.WriteString("(")
		writeTypeSig(b, t.Key(), seen)
		b.WriteString(",")
		writeTypeSig(b, t.Elem(), seen)
		b.WriteString(")")
	case reflect.Struct:
		b.WriteString("{")
		for i := range t.NumField() {
			f := t.Field(i)
			b.WriteString(f.Name + " " + strconv.Quote(string(f.Tag)) + " ")
			writeTypeSig(b, f.Type, seen)
			b.WriteString(";")
		}
		b.WriteString("}")
	case reflect.Interface:
		b.WriteString("{" + strconv.Itoa(t.NumMethod()) + "}")
	}
}

// nodeCodeVersion combines a function's code version with the signature of
// the node's result type.
func nodeCodeVersion(code string, out reflect.Type) string {
	h := sha256.New()
	h.Write([]byte("flowcache-node-code-v1\x00"))
	h.Write([]byte(code))
	h.Write([]byte{0})
	h.Write([]byte(typeSignature(out)))
	return hex.EncodeToString(h.Sum(nil))
}
