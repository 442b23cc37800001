package codeversion

import (
	"reflect"
	"runtime"
	"testing"
)

var packageLiteral = func() int { return 1 }

type closureMaker struct{}

func (closureMaker) Make(x int) func() int { return func() int { return x } }

func (closureMaker) Plain() int { return 0 }

func genericLiteral[T any](v T) func() T { return func() T { return v } }

func plainFunc() int { return 0 }

func funcNameOf(f any) string { return runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name() }

// The names the runtime really gives function literals, inlined or not,
// are closures; functions, methods, method values and expressions are not.
func TestIsClosureName(t *testing.T) {
	y := 2
	for _, c := range []struct {
		what string
		f    any
		want bool
	}{
		{"a literal capturing a local", func() int { return y }, true},
		{"a literal returned by a method", closureMaker{}.Make(1), true},
		{"a literal of a generic function", genericLiteral(1), true},
		{"a literal inside a literal", func() func() int { return func() int { return y } }(), true},
		{"a package-level literal (named as in init)", packageLiteral, true},
		{"a function", plainFunc, false},
		{"a method expression", closureMaker.Plain, false},
		{"a method value", closureMaker{}.Plain, false},
		{"a function of another package", runtime.GC, false},
	} {
		name := funcNameOf(c.f)
		if got := isClosureName(name); got != c.want {
			t.Errorf("%s (%s): isClosureName = %v, want %v", c.what, name, got, c.want)
		}
	}
	for _, name := range []string{"example.com/a.b/pkg.glob..func1", "example.com/func1/pkg.F", "pkg.funcs", "pkg.func"} {
		if isClosureName(name) {
			t.Errorf("isClosureName(%q) = true", name)
		}
	}
}
