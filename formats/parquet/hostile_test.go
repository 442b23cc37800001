package parquet_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/compress"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats/internal/tabletest"
	"github.com/flowcache/flowcache/formats/parquet"
	"github.com/flowcache/flowcache/internal/allocguard"
)

// Hostile files: each is built from a real one with one length changed to
// a lie, as a writer with access to a shared bucket could store it. Each
// must be an error wrapping core.ErrCorrupt, from Decode (for a slice and
// for a table) and from Validate, within a bound of 64 MiB plus 64 bytes
// per byte of the file; before the checks, several of them killed the
// process.

// hostileBound is what decoding a hostile file may allocate.
func hostileBound(b []byte) uint64 { return allocguard.Bound(len(b), 64) }

// expectCorrupt decodes b as each of types and validates it, and returns
// the errors' text.
func expectCorrupt(t *testing.T, b []byte, types ...reflect.Type) string {
	t.Helper()
	f := parquet.New()
	var msgs []string
	for _, typ := range types {
		var err error
		allocguard.Run(t, hostileBound(b), func() { _, err = f.Decode(bytes.NewReader(b), typ) })
		if !errors.Is(err, core.ErrCorrupt) {
			t.Fatalf("Decode as %v = %v, want an error wrapping core.ErrCorrupt", typ, err)
		}
		msgs = append(msgs, err.Error())
	}
	var err error
	allocguard.Run(t, hostileBound(b), func() { err = f.(core.FormatValidator).Validate(bytes.NewReader(b)) })
	if !errors.Is(err, core.ErrCorrupt) {
		t.Fatalf("Validate = %v, want an error wrapping core.ErrCorrupt", err)
	}
	msgs = append(msgs, err.Error())
	t.Logf("%d bytes: %s", len(b), msgs[0])
	return strings.Join(msgs, "\n")
}

// expectSafe decodes b as v's type and as a table, and validates it:
// each either fails with an error wrapping core.ErrCorrupt or, for a lie
// the decoder need not read, gives v back.
func expectSafe(t *testing.T, b []byte, v any) {
	t.Helper()
	f := parquet.New()
	for _, typ := range []reflect.Type{reflect.TypeOf(v), reflect.TypeFor[arrow.Table]()} {
		var got any
		var err error
		allocguard.Run(t, hostileBound(b), func() { got, err = f.Decode(bytes.NewReader(b), typ) })
		switch {
		case err != nil && !errors.Is(err, core.ErrCorrupt):
			t.Fatalf("Decode as %v = %v, want an error wrapping core.ErrCorrupt", typ, err)
		case err == nil && typ == reflect.TypeOf(v) && !reflect.DeepEqual(got, v):
			t.Fatalf("Decode as %v gave another value", typ)
		case err == nil && typ != reflect.TypeOf(v) && got.(arrow.Table).NumRows() != int64(reflect.ValueOf(v).Len()):
			t.Fatalf("Decode as a table gave %d rows", got.(arrow.Table).NumRows())
		}
		t.Logf("Decode as %v: %v", typ, err)
	}
	var err error
	allocguard.Run(t, hostileBound(b), func() { err = f.(core.FormatValidator).Validate(bytes.NewReader(b)) })
	if err != nil && !errors.Is(err, core.ErrCorrupt) {
		t.Fatalf("Validate = %v, want nil or an error wrapping core.ErrCorrupt", err)
	}
}

var rowsType = reflect.TypeFor[[]Row]()

func sampleFile(t testing.TB) []byte {
	return tabletest.Encode(t, parquet.New(), sampleRows())
}

