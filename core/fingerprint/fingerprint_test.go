package fingerprint

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

func mustSum(t testing.TB, h *Hasher, v any) Sum {
	t.Helper()
	s, err := h.Sum(v)
	if err != nil {
		t.Fatalf("Sum(%#v): %v", v, err)
	}
	return s
}

type Celsius float64

type PointXY struct{ X, Y int }
type PointAB struct{ A, B int }

type withUnexported struct {
	Name   string
	secret int
}

type node struct {
	Val  int
	Next *node
}

type selfPtr *selfPtr

// TestDistinct checks that values differing in type, kind, name, shape or
// contents all get different sums.
func TestDistinct(t *testing.T) {
	one := 1
	oneStr := "1"
	utc := time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)
	paris := utc.In(time.FixedZone("Paris", 2*3600))
	cases := []struct {
		name string
		v    any
	}{
		{"int 1", 1},
		{"string 1", "1"},
		{"float64 1", 1.0},
		{"bytes 1", []byte("1")},
		{"int64 1", int64(1)},
		{"int32 1", int32(1)},
		{"int8 1", int8(1)},
		{"uint 1", uint(1)},
		{"uint8 1", uint8(1)},
		{"uintptr 1", uintptr(1)},
		{"float32 1", float32(1)},
		{"complex128 1", complex(1, 0)},
		{"complex64 1", complex64(complex(1, 0))},
		{"bool true", true},
		{"bool false", false},
		{"int 0", 0},
		{"Celsius 1", Celsius(1)},
		{"untyped nil", nil},
		{"nil *int", (*int)(nil)},
		{"nil *string", (*string)(nil)},
		{"*int 1", &one},
		{"*int 0", new(int)},
		{"*[]int empty", &[]int{}},
		{"nil *[]int", (*[]int)(nil)},
		{"*string 1", &oneStr},
		{"empty []int", []int{}},
		{"nil []int", []int(nil)},
		{"empty map", map[string]int{}},
		{"nil map", map[string]int(nil)},
		{"[]int{1}", []int{1}},
		{"[1]int{1}", [1]int{1}},
		{"[]int64{1}", []int64{1}},
		{"[]any{1}", []any{1}},
		{"[]int{1,2}", []int{1, 2}},
		{"[]int{2,1}", []int{2, 1}},
		{"[][]int{{1,2},{3}}", [][]int{{1, 2}, {3}}},
		{"[][]int{{1},{2,3}}", [][]int{{1}, {2, 3}}},
		{"[][]int{{1,2,3}}", [][]int{{1, 2, 3}}},
		{"[]string{ab,c}", []string{"ab", "c"}},
		{"[]string{a,bc}", []string{"a", "bc"}},
		{"[]string{abc}", []string{"abc"}},
		{"map 1:2", map[int]int{1: 2}},
		{"map 2:1", map[int]int{2: 1}},
		{"map 1:2,3:4", map[int]int{1: 2, 3: 4}},
		{"map 1:4,3:2", map[int]int{1: 4, 3: 2}},
		{"PointXY", PointXY{1, 2}},
		{"PointAB", PointAB{1, 2}},
		{"anon X,Y", struct{ X, Y int }{1, 2}},
		{"PointXY swapped", PointXY{2, 1}},
		{"unexported 1", withUnexported{"a", 1}},
		{"unexported 2", withUnexported{"a", 2}},
		{"[]float64{1}", []float64{1}},
		{"[]float32{1}", []float32{1}},
		{"[]bool{true}", []bool{true}},
		{"[]bool{false}", []bool{false}},
		{"[]Celsius{1}", []Celsius{1}},
		{"[2]float32{1,2}", [2]float32{1, 2}},
		{"[2]float32{2,1}", [2]float32{2, 1}},
		{"time utc", utc},
		{"time paris (same instant)", paris},
		{"time +1ns", utc.Add(1)},
		{"duration", time.Duration(1)},
		{"[]*int{nil}", []*int{nil}},
		{"[]*int{&one}", []*int{&one}},
		{"any holding []int", []any{[]int{1}}},
		{"any holding [1]int", []any{[1]int{1}}},
		{"node 1", &node{Val: 1}},
		{"node 1->2", &node{Val: 1, Next: &node{Val: 2}}},
		{"string empty", ""},
		{"bytes empty", []byte{}},
		{"bytes nil", []byte(nil)},
		{"NaN", math.NaN()},
		{"Inf", math.Inf(1)},
		{"-Inf", math.Inf(-1)},
		{"[]float64{NaN}", []float64{math.NaN()}},
		{"[]float64{Inf}", []float64{math.Inf(1)}},
		{"[]float64{-Inf}", []float64{math.Inf(-1)}},
		{"[]float64{0}", []float64{0}},
	}
	h := New()
	seen := map[Sum]string{}
	for _, c := range cases {
		s := mustSum(t, h, c.v)
		if prev, ok := seen[s]; ok {
			t.Errorf("%s and %s have the same sum %v", prev, c.name, s)
		}
		seen[s] = c.name
	}
}

