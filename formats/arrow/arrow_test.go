package arrow_test

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/flowcache/flowcache/core"
	flowarrow "github.com/flowcache/flowcache/formats/arrow"
	"github.com/flowcache/flowcache/formats/internal/tabletest"
)

type Celsius float64

type Row struct {
	ID     int
	I8     int8
	I16    int16
	I32    int32
	I64    int64
	U      uint
	U8     uint8
	U16    uint16
	U32    uint32
	U64    uint64
	F32    float32
	Temp   Celsius `arrow:"temp_c"`
	OK     bool
	Name   string
	Raw    []byte
	At     time.Time
	PInt   *int
	PF     *float64
	PBool  *bool
	PStr   *string
	PTime  *time.Time
	PU64   *uint64
	PInt16 *int16
}

func sampleRows() []Row {
	at := time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	return []Row{
		{ID: 1, I8: -8, I16: -16, I32: -32, I64: math.MinInt64, U: 7, U8: 255, U16: 65535, U32: 1 << 31, U64: math.MaxUint64,
			F32: 1.5, Temp: Celsius(math.NaN()), OK: true, Name: "héllo", Raw: []byte{0, 1, 2}, At: at,
			PInt: tabletest.Ptr(42), PF: tabletest.Ptr(math.Inf(-1)), PBool: tabletest.Ptr(false), PStr: tabletest.Ptr(""), PTime: tabletest.Ptr(at.Add(time.Hour)), PU64: tabletest.Ptr(uint64(9)), PInt16: tabletest.Ptr(int16(-1))},
		{ID: 2, Name: "", Raw: []byte{}, Temp: -0.5},
		{ID: 3, Name: "third\x00ü", Raw: nil, At: time.Unix(0, math.MinInt64).UTC(), PStr: tabletest.Ptr("p"), PTime: tabletest.Ptr(time.Unix(0, math.MaxInt64).UTC())},
	}
}

func roundTrip(t *testing.T, f core.Format, v any, typ reflect.Type) any {
	t.Helper()
	got, _ := tabletest.RoundTrip(t, f, v, typ)
	return got
}

func TestSliceRoundTrip(t *testing.T) {
	f := flowarrow.New(flowarrow.WithBatchRows(2)) // several batches
	rows := sampleRows()
	got := roundTrip(t, f, rows, reflect.TypeOf(rows)).([]Row)
	if len(got) != len(rows) || got[0].Name != "héllo" || *got[0].PInt != 42 || got[1].PInt != nil || got[2].Raw != nil || got[1].Raw == nil {
		t.Fatalf("got %+v", got)
	}
	if !got[1].At.IsZero() || got[0].At.Location() != time.UTC {
		t.Fatalf("times: %v %v", got[1].At, got[0].At.Location())
	}
	// nil and empty slices differ and stay apart.
	if got := roundTrip(t, f, []Row(nil), reflect.TypeOf(rows)).([]Row); got != nil {
		t.Fatalf("nil slice decoded as %#v", got)
	}
	if got := roundTrip(t, f, []Row{}, reflect.TypeOf(rows)).([]Row); got == nil || len(got) != 0 {
		t.Fatalf("empty slice decoded as %#v", got)
	}
}

func TestSliceLossyTimes(t *testing.T) {
	type R struct{ At time.Time }
	paris := time.FixedZone("CET", 3600)
	f := flowarrow.New()
	for _, at := range []time.Time{
		time.Date(2026, 1, 1, 0, 0, 0, 0, paris),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.Local).In(time.Local),
		time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		if at.Location() == time.UTC && at.Year() > 1700 && at.Year() < 2200 {
			continue
		}
		err := f.Encode(&bytes.Buffer{}, []R{{At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, {At: at}})
		if err == nil || !strings.Contains(err.Error(), "row 1") || !strings.Contains(err.Error(), "At") {
			t.Errorf("Encode(%v) = %v, want an error naming row 1 and field At", at, err)
		}
	}
	type S struct{ S string }
	if err := f.Encode(&bytes.Buffer{}, []S{{"ok"}, {"\xff"}}); err == nil || !strings.Contains(err.Error(), "row 1") {
		t.Errorf("Encode of invalid UTF-8 = %v, want an error naming row 1", err)
	}
	// A location named UTC with offset 0 is UTC to the fingerprint too.
	u := time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("UTC", 0))
	roundTrip(t, f, []R{{At: u}}, reflect.TypeOf([]R{}))
}

