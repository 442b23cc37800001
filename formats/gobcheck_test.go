package formats_test

import (
	"bytes"
	"encoding/gob"
	"errors"
	"io"
	"iter"
	"math"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/core/fingerprint"
	"github.com/flowcache/flowcache/formats"
	"github.com/flowcache/flowcache/internal/allocguard"
)

// validator is the gob format's core.FormatValidator.
func validator(t testing.TB) core.FormatValidator {
	v, ok := formats.Gob().(core.FormatValidator)
	if !ok {
		t.Fatal("the gob format does not implement core.FormatValidator")
	}
	return v
}

// onlyReader hides Len and the other methods that tell a reader's size.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// readers returns the ways a decoder may be handed b: knowing its length
// (a bytes.Reader) or not, and one byte at a time.
func readers(b []byte) map[string]func() io.Reader {
	return map[string]func() io.Reader{
		"sized":   func() io.Reader { return bytes.NewReader(b) },
		"unsized": func() io.Reader { return onlyReader{bytes.NewReader(b)} },
		"bytewise": func() io.Reader {
			return onlyReader{&oneByteReader{b: b}}
		},
	}
}

type oneByteReader struct{ b []byte }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

// mustCorrupt decodes b as a value of type typ under an allocation bound
// of 64 bytes per input byte (plus allocguard's allowance) and checks that
// Decode and Validate both fail with an error wrapping core.ErrCorrupt.
func mustCorrupt(t *testing.T, b []byte, typ reflect.Type, want string) {
	t.Helper()
	for name, r := range readers(b) {
		var err error
		allocguard.Run(t, allocguard.Bound(len(b), 64), func() {
			_, err = formats.Gob().Decode(r(), typ)
		})
		if !errors.Is(err, core.ErrCorrupt) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Decode = %v, want an error wrapping core.ErrCorrupt saying %q", name, err, want)
		}
		allocguard.Run(t, allocguard.Bound(len(b), 64), func() {
			err = validator(t).Validate(r())
		})
		if !errors.Is(err, core.ErrCorrupt) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Validate = %v, want an error wrapping core.ErrCorrupt saying %q", name, err, want)
		}
	}
}

func map3000() map[string]int {
	m := map[string]int{}
	for i := range 3000 {
		m["key"+strconv.Itoa(i)] = i
	}
	return m
}

// TestGobMapCountBitFlip: a map[string]int
// of 3,000 keys, one bit flipped in the count of the map. encoding/gob
// read the count as 196,609,899 and sized the map from it (a fatal out of
// memory under a 4 GB limit); Decode now refuses the stream before gob
// sees it.
func TestGobMapCountBitFlip(t *testing.T) {
	var buf bytes.Buffer
	if err := formats.Gob().Encode(&buf, map3000()); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// The count: 3000 is sent as fe 0b b8 (two bytes follow), after the
	// value message's length and type id and the singleton's zero.
	at := bytes.Index(b, []byte{0x00, 0xfe, 0x0b, 0xb8}) + 1
	if at <= 0 {
		t.Fatalf("no map count in % x", b[:40])
	}
	flipped := bytes.Clone(b)
	flipped[at] ^= 0x02 // fe -> fc: four bytes follow, 0x0bb8____
	count := uint64(0)
	for _, c := range flipped[at+1 : at+5] {
		count = count<<8 | uint64(c)
	}
	if count < 190e6 || count > 200e6 {
		t.Fatalf("the flipped count is %d, not the ~200M of the finding", count)
	}
	mustCorrupt(t, flipped, reflect.TypeFor[map[string]int](), "map of 196")

	// Every other single-bit flip of the count's bytes fails as well (or
	// decodes to another value the cache's fingerprint check rejects):
	// none may allocate past the bound or panic.
	for i := at; i < at+3; i++ {
		for bit := range 8 {
			c := bytes.Clone(b)
			c[i] ^= 1 << bit
			allocguard.Run(t, allocguard.Bound(len(c), 64), func() {
				formats.Gob().Decode(bytes.NewReader(c), reflect.TypeFor[map[string]int]())
			})
		}
	}
}