// TestEqual checks values that must share a sum.
func TestEqual(t *testing.T) {
	nan2 := math.Float64frombits(0x7ff8000000000abc)
	nanNeg := math.Float64frombits(0xfff0000000000001)
	nan32 := math.Float32frombits(0xffc00123)
	big := make([]float64, 100000) // several scan chunks
	bigCanon := make([]float64, len(big))
	for i := range big {
		big[i] = float64(i)
		bigCanon[i] = float64(i)
	}
	big[0], big[len(big)-1], big[70000] = nanNeg, nan2, nanNeg
	bigCanon[0], bigCanon[len(big)-1], bigCanon[70000] = math.NaN(), math.NaN(), math.NaN()
	big32 := make([]float32, 200000)
	big32Canon := make([]float32, len(big32))
	for i := range big32 {
		big32[i] = float32(i)
		big32Canon[i] = float32(i)
	}
	big32[len(big32)-1], big32Canon[len(big32)-1] = nan32, float32(math.NaN())
	a, b := 7, 7
	now := time.Now()
	type pair struct {
		name string
		x, y any
	}
	cases := []pair{
		{"NaN payloads", math.NaN(), nan2},
		{"negative NaN", math.NaN(), nanNeg},
		{"float32 NaN", float32(math.NaN()), nan32},
		{"complex NaN", complex(nanNeg, 1), complex(math.NaN(), 1)},
		{"[]float64 NaN", []float64{1, nan2, 3}, []float64{1, math.NaN(), 3}},
		{"[]float32 NaN", []float32{1, nan32}, []float32{1, float32(math.NaN())}},
		{"[3]float64 NaN", [3]float64{1, nan2, 2}, [3]float64{1, math.NaN(), 2}},
		{"[]complex128 NaN", []complex128{complex(1, nanNeg)}, []complex128{complex(1, math.NaN())}},
		{"big []float64 NaN", big, bigCanon},
		{"big []float32 NaN", big32, big32Canon},
		{"pointers to equal values", &a, &b},
		{"time monotonic ignored", now, now.Round(0)},
		{"copied struct", PointXY{1, 2}, PointXY{1, 2}},
		{"map literal vs built", map[string]int{"a": 1, "b": 2}, func() map[string]int {
			m := map[string]int{}
			m["b"] = 2
			m["a"] = 1
			return m
		}()},
		{"nil interface", nil, any(nil)},
		{"unexported equal", withUnexported{"a", 1}, withUnexported{"a", 1}},
		{"nil slices", []int(nil), []int(nil)},
		{"empty slices", []string{}, make([]string, 0, 8)},
		{"empty slices of a longer array", []float64{}, []float64{1, 2}[:0]},
	}
	h := New()
	for _, c := range cases {
		if sx, sy := mustSum(t, h, c.x), mustSum(t, h, c.y); sx != sy {
			t.Errorf("%s: sums differ: %v vs %v", c.name, sx, sy)
		}
	}
}

type tagged1 struct {
	X int `json:"x"`
}

type embedsPoint struct{ PointXY }

type namesPoint struct{ PointXY PointXY }

// TestStructTags checks that struct types differing only in a field's tag
// or in embedding differ, as Go's type identity has it.
func TestStructTags(t *testing.T) {
	pairs := []struct {
		name string
		x, y any
	}{
		{"tag", struct {
			X int `json:"x"`
		}{1}, struct {
			X int `json:"y"`
		}{1}},
		{"tag or none", struct {
			X int `json:"x"`
		}{1}, struct{ X int }{1}},
		{"tag in a nested type", []struct {
			A []struct {
				X int `csv:"a"`
			}
		}{}, []struct {
			A []struct {
				X int `csv:"b"`
			}
		}{}},
		{"embedded or named", embedsPoint{PointXY{1, 2}}, namesPoint{PointXY{1, 2}}},
		{"anonymous embedded or named", struct{ PointXY }{}, struct{ PointXY PointXY }{}},
	}
	for _, p := range pairs {
		if mustSum(t, New(), p.x) == mustSum(t, New(), p.y) {
			t.Errorf("%s: %T and %T have the same sum", p.name, p.x, p.y)
		}
	}
	if a, b := mustSum(t, New(), tagged1{1}), mustSum(t, New(), struct {
		X int `json:"x"`
	}{1}); a == b {
		t.Error("a named type sums as its unnamed underlying type")
	}
}

// TestNilIsNotEmpty checks that a nil slice or map and an empty one differ
// wherever they are: code may test s == nil, and json writes null for one
// and [] for the other.
func TestNilIsNotEmpty(t *testing.T) {
	type withSlice struct{ S []PointXY }
	type withMap struct{ M map[string]int }
	cases := []struct {
		name       string
		nil, empty any
	}{
		{"[]int", []int(nil), []int{}},
		{"[]byte", []byte(nil), []byte{}},
		{"[]float64 (raw)", []float64(nil), []float64{}},
		{"[]string", []string(nil), []string{}},
		{"[]PointXY", []PointXY(nil), []PointXY{}},
		{"map", map[string]int(nil), map[string]int{}},
		{"struct field slice", withSlice{}, withSlice{S: []PointXY{}}},
		{"struct field map", withMap{}, withMap{M: map[string]int{}}},
		{"slice element", [][]int{nil}, [][]int{{}}},
		{"map in slice", []map[int]bool{nil}, []map[int]bool{{}}},
		{"map value", map[string][]int{"k": nil}, map[string][]int{"k": {}}},
		{"array element", [2][]byte{nil, {1}}, [2][]byte{{}, {1}}},
		{"in any", any([]float64(nil)), any([]float64{})},
		{"in []any", []any{map[string]any(nil)}, []any{map[string]any{}}},
		{"behind a pointer", &withSlice{}, &withSlice{S: []PointXY{}}},
	}
	h := New()
	for _, c := range cases {
		if mustSum(t, h, c.nil) == mustSum(t, h, c.empty) {
			t.Errorf("%s: nil and empty have the same sum", c.name)
		}
	}
}

