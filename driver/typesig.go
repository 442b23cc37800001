package driver

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// typeSignature describes the structure of t: kinds, names, struct field
// names, tags and types, recursively. It is part of every node's code
// version, because the stored bytes of a result are only meaningful for the
// type they were encoded from: a field added to a result struct, with the
// node's function unchanged, must be a miss, not old bytes decoded into the
// new type (gob would silently leave the new field zero).
//
// A signature is computed once per type and process (a type cannot change
// while the program runs), since a graph's nodes mostly share a few result
// types: computing it for each of 1000 nodes cost a warm build 1 ms and
// 226 KB.
func typeSignature(t reflect.Type) string {
	if s, ok := typeSigs.Load(t); ok {
		return s.(string)
	}
	var b strings.Builder
	writeTypeSig(&b, t, map[reflect.Type]int{})
	s, _ := typeSigs.LoadOrStore(t, b.String())
	return s.(string)
}

// typeSigs holds the signatures computed (reflect.Type -> string). Only
// whole signatures are kept: the part of a recursive type's signature
// written below its top depends on where the writing started (the
// numbers of the types already seen).
var typeSigs sync.Map

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
	var vs versionWriter
	return vs.nodeCodeVersion(code, out)
}

// versionWriter writes the code versions of a build's nodes into one
// string, each a substring of it: one allocation for the versions of all
// the nodes, where one each cost a warm build of 1000 nodes about 0.3 ms.
// Its zero value is ready; grow sizes it for n versions.
type versionWriter struct{ b strings.Builder }

func (w *versionWriter) grow(n int) { w.b.Grow(n * 2 * sha256.Size) }

// nodeCodeVersion is nodeCodeVersion, written by w.
func (w *versionWriter) nodeCodeVersion(code string, out reflect.Type) string {
	// Hashed from one buffer, on the stack for the usual sizes.
	var buf [256]byte
	b := append(buf[:0], "flowcache-node-code-v1\x00"...)
	b = append(b, code...)
	b = append(b, 0)
	b = append(b, typeSignature(out)...)
	sum := sha256.Sum256(b)
	var v [2 * sha256.Size]byte
	hex.Encode(v[:], sum[:])
	start := w.b.Len()
	w.b.Write(v[:])
	// The bytes a string of a strings.Builder views are never written
	// again, when the Builder grows (into a new array) or not.
	return w.b.String()[start:]
}