// TestGobHugeCountValidFraming crafts a stream whose messages are all
// well framed (lengths right) but whose map count is 2^62.
func TestGobHugeCountValidFraming(t *testing.T) {
	var raw bytes.Buffer
	if err := gob.NewEncoder(&raw).Encode(map[string]int{"a": 1, "b": 2}); err != nil {
		t.Fatal(err)
	}
	b := raw.Bytes()
	// Message 1 defines the map type; message 2 is: length, type id
	// (ff 80), 00, count 02, entries.
	first := int(b[0]) + 1
	msg := b[first+1:]
	// (The type id is two bytes, its value depends on the types this
	// process encoded before.)
	if msg[0] != 0xff || !bytes.Equal(msg[2:4], []byte{0x00, 0x02}) {
		t.Fatalf("unexpected value message % x", msg)
	}
	huge := []byte{0xf8, 0x40, 0, 0, 0, 0, 0, 0, 0} // 1<<62
	body := append(append(bytes.Clone(msg[:3]), huge...), msg[4:]...)
	crafted := append(append(bytes.Clone(b[:first]), byte(len(body))), body...)
	mustCorrupt(t, crafted, reflect.TypeFor[map[string]int](), "map of 4611686018427387904 elements")

	// Slices, strings and arrays the same way.
	for _, c := range []struct {
		v    any
		want string
	}{
		{[]int{1, 2}, "slice of 4611686018427387904"},
		{"ab", "string of 4611686018427387904"},
		{[]string{"ab"}, "string of"},
		{[2]int{1, 2}, "array"},
	} {
		raw.Reset()
		if err := gob.NewEncoder(&raw).Encode(c.v); err != nil {
			t.Fatal(err)
		}
		b := raw.Bytes()
		// The last message: find its count (after "type id 00", or for a
		// string after the id 0c and 00) and replace it.
		start := 0
		for {
			n := int(b[start])
			if start+1+n == len(b) {
				break
			}
			start += 1 + n
		}
		msg := b[start+1:]
		i := bytes.IndexByte(msg[1:], 0x00) + 2 // after the type id and the singleton's zero
		if reflect.TypeOf(c.v).Kind() == reflect.Slice && reflect.TypeOf(c.v).Elem().Kind() == reflect.String {
			i++ // the slice count (1) stays; the string's length follows
		}
		body := append(append(bytes.Clone(msg[:i]), huge...), msg[i+1:]...)
		crafted := append(append(bytes.Clone(b[:start]), byte(len(body))), body...)
		mustCorrupt(t, crafted, reflect.TypeOf(c.v), c.want)
	}
}

// TestGobMessageLength: a message that claims more bytes than the stream
// has fails without allocating them.
func TestGobMessageLength(t *testing.T) {
	var raw bytes.Buffer
	gob.NewEncoder(&raw).Encode([]int{1, 2, 3})
	b := raw.Bytes()
	// The first message's length, 1 GB.
	crafted := append([]byte{0xfc, 0x40, 0, 0, 0}, b[1:]...)
	mustCorrupt(t, crafted, reflect.TypeFor[[]int](), "")
	// A reader that tells its length fails at the length.
	err := validator(t).Validate(bytes.NewReader(crafted))
	if !strings.Contains(err.Error(), "message of 1073741824 bytes, but only 20 remain") {
		t.Errorf("Validate = %v", err)
	}
}