// hookedFloat is hashed by a hook that writes its float with Writer.Float.
type hookedFloat struct{ F float64 }

func (h hookedFloat) Fingerprint(w *Writer) error {
	w.Float(h.F)
	return nil
}

// TestNegativeZero checks that -0 and +0 differ wherever a float is hashed:
// 1/-0 is -Inf, so a result cached for one is wrong for the other.
func TestNegativeZero(t *testing.T) {
	nz := math.Copysign(0, -1)
	nz32 := float32(nz)
	bigOf := func(z float64, at ...int) []float64 {
		v := make([]float64, 100000) // several scan chunks
		for i := range v {
			v[i] = float64(i + 1)
		}
		for _, i := range at {
			v[i] = z
		}
		return v
	}
	withNaN := func(z float64) []float64 {
		v := bigOf(z, 5)
		v[6] = math.NaN()
		return v
	}
	big32Of := func(z float32) []float32 {
		v := make([]float32, 200000)
		for i := range v {
			v[i] = float32(i + 1)
		}
		v[150000] = z
		return v
	}
	type pair struct {
		name     string
		neg, pos any
	}
	type floats struct {
		A float64
		B float32
	}
	cases := []pair{
		{"float64", nz, 0.0},
		{"float32", nz32, float32(0)},
		{"Celsius", Celsius(nz), Celsius(0)},
		{"*float64", &nz, new(float64)},
		{"complex128 real", complex(nz, 1), complex(0, 1)},
		{"complex128 imag", complex(1, nz), complex(1, 0)},
		{"complex64 real", complex(nz32, 1), complex(float32(0), 1)},
		{"complex64 imag", complex(1, nz32), complex(1, float32(0))},
		{"struct float64", floats{A: nz}, floats{}},
		{"struct float32", floats{B: nz32}, floats{}},
		{"[]float64", []float64{1, nz}, []float64{1, 0}},
		{"[]float32", []float32{nz32}, []float32{0}},
		{"[]complex128", []complex128{complex(1, nz)}, []complex128{complex(1, 0)}},
		{"[]complex64", []complex64{complex(nz32, 1)}, []complex64{complex(0, 1)}},
		{"big []float64, first chunk", bigOf(nz, 0), bigOf(0, 0)},
		{"big []float64, later chunk", bigOf(nz, 70000), bigOf(0, 70000)},
		{"big []float64, last", bigOf(nz, 99999), bigOf(0, 99999)},
		{"big []float64 with NaN", withNaN(nz), withNaN(0)}, // the copy-and-canonicalise path
		{"big []float32", big32Of(nz32), big32Of(0)},
		{"[3]float64", [3]float64{1, nz, 2}, [3]float64{1, 0, 2}},
		{"*[3]float64", &[3]float64{nz}, &[3]float64{}},
		{"[2]floats", [2]floats{{A: nz}}, [2]floats{}},
		{"map key", map[float64]int{nz: 1}, map[float64]int{0: 1}},
		{"map value", map[string]float64{"x": nz}, map[string]float64{"x": 0}},
		{"map value array", map[int][2]float64{1: {nz}}, map[int][2]float64{1: {}}},
		{"[]any", []any{nz}, []any{0.0}},
		{"hook Writer.Float", hookedFloat{nz}, hookedFloat{0}},
	}
	h := New()
	for _, c := range cases {
		neg, pos := mustSum(t, h, c.neg), mustSum(t, h, c.pos)
		if neg == pos {
			t.Errorf("%s: -0 and +0 have the same sum", c.name)
		}
		if again := mustSum(t, h, deepCopy(reflect.ValueOf(&c.neg).Elem()).Interface()); again != neg {
			t.Errorf("%s: two copies of the -0 value sum differently", c.name)
		}
	}
}

// TestRawMatchesElementwise checks that the raw-memory path and the
// element-by-element path (used on big-endian and 32-bit machines) write
// the same bytes.
func TestRawMatchesElementwise(t *testing.T) {
	negZero := math.Copysign(0, -1)
	values := []any{
		[]float64{1, negZero, math.NaN(), -2.5, math.Inf(-1)},
		[]float32{1, float32(negZero), float32(math.NaN()), -2.5},
		[]complex64{complex(1, float32(negZero))},
		[]complex128{complex(math.NaN(), 2)},
		[]int{-1, 2, math.MaxInt64},
		[]int8{-1, 2},
		[]int16{-1, 2},
		[]int32{-1, 2},
		[]uint{1, math.MaxUint64},
		[]uint16{1, 65535},
		[]uintptr{3},
		[]bool{true, false, true},
		[]byte("hello"),
		[]Celsius{1, 2},
	}
	for _, v := range values {
		rv := reflect.ValueOf(v)
		st := getState(New())
		ti := st.plan(rv.Type())
		if ti.kind != encRawSlice {
			t.Fatalf("%T: kind %d, want raw slice", v, ti.kind)
		}
		w1, w2 := st.getWriter(), st.getWriter()
		w1.raw(unsafe.Slice((*byte)(rv.UnsafePointer()), rv.Len()*ti.raw.size), ti.raw.comp)
		w2.rawElems(ti, rv, rv.Len())
		if s1, s2 := w1.sum(), w2.sum(); s1 != s2 {
			t.Errorf("%T %v: raw %v != elementwise %v", v, v, s1, s2)
		}
		putState(st)
	}
}

