package formats_test

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/core/fingerprint"
	"github.com/flowcache/flowcache/formats"
)

type Row struct {
	Name  string
	Score float64
	At    time.Time
	Tags  []string
	Inner *Inner
}

type Inner struct{ N int }

type withUnexported struct {
	A int
	b int
}

var _ = withUnexported{b: 1}.b // the field exists to be rejected

type nested struct{ Rows []withUnexported }

type withFunc struct{ F func() }

type withChan struct{ C chan int }

func TestGobCheck(t *testing.T) {
	f := formats.Gob()
	ok := []any{1, "s", []float64{1}, map[string]int{}, Row{}, &Row{}, []Row{}, time.Time{}, [3]int{}, map[string][]Row{}}
	for _, v := range ok {
		if err := f.Check(reflect.TypeOf(v)); err != nil {
			t.Errorf("Check(%T) = %v", v, err)
		}
	}
	bad := []struct {
		v    any
		want string
	}{
		{withUnexported{}, "b"},
		{nested{}, "Rows[].b"},
		{withFunc{}, "F"},
		{withChan{}, "C"},
		{func() {}, "func"},
		{struct{}{}, "no fields"},
	}
	for _, c := range bad {
		err := f.Check(reflect.TypeOf(c.v))
		if err == nil || !errors.Is(err, core.ErrUnsupportedType) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check(%T) = %v, want an ErrUnsupportedType naming %q", c.v, err, c.want)
		}
	}
}

func TestGobRoundTrip(t *testing.T) {
	f := formats.Gob()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	vals := []any{
		42, int8(-3), uint64(1 << 60), 3.5, "héllo", true, []byte("raw"),
		[]float64{1, 2, 3}, map[string]int{"a": 1, "b": 2}, [2]string{"x", "y"},
		Row{Name: "n", Score: 1.5, At: at, Tags: []string{"t"}, Inner: &Inner{N: 7}},
		[]Row{{Name: "a", At: at}, {Name: "b", At: at, Tags: []string{"u", "v"}}},
		&Inner{N: 3}, at,
	}
	for _, v := range vals {
		var buf bytes.Buffer
		if err := f.Encode(&buf, v); err != nil {
			t.Fatalf("Encode(%T): %v", v, err)
		}
		got, err := f.Decode(&buf, reflect.TypeOf(v))
		if err != nil {
			t.Fatalf("Decode(%T): %v", v, err)
		}
		if reflect.TypeOf(got) != reflect.TypeOf(v) {
			t.Fatalf("decoded a %T, want %T", got, v)
		}
		s1, err1 := fingerprint.Of(v)
		s2, err2 := fingerprint.Of(got)
		if err1 != nil || err2 != nil || s1 != s2 {
			t.Errorf("%T: loaded value fingerprints differently (%v %v): %#v vs %#v", v, err1, err2, got, v)
		}
	}
}

func TestGobDecodeGarbage(t *testing.T) {
	f := formats.Gob()
	var buf bytes.Buffer
	if err := f.Encode(&buf, []Row{{Name: "a"}}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	for i := range b {
		if _, err := f.Decode(bytes.NewReader(b[:i]), reflect.TypeOf([]Row{})); err == nil {
			t.Fatalf("decoding %d of %d bytes succeeded", i, len(b))
		}
	}
	if _, err := f.Decode(bytes.NewReader(b), reflect.TypeOf(0)); err == nil {
		t.Fatal("decoding []Row as int succeeded")
	}
}

func FuzzGobDecode(f *testing.F) {
	var buf bytes.Buffer
	formats.Gob().Encode(&buf, []Row{{Name: "a", Tags: []string{"x"}}})
	f.Add(buf.Bytes())
	buf.Reset()
	formats.Gob().Encode(&buf, []Row{{Name: "a", Tags: []string{}, Score: math.Copysign(0, -1)}, {}}) // with repair notes
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Must not panic; errors are fine.
		formats.Gob().Decode(bytes.NewReader(b), reflect.TypeOf([]Row{}))
	})
}

