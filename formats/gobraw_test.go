package formats_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/klauspost/compress/zstd"

	"github.com/flowcache/flowcache/formats"
)

// rawCodes are the element codes of raw slices, by the names of
// chunkedGolden.
var rawCodes = map[string]byte{
	"float64": 1, "float32": 2, "int64": 3, "int32": 4, "int16": 5, "int8": 6,
	"uint64": 7, "uint32": 8, "uint16": 9, "complex128": 10, "complex64": 11,
	"int": 3, "uint": 7, "named": 1, "celsius": 1,
}

// rawHeader is the header Encode writes before a raw slice of n elements
// of code c.
func rawHeader(n int, c byte) []byte {
	h := binary.AppendUvarint([]byte{0xf6, 1, 0, 3}, uint64(n))
	return append(h, c)
}

// sameBits fails unless got and want are slices of the same type whose
// elements have the same bits (NaN, -0 and all).
func sameBits(t *testing.T, got, want any) {
	t.Helper()
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	if g.Type() != w.Type() || g.Len() != w.Len() {
		t.Fatalf("got a %v of %d, want a %v of %d", g.Type(), g.Len(), w.Type(), w.Len())
	}
	bits := func(v reflect.Value) [2]uint64 {
		switch v.Kind() {
		case reflect.Float32, reflect.Float64:
			return [2]uint64{math.Float64bits(v.Float())}
		case reflect.Complex64, reflect.Complex128:
			c := v.Complex()
			return [2]uint64{math.Float64bits(real(c)), math.Float64bits(imag(c))}
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return [2]uint64{uint64(v.Int())}
		}
		return [2]uint64{v.Uint()}
	}
	for i := range g.Len() {
		if bits(g.Index(i)) != bits(w.Index(i)) {
			t.Fatalf("element %d: got %v, want %v", i, g.Index(i), w.Index(i))
		}
	}
}

// TestGobRawRoundTrip: a large slice of fixed-size numbers (any of them,
// named or not) is written as a raw slice — the header, then the
// elements' bytes, little-endian — and loads back with the same bits
// through every kind of reader, by the memory copy and by the portable
// conversion; the same value gives the same bytes.
func TestGobRawRoundTrip(t *testing.T) {
	defer formats.SetGobChunkBytes(256)()
	for _, portable := range []bool{false, true} {
		for name, v := range chunkedGolden() {
			t.Run(fmt.Sprintf("%s/portable=%v", name, portable), func(t *testing.T) {
				if portable {
					defer formats.SetGobRawPortable()()
				}
				rv := reflect.ValueOf(v)
				var buf bytes.Buffer
				if err := formats.Gob().Encode(&buf, v); err != nil {
					t.Fatal(err)
				}
				b := buf.Bytes()
				h := rawHeader(rv.Len(), rawCodes[name])
				width := int(rv.Type().Elem().Size())
				if !bytes.HasPrefix(b, h) || len(b) != len(h)+rv.Len()*width {
					t.Fatalf("not a raw slice: %d bytes, % x", len(b), b[:min(len(b), 8)])
				}
				if name == "float64" {
					// Little-endian: -0 is 00 .. 00 80.
					if want := []byte{0, 0, 0, 0, 0, 0, 0, 0x80}; !bytes.Equal(b[len(h):len(h)+8], want) {
						t.Fatalf("the first element is % x, want % x", b[len(h):len(h)+8], want)
					}
				}
				if err := validator(t).Validate(bytes.NewReader(b)); err != nil {
					t.Fatalf("Validate = %v", err)
				}
				for rname, r := range readers(b) {
					got, err := formats.Gob().Decode(r(), rv.Type())
					if err != nil {
						t.Fatalf("%s: Decode = %v", rname, err)
					}
					sameBits(t, got, v)
					sameValue(t, got, v)
				}
				var again bytes.Buffer
				if err := formats.Gob().Encode(&again, v); err != nil || !bytes.Equal(again.Bytes(), b) {
					t.Fatalf("two encodings of the same value differ (%v)", err)
				}
			})
		}
	}
}