// arrowSchemaOf returns the footer of b, the ARROW:schema value in it
// and the decoded IPC bytes.
func arrowSchemaOf(t testing.TB, b []byte) (*tstruct, *tvalue, []byte) {
	t.Helper()
	footer := footerOf(t, b)
	for _, kv := range footer.at(5).elems {
		if string(kv.st.get(1).b) == "ARROW:schema" {
			v := kv.st.get(2)
			ipc, err := base64.StdEncoding.DecodeString(string(v.b))
			if err != nil {
				t.Fatal(err)
			}
			return footer, v, ipc
		}
	}
	t.Fatal("no ARROW:schema")
	return nil, nil, nil
}

// TestCraftedArrowSchema: a Parquet file of a few
// KB whose ARROW:schema, a base64 IPC schema message, declares a vector of
// 2.4 billion fields. arrow-go's IPC reader allocated a slice of that many
// arrow.Field (211 GB) inside pqarrow.NewFileReader and the process died.
func TestCraftedArrowSchema(t *testing.T) {
	base := sampleFile(t)
	for _, tc := range []struct {
		name string
		lie  func(ipc []byte)
	}{
		{"fields vector length", func(ipc []byte) {
			fb := ipc[8:]
			msg := int(binary.LittleEndian.Uint32(fb))
			schema := fbDeref(fb, fbField(fb, msg, 2))
			fields := fbDeref(fb, fbField(fb, schema, 1))
			binary.LittleEndian.PutUint32(fb[fields:], 0x90000000)
		}},
		{"metadata length", func(ipc []byte) { binary.LittleEndian.PutUint32(ipc[4:], 0x7ffffff0) }},
		{"metadata vector length", func(ipc []byte) {
			fb := ipc[8:]
			msg := int(binary.LittleEndian.Uint32(fb))
			schema := fbDeref(fb, fbField(fb, msg, 2))
			binary.LittleEndian.PutUint32(fb[fbDeref(fb, fbField(fb, schema, 2)):], 0x7fffffff)
		}},
		{"field name length", func(ipc []byte) {
			fb := ipc[8:]
			msg := int(binary.LittleEndian.Uint32(fb))
			schema := fbDeref(fb, fbField(fb, msg, 2))
			fields := fbDeref(fb, fbField(fb, schema, 1))
			field := fbDeref(fb, fields+4)
			binary.LittleEndian.PutUint32(fb[fbDeref(fb, fbField(fb, field, 0)):], 0xfffffff0)
		}},
		{"schema offset", func(ipc []byte) {
			fb := ipc[8:]
			msg := int(binary.LittleEndian.Uint32(fb))
			binary.LittleEndian.PutUint32(fb[fbField(fb, msg, 2):], 0x7ffffff0)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			footer, v, ipc := arrowSchemaOf(t, base)
			tc.lie(ipc)
			v.b = []byte(base64.StdEncoding.EncodeToString(ipc))
			b := withFooter(base, encodeStruct(nil, footer))
			if len(b) != len(base) {
				t.Fatalf("the crafted file has %d bytes, the original %d", len(b), len(base))
			}
			msg := expectCorrupt(t, b, rowsType, reflect.TypeFor[arrow.Table]())
			if !strings.Contains(msg, "ARROW:schema") {
				t.Errorf("the errors do not name ARROW:schema:\n%s", msg)
			}
		})
	}
}

