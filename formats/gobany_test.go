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
	"github.com/flowcache/flowcache/formats"
	"github.com/flowcache/flowcache/internal/allocguard"
)

type anyPoint struct {
	X, Y float64
}

type anyNested struct {
	Name    string
	Count   int
	Big     uint64
	Ok      bool
	Points  []anyPoint
	ByName  map[string]anyPoint
	ByID    map[int]string
	Ptr     *anyPoint
	NilPtr  *anyPoint
	At      time.Time
	Matrix  [2][3]int
	Raw     []byte
	Zero    float64
	Missing []string
}

// jsonOf returns v as JSON, read back into plain values for comparison.
func jsonOf(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal(%T): %v", v, err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func decodeAny(t *testing.T, f core.Format, v any) any {
	t.Helper()
	var buf bytes.Buffer
	if err := f.Encode(&buf, v); err != nil {
		t.Fatal(err)
	}
	got, err := formats.DecodeAny(f, &buf)
	if err != nil {
		t.Fatalf("DecodeAny(%s) of a %T: %v", f.Name(), v, err)
	}
	return got
}

// A value decoded without its type prints as the same JSON as the value
// itself, for every type JSON shows the same way.
func TestDecodeAnyJSONEqual(t *testing.T) {
	at := time.Date(2026, 12, 4, 12, 30, 0, 123456789, time.UTC)
	nested := anyNested{
		Name: "n", Count: -3, Big: math.MaxUint64, Ok: true,
		Points: []anyPoint{{1, 2}, {0, -1.5}},
		ByName: map[string]anyPoint{"a": {1, 1}, "b": {}},
		ByID:   map[int]string{1: "one", -2: "minus two"},
		Ptr:    &anyPoint{3, 4},
		At:     at,
		Matrix: [2][3]int{{1, 2, 3}, {4, 5, 6}},
		Raw:    []byte("raw"),
	}
	gobZstd, err := formats.Lookup("gob+zstd")
	if err != nil {
		t.Fatal(err)
	}
	jsonZstd, err := formats.Lookup("json+zstd")
	if err != nil {
		t.Fatal(err)
	}
	values := []any{
		nested,
		[]anyNested{nested, {Name: "second"}},
		map[string][]int{"x": {1, 2}, "y": {3}},
		[]float64{1.5, -2, 0},
		"text",
		42,
		at,
		[]time.Time{at, at.Add(time.Hour)},
		map[anyPoint]int{{1, 2}: 3},
	}
	for _, f := range []core.Format{formats.Gob(), gobZstd, formats.JSON(), jsonZstd} {
		for _, v := range values {
			if _, isMap := v.(map[anyPoint]int); isMap && strings.HasPrefix(f.Name(), "json") {
				continue // JSON cannot store it
			}
			got := decodeAny(t, f, v)
			var want any
			if _, isMap := v.(map[anyPoint]int); isMap {
				want = []any{map[string]any{"key": map[string]any{"X": 1.0, "Y": 2.0}, "value": 3.0}}
			} else {
				want = jsonOf(t, v)
			}
			if g := jsonOf(t, got); !reflect.DeepEqual(g, want) {
				t.Errorf("%s, %T: DecodeAny as JSON\n%v\nwant\n%v", f.Name(), v, g, want)
			}
		}
	}

	// The Go values gob decodes into.
	got := decodeAny(t, formats.Gob(), nested).(*formats.GobStruct)
	if got.TypeName() != "anyNested" {
		t.Errorf("TypeName = %q", got.TypeName())
	}
	for name, want := range map[string]any{"Name": "n", "Count": int64(-3), "Big": uint64(math.MaxUint64), "At": at, "Zero": 0.0, "Missing": nil, "NilPtr": nil} {
		if v, ok := got.Field(name); !ok || !reflect.DeepEqual(v, want) {
			t.Errorf("field %s = %#v, %v; want %#v", name, v, ok, want)
		}
	}
	var names []string
	for name := range got.Fields() {
		names = append(names, name)
	}
	if strings.Join(names, ",") != "Name,Count,Big,Ok,Points,ByName,ByID,Ptr,NilPtr,At,Matrix,Raw,Zero,Missing" {
		t.Errorf("fields in order: %v", names)
	}
}