// TestNaNScan checks the branch-free NaN scan against the scalar rule.
func TestNaNScan(t *testing.T) {
	specials64 := []uint64{0, 1 << 63, 0x7ff0000000000000, 0xfff0000000000000, 0x7ff0000000000001,
		0xfff0000000000001, 0x7ff8000000000000, 0xffffffffffffffff, 0x7fffffffffffffff, 1, 0x8000000000000001,
		0x7fefffffffffffff, 0xffefffffffffffff}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		specials64 = append(specials64, r.Uint64())
	}
	for _, u := range specials64 {
		want := !math.IsNaN(math.Float64frombits(u))
		for n := 1; n <= 6; n++ { // exercise the unrolled loop and the tail
			p := make([]uint64, n)
			p[n-1] = u
			if got := noNaN64(p); got != want {
				t.Fatalf("noNaN64(%#x at %d of %d) = %v, want %v", u, n-1, n, got, want)
			}
		}
		u32 := uint32(u >> 32)
		f32 := math.Float32frombits(u32)
		want32 := f32 == f32
		if got := noNaN32([]uint32{0, 0, 0, 0, u32}); got != want32 {
			t.Fatalf("noNaN32(%#x) = %v, want %v", u32, got, want32)
		}
	}
}

// TestMapOrder builds the same maps in many insertion orders.
func TestMapOrder(t *testing.T) {
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
	}
	r := rand.New(rand.NewPCG(3, 4))
	var want, wantNested Sum
	for i := range 20 {
		r.Shuffle(len(keys), func(a, b int) { keys[a], keys[b] = keys[b], keys[a] })
		m := make(map[string]int)
		nested := make(map[int]map[string][]int)
		for j, k := range keys {
			m[k] = len(k)
			_ = j
			if nested[len(k)%7] == nil {
				nested[len(k)%7] = map[string][]int{}
			}
			nested[len(k)%7][k] = []int{len(k), 1}
		}
		s, sn := mustSum(t, New(), m), mustSum(t, New(), nested)
		if i == 0 {
			want, wantNested = s, sn
			continue
		}
		if s != want || sn != wantNested {
			t.Fatalf("build %d: map sum depends on insertion order", i)
		}
	}
	m := map[string]int{"a": 1}
	before := mustSum(t, New(), m)
	m["b"] = 2
	if mustSum(t, New(), m) == before {
		t.Error("adding an entry did not change the map's sum")
	}
}

type nested1 struct{ A nested2 }
type nested2 struct{ B nested3 }
type nested3 struct{ C int }

// TestMaxDepth checks the nesting limit, its default, and the error it gives.
func TestMaxDepth(t *testing.T) {
	six := [][][][][][]string{{{{{{"x"}}}}}}         // the string is 6 deep
	seven := [][][][][][][]string{{{{{{{"x"}}}}}}}   // 7 deep
	emptySeven := [][][][][][][]string{{{{{{{}}}}}}} // the innermost slice is 6 deep and empty
	leafSeven := [][][][][][][]int{{{{{{{1, 2}}}}}}} // []int is a leaf at depth 6
	cases := []struct {
		name    string
		h       *Hasher
		v       any
		wantErr string // "" means hashable
	}{
		{"default 6 ok", New(), six, ""},
		{"default 7 fails", New(), seven, "unhashable value at [0][0][0][0][0][0][0]: string (nested deeper than MaxDepth 6)"},
		{"empty container at limit ok", New(), emptySeven, ""},
		{"raw slice is a leaf", New(), leafSeven, ""},
		{"depth 2 struct ok", New(WithMaxDepth(3)), nested1{}, ""},
		{"depth 2 struct fails", New(WithMaxDepth(2)), nested1{}, "at .A.B.C: int (nested deeper than MaxDepth 2)"},
		{"pointers add no depth", New(WithMaxDepth(1)), &PointXY{}, ""},
		{"map values", New(WithMaxDepth(1)), map[string][]string{"k": {"v"}}, `at ["k"][0]: string`},
		{"depth 0 scalar", New(WithMaxDepth(0)), 5, ""},
		{"depth 0 struct", New(WithMaxDepth(0)), PointXY{}, "at .X: int"},
	}
	if got := New().MaxDepth(); got != 6 {
		t.Errorf("default MaxDepth = %d, want 6", got)
	}
	for _, c := range cases {
		_, err := c.h.Sum(c.v)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: unexpected error %v", c.name, err)
		case c.wantErr != "" && err == nil:
			t.Errorf("%s: hashable, want error containing %q", c.name, c.wantErr)
		case c.wantErr != "" && !errors.Is(err, ErrUnhashable):
			t.Errorf("%s: error %v does not wrap ErrUnhashable", c.name, err)
		case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
			t.Errorf("%s: error %q, want it to contain %q", c.name, err, c.wantErr)
		}
	}
}

type cyc struct {
	Name string
	Self *cyc
}

