package formats_test

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/formats"
)

// Types for the gob repair tests: every place gob changes a value (a
// zero-length slice, a map outside a struct field, a zero float field), at
// every depth it can be reached.

type gSub struct {
	X  float64
	T  []string
	MM map[int]float64
}

type gKey struct {
	K float64
	N int
}

type gRec struct {
	F   float64
	G   float32
	C   complex128
	D   complex64
	S   []int
	B   []byte
	M   map[string]int
	MS  map[string][]int
	P   *gRec
	I   any
	A   [2]float64
	AS  [2]gSub
	E   gSub
	L   []gSub
	LM  []map[string]int
	Str string
	N   int
}

type gFlat struct {
	A float64
	B float32
	C complex128
	D complex64
	E [2]struct{ X, Y float64 }
	N int
}

func init() {
	gob.Register([]int(nil))
	gob.Register(map[string]int(nil))
	gob.Register(gSub{})
	gob.Register(&gRec{})
	gob.Register([]any(nil))
	gob.Register([]gSub(nil))
}

// gobGen makes random values rich in what gob changes.
type gobGen struct{ r *rand.Rand }

func (g gobGen) float() float64 {
	switch g.r.IntN(4) {
	case 0:
		return math.Copysign(0, -1)
	case 1:
		return 0
	case 2:
		return math.NaN()
	}
	return g.r.NormFloat64()
}

func (g gobGen) ints() []int {
	switch g.r.IntN(3) {
	case 0:
		return nil
	case 1:
		return []int{}
	}
	return []int{g.r.IntN(9), g.r.IntN(9)}
}

func (g gobGen) strs() []string {
	switch g.r.IntN(3) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	return []string{"a", ""}
}

func (g gobGen) smap() map[string]int {
	switch g.r.IntN(3) {
	case 0:
		return nil
	case 1:
		return map[string]int{}
	}
	return map[string]int{"x": g.r.IntN(9), "y": 0}
}

func (g gobGen) sub() gSub {
	s := gSub{X: g.float(), T: g.strs()}
	switch g.r.IntN(3) {
	case 1:
		s.MM = map[int]float64{}
	case 2:
		s.MM = map[int]float64{1: g.float(), 2: g.float()}
	}
	return s
}

func (g gobGen) subs() []gSub {
	switch g.r.IntN(3) {
	case 0:
		return nil
	case 1:
		return []gSub{}
	}
	return []gSub{g.sub(), g.sub(), g.sub()}
}

func (g gobGen) any(depth int) any {
	switch g.r.IntN(7) {
	case 0:
		return nil
	case 1:
		return g.ints()
	case 2:
		return g.smap()
	case 3:
		return g.sub()
	case 4:
		return g.float()
	case 5:
		if depth > 0 {
			return g.rec(depth - 1)
		}
		return "leaf"
	}
	if depth > 0 {
		return []any{g.any(depth - 1), g.any(depth - 1)}
	}
	return []any{}
}

func (g gobGen) rec(depth int) *gRec {
	r := &gRec{
		F: g.float(), G: float32(g.float()),
		C: complex(g.float(), g.float()), D: complex64(complex(g.float(), g.float())),
		S: g.ints(), M: g.smap(), I: g.any(depth),
		A:   [2]float64{g.float(), g.float()},
		AS:  [2]gSub{g.sub(), g.sub()},
		E:   g.sub(),
		L:   g.subs(),
		Str: "s", N: g.r.IntN(3),
	}
	switch g.r.IntN(3) {
	case 1:
		r.B = []byte{}
	case 2:
		r.B = []byte("b")
	}
	switch g.r.IntN(3) {
	case 1:
		r.MS = map[string][]int{}
	case 2:
		r.MS = map[string][]int{"a": g.ints(), "b": g.ints(), "c": g.ints()}
	}
	if n := g.r.IntN(3); n > 0 {
		r.LM = make([]map[string]int, n)
		for i := range r.LM {
			r.LM[i] = g.smap()
		}
	}
	if depth > 0 && g.r.IntN(2) == 0 {
		r.P = g.rec(depth - 1)
	}
	return r
}

