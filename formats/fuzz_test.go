package formats_test

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/flowcache/flowcache/formats"
)

var fuzzRows = []Row{
	{Name: "a", Score: 1.5, At: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Tags: []string{"x", ""}, Inner: &Inner{N: 7}},
	{Name: "b\u2028", Tags: []string{}},
}

func FuzzJSONDecode(f *testing.F) {
	var buf bytes.Buffer
	formats.JSON().Encode(&buf, fuzzRows)
	f.Add(buf.Bytes())
	f.Add([]byte("null\n"))
	f.Add([]byte("[]\n"))
	f.Add([]byte(`[{"Name":"\ud800","Score":1e309,"At":"2026-13-01T00:00:00Z","Inner":{"N":-0}}]` + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Must not panic; errors are fine. A value that decodes must
		// encode again (it is a valid []Row).
		v, err := formats.JSON().Decode(bytes.NewReader(b), reflect.TypeOf(fuzzRows))
		if err == nil {
			var out bytes.Buffer
			_ = formats.JSON().Encode(&out, v)
		}
	})
}

// FuzzZstdDecode decodes through gob+zstd (asJSON false) or json+zstd.
func FuzzZstdDecode(f *testing.F) {
	for _, name := range []string{"gob+zstd", "json+zstd"} {
		z, _ := formats.Lookup(name)
		var buf bytes.Buffer
		z.Encode(&buf, fuzzRows)
		f.Add(name == "json+zstd", buf.Bytes())
		buf.Reset()
		z.Encode(&buf, []Row{})
		f.Add(name == "json+zstd", buf.Bytes())
	}
	f.Add(false, []byte{0x28, 0xb5, 0x2f, 0xfd})
	gz, _ := formats.Lookup("gob+zstd")
	jz, _ := formats.Lookup("json+zstd")
	f.Fuzz(func(t *testing.T, asJSON bool, b []byte) {
		z := gz
		if asJSON {
			z = jz
		}
		_, _ = z.Decode(bytes.NewReader(b), reflect.TypeOf(fuzzRows))
	})
}