type optional struct {
	Name  string
	Score *float64
	Tags  *[]string
	Next  *optional
	When  *time.Time
	Deep  **int
}

// TestGobPointerToZero pins the gob pitfall: a struct field pointing to a
// zero value is not transmitted and would load back nil, so Encode refuses
// it, naming the field.
func TestGobPointerToZero(t *testing.T) {
	zero, one := 0.0, 1.0
	empty := []string{}
	var nilInt *int
	cases := []struct {
		v    any
		want string
	}{
		{optional{Score: &zero}, ".Score points to a zero float64"},
		{[]optional{{Score: &one}, {Tags: &empty}}, "[1].Tags points to an empty []string"},
		{&optional{Next: &optional{When: &time.Time{}}}, ".Next.When"},
		{optional{Deep: &nilInt}, ".Deep points to a nil *int"},
		{map[string]optional{"k": {Score: &zero}}, `["k"].Score`},
		{[]*Inner{{N: 1}, nil}, "[1] is a nil pointer"},
		{[]any{optional{Score: &zero}}, "[0].Score"},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		err := formats.Gob().Encode(&buf, c.v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Encode(%T) = %v, want an error naming %q", c.v, err, c.want)
		}
	}
	// Non-zero targets, nil pointers, and pointers to structs (even zero
	// ones) are fine.
	two := 2
	pTwo := &two
	for _, v := range []any{
		optional{Score: &one, Tags: &[]string{"a"}, Next: &optional{}, Deep: &pTwo},
		optional{},
		[]optional{{Name: "x"}},
		struct{ P *Inner }{P: &Inner{}},
	} {
		roundTrip(t, formats.Gob(), v)
	}
}

// TestGobPitfallIsReal shows what the check guards against: gob itself
// drops a pointer to zero.
func TestGobPitfallIsReal(t *testing.T) {
	zero := 0.0
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(optional{Score: &zero}); err != nil {
		t.Fatal(err)
	}
	var got optional
	if err := gob.NewDecoder(&buf).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Score != nil {
		t.Skip("encoding/gob now keeps pointers to zero values: the Encode check can go")
	}
}

func TestGobNilAndTrailing(t *testing.T) {
	f := formats.Gob()
	var buf bytes.Buffer
	if err := f.Encode(&buf, (*Inner)(nil)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), []byte{0}) {
		t.Fatalf("nil pointer encoded as %x", buf.Bytes())
	}
	v, err := f.Decode(bytes.NewReader(buf.Bytes()), reflect.TypeOf((*Inner)(nil)))
	if err != nil || v.(*Inner) != nil {
		t.Fatalf("Decode = %#v, %v", v, err)
	}
	if _, err := f.Decode(bytes.NewReader(buf.Bytes()), reflect.TypeOf(0)); err == nil {
		t.Error("a nil pointer decoded as an int")
	}
	buf.Reset()
	if err := f.Encode(&buf, 7); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte(0)
	if _, err := f.Decode(&buf, reflect.TypeOf(0)); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Errorf("Decode with a trailing byte = %v, want an error", err)
	}
}

// An interface type as the whole result cannot be loaded back (gob is
// handed the value inside); interfaces inside a result can.
func TestGobCheckInterfaceResult(t *testing.T) {
	f := formats.Gob()
	for _, typ := range []reflect.Type{reflect.TypeFor[any](), reflect.TypeFor[fmt.Stringer]()} {
		err := f.Check(typ)
		if err == nil || !errors.Is(err, core.ErrUnsupportedType) || !strings.Contains(err.Error(), typ.String()) {
			t.Errorf("Check(%v) = %v, want an ErrUnsupportedType naming the type", typ, err)
		}
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[[]any](), reflect.TypeFor[*any](), reflect.TypeFor[struct{ V any }]()} {
		if err := f.Check(typ); err != nil {
			t.Errorf("Check(%v) = %v", typ, err)
		}
	}
}