// TestLyingFooter changes one length or count in the footer of a real
// file.
func TestLyingFooter(t *testing.T) {
	base := sampleFile(t)
	for _, tc := range []struct {
		name string
		lie  func(f *tstruct)
		want string // in the error
	}{
		// Thrift lists are allocated at their declared length: 100
		// million elements would be 800 MB of pointers.
		{"schema list length", func(f *tstruct) { f.at(2).count = 100_000_000 }, "container of 100000000"},
		{"row groups list length", func(f *tstruct) { f.at(4).count = 100_000_000 }, "container of 100000000"},
		{"key-value list length", func(f *tstruct) { f.at(5).count = 1 << 30 }, "container of"},
		{"column chunks list length", func(f *tstruct) { f.at(4, -1, 1).count = 50_000_000 }, "container of"},
		{"encodings list length", func(f *tstruct) { f.at(4, -1, 1, -1, 3, 2).count = 100_000_000 }, "container of"},
		{"path list length", func(f *tstruct) { f.at(4, -1, 1, -1, 3, 3).count = 100_000_000 }, "container of"},
		{"string length", func(f *tstruct) { f.at(6).count = 1 << 30 }, "bytes declared"},
		{"list of another element type", func(f *tstruct) { f.at(4).elem = 3 }, "list of type"},
		// arrow-go allocates a group's children at its declared count.
		{"root children", func(f *tstruct) { f.at(2, -1).st.set(5, i32(1<<30)) }, "children"},
		{"negative children", func(f *tstruct) { f.at(2, -1).st.set(5, i32(-1)) }, "children"},
		{"leaf with children", func(f *tstruct) { f.at(2, -2).st.set(5, i32(3)) }, "schema"},
		{"num_rows", func(f *tstruct) { f.set(3, i64(1<<40)) }, "rows"},
		{"row group num_rows", func(f *tstruct) {
			f.set(3, i64(1<<40))
			f.at(4, -1).st.set(3, i64(1<<40))
		}, "values in"},
		{"rows and values", func(f *tstruct) {
			f.set(3, i64(1<<40))
			f.at(4, -1).st.set(3, i64(1<<40))
			for _, cc := range f.at(4, -1, 1).elems {
				cc.st.at(3).st.set(5, i64(1<<40))
			}
		}, "the pages hold 3 values"},
		{"data page offset past the end", func(f *tstruct) { f.at(4, -1, 1, -1, 3).st.set(9, i64(1<<40)) }, "outside the data"},
		{"negative data page offset", func(f *tstruct) { f.at(4, -1, 1, -1, 3).st.set(9, i64(-100)) }, "outside the data"},
		{"dictionary page offset", func(f *tstruct) { f.at(4, -1, 1, -8, 3).st.set(11, i64(2)) }, "outside the data"},
		{"compressed size", func(f *tstruct) { f.at(4, -1, 1, -1, 3).st.set(7, i64(1<<40)) }, "outside the data"},
		{"uncompressed size", func(f *tstruct) { f.at(4, -1, 1, -1, 3).st.set(6, i64(1<<50)) }, "cannot expand"},
		{"uncompressed sizes past the budget", func(f *tstruct) {
			for _, cc := range f.at(4, -1, 1).elems {
				cc.st.at(3).st.set(4, i32(6)) // zstd: no ratio limit
				cc.st.at(3).st.set(6, i64(1<<29))
			}
		}, "decoding limit"},
		{"offset index", func(f *tstruct) {
			f.at(4, -1, 1, -1).st.set(4, i64(8))
			f.at(4, -1, 1, -1).st.set(5, i32(1<<30))
		}, "offset index"},
		{"column chunk in another file", func(f *tstruct) {
			f.at(4, -1, 1, -1).st.set(1, tvalue{typ: 8, b: []byte("/etc/passwd")})
		}, "another file"},
		{"physical type", func(f *tstruct) { f.at(4, -1, 1, -1, 3).st.set(1, i32(6)) }, "type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			footer := footerOf(t, base)
			tc.lie(footer)
			b := withFooter(base, encodeStruct(nil, footer))
			msg := expectCorrupt(t, b, rowsType, reflect.TypeFor[arrow.Table]())
			if !strings.Contains(msg, tc.want) {
				t.Errorf("the errors do not say %q:\n%s", tc.want, msg)
			}
		})
	}
}