// TestGobRawNotFor: what keeps gob's own encoding, large or not: []byte
// (gob writes its bytes already), []bool, slices of structs or of types
// that encode themselves, small slices (TestGobSmallNotChunked).
func TestGobRawNotFor(t *testing.T) {
	defer formats.SetGobChunkBytes(256)()
	bools := make([]bool, 1000)
	for _, v := range []any{bytes.Repeat([]byte("ab"), 500), bools, table(100), make([]selfFloat, 300)} {
		var buf bytes.Buffer
		if err := formats.Gob().Encode(&buf, v); err != nil {
			t.Fatal(err)
		}
		if b := buf.Bytes(); len(b) > 4 && b[0] == 0xf6 && b[3] == 3 {
			t.Errorf("%T: written as a raw slice", v)
		}
		got, err := formats.Gob().Decode(&buf, reflect.TypeOf(v))
		if err != nil {
			t.Fatalf("%T: Decode = %v", v, err)
		}
		sameValue(t, got, v)
	}
}

// selfFloat encodes itself: gob calls its methods, and so does Encode.
type selfFloat float64

func (f selfFloat) MarshalBinary() ([]byte, error) { return []byte(fmt.Sprint(float64(f))), nil }

func (f *selfFloat) UnmarshalBinary(b []byte) error {
	_, err := fmt.Sscan(string(b), (*float64)(f))
	return err
}

// TestGobChunkedGolden: numeric slices written in chunks by the flowcache
// before raw slices (testdata/gob-chunked, see chunkedGolden) still load
// back with the same bits, and DecodeAny shows them as it shows the same
// values written raw now.
func TestGobChunkedGolden(t *testing.T) {
	for name, v := range chunkedGolden() {
		b, err := os.ReadFile(filepath.Join("testdata", "gob-chunked", name+".gob"))
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != 0xf6 || b[3] != 1 {
			t.Fatalf("%s: not a chunked slice: % x", name, b[:8])
		}
		for _, got := range loadEach(t, name, b, reflect.TypeOf(v)) {
			sameBits(t, got, v)
		}
		old, err := formats.DecodeAny(formats.Gob(), bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: DecodeAny of the chunked slice: %v", name, err)
		}
		restore := formats.SetGobChunkBytes(256)
		raw := decodeAny(t, formats.Gob(), v)
		restore()
		if !reflect.DeepEqual(jsonOf(t, raw), jsonOf(t, old)) {
			t.Errorf("%s: DecodeAny shows the raw slice as %v, the chunked one as %v", name, jsonOf(t, raw), jsonOf(t, old))
		}
	}
}

// TestDecodeAnyRaw: a raw []float64 shows as a JSON array (a NaN or an
// infinity by name, as for gob's floats).
func TestDecodeAnyRaw(t *testing.T) {
	defer formats.SetGobChunkBytes(16)()
	for _, f := range []string{"gob", "gob+zstd"} {
		format, err := formats.Lookup(f)
		if err != nil {
			t.Fatal(err)
		}
		got := decodeAny(t, format, []float64{1.5, -2, math.Inf(1), math.NaN(), 0})
		b, err := json.Marshal(got)
		if err != nil || string(b) != `[1.5,-2,"+Inf","NaN",0]` {
			t.Errorf("%s: %s, %v", f, b, err)
		}
		got = decodeAny(t, format, []int16{-1, 2, 3, math.MinInt16, 5, 6, 7, 8, 9})
		if b, _ := json.Marshal(got); string(b) != `[-1,2,3,-32768,5,6,7,8,9]` {
			t.Errorf("%s: %s", f, b)
		}
	}
}