// TestCycles checks that cycles are reported unhashable, however they are
// built, while shared (acyclic) pointers are fine.
func TestCycles(t *testing.T) {
	c := &cyc{Name: "c"}
	c.Self = c
	l1 := &node{Val: 1}
	l2 := &node{Val: 2, Next: l1}
	l1.Next = l2
	var sp selfPtr
	sp = &sp
	var iface any
	iface = &iface
	m := map[string]any{}
	m["me"] = m
	h := New(WithMaxDepth(100))
	for name, v := range map[string]any{"self struct": c, "two nodes": l1, "pointer to itself": sp, "interface": &iface} {
		_, err := h.Sum(v)
		var ue *UnhashableError
		if !errors.As(err, &ue) || !strings.Contains(ue.Reason, "cycle") {
			t.Errorf("%s: err = %v, want a cycle error", name, err)
		}
	}
	// A map holding itself has no pointer to detect, but is too deep.
	if _, err := h.Sum(m); !errors.Is(err, ErrUnhashable) {
		t.Errorf("self-holding map: err = %v, want unhashable", err)
	}
	shared := &PointXY{1, 2}
	diamond := []*PointXY{shared, shared}
	copies := []*PointXY{{1, 2}, {1, 2}}
	if mustSum(t, h, diamond) != mustSum(t, h, copies) {
		t.Error("a shared pointer sums differently from two copies")
	}
}

// TestUnhashable checks funcs, chans and unsafe pointers and the error text.
func TestUnhashable(t *testing.T) {
	type Row struct {
		ID int
		Fn func() int
	}
	type Table struct{ Rows []Row }
	var x int
	cases := []struct {
		name, path, msg string
		v               any
	}{
		{"func", "", "fingerprint: unhashable value: func() (funcs cannot be fingerprinted)", func() {}},
		{"chan", "", "chan int (chans cannot be fingerprinted)", make(chan int)},
		{"unsafe", "", "unsafe.Pointer", unsafe.Pointer(&x)},
		{"nested func", ".Rows[2].Fn",
			"fingerprint: unhashable value at .Rows[2].Fn: func() int (funcs cannot be fingerprinted)",
			Table{Rows: []Row{{ID: 1}, {ID: 2}, {ID: 3, Fn: func() int { return 1 }}}}},
		{"in interface", "[1]", "", []any{1, make(chan int)}},
		{"in map", `["f"]`, "", map[string]any{"a": 1, "f": func() {}}},
	}
	for _, c := range cases {
		s, err := Of(c.v)
		var ue *UnhashableError
		if !errors.As(err, &ue) || !errors.Is(err, ErrUnhashable) {
			t.Errorf("%s: err = %v, want *UnhashableError wrapping ErrUnhashable", c.name, err)
			continue
		}
		if s != (Sum{}) {
			t.Errorf("%s: non-zero sum with an error", c.name)
		}
		if ue.Path() != c.path {
			t.Errorf("%s: path %q, want %q", c.name, ue.Path(), c.path)
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: message %q, want it to contain %q", c.name, err, c.msg)
		}
	}
	// Nil funcs, chans and unsafe pointers hash as typed nils.
	for _, v := range []any{(func())(nil), (chan int)(nil), unsafe.Pointer(nil), Table{Rows: []Row{{ID: 1}}}} {
		if _, err := Of(v); err != nil {
			t.Errorf("%T nil: %v", v, err)
		}
	}
	if mustSum(t, New(), (func())(nil)) == mustSum(t, New(), (chan int)(nil)) {
		t.Error("nil func and nil chan have the same sum")
	}
}

// cached has a cache field that is not part of its identity.
type cached struct {
	Key   string
	cache map[string]int
}

func (c cached) Fingerprint(w *Writer) error {
	w.String(c.Key)
	return nil
}

// ptrHook implements Fingerprinter on the pointer receiver.
type ptrHook struct{ N int }

func (p *ptrHook) Fingerprint(w *Writer) error {
	w.Int(int64(p.N % 10)) // only the last digit matters
	return nil
}

// sameOutput writes what cached writes, under another type.
type sameOutput struct{ Key string }

func (s sameOutput) Fingerprint(w *Writer) error {
	w.String(s.Key)
	return nil
}

type failing struct{}

var errBoom = errors.New("boom")

func (failing) Fingerprint(*Writer) error { return errBoom }

type splitter struct{ parts []string }

func (s splitter) Fingerprint(w *Writer) error {
	for _, p := range s.parts {
		w.String(p)
	}
	return nil
}

type nestedHook struct{ V any }

func (n nestedHook) Fingerprint(w *Writer) error { return w.Value(n.V) }

