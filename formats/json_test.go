package formats_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/core/fingerprint"
	"github.com/flowcache/flowcache/formats"
)

func jsonEncodeErr(t *testing.T, v any, want ...string) {
	t.Helper()
	var buf bytes.Buffer
	err := formats.JSON().Encode(&buf, v)
	if err == nil {
		t.Fatalf("Encode(%#v) succeeded (%q), want an error", v, buf.String())
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Encode(%T) = %q, want it to mention %q", v, err, w)
		}
	}
}

func TestJSONNaNAndInf(t *testing.T) {
	jsonEncodeErr(t, math.NaN(), "NaN")
	jsonEncodeErr(t, []float64{1, math.Inf(1)}, "NaN or ±Inf")
	jsonEncodeErr(t, Row{Score: math.Inf(-1)}, "NaN or ±Inf")
	jsonEncodeErr(t, map[string]float32{"x": float32(math.NaN())}, "NaN")
}

func TestJSONInvalidUTF8(t *testing.T) {
	jsonEncodeErr(t, "ok \xff", "UTF-8")
	jsonEncodeErr(t, []Row{{Name: "a"}, {Name: "b\xc3"}}, "UTF-8")
	jsonEncodeErr(t, map[string]int{"\xfe": 1}, "UTF-8")
	// A real U+FFFD, and the six characters \ufffd, are fine.
	for _, s := range []string{"\ufffd", `\ufffd`, `\\ufffd`, `\`, "\\\ufffd"} {
		var buf bytes.Buffer
		if err := formats.JSON().Encode(&buf, s); err != nil {
			t.Fatalf("Encode(%q): %v", s, err)
		}
		got, err := formats.JSON().Decode(&buf, reflect.TypeOf(s))
		if err != nil || got != s {
			t.Fatalf("%q loaded back as %q, %v", s, got, err)
		}
	}
}

// An `any` result: Encode is handed the value inside, which json would load
// back as one of its own kinds; Check refuses it (an `any` inside a result
// is checked value by value instead).
func TestJSONCheckInterfaceResult(t *testing.T) {
	err := formats.JSON().Check(reflect.TypeFor[any]())
	if err == nil || !errors.Is(err, core.ErrUnsupportedType) || !strings.Contains(err.Error(), "interface {}") {
		t.Errorf("Check(any) = %v, want an ErrUnsupportedType naming the type", err)
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[[]any](), reflect.TypeFor[map[string]any](), reflect.TypeFor[*any]()} {
		if err := formats.JSON().Check(typ); err != nil {
			t.Errorf("Check(%v) = %v", typ, err)
		}
	}
}

func TestJSONAny(t *testing.T) {
	jsonEncodeErr(t, map[string]any{"n": 1}, `["n"]`, "holds a int")
	jsonEncodeErr(t, []any{[]any(nil)}, "[0]", "nil []interface {}")
	jsonEncodeErr(t, map[string]any{"m": map[string]any(nil)}, `["m"]`, "nil map[string]interface {}")
	roundTrip(t, formats.JSON(), []any{[]any{}, map[string]any{}, nil})
	jsonEncodeErr(t, []any{1.0, []any{Inner{}}}, "[1][0]", "formats_test.Inner")
	jsonEncodeErr(t, struct{ V any }{V: int64(1)}, ".V")
}

func TestJSONPointerToNil(t *testing.T) {
	var s []int
	var m map[string]int
	jsonEncodeErr(t, struct{ P *[]int }{P: &s}, ".P", "nil []int")
	jsonEncodeErr(t, struct{ P *map[string]int }{P: &m}, ".P")
	// Non-nil targets are fine, and so is an empty slice.
	e := []int{}
	roundTrip(t, formats.JSON(), struct{ P *[]int }{P: &e})
	roundTrip(t, formats.JSON(), struct{ P *[]int }{})
}

type omits struct {
	L  []int          `json:"l,omitempty"`
	M  map[string]int `json:"m,omitempty"`
	LZ []int          `json:"lz,omitzero"`
	E  float64        `json:"e,omitempty"`
	Z  float32        `json:"z,omitzero"`
	S  xy             `json:"s,omitzero"`
	A  [2]float64     `json:"a,omitzero"`
	Zr zeroer         `json:"zr,omitzero"`
	P  *zeroer        `json:"p,omitzero"`
}

type xy struct{ X, Y float64 }

// zeroer calls every value below 10 zero.
type zeroer struct{ N int }

func (z zeroer) IsZero() bool { return z.N < 10 }

// TestJSONOmitLoses: a value json leaves out by omitempty or omitzero loads
// back as the zero value, so one that is not exactly zero (a -0, what an
// IsZero method calls zero) is refused, naming the field.
func TestJSONOmitLoses(t *testing.T) {
	nz := math.Copysign(0, -1)
	jsonEncodeErr(t, omits{E: nz}, ".E is -0", "omitempty")
	jsonEncodeErr(t, omits{L: []int{}}, ".L is an empty []int")
	jsonEncodeErr(t, map[string]omits{"k": {M: map[string]int{}}}, `["k"].M is an empty map[string]int`)
	jsonEncodeErr(t, []omits{{}, {Z: float32(nz)}}, "[1].Z is -0")
	jsonEncodeErr(t, omits{S: xy{Y: nz}}, ".S ")
	jsonEncodeErr(t, omits{A: [2]float64{0, nz}}, ".A ")
	jsonEncodeErr(t, omits{Zr: zeroer{N: 3}}, ".Zr ")
	jsonEncodeErr(t, omits{P: &zeroer{N: 0}}, ".P ")
	// Exact zeros are left out and load back as they were; other values
	// are written.
	roundTrip(t, formats.JSON(), omits{})
	roundTrip(t, formats.JSON(), omits{LZ: []int{}})
	roundTrip(t, formats.JSON(), omits{L: []int{1}, M: map[string]int{"a": 1}, E: 1, Z: -2, S: xy{X: nz, Y: 1}, A: [2]float64{nz, 1}, Zr: zeroer{N: 10}, P: &zeroer{N: 11}})
}

func roundTrip(t *testing.T, f core.Format, v any) any {
	t.Helper()
	var buf bytes.Buffer
	if err := f.Encode(&buf, v); err != nil {
		t.Fatalf("Encode(%T): %v", v, err)
	}
	got, err := f.Decode(&buf, reflect.TypeOf(v))
	if err != nil {
		t.Fatalf("Decode(%T): %v", v, err)
	}
	s1, _ := fingerprint.Of(v)
	s2, _ := fingerprint.Of(got)
	if s1 != s2 {
		t.Fatalf("%T loaded back different: %#v, want %#v", v, got, v)
	}
	return got
}

// TestJSONTimeZones pins the documented loss: a named zone loads back as a
// fixed offset (same instant, different fingerprint); UTC is exact.
func TestJSONTimeZones(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	at := time.Date(2026, 1, 2, 12, 0, 0, 123456789, paris)
	var buf bytes.Buffer
	if err := formats.JSON().Encode(&buf, at); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "\"2026-01-02T12:00:00.123456789+01:00\"\n" {
		t.Errorf("encoded %q", got)
	}
	v, err := formats.JSON().Decode(&buf, reflect.TypeOf(at))
	if err != nil {
		t.Fatal(err)
	}
	got := v.(time.Time)
	if !got.Equal(at) {
		t.Errorf("loaded %v, want the instant %v", got, at)
	}
	if name, off := got.Zone(); off != 3600 || name == "Europe/Paris" || got.Location().String() == "Europe/Paris" {
		t.Errorf("loaded zone %q %d (%v): the doc says a fixed +01:00 offset", name, off, got.Location())
	}
	s1, _ := fingerprint.Of(at)
	s2, _ := fingerprint.Of(got)
	if s1 == s2 {
		t.Error("fingerprints agree; the doc says the zone change shows")
	}
	// UTC, and the monotonic reading dropped, round-trip exactly.
	roundTrip(t, formats.JSON(), time.Now().UTC())
}

type ptrMarshal struct{ X int }

func (p *ptrMarshal) MarshalJSON() ([]byte, error) { return []byte(`"x"`), nil }
func (p *ptrMarshal) UnmarshalJSON(b []byte) error { p.X = 1; return nil }

type onlyUnmarshal struct{ X int }

func (p *onlyUnmarshal) UnmarshalJSON(b []byte) error { return nil }

type textKey struct{ A, B int }

func (k textKey) MarshalText() ([]byte, error)  { return []byte("k"), nil }
func (k *textKey) UnmarshalText(b []byte) error { return nil }

type embedsHidden struct {
	hidden
	A int
}

type hidden struct{ B int }

type embedsHiddenPtr struct {
	*hidden
	A int
}

func TestJSONCheck(t *testing.T) {
	f := formats.JSON()
	ok := []any{
		time.Time{}, []byte{}, [4]byte{}, map[textKey]int{}, ptrMarshal{}, []ptrMarshal{}, map[string]*ptrMarshal{},
		embedsHidden{}, map[string]any{}, struct{ P *int }{}, Tagged{}, struct {
			A int `json:"a,string"`
		}{},
	}
	for _, v := range ok {
		if err := f.Check(reflect.TypeOf(v)); err != nil {
			t.Errorf("Check(%T) = %v", v, err)
		}
	}
	bad := []struct {
		v    any
		want string
	}{
		{map[string]ptrMarshal{}, "pointer receiver"},
		{onlyUnmarshal{}, "no matching marshal"},
		{embedsHiddenPtr{}, "embedded pointer to an unexported"},
		{jsonSkipped{}, `jsonSkipped.B`},
		{jsonDup{}, `the JSON name "N"`},
		{map[[2]int]int{}, "[key]"},
		{struct{ C complex64 }{}, ".C"},
		{struct{ E error }{}, "non-empty interface"},
		{withUnexported{}, "withUnexported.b"},
	}
	for _, c := range bad {
		err := f.Check(reflect.TypeOf(c.v))
		if err == nil || !errors.Is(err, core.ErrUnsupportedType) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check(%T) = %v, want an ErrUnsupportedType naming %q", c.v, err, c.want)
		}
	}
}

func TestJSONDecodeStrict(t *testing.T) {
	f := formats.JSON()
	typ := reflect.TypeOf([]Inner{})
	for _, in := range []string{
		`[{"N":1}]`,             // no final newline: truncated
		"[{\"N\":1}]\n[]\n",     // trailing value
		"[{\"N\":1,\"M\":2}]\n", // unknown field
		"[{\"N\":1}\n",          // unterminated
		"{\"N\":1}\n",           // not an array
		"",
		"\n",
	} {
		if v, err := f.Decode(strings.NewReader(in), typ); err == nil {
			t.Errorf("Decode(%q) = %v, want an error", in, v)
		}
	}
	// Whitespace a person might add is fine, and null is a nil slice.
	v, err := f.Decode(strings.NewReader("[ {\"N\": 1} ,\n {\"N\":2}]\n\n"), typ)
	if err != nil || len(v.([]Inner)) != 2 {
		t.Errorf("Decode with spaces = %v, %v", v, err)
	}
	v, err = f.Decode(strings.NewReader("null\n"), typ)
	if err != nil || v.([]Inner) != nil {
		t.Errorf("Decode(null) = %#v, %v", v, err)
	}
}

// TestJSONStreamMatchesEncoder checks that a streamed slice is written
// exactly as encoding/json writes it whole, for slices around the batch
// sizes.
func TestJSONStreamMatchesEncoder(t *testing.T) {
	for _, n := range []int{1, 2, 100, 5000, 70000} {
		rows := table(n)
		var got bytes.Buffer
		if err := formats.JSON().Encode(&got, rows); err != nil {
			t.Fatal(err)
		}
		want := plainJSON(t, rows)
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("%d rows: the streamed encoding differs from encoding/json's", n)
		}
		v, err := formats.JSON().Decode(&got, reflect.TypeOf(rows))
		if err != nil {
			t.Fatal(err)
		}
		if back := v.([]Row8); len(back) != n || cap(back) != n || back[n-1] != rows[n-1] {
			t.Fatalf("%d rows loaded back as %d (cap %d)", n, len(back), cap(back))
		}
	}
}

func plainJSON(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestJSONArrayBatches: a top-level array is decoded in batches split at
// its top-level commas; commas, brackets and quotes inside strings and
// nested values do not split it, and every malformed array is an error
// wrapping core.ErrCorrupt, also where a batch ends.
func TestJSONArrayBatches(t *testing.T) {
	f := formats.JSON()
	type S struct {
		A string
		B [][]int
		C map[string]any
	}
	good := []S{
		{A: `,]}"\`, B: [][]int{{1, 2}, {}}, C: map[string]any{"x]": []any{"[", map[string]any{}}}},
		{A: "\\\\\"", B: nil, C: map[string]any{}},
		{A: "\u2028{", B: [][]int{{3}}},
	}
	roundTrip(t, f, good)
	for _, in := range []string{
		"[1,]\n", "[,1]\n", "[1,,2]\n", "[1 2]\n", "[}\n", "[{]\n", "[\"a]\n", "[[1,2]\n",
		"[{\"A\":\"x\"}}]\n", "[{\"A\":\"x\"},]\n", "nul\n", "nulll\n", "[\n", "[\"\\\"]\n",
	} {
		_, err := f.Decode(strings.NewReader(in), reflect.TypeFor[[]any]())
		if !errors.Is(err, core.ErrCorrupt) {
			t.Errorf("Decode(%q) = %v, want an error wrapping core.ErrCorrupt", in, err)
		}
		if err := f.(core.FormatValidator).Validate(strings.NewReader(in)); !errors.Is(err, core.ErrCorrupt) {
			t.Errorf("Validate(%q) = %v, want an error wrapping core.ErrCorrupt", in, err)
		}
	}
	// Large arrays span many batches; damage right after a batch ends is
	// still seen.
	rows := table(60_000) // about 4 MB of JSON
	enc := plainJSON(t, rows)
	v, err := f.Decode(bytes.NewReader(enc), reflect.TypeOf(rows))
	if err != nil || !reflect.DeepEqual(v, rows) {
		t.Fatalf("Decode of %d rows: %v", len(rows), err)
	}
	if err := f.(core.FormatValidator).Validate(bytes.NewReader(enc)); err != nil {
		t.Fatalf("Validate of %d rows: %v", len(rows), err)
	}
	for _, damage := range []struct{ old, new string }{
		{"}]\n", "},]\n"},    // a comma before the end
		{"},{", "},,{"},      // an empty element (the first gap, and below every gap)
		{"},{", "}{"},        // a missing comma
		{"\"F\":", "\"Z\":"}, // an unknown field
	} {
		for _, all := range []bool{false, true} {
			n := 1
			if all {
				n = -1
			}
			b := []byte(strings.Replace(string(enc), damage.old, damage.new, n))
			if _, err := f.Decode(bytes.NewReader(b), reflect.TypeOf(rows)); !errors.Is(err, core.ErrCorrupt) {
				t.Errorf("Decode with %q for %q (all %v) = %v, want core.ErrCorrupt", damage.new, damage.old, all, err)
			}
		}
	}
}

