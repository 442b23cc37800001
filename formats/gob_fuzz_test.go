package formats_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/flowcache/flowcache/formats"
	"github.com/flowcache/flowcache/internal/allocguard"
)

// fuzzGobTypes are the types each gob fuzz input is decoded into.
var fuzzGobTypes = []reflect.Type{
	reflect.TypeFor[[]Row](),
	reflect.TypeFor[map[string]int](),
	reflect.TypeFor[[]any](),
	reflect.TypeFor[Recursive](),
	reflect.TypeFor[[]float64](),
	reflect.TypeFor[[]int32](),
}

// gobSeeds adds real encodings to f: the corpus values, chunked values
// (written in chunks of 256 bytes), raw slices, and the results older
// flowcaches wrote (before chunks, and numeric slices in chunks before raw
// slices).
func gobSeeds(f *testing.F) {
	add := func(v any) {
		var buf bytes.Buffer
		if err := formats.Gob().Encode(&buf, v); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	for _, v := range corpus() {
		add(v)
	}
	add([]Row{{Name: "a", Tags: []string{"x"}}})
	add([]Row{{Name: "a", Tags: []string{}, Score: math.Copysign(0, -1)}, {}}) // with repair notes
	restore := formats.SetGobChunkBytes(256)
	add(floats(100))
	add(map[string]int{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9, "j": 10,
		"k": 11, "l": 12, "m": 13, "n": 14, "o": 15, "p": 16, "q": 17, "r": 18, "s": 19, "t": 20})
	add([]any{ifaceA{N: 1}, "x", ifaceB{Any: ifaceC{F: []float64{1}}}, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30})
	add(wideRows(40))
	add([]int32{1, -2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30})
	restore()
	legacy, _ := filepath.Glob(filepath.Join("testdata", "gob-legacy", "*.gob"))
	chunked, _ := filepath.Glob(filepath.Join("testdata", "gob-chunked", "*.gob"))
	legacy = append(legacy, chunked...)
	for _, name := range legacy {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0})
}

// FuzzGobDecode decodes each input into several types under an
// allocation bound of 64 bytes per input byte (plus allocguard's
// allowance): no panic, no allocation bomb. Decode checks what Validate
// checks, so an input Decode accepts, Validate accepts.
func FuzzGobDecode(f *testing.F) {
	gobSeeds(f)
	v := validator(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		allocguard.Run(t, allocguard.Bound(len(b), 64), func() {
			for _, typ := range fuzzGobTypes {
				_, err := formats.Gob().Decode(bytes.NewReader(b), typ)
				if err == nil {
					if verr := v.Validate(bytes.NewReader(b)); verr != nil {
						t.Fatalf("Decode into %v accepts what Validate refuses: %v", typ, verr)
					}
				}
				// The same through a reader that does not tell its length
				// (the chunks' room then grows as they come).
				_, err2 := formats.Gob().Decode(onlyReader{bytes.NewReader(b)}, typ)
				if (err == nil) != (err2 == nil) {
					t.Fatalf("Decode into %v: %v with the length known, %v without", typ, err, err2)
				}
			}
		})
	})
}

// FuzzGobValidate checks inputs without a type, under the same bound.
func FuzzGobValidate(f *testing.F) {
	gobSeeds(f)
	v := validator(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		allocguard.Run(t, allocguard.Bound(len(b), 64), func() {
			v.Validate(bytes.NewReader(b))
			v.Validate(onlyReader{bytes.NewReader(b)})
		})
	})
}

// FuzzGobZstdDecode decodes gob+zstd inputs under the same bound: the gob
// stream inside is checked as it comes out of the decompressor (whose
// length is not known, so chunked values grow as they come).
func FuzzGobZstdDecode(f *testing.F) {
	z, err := formats.Lookup("gob+zstd")
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range []any{map3000(), []Row{{Name: "a"}}, floats(100), corpus()[len(corpus())-3]} {
		var buf bytes.Buffer
		if err := z.Encode(&buf, v); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	restore := formats.SetGobChunkBytes(256)
	var buf bytes.Buffer
	if err := z.Encode(&buf, floats(200)); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	restore()
	f.Fuzz(func(t *testing.T, b []byte) {
		allocguard.Run(t, allocguard.Bound(len(b), 64), func() {
			for _, typ := range fuzzGobTypes {
				z.Decode(bytes.NewReader(b), typ)
			}
		})
	})
}