// corpus are values of many shapes, each encoded by Encode and checked.
func corpus() []any {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	five := 5.0
	return []any{
		42, int8(-3), uint64(1 << 60), 3.5, math.Copysign(0, -1), "héllo", true, []byte("raw\x00"), complex(1, -2),
		[]float64{1, 2.5, -3}, []string{"a", "", "c"}, map[string]int{"a": 1, "b": 2}, map[int]string{-1: "x"},
		[2]string{"x", "y"}, [3][2]int{{1, 2}, {3, 4}, {5, 6}}, [0]int{},
		Row{Name: "n", Score: 1.5, At: at, Tags: []string{"t"}, Inner: &Inner{N: 7}},
		[]Row{{Name: "a", At: at}, {Name: "b", Tags: []string{}}}, &Inner{N: 3}, at,
		[]Tagged{{ID: 1, Label: "x", Attrs: map[string]string{"k": "v"}, Score: &five}, {ID: 2}},
		Recursive{Val: 1, Children: []Recursive{{Val: 2}, {Val: 3, Children: []Recursive{{Val: 4}}}}},
		map[string][]map[string]int{"a": {{"x": 1}, {}}}, [][]int{nil, {}, {1}},
		[]map[string]int{nil, {}, {"a": 1}}, table(100),
		[]any{1, "two", 3.0, []byte("x"), ifaceA{N: 1}, ifaceA{N: 2}, nil},
		map[string]any{"a": ifaceA{N: 1}, "b": ifaceB{S: "s", Any: ifaceA{N: 3}}},
		ifaceB{S: "deep", Any: ifaceB{Any: ifaceB{Any: []any{ifaceA{N: 9}, map[string]any{"z": ifaceC{F: []float64{1}}}}}}},
		struct{ V any }{V: time.Duration(5)},
		[4]byte{1, 2, 3, 255}, struct{ B [3]uint8 }{B: [3]uint8{7, 0, 9}}, big.NewInt(-12345678901234),
		map[[2]int]string{{1, 2}: "a", {3, 4}: "b"}, map[Inner]Row{{N: 1}: {Name: "x"}, {N: 2}: {}},
		net.ParseIP("2001:db8::1"), []net.IP{net.ParseIP("10.0.0.1")}, &url.URL{Scheme: "https", Host: "h", Path: "/p"},
		Embedded{Inner: Inner{N: 1}, Extra: []int{1, 2}}, []complex64{1 + 2i, -3i}, [][]byte{nil, {}, {1}},
		map[string]*Inner{"a": {N: 1}}, struct{ P **int }{P: func() **int { x := 3; p := &x; return &p }()}, []time.Time{time.Unix(1, 2).UTC()},
	}
}

type ifaceA struct{ N int }
type ifaceB struct {
	S   string
	Any any
}
type ifaceC struct{ F []float64 }

func init() {
	gob.Register(ifaceA{})
	gob.Register(ifaceB{})
	gob.Register(ifaceC{})
	gob.Register([]any{})
	gob.Register(map[string]any{})
	gob.Register(time.Duration(0))
}

func sameValue(t *testing.T, got, want any) {
	t.Helper()
	if reflect.TypeOf(got) != reflect.TypeOf(want) {
		t.Fatalf("decoded a %T, want %T", got, want)
	}
	s1, err1 := fingerprint.Of(want)
	s2, err2 := fingerprint.Of(got)
	if err1 != nil || err2 != nil || s1 != s2 {
		t.Fatalf("%T: the value loaded back differs (%v %v):\n got %#v\nwant %#v", want, err1, err2, got, want)
	}
}

// TestGobValidateCorpus: everything Encode writes passes Validate and
// decodes back equal, through every kind of reader; every prefix fails.
func TestGobValidateCorpus(t *testing.T) {
	for i, v := range corpus() {
		var buf bytes.Buffer
		if err := formats.Gob().Encode(&buf, v); err != nil {
			t.Fatalf("%d: Encode(%T): %v", i, v, err)
		}
		b := buf.Bytes()
		for name, r := range readers(b) {
			if err := validator(t).Validate(r()); err != nil {
				t.Fatalf("%d %s: Validate(%T) = %v\n% x", i, name, v, err, b)
			}
			got, err := formats.Gob().Decode(r(), reflect.TypeOf(v))
			if err != nil {
				t.Fatalf("%d %s: Decode(%T) = %v", i, name, v, err)
			}
			sameValue(t, got, v)
		}
		for n := range len(b) {
			if err := validator(t).Validate(bytes.NewReader(b[:n])); err == nil || !errors.Is(err, core.ErrCorrupt) {
				t.Fatalf("%d: Validate of %d of %d bytes of %T = %v, want ErrCorrupt", i, n, len(b), v, err)
			}
			if _, err := formats.Gob().Decode(onlyReader{bytes.NewReader(b[:n])}, reflect.TypeOf(v)); err == nil {
				t.Fatalf("%d: Decode of %d of %d bytes of %T succeeded", i, n, len(b), v)
			}
		}
	}
}

