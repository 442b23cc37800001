package driver

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
)

// Types of the signature tests.
type (
	// Duration has the name and the kind of time.Duration, in another
	// package.
	Duration int64
	sigList  struct {
		Next *sigList
		V    int
	}
	sigA struct{ B *sigB }
	sigB struct{ A []sigA }
)

// TestTypeSignature checks what a signature says of a type (a cache's
// keys depend on it: the text must not change; a predeclared type has an
// empty package path), that types that differ
// in name, package, field, tag or element have other signatures, and that
// the signature kept for a type is the one computed for it, asked twice
// and in any order (recursive types too, whose inner parts number the
// types already seen).
func TestTypeSignature(t *testing.T) {
	const pkg = "github.com/flowcache/flowcache/driver"
	golden := []struct {
		t    reflect.Type
		want string
	}{
		{reflect.TypeFor[int](), ".int=int"},
		{reflect.TypeFor[[]string](), "slice(.string=string)"},
		{reflect.TypeFor[map[string][2]float64](), "map(.string=string,array[2](.float64=float64))"},
		{reflect.TypeFor[time.Duration](), "time.Duration=int64"},
		{reflect.TypeFor[Duration](), pkg + ".Duration=int64"},
		{reflect.TypeFor[struct {
			A int `json:"a"`
		}](), `struct{A "json:\"a\"" .int=int;}`},
		{reflect.TypeFor[sigList](), pkg + `.sigList=struct{Next "" ptr(#0);V "" .int=int;}`},
		{reflect.TypeFor[*sigList](), `ptr(` + pkg + `.sigList=struct{Next "" #0;V "" .int=int;})`},
		{reflect.TypeFor[sigA](), pkg + `.sigA=struct{B "" ptr(` + pkg + `.sigB=struct{A "" slice(#0);});}`},
		{reflect.TypeFor[sigB](), pkg + `.sigB=struct{A "" slice(` + pkg + `.sigA=struct{B "" ptr(#0);});}`},
		{reflect.TypeFor[error](), ".error=interface{1}"},
	}
	seen := map[string]reflect.Type{}
	for range 2 { // computed, then kept
		for _, g := range golden {
			got := typeSignature(g.t)
			if got != g.want {
				t.Errorf("%v: signature %s, want %s", g.t, got, g.want)
			}
			if u, ok := seen[got]; ok && u != g.t {
				t.Errorf("%v and %v have one signature %s", u, g.t, got)
			}
			seen[got] = g.t
		}
	}
	// A tag, a field name, an element changed: another signature, and
	// not the one kept for the type before.
	for _, pair := range [][2]reflect.Type{
		{reflect.TypeFor[struct {
			A int `json:"a"`
		}](), reflect.TypeFor[struct {
			A int `json:"b"`
		}]()},
		{reflect.TypeFor[struct{ A int }](), reflect.TypeFor[struct{ B int }]()},
		{reflect.TypeFor[[]int32](), reflect.TypeFor[[]int64]()},
		{reflect.TypeFor[time.Duration](), reflect.TypeFor[Duration]()},
	} {
		if a, b := typeSignature(pair[0]), typeSignature(pair[1]); a == b {
			t.Errorf("%v and %v: one signature %s", pair[0], pair[1], a)
		}
	}
}

// TestNodeCodeVersion checks that a node's code version is the SHA-256 of
// its function's version and its result type's signature, as caches have
// kept it, and that either one changes it.
func TestNodeCodeVersion(t *testing.T) {
	code := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	ref := func(code string, out reflect.Type) string {
		h := sha256.New()
		h.Write([]byte("flowcache-node-code-v1\x00"))
		h.Write([]byte(code))
		h.Write([]byte{0})
		h.Write([]byte(typeSignature(out)))
		return hex.EncodeToString(h.Sum(nil))
	}
	big := reflect.TypeFor[struct {
		A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q, R, S, T, U, V, W, X, Y, Z map[string][]struct{ X, Y float64 }
	}]() // a signature longer than nodeCodeVersion's buffer
	versions := map[string]bool{}
	for _, out := range []reflect.Type{reflect.TypeFor[int](), reflect.TypeFor[Duration](), reflect.TypeFor[sigList](), big} {
		for _, c := range []string{code, "x" + code[1:]} {
			v := nodeCodeVersion(c, out)
			if want := ref(c, out); v != want {
				t.Errorf("%v, %s: %s, want %s", out, c, v, want)
			}
			if versions[v] {
				t.Errorf("%v, %s: version %s given before", out, c, v)
			}
			versions[v] = true
		}
	}
	if n := len(typeSignature(big)); n+len(code) < 256 {
		t.Fatalf("the big signature has %d bytes", n)
	}

	// Versions written into one string: each still itself after the
	// others, past the size it was grown to.
	var w versionWriter
	w.grow(3)
	var got, want []string
	for i := range 50 {
		c := fmt.Sprintf("%064d", i)
		got = append(got, w.nodeCodeVersion(c, big))
		want = append(want, ref(c, big))
	}
	if !slices.Equal(got, want) {
		t.Errorf("versions written together:\n%q\nwant\n%q", got, want)
	}
}

// BenchmarkNodeCodeVersion measures a node's version from its function's
// version, for a result type whose signature is kept, in builds of 1000
// nodes.
func BenchmarkNodeCodeVersion(b *testing.B) {
	code := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	out := reflect.TypeFor[sigList]()
	b.ReportAllocs()
	var w versionWriter
	for i := 0; b.Loop(); i++ {
		if i%1000 == 0 { // a build of 1000 nodes
			w = versionWriter{}
			w.grow(1000)
		}
		w.nodeCodeVersion(code, out)
	}
}