// TestFingerprinter checks the hook: used everywhere, on value and pointer
// receivers, tagged with the type, errors propagated.
func TestFingerprinter(t *testing.T) {
	h := New()
	a := cached{Key: "k", cache: map[string]int{"x": 1}}
	b := cached{Key: "k"}
	if mustSum(t, h, a) != mustSum(t, h, b) {
		t.Error("hook not used: the cache field changed the sum")
	}
	if mustSum(t, h, []cached{a}) != mustSum(t, h, []cached{b}) {
		t.Error("hook not used inside a slice")
	}
	if mustSum(t, h, map[string]any{"x": &a}) != mustSum(t, h, map[string]any{"x": &b}) {
		t.Error("hook not used behind a pointer in a map")
	}
	if mustSum(t, h, a) == mustSum(t, h, cached{Key: "other"}) {
		t.Error("hook output ignored")
	}
	if mustSum(t, h, a) == mustSum(t, h, sameOutput{Key: "k"}) {
		t.Error("two types with the same hook output have the same sum")
	}
	if mustSum(t, h, ptrHook{13}) != mustSum(t, h, ptrHook{3}) {
		t.Error("pointer-receiver hook not used on a value")
	}
	if mustSum(t, h, struct{ P ptrHook }{ptrHook{13}}) != mustSum(t, h, struct{ P ptrHook }{ptrHook{23}}) {
		t.Error("pointer-receiver hook not used on a field")
	}
	if mustSum(t, h, splitter{[]string{"ab", "c"}}) == mustSum(t, h, splitter{[]string{"a", "bc"}}) {
		t.Error("Writer.String items are not delimited")
	}
	if mustSum(t, h, nestedHook{1}) == mustSum(t, h, nestedHook{int64(1)}) {
		t.Error("Writer.Value lost the type")
	}
	_, err := h.Sum(struct{ F failing }{})
	if !errors.Is(err, ErrUnhashable) || !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "at .F") {
		t.Errorf("failing hook: err = %v, want unhashable at .F wrapping boom", err)
	}
	_, err = h.Sum(nestedHook{[]any{func() {}}})
	var ue *UnhashableError
	if !errors.As(err, &ue) || ue.Type.Kind() != reflect.Func {
		t.Errorf("nested unhashable through Writer.Value: err = %v", err)
	}
	_, err = New(WithMaxDepth(1)).Sum(nestedHook{[]int{1}})
	if err != nil {
		t.Errorf("Writer.Value at depth 1: %v", err)
	}
	_, err = New(WithMaxDepth(1)).Sum(nestedHook{[]string{"a"}})
	if !errors.Is(err, ErrUnhashable) {
		t.Errorf("Writer.Value does not count depth: err = %v", err)
	}
}

// foreign stands for a type the user does not own.
type foreign struct {
	ID    int
	noise float64
}

// TestRegistry checks Register on private and default registries.
func TestRegistry(t *testing.T) {
	r := NewRegistry()
	plain := New(WithRegistry(r))
	x, y := foreign{ID: 1, noise: 1}, foreign{ID: 1, noise: 2}
	if mustSum(t, plain, x) == mustSum(t, plain, y) {
		t.Fatal("unregistered: noise should matter")
	}
	before := mustSum(t, plain, x)
	Register(r, func(w *Writer, f foreign) error {
		w.Int(int64(f.ID))
		return nil
	})
	if mustSum(t, plain, x) != mustSum(t, plain, y) {
		t.Error("registered function not used")
	}
	if mustSum(t, plain, x) == before {
		t.Error("registering did not change the sum computed before")
	}
	if mustSum(t, plain, []*foreign{&x}) != mustSum(t, plain, []*foreign{&y}) {
		t.Error("registered function not used behind pointers in slices")
	}
	if mustSum(t, New(), x) == mustSum(t, New(), y) {
		t.Error("a private registry leaked into the default one")
	}
	// The registry wins over the type's own method.
	Register(r, func(w *Writer, c cached) error { w.String("constant"); return nil })
	if mustSum(t, plain, cached{Key: "a"}) != mustSum(t, plain, cached{Key: "b"}) {
		t.Error("registry did not win over the Fingerprint method")
	}
	// And over built-in rules.
	Register(r, func(w *Writer, tm time.Time) error { w.Int(tm.Unix()); return nil })
	if mustSum(t, plain, time.Unix(5, 1)) != mustSum(t, plain, time.Unix(5, 2)) {
		t.Error("registry did not win over the time.Time rule")
	}
	errNope := errors.New("nope")
	Register(r, func(w *Writer, f foreign) error { return errNope })
	if _, err := plain.Sum(map[int]foreign{1: x}); !errors.Is(err, errNope) || !errors.Is(err, ErrUnhashable) {
		t.Errorf("failing registered function: err = %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Register of an interface type did not panic")
		}
	}()
	Register(r, func(w *Writer, s fmt.Stringer) error { return nil })
}

// TestDefaultRegistry checks Register on DefaultRegistry with a type used
// nowhere else.
func TestDefaultRegistry(t *testing.T) {
	type onlyHere struct{ A, B int }
	Register(DefaultRegistry, func(w *Writer, v onlyHere) error { w.Int(int64(v.A)); return nil })
	s1, _ := Of(onlyHere{1, 2})
	s2, _ := Of(onlyHere{1, 3})
	if s1 != s2 {
		t.Error("DefaultRegistry not used by Of")
	}
}