// TestGobRawDamage: a raw slice whose bytes do not match its header, or
// that does not match the type decoded into, is refused under the
// allocation bound, whatever the reader; so is a header naming no element
// type.
func TestGobRawDamage(t *testing.T) {
	f64 := reflect.TypeFor[[]float64]()
	ok := append(rawHeader(4, 1), make([]byte, 32)...)
	got, err := formats.Gob().Decode(bytes.NewReader(ok), f64)
	if err != nil || !reflect.DeepEqual(got, []float64{0, 0, 0, 0}) {
		t.Fatalf("a raw slice by hand: %v, %v", got, err)
	}
	mustCorrupt(t, ok[:len(ok)-1], f64, "")
	mustCorrupt(t, append(bytes.Clone(ok), 0), f64, "")
	mustCorrupt(t, append(rawHeader(5, 1), make([]byte, 32)...), f64, "")
	mustCorrupt(t, append(rawHeader(1<<40, 1), make([]byte, 32)...), f64, "")
	mustCorrupt(t, append(rawHeader(1<<62, 1), make([]byte, 32)...), f64, "")
	mustCorrupt(t, append(rawHeader(4, 0), make([]byte, 32)...), f64, "header: a raw slice of unknown element type 0")
	mustCorrupt(t, append(rawHeader(4, 12), make([]byte, 32)...), f64, "header: a raw slice of unknown element type 12")
	mustCorrupt(t, append([]byte{0xf6, 1, 1, 3, 4, 1}, make([]byte, 32)...), f64, "header: 1 primes before a raw slice")
	mustCorrupt(t, rawHeader(4, 1)[:5], f64, "header")
	for _, typ := range []reflect.Type{reflect.TypeFor[[]float32](), reflect.TypeFor[[]int64](), reflect.TypeFor[[]any](), reflect.TypeFor[[]byte](), reflect.TypeFor[map[int]float64](), reflect.TypeFor[[]selfFloat]()} {
		_, err := formats.Gob().Decode(bytes.NewReader(ok), typ)
		if err == nil || !strings.Contains(err.Error(), "a slice of 4 float64 does not decode into") {
			t.Errorf("into %v: %v", typ, err)
		}
	}
	// A reader that fails after the last element: its error, not a value.
	boom := errors.New("boom")
	if _, err := formats.Gob().Decode(io.MultiReader(bytes.NewReader(ok), iotest.ErrReader(boom)), f64); !errors.Is(err, boom) {
		t.Errorf("a reader failing at the end: %v", err)
	}
	// Into a named type of the same kind, it decodes.
	if got, err := formats.Gob().Decode(bytes.NewReader(ok), reflect.TypeFor[[]Celsius]()); err != nil || !reflect.DeepEqual(got, []Celsius{0, 0, 0, 0}) {
		t.Errorf("into []Celsius: %v, %v", got, err)
	}
}

// TestGobZstdKeepsChunks: through gob+zstd a large []float64 stays in
// gob's chunks (which zstd compresses better than raw numbers), and
// gob+zstd reads a raw slice all the same.
func TestGobZstdKeepsChunks(t *testing.T) {
	defer formats.SetGobChunkBytes(256)()
	z, err := formats.Lookup("gob+zstd")
	if err != nil {
		t.Fatal(err)
	}
	v := floats(1000)
	var buf bytes.Buffer
	if err := z.Encode(&buf, v); err != nil {
		t.Fatal(err)
	}
	zr, err := zstd.NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	inner, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(inner, []byte{0xf6, 1, 0, 1}) {
		t.Fatalf("gob+zstd wrote % x, not chunks", inner[:8])
	}
	var raw bytes.Buffer
	if err := formats.Gob().Encode(&raw, v); err != nil || !bytes.HasPrefix(raw.Bytes(), rawHeader(len(v), 1)) {
		t.Fatalf("gob did not write a raw slice (%v)", err)
	}
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := z.Decode(bytes.NewReader(zw.EncodeAll(raw.Bytes(), nil)), reflect.TypeOf(v))
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, got, v)
}
