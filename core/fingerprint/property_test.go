package fingerprint

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
	"unsafe"
)

// record is a struct with the kinds the generator mixes.
type record struct {
	ID      int64
	Name    string
	Tags    map[string]bool
	Values  []float64
	Matrix  [2][3]int32
	Next    *record
	Any     any
	When    time.Time
	private []uint16
	Hooked  cached
}

// gen makes random values of many types, nested up to depth levels.
type gen struct{ r *rand.Rand }

func (g gen) float() float64 {
	switch g.r.IntN(8) {
	case 0:
		return math.NaN()
	case 1:
		return math.Copysign(0, -1)
	case 2:
		return math.Inf(1)
	}
	return g.r.NormFloat64()
}

func (g gen) str() string {
	b := make([]byte, g.r.IntN(12))
	for i := range b {
		b[i] = byte(g.r.IntN(256))
	}
	return string(b)
}

func (g gen) value(depth int) any {
	n := 8
	if depth > 0 {
		n = 13
	}
	switch g.r.IntN(n) {
	case 0:
		return g.r.Int()
	case 1:
		return g.str()
	case 2:
		return g.float()
	case 3:
		return g.r.IntN(2) == 1
	case 4:
		v := make([]float64, g.r.IntN(40))
		for i := range v {
			v[i] = g.float()
		}
		return v
	case 5:
		return []byte(g.str())
	case 6:
		return complex64(complex(g.float(), g.float()))
	case 7:
		return time.Unix(g.r.Int64N(1<<40), g.r.Int64N(1e9)).In(time.FixedZone(g.str(), g.r.IntN(40000)))
	case 8:
		v := make([]any, g.r.IntN(5))
		for i := range v {
			v[i] = g.value(depth - 1)
		}
		return v
	case 9:
		m := map[string]any{}
		for range g.r.IntN(6) {
			m[g.str()] = g.value(depth - 1)
		}
		return m
	case 10:
		return g.record(depth)
	case 11:
		x := g.value(depth - 1)
		return &x
	default:
		m := map[[2]int]*record{}
		for range g.r.IntN(4) {
			m[[2]int{g.r.IntN(9), g.r.IntN(9)}] = g.record(depth - 1)
		}
		return m
	}
}

func (g gen) record(depth int) *record {
	if depth <= 0 || g.r.IntN(3) == 0 {
		return nil
	}
	rec := &record{
		ID:     g.r.Int64(),
		Name:   g.str(),
		Values: make([]float64, g.r.IntN(10)),
		When:   time.Unix(g.r.Int64N(1<<40), 0).UTC(),
		Hooked: cached{Key: g.str(), cache: map[string]int{g.str(): 1}},
	}
	for i := range rec.Values {
		rec.Values[i] = g.float()
	}
	if g.r.IntN(2) == 0 {
		rec.Tags = map[string]bool{g.str(): true, g.str(): false}
	}
	for i := range rec.Matrix {
		for j := range rec.Matrix[i] {
			rec.Matrix[i][j] = g.r.Int32()
		}
	}
	if g.r.IntN(2) == 0 {
		rec.private = []uint16{uint16(g.r.IntN(1 << 16))}
	}
	rec.Next = g.record(depth - 1)
	rec.Any = g.value(depth - 1)
	return rec
}

// deepCopy copies v through pointers, slices, maps and interfaces, into
// freshly allocated memory, unexported fields included. Float bits are
// copied as they are (NaN payloads and -0 included).
func deepCopy(v reflect.Value) reflect.Value {
	out := reflect.New(v.Type()).Elem()
	copyInto(out, v)
	return out
}

// writable returns dst without the read-only flag of unexported fields.
func writable(dst reflect.Value) reflect.Value {
	return reflect.NewAt(dst.Type(), unsafe.Pointer(dst.UnsafeAddr())).Elem()
}

