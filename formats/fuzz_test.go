package formats_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats"
	"github.com/flowcache/flowcache/internal/allocguard"
)

var fuzzRows = []Row{
	{Name: "a", Score: 1.5, At: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Tags: []string{"x", ""}, Inner: &Inner{N: 7}},
	{Name: "b\u2028", Tags: []string{}},
}

// jsonPerByte bounds what decoding a byte of JSON into []Row may allocate:
// the smallest element, "{}," (3 bytes), is an 80-byte Row held twice (in
// its batch's chunk and in the final slice), 53 bytes a byte; a tag `"",`
// is a 16-byte string header in a slice encoding/json grows by doubling.
// Buffers (a batch of about 1 MiB, the decoder's copy of it, 64 KiB of
// input) are in allocguard's fixed 64 MiB.
const jsonPerByte = 64

// jsonSeeds are encodings of fuzzRows and a few edge cases.
func jsonSeeds() [][]byte {
	var buf bytes.Buffer
	if err := formats.JSON().Encode(&buf, fuzzRows); err != nil {
		panic(err)
	}
	return [][]byte{
		buf.Bytes(), []byte("null\n"), []byte("[]\n"), []byte("[{},{},{}]\n"),
		[]byte(`[{"Name":"\ud800","Score":1e309,"At":"2026-13-01T00:00:00Z","Inner":{"N":-0}}]` + "\n"),
		[]byte(`[{"Name":",]}\"\\","Tags":["[","{"]} , {"Tags":null}]` + "\n"),
	}
}

// plainJSONDecode decodes b into []Row with one json.Decoder, as a
// reference: ok when b holds one value, then only whitespace ending in a
// newline.
func plainJSONDecode(b []byte) ([]Row, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var v []Row
	if dec.Decode(&v) != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return v, len(b) > 0 && b[len(b)-1] == '\n'
}

func jsonText(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// FuzzJSONDecode: Decode allocates at most jsonPerByte bytes a byte (over
// allocguard's fixed allowance), fails only with core.ErrCorrupt, and
// agrees with a plain json.Decoder on what is valid and on the value.
func FuzzJSONDecode(f *testing.F) {
	for _, b := range jsonSeeds() {
		f.Add(b)
	}
	typ := reflect.TypeOf(fuzzRows)
	f.Fuzz(func(t *testing.T, b []byte) {
		var v any
		var err error
		allocguard.Run(t, allocguard.Bound(len(b), jsonPerByte), func() { v, err = formats.JSON().Decode(bytes.NewReader(b), typ) })
		want, ok := plainJSONDecode(b)
		switch {
		case err != nil && !errors.Is(err, core.ErrCorrupt):
			t.Fatalf("Decode = %v, want an error wrapping core.ErrCorrupt", err)
		case err != nil && ok:
			t.Fatalf("Decode = %v, but encoding/json decodes %q", err, b)
		case err == nil && !ok:
			t.Fatalf("Decode accepted %q, which encoding/json refuses", b)
		case err == nil && jsonText(t, v) != jsonText(t, want):
			t.Fatalf("Decode of %q gave %s, encoding/json %s", b, jsonText(t, v), jsonText(t, want))
		}
	})
}

// FuzzJSONValidate: Validate allocates at most a few bytes a byte (the
// value it holds whole when it is not an array), fails only with
// core.ErrCorrupt, and accepts exactly one valid JSON value followed by
// whitespace ending in a newline.
func FuzzJSONValidate(f *testing.F) {
	for _, b := range jsonSeeds() {
		f.Add(b)
	}
	f.Add([]byte(`{"a":[1,{"b":null}]}` + "\n"))
	f.Add([]byte("\"x\" \n"))
	v := formats.JSON().(core.FormatValidator)
	f.Fuzz(func(t *testing.T, b []byte) {
		var err error
		allocguard.Run(t, allocguard.Bound(len(b), 4), func() { err = v.Validate(bytes.NewReader(b)) })
		dec := json.NewDecoder(bytes.NewReader(b))
		var raw json.RawMessage
		ok := dec.Decode(&raw) == nil
		if ok {
			_, terr := dec.Token()
			ok = terr == io.EOF && b[len(b)-1] == '\n'
		}
		switch {
		case err != nil && !errors.Is(err, core.ErrCorrupt):
			t.Fatalf("Validate = %v, want an error wrapping core.ErrCorrupt", err)
		case err != nil && ok:
			t.Fatalf("Validate = %v, but encoding/json reads %q", err, b)
		case err == nil && !ok:
			t.Fatalf("Validate accepted %q, which encoding/json refuses", b)
		}
	})
}

// zstdFixed is what zstd decompression may allocate whatever the input:
// the history of an 8 MiB window (twice the window), the decoder's tables
// and buffers.
const zstdFixed = 20 << 20

// plainLen returns how many bytes the zstd frames in b decompress to
// (up to 1 GiB), with a decoder of its own.
func plainLen(b []byte) int {
	d, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(8<<20))
	if err != nil {
		return 0
	}
	defer d.Close()
	n, _ := io.Copy(io.Discard, io.LimitReader(d, 1<<30))
	return int(n)
}