// TestGobBitFlips flips every bit of a few encodings: Decode fails or
// loads a value (which the cache's fingerprint check then judges), never
// panics, never allocates past the bound; Validate and Decode agree on
// what they refuse for the framing they share.
func TestGobBitFlips(t *testing.T) {
	for _, v := range []any{map3000(), []Row{{Name: "a", Tags: []string{"x", ""}}, {Score: math.Copysign(0, -1)}},
		corpus()[len(corpus())-3], table(50)} {
		var buf bytes.Buffer
		if err := formats.Gob().Encode(&buf, v); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		typ := reflect.TypeOf(v)
		step := max(1, len(b)/150)
		for i := 0; i < len(b); i += step {
			for bit := range 8 {
				c := bytes.Clone(b)
				c[i] ^= 1 << bit
				allocguard.Run(t, allocguard.Bound(len(c), 64), func() {
					formats.Gob().Decode(bytes.NewReader(c), typ)
					validator(t).Validate(bytes.NewReader(c))
				})
			}
		}
	}
}

// loadEach validates and decodes b, a stored result, as a value of type
// typ through every kind of reader (see readers), and yields each value
// decoded with the reader's name; a failure names the result.
func loadEach(t *testing.T, name string, b []byte, typ reflect.Type) iter.Seq2[string, any] {
	return func(yield func(string, any) bool) {
		for rname, r := range readers(b) {
			if err := validator(t).Validate(r()); err != nil {
				t.Errorf("%s %s: Validate = %v", name, rname, err)
			}
			got, err := formats.Gob().Decode(r(), typ)
			if err != nil {
				t.Fatalf("%s %s: Decode = %v", name, rname, err)
			}
			if !yield(rname, got) {
				return
			}
		}
	}
}

// TestGobLegacyFixtures decodes results written by flowcache before the
// stream was checked and chunked (testdata/gob-legacy, written by the
// formats package of that time): they load back as they were, but for a
// value holding an interface value inside an interface value whose type
// was sent there, which is refused.
func TestGobLegacyFixtures(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	floats := make([]float64, 1000)
	for i := range floats {
		floats[i] = float64(i) / 7
	}
	bs := make([]byte, 5000)
	for i := range bs {
		bs[i] = byte(i * 31)
	}
	want := map[string]any{
		"rows":   []Row{{Name: "a", Score: math.Copysign(0, -1), At: at, Tags: []string{}, Inner: &Inner{N: 7}}, {Name: "b", Tags: []string{"x", ""}}},
		"map":    map[string][]int{"n": nil, "e": {}, "x": {1, 2}},
		"floats": floats,
		"bytes":  bs,
		"any":    []any{ifaceA{N: 1}, "s", 2, ifaceA{N: 3}},
		"nil":    (*Inner)(nil),
	}
	for name, v := range want {
		b, err := os.ReadFile(filepath.Join("testdata", "gob-legacy", name+".gob"))
		if err != nil {
			t.Fatal(err)
		}
		for rname, got := range loadEach(t, name, b, reflect.TypeOf(v)) {
			if !reflect.DeepEqual(got, v) {
				t.Errorf("%s %s: got %#v, want %#v", name, rname, got, v)
			}
			if v != (*Inner)(nil) {
				sameValue(t, got, v)
			}
		}
	}
	// The nested interface value: refused, with the reason.
	b, err := os.ReadFile(filepath.Join("testdata", "gob-legacy", "nested_any.gob"))
	if err != nil {
		t.Fatal(err)
	}
	mustCorrupt(t, b, reflect.TypeFor[ifaceB](), "a type defined inside a value nested in an interface value")
	// Encode writes the same value so that it reads back.
	v := ifaceB{S: "out", Any: ifaceB{S: "in", Any: ifaceA{N: 9}}}
	var buf bytes.Buffer
	if err := formats.Gob().Encode(&buf, v); err != nil {
		t.Fatal(err)
	}
	got, err := formats.Gob().Decode(&buf, reflect.TypeOf(v))
	if err != nil || !reflect.DeepEqual(got, v) {
		t.Fatalf("Decode = %#v, %v", got, err)
	}
}

