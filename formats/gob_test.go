package formats_test

import (
	"bytes"
	"errors"
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
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Must not panic; errors are fine.
		formats.Gob().Decode(bytes.NewReader(b), reflect.TypeOf([]Row{}))
	})
}
