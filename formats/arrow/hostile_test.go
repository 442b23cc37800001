package arrow_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/flowcache/flowcache/core"
	flowarrow "github.com/flowcache/flowcache/formats/arrow"
	"github.com/flowcache/flowcache/internal/allocguard"
)

// idStream writes an IPC stream of one int64 column "ID" of n rows, with
// the given schema metadata and writer options.
func idStream(t testing.TB, n int, md map[string]string, opts ...ipc.Option) []byte {
	t.Helper()
	meta := arrow.MetadataFrom(md)
	schema := arrow.NewSchema([]arrow.Field{{Name: "ID", Type: arrow.PrimitiveTypes.Int64}}, &meta)
	b := array.NewInt64Builder(memory.DefaultAllocator)
	for i := range n {
		b.Append(int64(i))
	}
	col := b.NewArray()
	defer col.Release()
	rec := array.NewRecordBatch(schema, []arrow.Array{col}, int64(n))
	defer rec.Release()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, append([]ipc.Option{ipc.WithSchema(schema)}, opts...)...)
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type idRow struct{ ID int64 }

// A stream that declares 10^12 rows (RowsKey) and holds 3: the slice is
// allocated for what the bytes read can hold, not for the declared count
// (it was 512 MiB for a stream read from a plain reader).
func TestDecodeLyingRowCount(t *testing.T) {
	b := idStream(t, 3, map[string]string{flowarrow.RowsKey: "1000000000000"})
	f := flowarrow.New()
	var err error
	allocguard.Run(t, allocguard.Bound(len(b), 64), func() {
		// A plain reader, as a store gives: no Len to go by.
		_, err = f.Decode(io.MultiReader(bytes.NewReader(b)), reflect.TypeFor[[]idRow]())
	})
	if !errors.Is(err, core.ErrCorrupt) || !strings.Contains(err.Error(), "3 rows") {
		t.Fatalf("Decode = %v, want an error wrapping core.ErrCorrupt about the row count", err)
	}
	if err := f.(core.FormatValidator).Validate(bytes.NewReader(b)); !errors.Is(err, core.ErrCorrupt) {
		t.Fatalf("Validate = %v, want an error wrapping core.ErrCorrupt", err)
	}
	// A true count of many rows is still allocated once, whole, once the
	// first batch has been read.
	const n = 1 << 20
	b = idStream(t, n, map[string]string{flowarrow.RowsKey: strconv.Itoa(n)})
	v, err := f.Decode(io.MultiReader(bytes.NewReader(b)), reflect.TypeFor[[]idRow]())
	if err != nil {
		t.Fatal(err)
	}
	if rows := v.([]idRow); len(rows) != n || cap(rows) != n || rows[n-1].ID != n-1 {
		t.Fatalf("decoded %d rows, capacity %d", len(rows), cap(rows))
	}
}

// arrow-go decompresses IPC bodies with decoders of default limits outside
// the allocator; Encode never compresses, so Decode refuses them.
func TestDecodeCompressed(t *testing.T) {
	for name, opt := range map[string]ipc.Option{"zstd": ipc.WithZstd(), "lz4": ipc.WithLZ4()} {
		b := idStream(t, 100, nil, opt)
		f := flowarrow.New()
		if _, err := f.Decode(bytes.NewReader(b), reflect.TypeFor[[]idRow]()); !errors.Is(err, core.ErrCorrupt) || !strings.Contains(err.Error(), "compressed") {
			t.Errorf("%s: Decode = %v, want an error wrapping core.ErrCorrupt about compression", name, err)
		}
		if err := f.(core.FormatValidator).Validate(bytes.NewReader(b)); !errors.Is(err, core.ErrCorrupt) {
			t.Errorf("%s: Validate = %v, want an error wrapping core.ErrCorrupt", name, err)
		}
	}
}

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

// TestValidate: what Encode writes passes, each truncation and a failing
// reader do not; damage is core.ErrCorrupt, a reader's failure its own
// error.
func TestValidate(t *testing.T) {
	f := flowarrow.New(flowarrow.WithBatchRows(2))
	v := f.(core.FormatValidator)
	for _, val := range []any{sampleRows(), []Row{}, []Row(nil), sampleRecord(t)} {
		var buf bytes.Buffer
		if err := f.Encode(&buf, val); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		if err := v.Validate(bytes.NewReader(b)); err != nil {
			t.Fatalf("%T: Validate = %v", val, err)
		}
		for i := 0; i < len(b); i += 7 {
			if err := v.Validate(bytes.NewReader(b[:i])); !errors.Is(err, core.ErrCorrupt) {
				t.Fatalf("%T: Validate of %d of %d bytes = %v, want core.ErrCorrupt", val, i, len(b), err)
			}
		}
		errDisk := errors.New("disk on fire")
		if err := v.Validate(&failingReader{b[:len(b)/2], errDisk}); !errors.Is(err, errDisk) || errors.Is(err, core.ErrCorrupt) {
			t.Fatalf("%T: Validate from a failing reader = %v, want the reader's error only", val, err)
		}
		if _, err := f.Decode(&failingReader{b[:len(b)/2], errDisk}, reflect.TypeFor[arrow.Table]()); !errors.Is(err, errDisk) || errors.Is(err, core.ErrCorrupt) {
			t.Fatalf("%T: Decode from a failing reader = %v, want the reader's error only", val, err)
		}
	}
}