// TestDeepSchema: a footer whose schema nests 100,000 groups would make
// arrow-go recurse 100,000 deep.
func TestDeepSchema(t *testing.T) {
	base := tabletest.Encode(t, parquet.New(), []struct{ X int64 }{{1}})
	footer := footerOf(t, base)
	schema := footer.at(2)
	leaf := schema.elems[1]
	schema.elems = schema.elems[:0]
	for range 100_000 {
		schema.elems = append(schema.elems, tvalue{typ: 12, st: &tstruct{fields: []tfield{{4, tvalue{typ: 8, b: []byte("g")}}, {5, i32(1)}}}})
	}
	schema.elems = append(schema.elems, leaf)
	b := withFooter(base, encodeStruct(nil, footer))
	if msg := expectCorrupt(t, b, reflect.TypeFor[[]struct{ X int64 }]()); !strings.Contains(msg, "deeper") {
		t.Errorf("the errors do not say the schema is too deep:\n%s", msg)
	}
}

// TestHandBuiltFooter: footers written from scratch, byte by byte.
func TestHandBuiltFooter(t *testing.T) {
	base := tabletest.Encode(t, parquet.New(), []struct{ X int64 }{{1}})
	for _, tc := range []struct {
		name   string
		footer []byte
	}{
		// version 1, then a schema list of 100 million structs and
		// nothing after it.
		{"list header alone", []byte{0x15, 0x02, 0x19, 0xfc, 0x80, 0xc2, 0xd7, 0x2f}},
		{"nested 10,000 deep", append([]byte{0x15, 0x02, 0x1c}, bytes.Repeat([]byte{0x1c}, 10_000)...)},
		{"unknown type", []byte{0x15, 0x02, 0x1e, 0x00}},
		{"field twice", []byte{0x15, 0x02, 0x05, 0x02, 0x04, 0x00}},
		{"endless varint", append([]byte{0x15}, bytes.Repeat([]byte{0xff}, 20)...)},
		{"empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectCorrupt(t, withFooter(base, tc.footer), reflect.TypeFor[[]struct{ X int64 }]())
		})
	}
}

// oneColumn returns a file of v (a slice of a one-field struct), taken
// apart, with codec set on its column chunk.
func oneColumn(t testing.TB, v any) *pqFile {
	t.Helper()
	f := splitFile(t, tabletest.Encode(t, parquet.New(parquet.WithCompression(compress.Codecs.Uncompressed)), v))
	for _, p := range f.pages {
		if p.hdr.get(2).i != p.hdr.get(3).i {
			t.Fatalf("uncompressed page of %d bytes expands to %d", p.hdr.get(3).i, p.hdr.get(2).i)
		}
	}
	return f
}

// zstdFrame is a frame with a 128 KiB window and one RLE block of n bytes
// of b, declaring content size fcs (8 bytes) when fcs >= 0.
func zstdFrame(fcs int64, n int, b byte) []byte {
	out := []byte{0x28, 0xb5, 0x2f, 0xfd}
	if fcs >= 0 {
		out = append(out, 0xc0, 7<<3) // 8-byte content size; window 2^(10+7)
		out = binary.LittleEndian.AppendUint64(out, uint64(fcs))
	} else {
		out = append(out, 0x00, 7<<3)
	}
	h := uint32(n)<<3 | 1<<1 | 1 // last block, RLE
	return append(out, byte(h), byte(h>>8), byte(h>>16), b)
}

