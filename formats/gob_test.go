package formats_test

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

type Floats []float64

type wideRow struct {
	Name  string
	At    time.Time
	Tags  []string
	Score float64
	Ptr   *Inner
}

func wideRows(n int) []wideRow {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	rows := make([]wideRow, n)
	for i := range rows {
		rows[i] = wideRow{Name: "row" + strconv.Itoa(i), At: at.Add(time.Duration(i) * time.Second), Score: float64(i) / 3}
		if i%3 == 0 {
			rows[i].Tags = []string{"a", strings.Repeat("b", i%40)}
		}
		if i%5 == 0 {
			rows[i].Ptr = &Inner{N: i}
		}
		if i%7 == 0 {
			rows[i].Tags = []string{} // a repair note
			rows[i].Score = math.Copysign(0, -1)
		}
	}
	return rows
}

// chunkedValues are values large enough to be written in chunks of k
// bytes (k = 4 MiB, the default, or less in tests: k/64 KiB times fewer
// elements).
func chunkedValues(k int) map[string]any {
	n := func(atDefault int) int { return max(2, atDefault/(4<<20/k)) }
	bs := make([]byte, n(9<<20+123))
	for i := range bs {
		bs[i] = byte(i*7 + i>>9)
	}
	m := map[int64]float64{}
	for i := range n(300_000) {
		m[int64(i)*3-1000] = float64(i) / 9
	}
	ms := map[string][]int{}
	for i := range n(200_000) {
		ms["k"+strconv.Itoa(i)] = make([]int, i%4+1)
	}
	ms["nil"], ms["empty"] = nil, []int{} // and a repair note
	anys := make([]any, n(200_000))
	for i := range anys {
		switch i % 4 {
		case 0:
			anys[i] = ifaceA{N: i}
		case 1:
			anys[i] = "s" + strconv.Itoa(i)
		case 2:
			anys[i] = ifaceB{S: "b", Any: ifaceC{F: []float64{float64(i)}}}
		}
	}
	arrays := make([][4]float64, n(200_000))
	for i := range arrays {
		arrays[i] = [4]float64{float64(i), 1, 2, -float64(i)}
	}
	ptrs := make([]*Inner, n(400_000))
	for i := range ptrs {
		ptrs[i] = &Inner{N: i}
	}
	return map[string]any{
		"floats":   floats(n(1_000_000)),
		"named":    Floats(floats(n(600_000))),
		"bytes":    bs,
		"table":    table(n(120_000)),
		"wide":     wideRows(n(100_000)),
		"intmap":   m,
		"slicemap": ms,
		"anys":     anys,
		"arrays":   arrays,
		"pointers": ptrs,
	}
}

// chunkedHeader reports whether b (a result) starts with the header of a
// chunked value, after any repair notes.
func chunkedHeader(b []byte) bool {
	return bytes.IndexByte(b[:min(len(b), 1<<20)], 0xf6) >= 0 && (b[0] == 0xf6 || b[0] == 0xf7)
}

// TestGobChunkedRoundTrip: large slices and maps are written in chunks
// and load back equal (DeepEqual and fingerprint), through readers that
// tell their length and readers that do not; the same value gives the
// same bytes.
func TestGobChunkedRoundTrip(t *testing.T) {
	t.Run("4MiB", func(t *testing.T) {
		vals := chunkedValues(4 << 20)
		chunkedRoundTrip(t, map[string]any{"floats": vals["floats"], "bytes": vals["bytes"], "table": vals["table"]})
	})
	t.Run("64KiB", func(t *testing.T) {
		defer formats.SetGobChunkBytes(64 << 10)()
		chunkedRoundTrip(t, chunkedValues(64<<10))
	})
}

func chunkedRoundTrip(t *testing.T, vals map[string]any) {
	for name, v := range vals {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := formats.Gob().Encode(&buf, v); err != nil {
				t.Fatal(err)
			}
			b := buf.Bytes()
			if !chunkedHeader(b) {
				t.Fatalf("not written in chunks: % x", b[:16])
			}
			if err := validator(t).Validate(bytes.NewReader(b)); err != nil {
				t.Fatalf("Validate = %v", err)
			}
			for rname, r := range map[string]io.Reader{"sized": bytes.NewReader(b), "unsized": onlyReader{bytes.NewReader(b)}} {
				got, err := formats.Gob().Decode(r, reflect.TypeOf(v))
				if err != nil {
					t.Fatalf("%s: Decode = %v", rname, err)
				}
				if !reflect.DeepEqual(got, v) {
					t.Fatalf("%s: the value loaded back is not DeepEqual", rname)
				}
				s1, _ := fingerprint.Of(v)
				s2, err := fingerprint.Of(got)
				if err != nil || s1 != s2 {
					t.Fatalf("%s: fingerprints differ: %v", rname, err)
				}
			}
			if reflect.TypeOf(v).Kind() == reflect.Slice {
				var again bytes.Buffer
				if err := formats.Gob().Encode(&again, v); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again.Bytes(), b) {
					t.Fatal("two encodings of the same value differ")
				}
			}
		})
	}
}