func copyInto(dst, src reflect.Value) {
	dst = writable(dst)
	if src.CanAddr() {
		src = reflect.NewAt(src.Type(), unsafe.Pointer(src.UnsafeAddr())).Elem()
	}
	switch src.Kind() {
	case reflect.Pointer:
		if !src.IsNil() {
			p := reflect.New(src.Type().Elem())
			copyInto(p.Elem(), src.Elem())
			dst.Set(p)
		}
	case reflect.Slice:
		if !src.IsNil() {
			s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
			for i := range src.Len() {
				copyInto(s.Index(i), src.Index(i))
			}
			dst.Set(s)
		}
	case reflect.Map:
		if !src.IsNil() {
			m := reflect.MakeMap(src.Type())
			it := src.MapRange()
			for it.Next() {
				m.SetMapIndex(deepCopy(it.Key()), deepCopy(it.Value()))
			}
			dst.Set(m)
		}
	case reflect.Interface:
		if !src.IsNil() {
			dst.Set(deepCopy(src.Elem()))
		}
	case reflect.Struct:
		if src.Type() == reflect.TypeFor[time.Time]() {
			dst.Set(src)
			return
		}
		for i := range src.NumField() {
			copyInto(dst.Field(i), src.Field(i))
		}
	case reflect.Array:
		for i := range src.Len() {
			copyInto(dst.Index(i), src.Index(i))
		}
	default:
		dst.Set(src)
	}
}

// TestPropertyCopyEqual: Sum(v) == Sum(deep copy of v) for random values.
func TestPropertyCopyEqual(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(7, 11))}
	h := New(WithMaxDepth(20))
	distinct := map[Sum]bool{}
	for i := range 2000 {
		v := g.value(4)
		c := deepCopy(reflect.ValueOf(&v).Elem()).Interface()
		s1, err1 := h.Sum(v)
		s2, err2 := h.Sum(c)
		if err1 != nil || err2 != nil {
			t.Fatalf("value %d (%T): errors %v, %v", i, v, err1, err2)
		}
		if s1 != s2 {
			t.Fatalf("value %d (%T): copy sums differently\nvalue: %#v", i, v, v)
		}
		distinct[s1] = true
	}
	if len(distinct) < 1500 {
		t.Errorf("only %d distinct sums for 2000 random values: the generator or the hash is degenerate", len(distinct))
	}
}

// TestPropertyMutation: changing one part of a random record changes its sum.
func TestPropertyMutation(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(5, 6))}
	h := New(WithMaxDepth(20))
	mutations := []func(*record){
		func(r *record) { r.ID++ },
		func(r *record) { r.Name += "x" },
		func(r *record) { r.Values = append(r.Values, 1) },
		func(r *record) { r.Matrix[1][2]++ },
		func(r *record) { r.When = r.When.Add(time.Nanosecond) },
		func(r *record) { r.private = append(r.private, 1) },
		func(r *record) { r.Hooked.Key += "y" },
		func(r *record) { r.Any = []any{r.Any} },
		func(r *record) { r.Next = &record{} },
	}
	for i := range 300 {
		var rec *record
		for rec == nil {
			rec = g.record(3)
		}
		before := mustSum(t, h, rec)
		for j, m := range mutations {
			c := deepCopy(reflect.ValueOf(rec)).Interface().(*record)
			if rec.Next != nil && j == len(mutations)-1 {
				continue
			}
			m(c)
			if mustSum(t, h, c) == before {
				t.Fatalf("record %d: mutation %d did not change the sum", i, j)
			}
		}
	}
}

// FuzzStringSplits: the items of a slice of strings are delimited.
func FuzzStringSplits(f *testing.F) {
	f.Add("ab", "c", "a", "bc")
	f.Add("", "x", "x", "")
	f.Add("\x00\x00\x00\x00\x00\x00\x00\x00", "", "", "\x00\x00\x00\x00\x00\x00\x00\x00")
	f.Fuzz(func(t *testing.T, a, b, c, d string) {
		x, _ := Of([]string{a, b})
		y, _ := Of([]string{c, d})
		if (a == c && b == d) != (x == y) {
			t.Errorf("[%q %q] vs [%q %q]: equal sums = %v", a, b, c, d, x == y)
		}
		z, _ := Of(fmt.Sprint(a, b))
		if z == x {
			t.Error("a slice and a string have the same sum")
		}
	})
}