// TestTime checks the time.Time rule: the instant, and the offset and
// name of the zone in effect; not the *Location.
func TestTime(t *testing.T) {
	base := time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
	loc := time.FixedZone("X", 3600)
	paris1, err1 := time.LoadLocation("Europe/Paris")
	paris2, err2 := time.LoadLocation("Europe/Paris")
	berlin, err3 := time.LoadLocation("Europe/Berlin")
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		x, y  time.Time
		equal bool
	}{
		{"monotonic ignored", time.Now(), time.Time{}, false},
		{"same instant, same location", base, base.Add(time.Hour).Add(-time.Hour), true},
		{"same instant, other location", base, base.In(loc), false},
		{"other instant", base, base.Add(time.Nanosecond), false},
		{"same zone, two *Locations", base.In(time.FixedZone("X", 3600)), base.In(loc), true},
		{"same zone, two loads", base.In(paris1), base.In(paris2), true},
		{"same offset and name, another place", base.In(paris1), base.In(berlin), true},
		{"same offset, other name", base.In(time.FixedZone("Y", 3600)), base.In(loc), false},
		{"same name, other offset", base.In(time.FixedZone("X", 7200)), base.In(loc), false},
		// time.Local is named "Local" on every machine: two machines with
		// different zones must not share a version.
		{"two zones both named Local", base.In(time.FixedZone("Local", 3600)), base.In(time.FixedZone("Local", -5*3600)), false},
		{"a named zone and a fixed one, same offset and name", base.In(paris1), base.In(time.FixedZone("CET", 3600)), true},
		{"summer time", time.Date(2024, 7, 1, 0, 0, 0, 0, paris1), time.Date(2024, 7, 1, 0, 0, 0, 0, paris1).In(time.FixedZone("CET", 3600)), false},
		{"UTC, and no location", base, time.Unix(base.Unix(), 6).In(time.FixedZone("UTC", 0)), true},
	}
	now := time.Now()
	cases[0].y, cases[0].x, cases[0].equal = now.Round(0), now, true
	for _, c := range cases {
		eq := mustSum(t, New(), c.x) == mustSum(t, New(), c.y)
		if eq != c.equal {
			t.Errorf("%s: equal = %v, want %v (%v, %v)", c.name, eq, c.equal, c.x, c.y)
		}
	}
	type withLoc struct{ L *time.Location }
	l1, _ := time.LoadLocation("UTC")
	if mustSum(t, New(), withLoc{l1}) != mustSum(t, New(), withLoc{time.UTC}) {
		t.Error("UTC loaded and time.UTC differ")
	}
	if mustSum(t, New(), withLoc{paris1}) != mustSum(t, New(), withLoc{paris2}) {
		t.Error("a location loaded twice differs")
	}
	if mustSum(t, New(), withLoc{time.FixedZone("Local", 3600)}) == mustSum(t, New(), withLoc{time.FixedZone("Local", 7200)}) {
		t.Error("two locations named Local with other rules have the same sum")
	}
	if mustSum(t, New(), withLoc{paris1}) == mustSum(t, New(), withLoc{berlin}) {
		t.Error("Europe/Paris and Europe/Berlin have the same sum")
	}
	type locked struct {
		mu sync.Mutex
		N  int
	}
	var l locked
	free := mustSum(t, New(), &l)
	l.mu.Lock()
	if mustSum(t, New(), &l) != free {
		t.Error("mutex state changed the sum")
	}
	l.mu.Unlock()
}

// machineLocal returns the zone name as time.Local is on a machine whose
// zone is set by /etc/localtime: the zone's rules, named "Local".
func machineLocal(t *testing.T, zone string) *time.Location {
	z, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	l := new(time.Location)
	*l = *z
	f := reflect.ValueOf(l).Elem().FieldByName("name")
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().SetString("Local")
	if l.String() != "Local" {
		t.Fatal("cannot name a location Local")
	}
	return l
}

// TestTimeLocalAcrossMachines: two machines sharing a cache, one in Paris
// and one in New York, both with time.Local named "Local". A time in Local
// must differ between them, and equal the same time in the named zone.
func TestTimeLocalAcrossMachines(t *testing.T) {
	paris, ny := machineLocal(t, "Europe/Paris"), machineLocal(t, "America/New_York")
	at := time.Unix(1700000000, 5)
	if mustSum(t, New(), at.In(paris)) == mustSum(t, New(), at.In(ny)) {
		t.Error("a time in Local has the same sum on machines in Paris and New York")
	}
	type withLoc struct{ L *time.Location }
	if mustSum(t, New(), withLoc{paris}) == mustSum(t, New(), withLoc{ny}) {
		t.Error("time.Local has the same sum on machines in Paris and New York")
	}
	named, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	if mustSum(t, New(), at.In(paris)) != mustSum(t, New(), at.In(named)) {
		t.Error("a time in Local (Paris) differs from the same time in Europe/Paris")
	}
	// time.Local itself hashes by its rules too.
	if _, err := Of(withLoc{time.Local}); err != nil {
		t.Fatal(err)
	}
}

// TestDeterminism checks stable sums across calls, goroutines and hashers,
// and pins a few sums so an accidental encoding change is caught.
func TestDeterminism(t *testing.T) {
	v := map[string]any{
		"ints":   []int{1, 2, 3},
		"floats": []float64{1.5, math.NaN()},
		"nested": []map[string]PointXY{{"a": {1, 2}}},
		"when":   time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC),
		"ptr":    &PointAB{3, 4},
	}
	want := mustSum(t, New(), v)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if s, err := Of(v); err != nil || s != want {
					t.Errorf("concurrent sum differs: %v %v", s, err)
					return
				}
			}
		})
	}
	wg.Wait()
	golden := []struct {
		v    any
		want string
	}{
		{1, "cac326b2d262633844297e80dbcef63e06257fd12d6e6add0f077bcad3e466fd"},
		{"1", "bf04a07b0fa8ee712c98a780f36050d93ef2593eed455de46e04abf49c7c1864"},
		{nil, "e04d1db0ac1301a34604dd0693ca04fb4f1d81b4f87fa85ce52ce016089c0011"},
		{[]int(nil), "c14df73dbe7284feff8ee249b495fb9a7450286789aa7d922c6bbde380043e5a"},
		{[]int{}, "61d86841e515e71ceef504ad5e368109dceaa2185f0801a17163ed1ad09b7678"},
		{[]string{"a"}, "1acaef415dd0e16ace47ffe61758174588410bc7815cffb2984a2996aa4083f6"},
		{map[string]int{"a": 1}, "01b365ca4f2d329ceafc61cc835dcde234ca28e542ca00a1e32894e439bd05df"},
		{new(int), "22baa29c1afece9085831c2cb4ae52b299c7f98d5c359a688527a919b6c55793"},
		{math.Copysign(0, -1), "343862c3a8908c351253cc5be1fafce99bfb7bd3f376c2f8a2172c15fd12e8fb"},
		{[]float64{math.Copysign(0, -1)}, "cb8ecad5afe02931dea261c2b43c287b97cc1b410c4e4ffb3879e32f3f3b91cc"},
	}
	for _, g := range golden {
		if got := mustSum(t, New(), g.v).String(); got != g.want {
			t.Errorf("Of(%#v) = %s, want %s (the encoding changed: bump valueContext)", g.v, got, g.want)
		}
	}
}