// Interface values keep their registered type name; floats JSON cannot
// hold become strings; nil is nil; a large slice written in chunks reads
// whole.
func TestDecodeAnyGobSpecials(t *testing.T) {
	got := jsonOf(t, decodeAny(t, formats.Gob(), []any{ifaceA{N: 1}, "x", ifaceB{S: "s", Any: ifaceC{F: []float64{1}}}, nil}))
	want := jsonOf(t, []any{
		map[string]any{"type": "github.com/flowcache/flowcache/formats_test.ifaceA", "value": map[string]any{"N": 1}},
		map[string]any{"type": "string", "value": "x"},
		map[string]any{"type": "github.com/flowcache/flowcache/formats_test.ifaceB", "value": map[string]any{"S": "s",
			"Any": map[string]any{"type": "github.com/flowcache/flowcache/formats_test.ifaceC", "value": map[string]any{"F": []any{1}}}}},
		nil,
	})
	if !reflect.DeepEqual(got, want) {
		t.Errorf("interfaces:\n%v\nwant\n%v", got, want)
	}

	got = jsonOf(t, decodeAny(t, formats.Gob(), []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1}))
	if want := []any{"NaN", "+Inf", "-Inf", 1.0}; !reflect.DeepEqual(got, want) {
		t.Errorf("special floats: %v", got)
	}
	if got := decodeAny(t, formats.Gob(), []complex128{1 + 2i}); !reflect.DeepEqual(got, []any{"(1+2i)"}) {
		t.Errorf("complex: %#v", got)
	}
	if got := decodeAny(t, formats.Gob(), (*anyPoint)(nil)); got != nil {
		t.Errorf("nil pointer: %#v", got)
	}

	restore := formats.SetGobChunkBytes(256)
	defer restore()
	xs := floats(1000)
	big := map[string]int{}
	for i := range 500 {
		big[strings.Repeat("k", i%7)+string(rune('a'+i%26))+strings.Repeat("z", i/26)] = i
	}
	small := map[uint8]uint8{}
	for i := range 200 {
		small[uint8(i)] = uint8(255 - i)
	}
	for _, v := range []any{xs, big, bytes.Repeat([]byte("ab"), 1000), small} {
		if got, want := jsonOf(t, decodeAny(t, formats.Gob(), v)), jsonOf(t, v); !reflect.DeepEqual(got, want) {
			t.Errorf("chunked %T: differs", v)
		}
	}
}

// Damage is an error wrapping core.ErrCorrupt; a format without a generic
// decoding is one wrapping core.ErrUnsupportedType.
func TestDecodeAnyErrors(t *testing.T) {
	var buf bytes.Buffer
	if err := formats.Gob().Encode(&buf, []anyNested{{Name: "a"}}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	for i := range b {
		for _, cut := range [][]byte{b[:i], append(append([]byte{}, b[:i]...), b[i]^0xff)} {
			if _, err := formats.DecodeAny(formats.Gob(), bytes.NewReader(cut)); !errors.Is(err, core.ErrCorrupt) {
				t.Fatalf("damaged at byte %d: %v", i, err)
			}
		}
	}
	if _, err := formats.DecodeAny(formats.Gob(), bytes.NewReader(b[:len(b)-1])); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("truncated: %v", err)
	}
	if _, err := formats.DecodeAny(formats.JSON(), strings.NewReader(`[1] 2`)); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("json with trailing data: %v", err)
	}
	if _, err := formats.DecodeAny(fakeFormat{}, strings.NewReader("")); !errors.Is(err, core.ErrUnsupportedType) {
		t.Errorf("another format: %v", err)
	}
}

type fakeFormat struct{ core.Format }

func (fakeFormat) Name() string { return "fake" }

// FuzzGobDecodeAny decodes each input without a type under the bound of
// FuzzGobDecode (64 bytes per input byte and allocguard's allowance): no
// panic, no allocation bomb, and what it accepts Validate accepts and
// encoding/json can write.
func FuzzGobDecodeAny(f *testing.F) {
	gobSeeds(f)
	v := validator(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var got any
		var err error
		allocguard.Run(t, allocguard.Bound(len(b), 64), func() {
			got, err = formats.DecodeAny(formats.Gob(), bytes.NewReader(b))
		})
		if err != nil {
			if !errors.Is(err, core.ErrCorrupt) {
				t.Fatalf("an error that is not ErrCorrupt: %v", err)
			}
			return
		}
		if verr := v.Validate(bytes.NewReader(b)); verr != nil {
			t.Fatalf("DecodeAny accepts what Validate refuses: %v", verr)
		}
		if _, err := json.Marshal(got); err != nil {
			t.Fatalf("the decoded value does not marshal: %v", err)
		}
	})
}
