package csv_test

import (
	"bytes"
	stdcsv "encoding/csv"
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
	"github.com/flowcache/flowcache/core/fingerprint"
	"github.com/flowcache/flowcache/formats/csv"
)

var arrowSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
	{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
	{Name: "u64", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "price", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "name, \"quoted\"", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "plain", Type: arrow.BinaryTypes.String},
	{Name: "raw", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "when", Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}, Nullable: true},
}, nil)

// arrowRecord makes a record of n rows starting at row from, with nulls,
// NaN, ±Inf, times and strings that need quotes.
func arrowRecord(t testing.TB, from, n int) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(memory.DefaultAllocator, arrowSchema)
	defer b.Release()
	strs := []string{"a,b", "say \"hi\"", "line\nbreak\r\nend", "", " pad ", "héllo"}
	floats := []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0.1, 1e300}
	when := time.Date(2024, 5, 6, 7, 8, 9, 500, time.UTC)
	for i := from; i < from+n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i) - 1<<62)
		b.Field(1).(*array.Int8Builder).AppendValues([]int8{int8(-i)}, []bool{i%2 == 0})
		b.Field(2).(*array.Uint32Builder).Append(uint32(i))
		b.Field(3).(*array.Uint64Builder).Append(math.MaxUint64 - uint64(i))
		b.Field(4).(*array.Float32Builder).Append(float32(i) / 3)
		if i%7 == 3 {
			b.Field(5).(*array.Float64Builder).AppendNull()
		} else {
			b.Field(5).(*array.Float64Builder).Append(floats[i%len(floats)])
		}
		b.Field(6).(*array.BooleanBuilder).AppendValues([]bool{i%3 == 0}, []bool{i%5 != 0})
		if i%4 == 1 {
			b.Field(7).(*array.StringBuilder).AppendNull()
		} else {
			b.Field(7).(*array.StringBuilder).Append(strs[i%len(strs)])
		}
		b.Field(8).(*array.StringBuilder).Append(strs[(i+1)%len(strs)])
		switch i % 3 {
		case 0:
			b.Field(9).(*array.BinaryBuilder).AppendNull()
		case 1:
			b.Field(9).(*array.BinaryBuilder).Append([]byte{})
		default:
			b.Field(9).(*array.BinaryBuilder).Append([]byte{0, 255, byte(i)})
		}
		if i%6 == 5 {
			b.Field(10).(*array.TimestampBuilder).AppendNull()
		} else {
			ts, _ := arrow.TimestampFromTime(when.Add(time.Duration(i)*time.Hour), arrow.Nanosecond)
			b.Field(10).(*array.TimestampBuilder).Append(ts)
		}
	}
	return b.NewRecordBatch()
}

