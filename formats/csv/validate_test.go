package csv_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats/csv"
)

// failingReader returns its bytes, then err.
type failingReader struct {
	b   []byte
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.b) == 0 {
		return 0, f.err
	}
	n := copy(p, f.b)
	f.b = f.b[n:]
	return n, nil
}

// TestValidate: what Encode writes passes; every truncation is
// core.ErrCorrupt, from Validate and from Decode; a failing reader's error
// is passed on, not taken for damage.
func TestValidate(t *testing.T) {
	f := csv.New()
	v := f.(core.FormatValidator)
	for _, val := range []any{
		[]FuzzRow{{S: "a,\"b\"\r\nc"}, {}},
		[][]string{{"a", ""}, {""}, tricky},
		[][]string{}, [][]string(nil), []FuzzRow(nil),
		arrowRecord(t, 0, 8),
	} {
		var buf bytes.Buffer
		if err := f.Encode(&buf, val); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		typ := reflect.TypeOf(val)
		if _, ok := val.(arrow.RecordBatch); ok {
			typ = reflect.TypeFor[arrow.RecordBatch]()
		}
		if err := v.Validate(bytes.NewReader(b)); err != nil {
			t.Fatalf("%v: Validate(%q) = %v", typ, b, err)
		}
		for i := range b {
			if err := v.Validate(bytes.NewReader(b[:i])); !errors.Is(err, core.ErrCorrupt) {
				t.Fatalf("%v: Validate(%q) = %v, want core.ErrCorrupt", typ, b[:i], err)
			}
			if _, err := f.Decode(bytes.NewReader(b[:i]), typ); !errors.Is(err, core.ErrCorrupt) {
				t.Fatalf("%v: Decode(%q) = %v, want core.ErrCorrupt", typ, b[:i], err)
			}
		}
		if err := v.Validate(bytes.NewReader(append(bytes.Clone(b), 'x'))); !errors.Is(err, core.ErrCorrupt) {
			t.Fatalf("%v: Validate with trailing data = %v, want core.ErrCorrupt", typ, err)
		}
		errDisk := errors.New("disk on fire")
		if err := v.Validate(&failingReader{b[:len(b)/2], errDisk}); !errors.Is(err, errDisk) || errors.Is(err, core.ErrCorrupt) {
			t.Fatalf("%v: Validate from a failing reader = %v, want the reader's error only", typ, err)
		}
		if _, err := f.Decode(&failingReader{b[:len(b)/2], errDisk}, typ); !errors.Is(err, errDisk) || errors.Is(err, core.ErrCorrupt) {
			t.Fatalf("%v: Decode from a failing reader = %v, want the reader's error only", typ, err)
		}
	}
}