// TestAllocs checks that small values cost no allocation.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	var i any = 123456
	var s any = "a short string"
	var f any = []float64{1, 2, 3}
	var p any = &PointXY{1, 2}
	Of(i)
	Of(s)
	Of(f)
	Of(p)
	for name, v := range map[string]any{"int": i, "string": s, "[]float64": f, "*struct": p} {
		if n := testing.AllocsPerRun(100, func() { _, _ = Of(v) }); n != 0 {
			t.Errorf("Of(%s) allocates %v times", name, n)
		}
	}
}

func BenchmarkFloat64Slice80MB(b *testing.B) {
	v := make([]float64, 10<<20)
	for i := range v {
		v[i] = float64(i) * 1.5
	}
	var x any = v
	b.SetBytes(int64(len(v) * 8))
	for b.Loop() {
		if _, err := Of(x); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(v)*8)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

func BenchmarkInt(b *testing.B) {
	var x any = 123456
	b.SetBytes(8)
	for b.Loop() {
		_, _ = Of(x)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/value")
}

func BenchmarkString(b *testing.B) {
	var x any = "flowcache: a short string key"
	b.SetBytes(int64(len(x.(string))))
	for b.Loop() {
		_, _ = Of(x)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/value")
}

func BenchmarkMap1000(b *testing.B) {
	m := make(map[string]int, 1000)
	size := 0
	for i := range 1000 {
		k := fmt.Sprintf("key-%04d", i)
		m[k] = i
		size += len(k) + 8
	}
	var x any = m
	b.SetBytes(int64(size))
	for b.Loop() {
		_, _ = Of(x)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/entry")
}

type smallRow struct {
	ID    int
	Name  string
	Score float64
}

func BenchmarkStructSlice10k(b *testing.B) {
	v := make([]smallRow, 10000)
	size := 0
	for i := range v {
		v[i] = smallRow{ID: i, Name: fmt.Sprintf("row-%d", i), Score: float64(i) / 3}
		size += 16 + len(v[i].Name)
	}
	var x any = v
	b.SetBytes(int64(size))
	for b.Loop() {
		_, _ = Of(x)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(v)), "ns/elem")
}

// hidden keeps every kind of part behind unexported fields, which reflection
// marks read-only.
type hidden struct {
	t   time.Time
	c   cached
	p   *ptrHook
	m   map[string]any
	a   any
	arr [2]cached
	raw [3]float64
	f   foreign
}

// TestUnexportedParts checks custom rules, maps, interfaces and raw arrays
// reached through unexported fields, at top level, in interfaces and in maps.
func TestUnexportedParts(t *testing.T) {
	mk := func(sec int64, key string, raw float64) hidden {
		return hidden{
			t:   time.Unix(sec, 0).UTC(),
			c:   cached{Key: key, cache: map[string]int{"n": int(sec)}},
			p:   &ptrHook{N: int(sec)},
			m:   map[string]any{"k": []any{hidden{c: cached{Key: key}}}},
			a:   hidden{t: time.Unix(sec, 0).UTC()},
			arr: [2]cached{{Key: key}, {Key: key}},
			raw: [3]float64{raw, 1, 2},
			f:   foreign{ID: 1, noise: raw},
		}
	}
	r := NewRegistry()
	Register(r, func(w *Writer, f foreign) error { w.Int(int64(f.ID)); return nil })
	h := New(WithRegistry(r), WithMaxDepth(10))
	wrap := func(x hidden) []any {
		return []any{x, &x, map[int]hidden{1: x}, []any{x}, struct{ in hidden }{x}}
	}
	base := mustSum(t, h, wrap(mk(1, "a", 0)))
	if got := mustSum(t, h, wrap(mk(1, "a", 0))); got != base {
		t.Error("equal values behind unexported fields differ")
	}
	if mustSum(t, h, wrap(mk(1, "a", math.Copysign(0, -1)))) == base {
		t.Error("-0 in a raw array behind an unexported field sums as +0")
	}
	if mustSum(t, h, wrap(mk(2, "a", 0))) == base {
		t.Error("changed time behind an unexported field did not change the sum")
	}
	if mustSum(t, h, wrap(mk(1, "b", 0))) == base {
		t.Error("changed hooked value behind an unexported field did not change the sum")
	}
	if mustSum(t, h, wrap(mk(1, "a", 5))) == base {
		t.Error("changed raw array behind an unexported field did not change the sum")
	}
}