// TestGobSmallNotChunked: small values keep the plain gob stream (the
// encoding flowcache always wrote), the same bytes as encoding/gob's.
func TestGobSmallNotChunked(t *testing.T) {
	for _, v := range []any{floats(1000), []byte("abc"), table(100), map[string]int{"a": 1}, 7, "s"} {
		var buf, raw bytes.Buffer
		if err := formats.Gob().Encode(&buf, v); err != nil {
			t.Fatal(err)
		}
		if err := gob.NewEncoder(&raw).Encode(v); err != nil {
			t.Fatal(err)
		}
		if buf.Bytes()[0] == 0xf7 {
			// Repair notes first (the table has a -0), then the stream.
			buf.Next(bytes.Index(buf.Bytes(), raw.Bytes()[:4]))
		}
		if reflect.TypeOf(v).Kind() != reflect.Map && !bytes.Equal(buf.Bytes(), raw.Bytes()) {
			t.Errorf("%T: Encode wrote % x, encoding/gob % x", v, buf.Bytes()[:8], raw.Bytes()[:8])
		}
	}
}

// chunkStream writes a chunked result by hand: the header, then the gob
// values given, with one encoder.
func chunkStream(t *testing.T, layout, n uint64, vals ...any) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.Write([]byte{0xf6, 1, 0, byte(layout)})
	buf.Write(binary.AppendUvarint(nil, n))
	enc := gob.NewEncoder(&buf)
	for _, v := range vals {
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestGobChunkedDamage: headers and chunks that do not agree are refused,
// under the allocation bound, whatever the reader.
func TestGobChunkedDamage(t *testing.T) {
	ints := reflect.TypeFor[[]int]()
	ok := chunkStream(t, 1, 4, []int{1, 2}, []int{3, 4})
	got, err := formats.Gob().Decode(bytes.NewReader(ok), ints)
	if err != nil || !reflect.DeepEqual(got, []int{1, 2, 3, 4}) {
		t.Fatalf("a chunked stream by hand: %v, %v", got, err)
	}
	mustCorrupt(t, chunkStream(t, 1, 5, []int{1, 2}, []int{3, 4}), ints, "ends before its last value")
	mustCorrupt(t, chunkStream(t, 1, 3, []int{1, 2}, []int{3, 4}), ints, "a chunk of 2 elements where 1 remain")
	mustCorrupt(t, chunkStream(t, 1, 4, []int{1, 2}, []string{"a", "b"}), ints, "after chunks of type id")
	mustCorrupt(t, chunkStream(t, 1, 4, []int{1, 2}, 3), ints, "a chunk of int, not a slice")
	mustCorrupt(t, chunkStream(t, 1, 2, []int{1, 2}, []int{3}), ints, "trailing bytes")
	mustCorrupt(t, chunkStream(t, 1, 1<<40, []int{1, 2}, []int{3, 4}), ints, "")
	// Duplicate keys: fewer entries than the header says.
	// (Validate, without the key type, cannot tell equal keys apart.)
	dup := chunkStream(t, 2, 4, []string{"a", "a"}, []int{1, 2}, []string{"b", "c"}, []int{3, 4})
	if _, err := formats.Gob().Decode(bytes.NewReader(dup), reflect.TypeFor[map[string]int]()); !errors.Is(err, core.ErrCorrupt) || !strings.Contains(err.Error(), "holds 3 distinct keys") {
		t.Errorf("a chunked map with a key twice: %v", err)
	}
	mustCorrupt(t, chunkStream(t, 2, 2, []string{"a", "b"}, []int{1}), reflect.TypeFor[map[string]int](), "1 map values for 2 keys")
	// A chunked slice into a map, and the other way.
	if _, err := formats.Gob().Decode(bytes.NewReader(ok), reflect.TypeFor[map[int]int]()); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("a chunked slice decoded as a map: %v", err)
	}
	// An unknown header version or layout (3 is a raw slice, see gobraw_test.go).
	for _, h := range [][]byte{{0xf6, 2, 0, 0}, {0xf6, 1, 0, 4, 1}, {0xf6, 1, 0, 1, 0}} {
		bad := append(bytes.Clone(h), ok[5:]...)
		mustCorrupt(t, bad, ints, "header")
	}
}

// peakHeap runs fn and returns the most heap in use while it ran (sampled
// every millisecond), after a collection before it.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	return peak.Load()
}