func TestCheck(t *testing.T) {
	f := flowarrow.New()
	ok := []any{[]Row{}, []struct{ A int }{}}
	for _, v := range ok {
		if err := f.Check(reflect.TypeOf(v)); err != nil {
			t.Errorf("Check(%T) = %v", v, err)
		}
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[arrow.RecordBatch](), reflect.TypeFor[arrow.Table]()} {
		if err := f.Check(typ); err != nil {
			t.Errorf("Check(%v) = %v", typ, err)
		}
	}
	type inner struct{ A int }
	bad := []struct {
		v    any
		want string
	}{
		{map[string]int{}, "map[string]int"},
		{[]struct{ M map[string]int }{}, "M"},
		{[]struct{ S []int }{}, "S"},
		{[]struct{ In inner }{}, "In"},
		{[]struct{ P *inner }{}, "P"},
		{[]struct{ X any }{}, "X"},
		{[]struct{ PP **int }{}, "PP"},
		{[]struct{ B *[]byte }{}, "B"},
		{[]struct{ a int }{}, "a"},
		{[]struct{ inner }{}, "inner"},
		{[]struct{}{}, "at least one field"},
		{[]struct {
			A int `arrow:"x"`
			B int `arrow:"x"`
		}{}, "both map"},
		{[]struct {
			A int `arrow:"-"`
		}{}, "skipped"},
		{[]int{}, "[]int"},
		{[]*Row{}, "[]*arrow_test.Row"},
		{Row{}, "Row"},
		{[]time.Time{}, "[]time.Time"},
		{[]struct{ C complex128 }{}, "C"},
	}
	for _, c := range bad {
		err := f.Check(reflect.TypeOf(c.v))
		if err == nil || !errors.Is(err, core.ErrUnsupportedType) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check(%T) = %v, want an ErrUnsupportedType naming %q", c.v, err, c.want)
		}
	}
	if err := f.Check(nil); !errors.Is(err, core.ErrUnsupportedType) {
		t.Errorf("Check(nil) = %v", err)
	}
}

func TestSchemaOf(t *testing.T) {
	s, err := flowarrow.SchemaOf(reflect.TypeFor[Row]())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ID": "int64", "U": "uint64", "temp_c": "float64", "Name": "utf8", "Raw": "binary", "At": "timestamp[ns, tz=UTC]", "PInt": "int64"}
	for name, typ := range want {
		i := s.FieldIndices(name)
		if len(i) != 1 || s.Field(i[0]).Type.String() != typ {
			t.Errorf("column %s: %v, want %s", name, s.Field(i[0]), typ)
		}
	}
	nullable := map[string]bool{"ID": false, "Name": false, "Raw": true, "At": true, "PInt": true, "PStr": true}
	for name, n := range nullable {
		if f := s.Field(s.FieldIndices(name)[0]); f.Nullable != n {
			t.Errorf("column %s nullable %t, want %t", name, f.Nullable, n)
		}
	}
}

// record builds a record of two int64 columns and one nullable string
// column.
func record(t testing.TB, ids []int64, names []string, valid []bool) arrow.RecordBatch {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i, id := range ids {
		b.Field(0).(*array.Int64Builder).Append(id)
		if valid[i] {
			b.Field(1).(*array.Float64Builder).Append(float64(id) / 2)
			b.Field(2).(*array.StringBuilder).Append(names[i])
		} else {
			b.Field(1).(*array.Float64Builder).AppendNull()
			b.Field(2).(*array.StringBuilder).AppendNull()
		}
	}
	return b.NewRecordBatch()
}

func sampleRecord(t testing.TB) arrow.RecordBatch {
	return record(t, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
		[]string{"a", "bb", "", "dddd", "e", "f", "g", "h", "i", "j"},
		[]bool{true, true, false, true, true, false, true, true, true, true})
}

func TestRecordRoundTrip(t *testing.T) {
	f := flowarrow.New()
	rec := sampleRecord(t)
	defer rec.Release()
	got := roundTrip(t, f, rec, reflect.TypeFor[arrow.RecordBatch]()).(arrow.RecordBatch)
	defer got.Release()
	if !array.RecordEqual(rec, got) {
		t.Fatalf("got %v", got)
	}
	// A slice of a record (nonzero offsets) round-trips to the same sum.
	sl := rec.NewSlice(3, 9)
	defer sl.Release()
	roundTrip(t, f, sl, reflect.TypeFor[arrow.RecordBatch]()).(arrow.RecordBatch).Release()
	// Zero rows.
	empty := rec.NewSlice(0, 0)
	defer empty.Release()
	roundTrip(t, f, empty, reflect.TypeFor[arrow.RecordBatch]()).(arrow.RecordBatch).Release()
	// A record read as a table and back.
	tbl := roundTrip(t, f, array.NewTableFromRecords(rec.Schema(), []arrow.RecordBatch{rec}), reflect.TypeFor[arrow.Table]()).(arrow.Table)
	tbl.Release()
}

