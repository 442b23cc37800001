package parquet_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet/compress"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/core/fingerprint"
	"github.com/flowcache/flowcache/formats/internal/tabletest"
	"github.com/flowcache/flowcache/formats/parquet"
	"github.com/flowcache/flowcache/internal/allocguard"
)

func fuzzSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, c := range []compress.Compression{compress.Codecs.Snappy, compress.Codecs.Uncompressed, compress.Codecs.Zstd} {
		f := parquet.New(parquet.WithCompression(c), parquet.WithRowGroupRows(2))
		for _, v := range []any{sampleRows(), []Row{}, []struct{ X uint16 }{{1}, {2}}} {
			var buf bytes.Buffer
			if err := f.Encode(&buf, v); err != nil {
				t.Fatal(err)
			}
			out = append(out, buf.Bytes())
		}
	}
	// A crafted file: the ARROW:schema of TestCraftedArrowSchema.
	base := sampleFile(t)
	footer, v, ipc := arrowSchemaOf(t, base)
	fb := ipc[8:]
	msg := int(binary.LittleEndian.Uint32(fb))
	schema := fbDeref(fb, fbField(fb, msg, 2))
	binary.LittleEndian.PutUint32(fb[fbDeref(fb, fbField(fb, schema, 1)):], 0x90000000)
	v.b = []byte(base64.StdEncoding.EncodeToString(ipc))
	out = append(out, withFooter(base, encodeStruct(nil, footer)))
	// A footer of TestHandBuiltFooter: a schema list of 100 million
	// structs, declared in five bytes.
	one := tabletest.Encode(t, parquet.New(), []struct{ X int64 }{{1}})
	out = append(out, withFooter(one, []byte{0x15, 0x02, 0x19, 0xfc, 0x80, 0xc2, 0xd7, 0x2f}))
	// A page of TestLyingPages: a snappy block declaring 4 GiB.
	f := oneColumn(t, []struct{ X int64 }{{1}, {2}, {3}})
	snappy, err := compress.GetCodec(compress.Codecs.Snappy)
	if err != nil {
		t.Fatal(err)
	}
	p := &f.pages[0]
	block := snappy.Encode(nil, p.body)
	_, k := binary.Uvarint(block)
	p.body = append(binary.AppendUvarint(nil, 0xffffffff), block[k:]...)
	p.hdr.set(3, i32(int64(len(p.body))))
	f.chunkMeta().set(4, i32(1))
	out = append(out, f.join())
	// The dictionary index and delta block size of TestLyingPages.
	strs := make([]struct{ S string }, 1000)
	for i := range strs {
		strs[i].S = string(rune('a' + i%3))
	}
	f = oneColumn(t, strs)
	f.pages[0].hdr.at(7).st.set(1, i32(1<<31-1))
	p = &f.pages[1]
	p.body = []byte{31, 0xd0, 0x0f, 0xfe, 0xff, 0xff, 0x7f}
	p.hdr.set(2, i32(int64(len(p.body))))
	p.hdr.set(3, i32(int64(len(p.body))))
	out = append(out, f.join())
	f = oneColumn(t, []struct{ X int64 }{{1}, {2}, {3}})
	p = &f.pages[0]
	p.body = binary.AppendUvarint(nil, 1<<32-128)
	p.body = append(binary.AppendUvarint(binary.AppendUvarint(p.body, 1), 3), 0, 0, 0)
	p.hdr.at(5).st.set(2, i32(5))
	p.hdr.set(2, i32(int64(len(p.body))))
	p.hdr.set(3, i32(int64(len(p.body))))
	// A list column, for the paths of repeated values.
	return append(out, f.join(), listFile(t))
}

// fuzzMaxDecoded is the decoding budget of the fuzz targets: smaller than
// the default 1 GiB keeps executions fast; the bound is what is tested.
const fuzzMaxDecoded = 16 << 20

// fuzzBound is what decoding b may allocate in all: the allocator's budget
// (fuzzMaxDecoded + 64 bytes per byte) for Arrow buffers, as much again
// three times over for the Go value built from them (the slice, its
// strings and the values its pointers point to), and 512 bytes per byte
// for the footer's structures in Go (a struct arrow-go allocates in
// hundreds of bytes takes one byte of thrift), over allocguard's 64 MiB.
func fuzzBound(b []byte) uint64 {
	return allocguard.Bound(len(b), 4*64+512) + 4*fuzzMaxDecoded
}

// FuzzDecode: corrupt input is an error wrapping core.ErrCorrupt, never a
// panic, a hang or an allocation past fuzzBound.
func FuzzDecode(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	format := parquet.New(parquet.WithMaxDecoded(fuzzMaxDecoded))
	f.Fuzz(func(t *testing.T, b []byte) {
		var v any
		var err error
		allocguard.Run(t, fuzzBound(b), func() { v, err = format.Decode(bytes.NewReader(b), reflect.TypeFor[[]Row]()) })
		if err == nil {
			if _, err := fingerprint.Of(v); err != nil {
				t.Fatalf("decoded rows cannot be fingerprinted: %v", err)
			}
		} else if !errors.Is(err, core.ErrCorrupt) {
			t.Fatalf("Decode = %v, want an error wrapping core.ErrCorrupt", err)
		}
		allocguard.Run(t, fuzzBound(b), func() { v, err = format.Decode(bytes.NewReader(b), reflect.TypeFor[arrow.Table]()) })
		if err == nil {
			_, _ = fingerprint.Of(v)
		} else if !errors.Is(err, core.ErrCorrupt) {
			t.Fatalf("Decode = %v, want an error wrapping core.ErrCorrupt", err)
		}
	})
}

// FuzzValidate: Validate is bounded like Decode, and whatever it accepts
// decodes as a table.
func FuzzValidate(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	format := parquet.New(parquet.WithMaxDecoded(fuzzMaxDecoded))
	f.Fuzz(func(t *testing.T, b []byte) {
		var err error
		allocguard.Run(t, fuzzBound(b), func() { err = format.(core.FormatValidator).Validate(bytes.NewReader(b)) })
		if err != nil {
			if !errors.Is(err, core.ErrCorrupt) {
				t.Fatalf("Validate = %v, want an error wrapping core.ErrCorrupt", err)
			}
			return
		}
		allocguard.Run(t, fuzzBound(b), func() { _, err = format.Decode(bytes.NewReader(b), reflect.TypeFor[arrow.Table]()) })
		if err != nil {
			t.Fatalf("Validate accepted what Decode refuses: %v", err)
		}
	})
}