// value returns a random top-level value, of one of many types.
func (g gobGen) value() any {
	switch g.r.IntN(12) {
	case 0:
		return *g.rec(2)
	case 1:
		return g.rec(2)
	case 2:
		return []gRec{*g.rec(1), *g.rec(1)}
	case 3:
		return map[string]gRec{"a": *g.rec(1), "b": *g.rec(1), "c": *g.rec(0)}
	case 4:
		return map[int][]float64{1: nil, 2: {}, 3: {g.float()}}
	case 5:
		return []any{g.any(2), g.any(2)}
	case 6:
		return [][]int{g.ints(), g.ints(), g.ints()}
	case 7:
		return []map[string]int{g.smap(), g.smap()}
	case 8:
		return map[string]map[string]int{"a": g.smap(), "b": g.smap()}
	case 9:
		return [3]gSub{g.sub(), g.sub(), g.sub()}
	case 10:
		m := map[gKey]gSub{}
		for i := range 3 {
			m[gKey{K: g.float(), N: i}] = g.sub()
		}
		return m
	}
	return g.smap()
}

// sameExactly reports how got differs from want, bit for bit: nil and
// empty slices and maps differ, and so do -0 and +0 (NaNs compare by bits).
func sameExactly(want, got reflect.Value, path string) error {
	if want.IsValid() != got.IsValid() {
		return fmt.Errorf("%s: valid %v, want %v", path, got.IsValid(), want.IsValid())
	}
	if !want.IsValid() {
		return nil
	}
	if want.Type() != got.Type() {
		return fmt.Errorf("%s: type %v, want %v", path, got.Type(), want.Type())
	}
	switch want.Kind() {
	case reflect.Float32, reflect.Float64:
		if math.Float64bits(want.Float()) != math.Float64bits(got.Float()) {
			return fmt.Errorf("%s: %v, want %v", path, got.Float(), want.Float())
		}
	case reflect.Complex64, reflect.Complex128:
		w, g := want.Complex(), got.Complex()
		if math.Float64bits(real(w)) != math.Float64bits(real(g)) || math.Float64bits(imag(w)) != math.Float64bits(imag(g)) {
			return fmt.Errorf("%s: %v, want %v", path, g, w)
		}
	case reflect.Slice:
		if want.IsNil() != got.IsNil() || want.Len() != got.Len() {
			return fmt.Errorf("%s: nil %v len %d, want nil %v len %d", path, got.IsNil(), got.Len(), want.IsNil(), want.Len())
		}
		fallthrough
	case reflect.Array:
		for i := range want.Len() {
			if err := sameExactly(want.Index(i), got.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if want.IsNil() != got.IsNil() || want.Len() != got.Len() {
			return fmt.Errorf("%s: nil %v len %d, want nil %v len %d", path, got.IsNil(), got.Len(), want.IsNil(), want.Len())
		}
		it := want.MapRange()
		for it.Next() {
			if !it.Key().Equal(it.Key()) {
				continue // a NaN key: no lookup finds it
			}
			if err := sameExactly(it.Value(), got.MapIndex(it.Key()), fmt.Sprintf("%s[%v]", path, it.Key())); err != nil {
				return err
			}
		}
	case reflect.Pointer, reflect.Interface:
		if want.IsNil() != got.IsNil() {
			return fmt.Errorf("%s: nil %v, want %v", path, got.IsNil(), want.IsNil())
		}
		if !want.IsNil() {
			return sameExactly(want.Elem(), got.Elem(), path)
		}
	case reflect.Struct:
		for i := range want.NumField() {
			if err := sameExactly(want.Field(i), got.Field(i), path+"."+want.Type().Field(i).Name); err != nil {
				return err
			}
		}
	default:
		if !reflect.DeepEqual(want.Interface(), got.Interface()) {
			return fmt.Errorf("%s: %v, want %v", path, got, want)
		}
	}
	return nil
}

func gobRoundTrip(t *testing.T, v any) (any, []byte, error) {
	t.Helper()
	var buf bytes.Buffer
	if err := formats.Gob().Encode(&buf, v); err != nil {
		return nil, nil, err
	}
	b := bytes.Clone(buf.Bytes())
	got, err := formats.Gob().Decode(&buf, reflect.TypeOf(v))
	if err != nil {
		t.Fatalf("Decode(%T): %v", v, err)
	}
	return got, b, nil
}

// TestGobKeepsEmptyAndNegativeZero: random values full of empty and nil
// slices and maps and of -0 floats load back exactly, or Encode refuses
// them (only for a -0 in a map key, or keys that cannot be ordered).
func TestGobKeepsEmptyAndNegativeZero(t *testing.T) {
	g := gobGen{rand.New(rand.NewPCG(3, 9))}
	refused, noted := 0, 0
	const n = 3000
	for i := range n {
		v := g.value()
		got, b, err := gobRoundTrip(t, v)
		if len(b) > 0 && b[0] == 0xf7 {
			noted++
		}
		if err != nil {
			if strings.Contains(err.Error(), "(key)") || strings.Contains(err.Error(), "not equal to itself") {
				refused++
				continue
			}
			t.Fatalf("value %d (%T): Encode: %v", i, v, err)
		}
		if err := sameExactly(reflect.ValueOf(v), reflect.ValueOf(got), fmt.Sprintf("value %d (%T)", i, v)); err != nil {
			t.Fatal(err)
		}
	}
	if refused > n/10 || noted < n/2 {
		t.Errorf("%d of %d values refused, %d stored with notes: the generator does not exercise the notes", refused, n, noted)
	}
	t.Logf("%d values: %d stored with notes, %d refused", n, noted, refused)
}

// TestGobRepairCases pins the places gob changes, one by one.
func TestGobRepairCases(t *testing.T) {
	nz := math.Copysign(0, -1)
	cases := []struct {
		name string
		v    any
	}{
		{"top empty slice", []int{}},
		{"top empty bytes", []byte{}},
		{"top nil map", map[string]int(nil)},
		{"top -0", nz},
		{"slice of empty slices", [][]int{nil, {}, {1}, {}}},
		{"slice of maps", []map[string]int{nil, {}, {"a": 1}}},
		{"map of maps", map[string]map[string]int{"n": nil, "e": {}}},
		{"map of slices", map[string][]int{"n": nil, "e": {}, "x": {1}}},
		{"struct fields", gRec{S: []int{}, B: []byte{}, M: map[string]int{}, F: nz, G: float32(nz), C: complex(nz, 0), D: complex(0, float32(nz))}},
		{"nested struct field", gRec{E: gSub{X: nz, T: []string{}}}},
		{"array of structs field", gRec{AS: [2]gSub{{X: nz}, {T: []string{}}}}},
		{"pointer field", gRec{P: &gRec{F: nz, S: []int{}}}},
		{"interface field", gRec{I: []int{}}},
		{"interface holding nil map", gRec{I: map[string]int(nil)}},
		{"interface holding struct", gRec{I: gSub{X: nz}}},
		{"map values of structs", map[string]gSub{"a": {X: nz}, "b": {}, "c": {T: []string{}}}},
		{"flat structs", []gFlat{{}, {A: nz}, {B: float32(nz), C: complex(nz, nz)}, {D: complex(float32(nz), 0)}, {E: [2]struct{ X, Y float64 }{{Y: nz}}}}},
		{"pointer to empty slice", &[]int{}},
		{"any slice", []any{[]int{}, map[string]int(nil), nil}},
		{"complex in struct, one part -0", struct{ C complex128 }{complex(nz, 1)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, _, err := gobRoundTrip(t, c.v)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if err := sameExactly(reflect.ValueOf(c.v), reflect.ValueOf(got), "value"); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestGobRepairRefused: a -0 field in a map key cannot be restored, and
// keys that cannot be ordered leave the notes' order undefined.
func TestGobRepairRefused(t *testing.T) {
	nz := math.Copysign(0, -1)
	nan := math.NaN()
	cases := []struct {
		v    any
		want string
	}{
		{map[gKey]int{{K: nz}: 1}, "(key) holds a -0"},
		{map[float64][]int{nan: {}, 1: nil}, "not equal to itself"},
		{map[gKey][]int{{K: nan}: {}}, "not equal to itself"},
		{map[*int][]int{new(int): {}, new(int): nil}, "cannot be told apart"},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		err := formats.Gob().Encode(&buf, c.v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Encode(%T) = %v, want an error with %q", c.v, err, c.want)
		}
	}
	// Without notes to place, the same maps are stored.
	for _, v := range []any{map[gKey]int{{K: 0}: 1}, map[float64][]int{nan: {1}, math.Float64frombits(math.Float64bits(nan)): {2}}} {
		var buf bytes.Buffer
		if err := formats.Gob().Encode(&buf, v); err != nil {
			t.Errorf("Encode(%T): %v", v, err)
		}
	}
}

// TestGobNoNotes: a value gob loads back exactly is stored as plain gob.
func TestGobNoNotes(t *testing.T) {
	for _, v := range []any{[]int{1}, []int(nil), map[string]int{}, gRec{S: []int{1}, F: 1}, []gFlat{{A: 1}, {}}, 0.0} {
		var plain, buf bytes.Buffer
		if err := gob.NewEncoder(&plain).Encode(v); err != nil {
			t.Fatal(err)
		}
		if err := formats.Gob().Encode(&buf, v); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(plain.Bytes(), buf.Bytes()) {
			t.Errorf("%T %v: stored with notes, want plain gob", v, v)
		}
	}
}

// TestGobBadNotes: notes that do not fit the value are an error, never a
// panic or a changed value.
func TestGobBadNotes(t *testing.T) {
	var plain bytes.Buffer
	if err := gob.NewEncoder(&plain).Encode([][]int{nil, {1}, nil}); err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeOf([][]int{})
	// The value has two sites, [0] and [2].
	b := append([]byte{0xf7, 1, 1 << 2}, plain.Bytes()...)
	got, err := formats.Gob().Decode(bytes.NewReader(b), typ)
	if v, _ := got.([][]int); err != nil || len(v) != 3 || v[0] != nil || v[2] == nil {
		t.Fatalf("a note for site 1: %#v, %v; want [nil [1] []]", got, err)
	}
	for _, notes := range [][]byte{
		{0xf7, 0},             // no notes
		{0xf7, 1, 2 << 2},     // site 2 of 2
		{0xf7, 1, 0<<2 | 1},   // float bits on a slice
		{0xf7, 3, 0, 0, 0},    // sites 0, 1, 2: one too many
		{0xf7, 5, 0},          // a count larger than the notes
		{0xf7, 0xff, 0xff},    // a truncated count
		{0xf7, 1, 0xff, 0xff}, // a truncated note
	} {
		b := append(bytes.Clone(notes), plain.Bytes()...)
		if got, err := formats.Gob().Decode(bytes.NewReader(b), typ); err == nil {
			t.Errorf("notes %x: decoded %#v, want an error", notes, got)
		}
	}
}

func BenchmarkGobNotesTable(b *testing.B) {
	rows := table(1 << 20) // no -0 but the first row's
	var buf bytes.Buffer
	f := formats.Gob()
	b.SetBytes(int64(len(rows)) * 64)
	for b.Loop() {
		buf.Reset()
		if err := f.Encode(&buf, rows); err != nil {
			b.Fatal(err)
		}
	}
}