func TestTableRoundTrip(t *testing.T) {
	f := flowarrow.New()
	rec := sampleRecord(t)
	defer rec.Release()
	parts := []arrow.RecordBatch{rec.NewSlice(0, 3), rec.NewSlice(3, 4), rec.NewSlice(4, 10)}
	tbl := array.NewTableFromRecords(rec.Schema(), parts)
	for _, p := range parts {
		p.Release()
	}
	defer tbl.Release()
	got := roundTrip(t, f, tbl, reflect.TypeFor[arrow.Table]()).(arrow.Table)
	defer got.Release()
	if got.NumRows() != 10 || got.Column(0).Data().Len() != 10 {
		t.Fatalf("got %v", got)
	}
	// A table stored as a record comes back as one record with the
	// table's rows.
	var buf bytes.Buffer
	if err := f.Encode(&buf, tbl); err != nil {
		t.Fatal(err)
	}
	r, err := f.Decode(&buf, reflect.TypeFor[arrow.RecordBatch]())
	if err != nil {
		t.Fatal(err)
	}
	if !array.RecordEqual(r.(arrow.RecordBatch), rec) {
		t.Fatalf("concatenated %v", r)
	}
	// Empty tables: no chunks at all, and zero-length chunks.
	none := array.NewTableFromRecords(rec.Schema(), nil)
	defer none.Release()
	zero := rec.NewSlice(5, 5)
	defer zero.Release()
	zeroChunks := array.NewTableFromRecords(rec.Schema(), []arrow.RecordBatch{zero, zero})
	defer zeroChunks.Release()
	if tabletest.Sum(t, none) != tabletest.Sum(t, zeroChunks) {
		t.Fatal("empty tables with and without chunks differ")
	}
	roundTrip(t, f, none, reflect.TypeFor[arrow.Table]()).(arrow.Table).Release()
	roundTrip(t, f, zeroChunks, reflect.TypeFor[arrow.Table]()).(arrow.Table).Release()
}

func TestDecodeMismatch(t *testing.T) {
	f := flowarrow.New()
	var buf bytes.Buffer
	if err := f.Encode(&buf, sampleRows()); err != nil {
		t.Fatal(err)
	}
	type Other struct{ ID string }
	if _, err := f.Decode(bytes.NewReader(buf.Bytes()), reflect.TypeFor[[]Other]()); err == nil {
		t.Fatal("decoding []Row as []Other succeeded")
	}
	if _, err := f.Decode(bytes.NewReader(buf.Bytes()), reflect.TypeFor[map[string]int]()); !errors.Is(err, core.ErrUnsupportedType) {
		t.Fatalf("decoding as a map: %v", err)
	}
}

// Every truncation of a stream is an error: the end-of-stream marker is
// required.
func TestDecodeTruncated(t *testing.T) {
	f := flowarrow.New(flowarrow.WithBatchRows(1))
	for _, v := range []any{sampleRows(), sampleRecord(t)} {
		var buf bytes.Buffer
		if err := f.Encode(&buf, v); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		typ := reflect.TypeOf(v)
		if _, ok := v.(arrow.RecordBatch); ok {
			typ = reflect.TypeFor[arrow.RecordBatch]()
		}
		for i := range b {
			if _, err := f.Decode(bytes.NewReader(b[:i]), typ); err == nil {
				t.Fatalf("%v: decoding %d of %d bytes succeeded", typ, i, len(b))
			}
		}
	}
}

// A stream whose header claims a huge body must fail without allocating
// it.
func TestDecodeHugeBody(t *testing.T) {
	f := flowarrow.New()
	var buf bytes.Buffer
	if err := f.Encode(&buf, sampleRows()[:1]); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// Find the record batch message's bodyLength (the body of one row is
	// a few hundred bytes) and make it enormous: patch every int64 that
	// equals a plausible body length.
	found := false
	for i := 0; i+8 <= len(b); i += 8 {
		n := int64(b[i]) | int64(b[i+1])<<8 | int64(b[i+2])<<16 | int64(b[i+3])<<24 | int64(b[i+4])<<32 | int64(b[i+5])<<40 | int64(b[i+6])<<48 | int64(b[i+7])<<56
		if n > 64 && n < 4096 && n%8 == 0 {
			c := append([]byte{}, b...)
			c[i+5] = 0x40 // ~70 TB
			var ms1, ms2 runtimeMem
			ms1.read()
			_, err := f.Decode(bytes.NewReader(c), reflect.TypeFor[[]Row]())
			ms2.read()
			if err == nil {
				continue
			}
			found = true
			if d := ms2.total - ms1.total; d > 64<<20 {
				t.Fatalf("decoding a corrupt body length allocated %d bytes", d)
			}
		}
	}
	if !found {
		t.Fatal("no body length patched")
	}
}
