package formats_test

import (
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats"
)

func TestRegistry(t *testing.T) {
	for _, name := range []string{"gob", "json", "gob+zstd", "json+zstd"} {
		f, err := formats.Lookup(name)
		if err != nil || f.Name() != name {
			t.Errorf("Lookup(%q) = %v, %v", name, f, err)
		}
		if !slices.Contains(formats.Names(), name) {
			t.Errorf("Names() = %v, want %q in it", formats.Names(), name)
		}
	}
	if names := formats.Names(); !slices.IsSorted(names) {
		t.Errorf("Names() = %v, not sorted", names)
	}
	_, err := formats.Lookup("yaml")
	if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), `"yaml"`) || !strings.Contains(err.Error(), "gob, gob+zstd, json") {
		t.Errorf("Lookup(yaml) = %v, want an ErrInvalid naming it and the known formats", err)
	}
}

type named struct{ name string }

func (n named) Name() string                              { return n.name }
func (named) Check(reflect.Type) error                    { return nil }
func (named) Encode(io.Writer, any) error                 { return nil }
func (named) Decode(io.Reader, reflect.Type) (any, error) { return nil, nil }

func mustPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	fn()
}

func TestRegisterPanics(t *testing.T) {
	mustPanic(t, "a duplicate", func() { formats.Register(named{"gob"}) })
	mustPanic(t, "nil", func() { formats.Register(nil) })
	mustPanic(t, "an invalid name", func() { formats.Register(named{"a/b"}) })
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"gob", "json+zstd", "parquet-v2", "csv.x_1", strings.Repeat("a", 64)} {
		if err := formats.ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/b", `a\b`, "x.tmp", "a b", "é", "a:b", strings.Repeat("a", 65)} {
		if err := formats.ValidateName(bad); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}