// BenchmarkGobMemory encodes and decodes 64 MB values of three shapes
// (the encoding goes to a temporary file, and is read back from it, so
// that only the value and what gob holds count) and reports the peak heap
// in use over the value's size: "peak/value" (the value included, 1.0 =
// nothing more than the value). go run ./cmd/flowbench memory measures the
// same through a cache directory, in fresh processes.
func BenchmarkGobMemory(b *testing.B) {
	const size = 64 << 20
	shapes := []struct {
		name string
		make func() any
	}{
		{"floats", func() any { return floats(size / 8) }},
		{"bytes", func() any { return make([]byte, size) }},
		{"structs", func() any { return table(size / 64) }},
	}
	for _, sh := range shapes {
		b.Run(sh.name+"/encode", func(b *testing.B) {
			v := sh.make()
			b.SetBytes(size)
			var peak uint64
			for b.Loop() {
				peak = max(peak, peakHeap(func() {
					if err := formats.Gob().Encode(io.Discard, v); err != nil {
						b.Fatal(err)
					}
				}))
			}
			b.ReportMetric(float64(peak)/size, "peak/value")
		})
		b.Run(sh.name+"/decode", func(b *testing.B) {
			f, err := os.CreateTemp(b.TempDir(), "gob")
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			v := sh.make()
			if err := formats.Gob().Encode(f, v); err != nil {
				b.Fatal(err)
			}
			n, _ := f.Seek(0, io.SeekCurrent)
			typ := reflect.TypeOf(v)
			v = nil
			b.SetBytes(size)
			var peak uint64
			for b.Loop() {
				var got any
				peak = max(peak, peakHeap(func() {
					got, err = formats.Gob().Decode(io.NewSectionReader(f, 0, n), typ)
					if err != nil {
						b.Fatal(err)
					}
				}))
				runtime.KeepAlive(got)
			}
			b.ReportMetric(float64(peak)/size, "peak/value")
		})
	}
}

// BenchmarkGobSmall is the common case: small results, where chunking and
// the check must cost nothing that shows.
func BenchmarkGobSmall(b *testing.B) {
	vals := []struct {
		name string
		v    any
	}{
		{"int", 42},
		{"row", Row{Name: "n", Score: 1.5, At: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Tags: []string{"t"}, Inner: &Inner{N: 7}}},
		{"floats1k", floats(1000)},
		{"table1k", table(1000)},
		{"map100", func() map[string]int {
			m := map[string]int{}
			for i := range 100 {
				m[strconv.Itoa(i)] = i
			}
			return m
		}()},
	}
	for _, c := range vals {
		var buf bytes.Buffer
		if err := formats.Gob().Encode(&buf, c.v); err != nil {
			b.Fatal(err)
		}
		enc := buf.Bytes()
		typ := reflect.TypeOf(c.v)
		b.Run(c.name+"/encode", func(b *testing.B) {
			for b.Loop() {
				if err := formats.Gob().Encode(io.Discard, c.v); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/decode", func(b *testing.B) {
			for b.Loop() {
				if _, err := formats.Gob().Decode(onlyReader{bytes.NewReader(enc)}, typ); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestGobChunkedStillChecked: what Encode refuses in a value (a pointer to
// a zero, a nil pointer in a slice) it refuses in a chunked one, naming
// the element, before anything is written.
func TestGobChunkedStillChecked(t *testing.T) {
	defer formats.SetGobChunkBytes(256)()
	zero := 0.0
	rows := make([]optional, 1000)
	for i := range rows {
		rows[i].Name = strconv.Itoa(i)
	}
	rows[777].Score = &zero
	var buf bytes.Buffer
	err := formats.Gob().Encode(&buf, rows)
	if err == nil || !strings.Contains(err.Error(), "[777].Score points to a zero float64") {
		t.Fatalf("Encode = %v, want the pointer to zero named", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("a refused value wrote %d bytes", buf.Len())
	}
	ptrs := make([]*Inner, 1000)
	for i := range ptrs {
		ptrs[i] = &Inner{N: i}
	}
	ptrs[999] = nil
	if err := formats.Gob().Encode(&buf, ptrs); err == nil || !strings.Contains(err.Error(), "[999] is a nil pointer") {
		t.Fatalf("Encode = %v, want the nil pointer named", err)
	}
	if err := formats.Gob().Check(reflect.TypeFor[[]withUnexported]()); !errors.Is(err, core.ErrUnsupportedType) {
		t.Fatalf("Check = %v", err)
	}
	// And a chunked slice with repair notes loads back as it was.
	rows[777].Score = nil
	rows[5].Tags = &[]string{"x"}
	rows[900].Name = ""
	buf.Reset()
	if err := formats.Gob().Encode(&buf, rows); err != nil {
		t.Fatal(err)
	}
	if !chunkedHeader(buf.Bytes()) {
		t.Fatal("not chunked")
	}
	got, err := formats.Gob().Decode(&buf, reflect.TypeOf(rows))
	if err != nil || !reflect.DeepEqual(got, rows) {
		t.Fatalf("Decode = %v", err)
	}
}
