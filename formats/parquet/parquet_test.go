package parquet_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/formats/internal/tabletest"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/flowcache/flowcache/core"
	flowarrow "github.com/flowcache/flowcache/formats/arrow"
	"github.com/flowcache/flowcache/formats/parquet"
)

type Row struct {
	ID    int
	Small int8
	U64   uint64
	U32   uint32
	F32   float32
	X     float64 `arrow:"x"`
	OK    bool
	Name  string
	Raw   []byte
	At    time.Time
	PInt  *int64
	PF    *float64
	PBool *bool
	PStr  *string
	PTime *time.Time
}

func sampleRows() []Row {
	at := time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	return []Row{
		{ID: 1, Small: -8, U64: math.MaxUint64, U32: math.MaxUint32, F32: float32(math.NaN()), X: math.Inf(1), OK: true, Name: "héllo", Raw: []byte{0, 1}, At: at,
			PInt: tabletest.Ptr(int64(math.MinInt64)), PF: tabletest.Ptr(-0.5), PBool: tabletest.Ptr(true), PStr: tabletest.Ptr(""), PTime: tabletest.Ptr(at)},
		{ID: 2, Raw: []byte{}, X: math.NaN()},
		{ID: 3, Name: "ü", PStr: tabletest.Ptr("p"), U64: 1 << 63},
	}
}

func roundTrip(t *testing.T, f core.Format, v any, typ reflect.Type) any {
	t.Helper()
	got, _ := tabletest.RoundTrip(t, f, v, typ)
	return got
}

var recordType = reflect.TypeFor[arrow.RecordBatch]()
var tableType = reflect.TypeFor[arrow.Table]()

func TestSliceRoundTrip(t *testing.T) {
	for _, codec := range []compress.Compression{compress.Codecs.Snappy, compress.Codecs.Zstd, compress.Codecs.Uncompressed} {
		f := parquet.New(parquet.WithCompression(codec), parquet.WithRowGroupRows(2))
		rows := sampleRows()
		got := roundTrip(t, f, rows, reflect.TypeOf(rows)).([]Row)
		if got[0].U64 != math.MaxUint64 || got[2].U64 != 1<<63 || *got[0].PInt != math.MinInt64 || got[1].PInt != nil {
			t.Fatalf("%v: got %+v", codec, got)
		}
		if got := roundTrip(t, f, []Row(nil), reflect.TypeOf(rows)).([]Row); got != nil {
			t.Fatalf("nil slice decoded as %#v", got)
		}
		if got := roundTrip(t, f, []Row{}, reflect.TypeOf(rows)).([]Row); got == nil || len(got) != 0 {
			t.Fatalf("empty slice decoded as %#v", got)
		}
	}
}