// TestGobInterfaceAcrossMessages: a plain gob stream (as flowcache wrote
// before primes) whose interface values bring their types' definitions in
// the middle of the value, so that the value spans several messages. It
// is read whole and checked before encoding/gob decodes it (the only case
// that costs a copy), and decodes.
func TestGobInterfaceAcrossMessages(t *testing.T) {
	v := map[string]any{}
	for i := range 2000 {
		switch i % 3 {
		case 0:
			v[strconv.Itoa(i)] = ifaceA{N: i}
		case 1:
			v[strconv.Itoa(i)] = ifaceC{F: []float64{float64(i)}}
		default:
			v[strconv.Itoa(i)] = strings.Repeat("x", i%50)
		}
	}
	var raw bytes.Buffer
	if err := gob.NewEncoder(&raw).Encode(v); err != nil {
		t.Fatal(err)
	}
	b := raw.Bytes()
	for name, r := range readers(b) {
		var got any
		var err error
		allocguard.Run(t, allocguard.Bound(len(b), 64), func() {
			got, err = formats.Gob().Decode(r(), reflect.TypeOf(v))
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sameValue(t, got, v)
		if err := validator(t).Validate(r()); err != nil {
			t.Fatalf("%s: Validate = %v", name, err)
		}
	}
	// Its map count doubled: refused before a map is made.
	at := bytes.Index(b, []byte{0x00, 0xfe, 0x07, 0xd0}) + 1 // 2000
	if at <= 0 {
		t.Fatal("no count")
	}
	c := bytes.Clone(b)
	c[at+1] = 0x7f
	mustCorrupt(t, c, reflect.TypeOf(v), "")
}

// TestGobDepth: values nested deeper than the parser follows are refused
// by Encode (so they are never stored) and by Decode (a crafted stream).
func TestGobDepth(t *testing.T) {
	deep := func(n int) Recursive {
		var r Recursive
		for i := range n {
			r = Recursive{Val: i, Children: []Recursive{r}}
		}
		return r
	}
	var buf bytes.Buffer
	if err := formats.Gob().Encode(&buf, deep(4000)); err != nil {
		t.Fatalf("Encode of a value 4000 deep: %v", err)
	}
	if _, err := formats.Gob().Decode(&buf, reflect.TypeFor[Recursive]()); err != nil {
		t.Fatalf("Decode of a value 4000 deep: %v", err)
	}
	buf.Reset()
	err := formats.Gob().Encode(&buf, deep(6000))
	if err == nil || !strings.Contains(err.Error(), "nested more than") || len(err.Error()) > 1000 {
		t.Fatalf("Encode of a value 6000 deep = %v, want an error saying it is nested too deep", err)
	}
	var raw bytes.Buffer
	if err := gob.NewEncoder(&raw).Encode(deep(6000)); err != nil {
		t.Fatal(err)
	}
	mustCorrupt(t, raw.Bytes(), reflect.TypeFor[Recursive](), "nested more than 10000 deep")
}

type node struct {
	V    int
	Next *node
}

// TestGobDepthList: a linked list (no repair sites, so only the check of
// the encoding sees its depth).
func TestGobDepthList(t *testing.T) {
	list := func(n int) *node {
		var l *node
		for i := range n {
			l = &node{V: i + 1, Next: l}
		}
		return l
	}
	var buf bytes.Buffer
	if err := formats.Gob().Encode(&buf, list(9000)); err != nil {
		t.Fatalf("Encode of a list of 9000: %v", err)
	}
	got, err := formats.Gob().Decode(&buf, reflect.TypeFor[*node]())
	if err != nil || got.(*node).V != 9000 {
		t.Fatalf("Decode of a list of 9000: %v", err)
	}
	buf.Reset()
	err = formats.Gob().Encode(&buf, list(11000))
	if !errors.Is(err, core.ErrUnsupportedType) || !strings.Contains(err.Error(), "nested more than 10000 deep") {
		t.Fatalf("Encode of a list of 11000 = %v, want ErrUnsupportedType", err)
	}
	t.Log(err)
}

type deepAny struct {
	Next *deepAny
	Any  any
}

// TestGobDeepInterfaceDefinition: a plain gob stream whose interface value,
// 30 structs deep, brings its concrete type's definition in messages of
// their own (legal: the value is then read whole before decoding).
func TestGobDeepInterfaceDefinition(t *testing.T) {
	v := &deepAny{Any: ifaceC{F: []float64{1, 2}}}
	for range 30 {
		v = &deepAny{Next: v}
	}
	var raw bytes.Buffer
	if err := gob.NewEncoder(&raw).Encode(v); err != nil {
		t.Fatal(err)
	}
	for name, r := range readers(raw.Bytes()) {
		got, err := formats.Gob().Decode(r(), reflect.TypeOf(v))
		if err != nil || !reflect.DeepEqual(got, v) {
			t.Fatalf("%s: Decode = %v", name, err)
		}
	}
}