// TestJSONValidate: Validate accepts what Encode writes, of any type, and
// refuses truncated or trailing data.
func TestJSONValidate(t *testing.T) {
	f := formats.JSON()
	v := f.(core.FormatValidator)
	for _, val := range []any{fuzzRows, map[string]int{"a": 1}, 3.5, "s", []Row(nil), []int{}, Row{Name: "x"}} {
		var buf bytes.Buffer
		if err := f.Encode(&buf, val); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		if err := v.Validate(bytes.NewReader(b)); err != nil {
			t.Errorf("Validate(%q) = %v", b, err)
		}
		for _, bad := range [][]byte{b[:len(b)-1], b[:len(b)/2], append(bytes.Clone(b), "1\n"...), append(bytes.Clone(b), '}')} {
			if err := v.Validate(bytes.NewReader(bad)); !errors.Is(err, core.ErrCorrupt) {
				t.Errorf("Validate(%q) = %v, want core.ErrCorrupt", bad, err)
			}
		}
	}
	deep := strings.Repeat("[", 20_000) + strings.Repeat("]", 20_000) + "\n"
	if err := v.Validate(strings.NewReader(deep)); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("Validate of arrays nested 20,000 deep = %v, want core.ErrCorrupt", err)
	}
	errDisk := errors.New("disk on fire")
	if err := v.Validate(&failingReader{[]byte("[1,2"), errDisk}); !errors.Is(err, errDisk) || errors.Is(err, core.ErrCorrupt) {
		t.Errorf("Validate from a failing reader = %v, want the reader's error, not core.ErrCorrupt", err)
	}
	if _, err := f.Decode(&failingReader{[]byte("[1,2"), errDisk}, reflect.TypeFor[[]int]()); !errors.Is(err, errDisk) || errors.Is(err, core.ErrCorrupt) {
		t.Errorf("Decode from a failing reader = %v, want the reader's error, not core.ErrCorrupt", err)
	}
}