func sampleRecord(t testing.TB) arrow.RecordBatch {
	rec, err := flowarrow.RecordFromSlice(sampleRows())
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestRecordAndTableRoundTrip(t *testing.T) {
	f := parquet.New(parquet.WithRowGroupRows(2))
	rec := sampleRecord(t)
	defer rec.Release()
	got := roundTrip(t, f, rec, recordType).(arrow.RecordBatch)
	if !array.RecordApproxEqual(got, rec, array.WithNaNsEqual(true)) {
		t.Fatalf("got %v", got)
	}
	sl := rec.NewSlice(1, 3)
	defer sl.Release()
	roundTrip(t, f, sl, recordType)
	zero := rec.NewSlice(0, 0)
	defer zero.Release()
	roundTrip(t, f, zero, recordType)

	parts := []arrow.RecordBatch{rec.NewSlice(0, 1), rec.NewSlice(1, 3)}
	tbl := array.NewTableFromRecords(rec.Schema(), parts)
	defer tbl.Release()
	roundTrip(t, f, tbl, tableType)
	none := array.NewTableFromRecords(rec.Schema(), nil)
	defer none.Release()
	roundTrip(t, f, none, tableType)
	// Stored as a table, loaded as a record: one record of all rows.
	r, err := f.Decode(bytes.NewReader(tabletest.Encode(t, f, tbl)), recordType)
	if err != nil || !array.RecordApproxEqual(r.(arrow.RecordBatch), rec, array.WithNaNsEqual(true)) {
		t.Fatalf("table as record: %v %v", r, err)
	}
}

// The file is an ordinary Parquet file: pqarrow reads it directly, with
// the codec and row groups asked for.
func TestOrdinaryParquet(t *testing.T) {
	f := parquet.New(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithRowGroupRows(2))
	rows := sampleRows()
	b := tabletest.Encode(t, f, rows)
	rdr, err := file.NewParquetReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Close()
	if n := rdr.NumRowGroups(); n != 2 {
		t.Errorf("%d row groups, want 2", n)
	}
	if cc, err := rdr.MetaData().RowGroup(0).ColumnChunk(0); err != nil {
		t.Fatal(err)
	} else if cc.Compression() != compress.Codecs.Zstd {
		t.Errorf("codec %v, want zstd", cc.Compression())
	}
	tbl, err := pqarrow.ReadTable(context.Background(), bytes.NewReader(b), nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	if tbl.NumRows() != 3 || tbl.NumCols() != 15 {
		t.Fatalf("table %d x %d", tbl.NumRows(), tbl.NumCols())
	}
	want, _ := flowarrow.SchemaOf(reflect.TypeFor[Row]())
	for i, fd := range want.Fields() {
		got := tbl.Schema().Field(i)
		if got.Name != fd.Name || !arrow.TypeEqual(got.Type, fd.Type) {
			t.Errorf("column %d: %v, want %v", i, got, fd)
		}
	}
	col := tbl.Column(2).Data().Chunk(0).(*array.Uint64) // U64
	if col.Value(0) != math.MaxUint64 {
		t.Errorf("U64[0] = %d", col.Value(0))
	}
	name := tbl.Column(7).Data().Chunk(0).(*array.String)
	if name.Value(0) != "héllo" {
		t.Errorf("Name[0] = %q", name.Value(0))
	}
	// The same file decodes through the format.
	var rr array.RecordReader = array.NewTableReader(tbl, -1)
	defer rr.Release()
	got, err := flowarrow.Collect(rr, reflect.TypeFor[[]Row](), memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	if tabletest.Sum(t, got) != tabletest.Sum(t, rows) {
		t.Error("rows read with pqarrow differ")
	}
}

func TestCheck(t *testing.T) {
	f := parquet.New()
	for _, typ := range []reflect.Type{recordType, tableType, reflect.TypeFor[[]Row]()} {
		if err := f.Check(typ); err != nil {
			t.Errorf("Check(%v) = %v", typ, err)
		}
	}
	for _, v := range []any{map[string]int{}, []struct{ M map[string]int }{}, []struct{ S []int }{}, []int{}, "s"} {
		err := f.Check(reflect.TypeOf(v))
		if !errors.Is(err, core.ErrUnsupportedType) || !strings.Contains(err.Error(), "parquet") {
			t.Errorf("Check(%T) = %v", v, err)
		}
	}
}

func TestDecodeCorrupt(t *testing.T) {
	f := parquet.New()
	b := tabletest.Encode(t, f, sampleRows())
	typ := reflect.TypeFor[[]Row]()
	for i := 0; i < len(b); i++ {
		if _, err := f.Decode(bytes.NewReader(b[:i]), typ); err == nil {
			t.Fatalf("decoding %d of %d bytes succeeded", i, len(b))
		}
	}
	type Other struct{ ID string }
	if _, err := f.Decode(bytes.NewReader(b), reflect.TypeFor[[]Other]()); err == nil {
		t.Fatal("decoding []Row as []Other succeeded")
	}
	// Flipped bytes: errors or values, never panics.
	for i := 0; i < len(b); i += 7 {
		c := append([]byte{}, b...)
		c[i] ^= 0xA5
		_, _ = f.Decode(bytes.NewReader(c), typ)
		_, _ = f.Decode(bytes.NewReader(c), tableType)
	}
}

// Files above the spill size are decoded from a temporary file, which is
// removed afterwards.
func TestSpill(t *testing.T) {
	dir := t.TempDir()
	f := parquet.New(parquet.WithSpill(100, dir), parquet.WithRowGroupRows(1000))
	rows := tabletest.BenchRows(5000)
	got := roundTrip(t, f, rows, reflect.TypeOf(rows))
	if len(got.([]tabletest.BenchRow)) != 5000 {
		t.Fatal("rows lost")
	}
	rec := sampleRecord(t)
	defer rec.Release()
	roundTrip(t, f, rec, recordType)
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("temporary files left: %v", ents)
	}
}