// TestLyingPages changes a page header, or the compressed bytes of a page.
func TestLyingPages(t *testing.T) {
	ints := []struct{ X int64 }{{1}, {2}, {3}}
	// Repetitive enough for a dictionary page (arrow-go falls back to
	// plain encoding when a dictionary does not pay).
	strs := make([]struct{ S string }, 1000)
	for i := range strs {
		strs[i].S = string(rune('a' + i%3))
	}
	snappy, err := compress.GetCodec(compress.Codecs.Snappy)
	if err != nil {
		t.Fatal(err)
	}
	// Lies the decoder need not read: the value may decode.
	harmless := map[string]bool{"page values": true, "dictionary values": true}
	for _, tc := range []struct {
		name string
		v    any
		lie  func(f *pqFile)
	}{
		{"uncompressed page size", ints, func(f *pqFile) { f.pages[0].hdr.set(2, i32(1<<30)) }},
		{"compressed page size", ints, func(f *pqFile) { f.pages[0].hdr.set(3, i32(1<<30)) }},
		{"negative page size", ints, func(f *pqFile) { f.pages[0].hdr.set(2, i32(-1)) }},
		{"page values", ints, func(f *pqFile) { f.pages[0].hdr.at(5).st.set(1, i32(1<<30)) }},
		{"dictionary page size", strs, func(f *pqFile) { f.pages[0].hdr.set(2, i32(1<<29)) }},
		{"dictionary values", strs, func(f *pqFile) { f.pages[0].hdr.at(7).st.set(1, i32(1<<30)) }},
		{"dictionary string length", strs, func(f *pqFile) {
			binary.LittleEndian.PutUint32(f.pages[0].body, 1<<30)
		}},
		// snappy.Decode allocates the length in the block's preamble
		// when the page buffer is smaller: 4 GB here.
		{"snappy block length", ints, func(f *pqFile) {
			p := &f.pages[0]
			block := snappy.Encode(nil, p.body)
			_, k := binary.Uvarint(block)
			p.body = append(binary.AppendUvarint(nil, 0xffffffff), block[k:]...)
			p.hdr.set(3, i32(int64(len(p.body))))
			f.chunkMeta().set(4, i32(1))
		}},
		// zstd's DecodeAll allocates a frame's declared content size
		// (60 GiB here), up to 64 GiB.
		{"zstd content size", ints, func(f *pqFile) {
			p := &f.pages[0]
			p.body = zstdFrame(60<<30, len(p.body), 0)
			p.hdr.set(3, i32(int64(len(p.body))))
			f.chunkMeta().set(4, i32(6))
		}},
		// ... and appends frame after frame: 1,000 frames of 128 KiB
		// are 128 MiB from 10 KB.
		{"zstd frames", ints, func(f *pqFile) {
			p := &f.pages[0]
			p.body = nil
			for range 1000 {
				p.body = append(p.body, zstdFrame(-1, 128<<10, 0)...)
			}
			p.hdr.set(3, i32(int64(len(p.body))))
			f.chunkMeta().set(4, i32(6))
		}},
		// arrow-go decodes a dictionary up to the highest index a data
		// page uses, into a slice of that length: an index of 2^31-2
		// into a dictionary declared 2^31-1 long asked for 48 GiB.
		{"dictionary index", strs, func(f *pqFile) {
			f.pages[0].hdr.at(7).st.set(1, i32(1<<31-1))
			p := &f.pages[1]
			p.body = []byte{31, 0xd0, 0x0f, 0xfe, 0xff, 0xff, 0x7f} // width 31; 1000 times 2^31-2
			p.hdr.set(2, i32(int64(len(p.body))))
			p.hdr.set(3, i32(int64(len(p.body))))
		}},
		// arrow-go's delta decoder allocates a miniblock of the declared
		// block size: 4 billion int64 values, 32 GiB.
		{"delta block size", ints, func(f *pqFile) {
			p := &f.pages[0]
			p.body = binary.AppendUvarint(nil, 1<<32-128) // values per block
			p.body = binary.AppendUvarint(p.body, 1)      // miniblocks per block
			p.body = binary.AppendUvarint(p.body, 3)      // values
			p.body = append(p.body, 0, 0, 0)              // first value, min delta, bit width
			p.hdr.at(5).st.set(2, i32(5))                 // DELTA_BINARY_PACKED
			p.hdr.set(2, i32(int64(len(p.body))))
			p.hdr.set(3, i32(int64(len(p.body))))
		}},
		{"page size past the chunk", ints, func(f *pqFile) {
			f.pages = append(f.pages, f.pages[0])
			f.pages[1].hdr = &tstruct{fields: append([]tfield(nil), f.pages[0].hdr.fields...)}
			f.pages[1].hdr.set(3, i32(1<<20))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := oneColumn(t, tc.v)
			tc.lie(f)
			b := f.join()
			if harmless[tc.name] {
				expectSafe(t, b, tc.v)
				return
			}
			expectCorrupt(t, b, reflect.TypeOf(tc.v), reflect.TypeFor[arrow.Table]())
		})
	}
}