func zstdSeeds(f *testing.F) {
	for _, name := range []string{"gob+zstd", "json+zstd"} {
		z, _ := formats.Lookup(name)
		for _, v := range [][]Row{fuzzRows, {}, nil} {
			var buf bytes.Buffer
			if err := z.Encode(&buf, v); err != nil {
				f.Fatal(err)
			}
			f.Add(name == "json+zstd", buf.Bytes())
		}
	}
	f.Add(false, []byte{0x28, 0xb5, 0x2f, 0xfd})
	// A frame of 1,000 128 KiB RLE blocks of '[': 128 MiB of JSON from
	// 4 KB, refused once nested 10,000 deep.
	bomb := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3}
	for i := range 1000 {
		h := uint32(128<<10)<<3 | 1<<1
		if i == 999 {
			h |= 1
		}
		bomb = append(bomb, byte(h), byte(h>>8), byte(h>>16), '[')
	}
	f.Add(true, bomb)
}

// FuzzZstdDecode decodes through json+zstd (asJSON) or gob+zstd: errors
// wrap core.ErrCorrupt, and a json+zstd decode allocates at most zstdFixed
// plus jsonPerByte bytes a byte of what the frames decompress to (the
// inner format's bound on its input). gob+zstd inputs are checked for
// panics and errors only: gob's bound is FuzzGobDecode's.
func FuzzZstdDecode(f *testing.F) {
	zstdSeeds(f)
	gz, _ := formats.Lookup("gob+zstd")
	jz, _ := formats.Lookup("json+zstd")
	f.Fuzz(func(t *testing.T, asJSON bool, b []byte) {
		var err error
		if !asJSON {
			// gob's own bound (FuzzGobDecode) on what the frames hold.
			allocguard.Run(t, allocguard.Bound(plainLen(b), 64)+zstdFixed, func() {
				_, err = gz.Decode(bytes.NewReader(b), reflect.TypeOf(fuzzRows))
			})
		} else {
			allocguard.Run(t, allocguard.Bound(plainLen(b), jsonPerByte)+zstdFixed, func() {
				_, err = jz.Decode(bytes.NewReader(b), reflect.TypeOf(fuzzRows))
			})
		}
		if err != nil && !errors.Is(err, core.ErrCorrupt) {
			t.Fatalf("Decode = %v, want an error wrapping core.ErrCorrupt", err)
		}
	})
}

// FuzzZstdValidate: json+zstd's Validate allocates at most zstdFixed plus
// a few bytes a byte of what the frames decompress to, and agrees with
// Decode on what is valid JSON.
func FuzzZstdValidate(f *testing.F) {
	zstdSeeds(f)
	jz, _ := formats.Lookup("json+zstd")
	f.Fuzz(func(t *testing.T, _ bool, b []byte) {
		var err error
		allocguard.Run(t, allocguard.Bound(plainLen(b), 4)+zstdFixed, func() {
			err = jz.(core.FormatValidator).Validate(bytes.NewReader(b))
		})
		if err != nil && !errors.Is(err, core.ErrCorrupt) {
			t.Fatalf("Validate = %v, want an error wrapping core.ErrCorrupt", err)
		}
		if err == nil {
			if _, derr := jz.Decode(bytes.NewReader(b), reflect.TypeFor[any]()); derr != nil {
				t.Fatalf("Validate accepted what Decode into an any refuses: %v", derr)
			}
		}
	})
}