func fp(t *testing.T, v any) fingerprint.Sum {
	t.Helper()
	f, err := fingerprint.Of(v)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestArrowRecordRoundTrip(t *testing.T) {
	rec := arrowRecord(t, 0, 50)
	defer rec.Release()
	f := csv.New()
	if err := f.Check(reflect.TypeFor[arrow.RecordBatch]()); err != nil {
		t.Fatal(err)
	}
	// arrow.Record is a (deprecated) alias of arrow.RecordBatch: the same type.
	if err := f.Check(reflect.TypeFor[arrow.Table]()); err != nil {
		t.Fatal(err)
	}
	if err := f.Check(reflect.TypeFor[arrow.Array]()); !errors.Is(err, core.ErrUnsupportedType) {
		t.Fatalf("Check(arrow.Array) = %v, want an unsupported-type error", err)
	}
	var buf bytes.Buffer
	if err := f.Encode(&buf, rec); err != nil {
		t.Fatal(err)
	}
	v, err := f.Decode(bytes.NewReader(buf.Bytes()), reflect.TypeFor[arrow.RecordBatch]())
	if err != nil {
		t.Fatal(err)
	}
	got := v.(arrow.RecordBatch)
	defer got.Release()
	if !got.Schema().Equal(rec.Schema()) {
		t.Fatalf("schema %v, want %v", got.Schema(), rec.Schema())
	}
	if got.NumRows() != rec.NumRows() {
		t.Fatalf("%d rows, want %d", got.NumRows(), rec.NumRows())
	}
	if fp(t, got) != fp(t, rec) {
		t.Fatal("fingerprints differ after the round trip")
	}
	// Also equal as values (NaN != NaN, so compare the text of each cell).
	for j, col := range rec.Columns() {
		for i := range col.Len() {
			if a, b := col.ValueStr(i), got.Column(j).ValueStr(i); a != b {
				t.Fatalf("column %s row %d: %q, want %q", rec.ColumnName(j), i, b, a)
			}
		}
	}
	// Writing it again gives the same bytes.
	var again bytes.Buffer
	if err := f.Encode(&again, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Fatal("re-encoding the decoded record changed the bytes")
	}
}

func TestArrowTableRoundTrip(t *testing.T) {
	var recs []arrow.RecordBatch
	for _, n := range []int{7, 0, 20, 1} {
		from := 0
		for _, r := range recs {
			from += int(r.NumRows())
		}
		recs = append(recs, arrowRecord(t, from, n))
	}
	tbl := array.NewTableFromRecords(arrowSchema, recs)
	for _, r := range recs {
		r.Release()
	}
	defer tbl.Release()
	if n := len(tbl.Column(0).Data().Chunks()); n < 2 {
		t.Fatalf("table has %d chunks, want several", n)
	}
	f := csv.New()
	var buf bytes.Buffer
	if err := f.Encode(&buf, tbl); err != nil {
		t.Fatal(err)
	}
	v, err := f.Decode(bytes.NewReader(buf.Bytes()), reflect.TypeFor[arrow.Table]())
	if err != nil {
		t.Fatal(err)
	}
	got := v.(arrow.Table)
	defer got.Release()
	if got.NumRows() != 28 || !got.Schema().Equal(arrowSchema) {
		t.Fatalf("got %d rows of %v", got.NumRows(), got.Schema())
	}
	if fp(t, got) != fp(t, tbl) {
		t.Fatal("fingerprints differ after the round trip")
	}

	// An empty table: the header alone.
	empty := array.NewTableFromRecords(arrowSchema, nil)
	defer empty.Release()
	buf.Reset()
	if err := f.Encode(&buf, empty); err != nil {
		t.Fatal(err)
	}
	v, err = f.Decode(bytes.NewReader(buf.Bytes()), reflect.TypeFor[arrow.Table]())
	if err != nil {
		t.Fatal(err)
	}
	defer v.(arrow.Table).Release()
	if fp(t, v) != fp(t, empty) {
		t.Fatal("empty table: fingerprints differ after the round trip")
	}
}

func TestArrowPlainCSV(t *testing.T) {
	rec := arrowRecord(t, 0, 12)
	defer rec.Release()
	var buf bytes.Buffer
	if err := csv.New().Encode(&buf, rec); err != nil {
		t.Fatal(err)
	}
	rows, err := stdcsv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := []string{"id [int64 not null]", "i8 [int8]", "u32 [uint32]", "u64 [uint64 not null]", "f32 [float32]",
		"price [float64]", "ok [bool]", "name, \"quoted\" [utf8]", "plain [utf8 not null]", "raw [binary]", "when [timestamp[ns, tz=UTC]]"}
	if !reflect.DeepEqual(rows[0], wantHeader) {
		t.Fatalf("header %q, want %q", rows[0], wantHeader)
	}
	if len(rows) != 13 {
		t.Fatalf("%d records, want 13", len(rows))
	}
	if got := rows[1]; got[5] != "NaN" || got[7] != "a,b" || got[8] != `say "hi"` || got[10] != "2024-05-06T07:08:09.0000005Z" {
		t.Fatalf("row 0: %q", got)
	}
	// encoding/csv reads "\r\n" inside a quoted cell as "\n"; nulls and
	// empty strings both as "".
	if got := rows[3][7]; got != "line\nbreak\nend" {
		t.Fatalf("row 2 name %q", got)
	}
	if got := rows[2][7]; got != "" {
		t.Fatalf("row 1 name %q, want the null's empty cell", got)
	}
}

func TestArrowUnsupported(t *testing.T) {
	f := csv.New()
	mem := memory.DefaultAllocator
	for _, tc := range []struct {
		name  string
		field arrow.Field
		md    *arrow.Metadata
		want  string
	}{
		{"list", arrow.Field{Name: "tags", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true}, nil, `column "tags" of type list`},
		{"struct", arrow.Field{Name: "point", Type: arrow.StructOf(arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Float64}), Nullable: true}, nil, `column "point" of type struct`},
		{"ms timestamps", arrow.Field{Name: "t", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}}, nil, `column "t" of type timestamp[ms`},
		{"field metadata", arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int64, Metadata: arrow.NewMetadata([]string{"PARQUET:field_id"}, []string{"1"})}, nil, `column "x": it has field metadata`},
		{"schema metadata", arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int64}, ptrTo(arrow.NewMetadata([]string{"pandas"}, []string{"{}"})), `schema metadata`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			schema := arrow.NewSchema([]arrow.Field{{Name: "ok", Type: arrow.PrimitiveTypes.Int64}, tc.field}, tc.md)
			b := array.NewRecordBuilder(mem, schema)
			defer b.Release()
			rec := b.NewRecordBatch()
			defer rec.Release()
			err := f.Encode(&bytes.Buffer{}, rec)
			if !errors.Is(err, core.ErrUnsupportedType) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Encode: %v, want an unsupported-type error containing %q", err, tc.want)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestArrowDecodeErrors(t *testing.T) {
	f := csv.New()
	for _, in := range []string{
		"x\r\n",                               // no type
		"x [list<int64>]\r\n",                 // unknown type
		"x [int64]\n1\n2",                     // truncated
		"x [int64 not null]\n\r\n",            // null in a non-null column
		"x [int8]\n300\r\n",                   // out of range
		"x [int64],y [bool]\n1\r\n",           // short row
		"x [timestamp[ns, tz=UTC]]\nnope\r\n", // bad time
		"x [binary]\n!!\r\n",                  // bad base64
	} {
		for _, typ := range []reflect.Type{reflect.TypeFor[arrow.RecordBatch](), reflect.TypeFor[arrow.Table]()} {
			if v, err := f.Decode(strings.NewReader(in), typ); err == nil {
				t.Errorf("Decode(%q) = %v, want an error", in, v)
			}
		}
	}
}