// TestCraftUnchanged checks the test's own tools: a file taken apart and
// put together again decodes as before.
func TestCraftUnchanged(t *testing.T) {
	for _, v := range []any{[]struct{ X int64 }{{1}, {2}}, []struct{ S string }{{"a"}, {"b"}}} {
		f := oneColumn(t, v)
		got, err := parquet.New().Decode(bytes.NewReader(f.join()), reflect.TypeOf(v))
		if err != nil || !reflect.DeepEqual(got, v) {
			t.Fatalf("%T: %v, %v", v, got, err)
		}
	}
	base := sampleFile(t)
	if b := withFooter(base, encodeStruct(nil, footerOf(t, base))); !bytes.Equal(b, base) {
		t.Fatal("the footer does not encode back to the same bytes")
	}
}

// listFile is a file of one list<int64> column: three rows, the second
// null, the third holding a null.
func listFile(t testing.TB) []byte {
	t.Helper()
	lb := array.NewListBuilder(memory.DefaultAllocator, arrow.PrimitiveTypes.Int64)
	defer lb.Release()
	vb := lb.ValueBuilder().(*array.Int64Builder)
	lb.Append(true)
	vb.AppendValues([]int64{1, 2}, nil)
	lb.AppendNull()
	lb.Append(true)
	vb.AppendNull()
	col := lb.NewArray()
	defer col.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "L", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true}}, nil)
	rec := array.NewRecordBatch(schema, []arrow.Array{col}, 3)
	defer rec.Release()
	return tabletest.Encode(t, parquet.New(parquet.WithCompression(compress.Codecs.Uncompressed)), rec)
}

// TestLongList: one row whose list declares 2^30 null elements in a few
// bytes of run-length levels. The value would be 8 GiB of Arrow buffers:
// it must fail within the decoding budget, with nothing allocated outside
// it at the declared length.
func TestLongList(t *testing.T) {
	f := splitFile(t, listFile(t))
	const n = 1 << 30
	levels := func(width int, runs ...[2]int) []byte {
		var b []byte
		for _, r := range runs {
			b = binary.AppendUvarint(b, uint64(r[0])<<1)
			for i := 0; i < (width+7)/8; i++ {
				b = append(b, byte(r[1]>>(8*i)))
			}
		}
		return append(binary.LittleEndian.AppendUint32(nil, uint32(len(b))), b...)
	}
	p := &f.pages[len(f.pages)-1]
	p.body = append(levels(1, [2]int{1, 0}, [2]int{n - 1, 1}), levels(2, [2]int{n, 2})...)
	p.hdr.set(2, i32(int64(len(p.body))))
	p.hdr.set(3, i32(int64(len(p.body))))
	p.hdr.at(5).st.set(1, i32(n))
	f.chunkMeta().set(5, i64(n))
	f.footer.set(3, i64(1))
	f.footer.at(4, -1).st.set(3, i64(1))
	b := f.join()
	// A 16 MiB budget: what is allocated outside it must be small too.
	format := parquet.New(parquet.WithMaxDecoded(16 << 20))
	for _, typ := range []reflect.Type{reflect.TypeFor[arrow.Table](), reflect.TypeFor[arrow.RecordBatch]()} {
		var err error
		allocguard.Run(t, hostileBound(b)+16<<20, func() { _, err = format.Decode(bytes.NewReader(b), typ) })
		if !errors.Is(err, core.ErrCorrupt) {
			t.Fatalf("Decode as %v = %v, want an error wrapping core.ErrCorrupt", typ, err)
		}
		t.Logf("%v: %v", typ, err)
	}
}
