package arrow_test

import (
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/flowcache/flowcache/core/fingerprint"
	"github.com/flowcache/flowcache/formats/internal/tabletest"
)

func fromJSON(t testing.TB, dt arrow.DataType, js string) arrow.Array {
	t.Helper()
	a, _, err := array.FromJSON(memory.DefaultAllocator, dt, strings.NewReader(js))
	if err != nil {
		t.Fatalf("FromJSON(%v, %s): %v", dt, js, err)
	}
	return a
}

// rec makes a record of one column per field, from JSON arrays.
func rec(t testing.TB, fields []arrow.Field, cols ...string) arrow.RecordBatch {
	t.Helper()
	arrs := make([]arrow.Array, len(fields))
	for i, f := range fields {
		arrs[i] = fromJSON(t, f.Type, cols[i])
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, int64(arrs[0].Len()))
}

var testFields = []arrow.Field{
	{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
}

var testCols = []string{
	`[1, 2, null, 4, 5, 6, 7, 8, 9, 10, 11, 12]`,
	`[0.5, null, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5]`,
	`[true, false, null, true, true, false, true, false, true, true, false, true]`,
	`["a", "bb", null, "", "eeeee", "f", "g", "h", "i", "j", "k", "l"]`,
	`[[1], [], null, [2, 3], [4], [5], [6], [7], [8], [9], [10], [11]]`,
}

func TestFingerprintSlicingAndChunking(t *testing.T) {
	full := rec(t, testFields, testCols...)
	// The same rows 3..11 built directly, without offsets.
	sub := make([]string, len(testCols))
	for i, c := range testCols {
		vals := splitJSON(c)
		sub[i] = "[" + strings.Join(vals[3:], ",") + "]"
	}
	direct := rec(t, testFields, sub...)
	sliced := full.NewSlice(3, 12)
	if tabletest.Sum(t, direct) != tabletest.Sum(t, sliced) {
		t.Fatal("a slice and the same rows built directly differ")
	}
	// Rechunked tables, with offsets that are not multiples of 8.
	one := array.NewTableFromRecords(full.Schema(), []arrow.RecordBatch{full})
	for _, cuts := range [][]int64{{0, 12}, {0, 1, 12}, {0, 3, 4, 11, 12}, {0, 5, 5, 9, 12}} {
		var parts []arrow.RecordBatch
		for i := 0; i+1 < len(cuts); i++ {
			parts = append(parts, full.NewSlice(cuts[i], cuts[i+1]))
		}
		tbl := array.NewTableFromRecords(full.Schema(), parts)
		if tabletest.Sum(t, tbl) != tabletest.Sum(t, one) {
			t.Fatalf("chunks %v: table sums differently", cuts)
		}
	}
	if tabletest.Sum(t, one) == tabletest.Sum(t, full) {
		t.Fatal("a table and a record sum equal") // different types
	}
}

func splitJSON(js string) []string {
	// Top-level elements of a JSON array of scalars or flat arrays.
	js = strings.TrimSpace(js)
	js = js[1 : len(js)-1]
	var out []string
	depth, start := 0, 0
	for i, c := range js {
		switch c {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(js[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(js[start:]))
}

func TestFingerprintDiffers(t *testing.T) {
	base := tabletest.Sum(t, rec(t, testFields, testCols...))
	change := func(col int, from, to string) []string {
		c := append([]string{}, testCols...)
		if !strings.Contains(c[col], from) {
			t.Fatalf("%q not in column %d", from, col)
		}
		c[col] = strings.Replace(c[col], from, to, 1)
		return c
	}
	cases := map[string]arrow.RecordBatch{
		"int value":    rec(t, testFields, change(0, "12]", "13]")...),
		"int null":     rec(t, testFields, change(0, "null, 4", "3, null")...),
		"float value":  rec(t, testFields, change(1, "10.5", "10.25")...),
		"bool value":   rec(t, testFields, change(2, "false, true]", "true, true]")...),
		"string value": rec(t, testFields, change(3, `"bb"`, `"b"`)...),
		"string split": rec(t, testFields, change(3, `"a", "bb"`, `"ab", "b"`)...),
		"string null":  rec(t, testFields, change(3, `""`, `null`)...),
		"list value":   rec(t, testFields, change(4, "[2, 3]", "[3, 2]")...),
	}
	renamed := append([]arrow.Field{}, testFields...)
	renamed[0].Name = "j"
	cases["column name"] = rec(t, renamed, testCols...)
	retyped := append([]arrow.Field{}, testFields...)
	retyped[0].Type = arrow.PrimitiveTypes.Uint64
	cases["column type"] = rec(t, retyped, change(0, "null", "3")...)
	notNull := append([]arrow.Field{}, testFields...)
	notNull[1].Nullable = false
	cases["nullability"] = rec(t, notNull, testCols...)
	meta := append([]arrow.Field{}, testFields...)
	meta[2].Metadata = arrow.NewMetadata([]string{"k"}, []string{"v"})
	cases["field metadata"] = rec(t, meta, testCols...)
	seen := map[fingerprint.Sum]string{base: "base"}
	for name, r := range cases {
		s := tabletest.Sum(t, r)
		if prev, dup := seen[s]; dup {
			t.Errorf("%s sums like %s", name, prev)
		}
		seen[s] = name
	}
	if base == tabletest.Sum(t, rec(t, testFields[:1], `[1, 2, null, 4, 5, 6, 7, 8, 9, 10, 11]`)) {
		t.Error("fewer columns, same sum")
	}
}

// Values under nulls, NaN payloads, -0 and an all-valid bitmap are not
// content.
func TestFingerprintCanonical(t *testing.T) {
	f := arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true}
	schema := arrow.NewSchema([]arrow.Field{f}, nil)
	mk := func(vals []float64, valid []byte, nulls int) arrow.RecordBatch {
		var bm *memory.Buffer
		if valid != nil {
			bm = memory.NewBufferBytes(valid)
		}
		b := make([]byte, 8*len(vals))
		for i, v := range vals {
			bits := math.Float64bits(v)
			for k := range 8 {
				b[8*i+k] = byte(bits >> (8 * k))
			}
		}
		data := array.NewData(f.Type, len(vals), []*memory.Buffer{bm, memory.NewBufferBytes(b)}, nil, nulls, 0)
		return array.NewRecordBatch(schema, []arrow.Array{array.MakeFromData(data)}, int64(len(vals)))
	}
	nan2 := math.Float64frombits(0x7ff0000000000001)
	a := mk([]float64{1, 0, math.NaN(), 4}, []byte{0b1101}, 1)
	b := mk([]float64{1, 99, nan2, 4}, []byte{0b1101}, 1)
	if tabletest.Sum(t, a) != tabletest.Sum(t, b) {
		t.Error("garbage under a null or another NaN changed the sum")
	}
	c := mk([]float64{1, 2, 3}, nil, 0)
	d := mk([]float64{1, 2, 3}, []byte{0b111}, 0)
	if tabletest.Sum(t, c) != tabletest.Sum(t, d) {
		t.Error("an all-valid bitmap changed the sum")
	}
	if tabletest.Sum(t, mk([]float64{math.Copysign(0, -1)}, nil, 0)) == tabletest.Sum(t, mk([]float64{0}, nil, 0)) {
		t.Error("-0 and +0 have the same sum")
	}
	if tabletest.Sum(t, mk([]float64{math.Copysign(0, -1), math.NaN()}, nil, 0)) == tabletest.Sum(t, mk([]float64{0, math.NaN()}, nil, 0)) {
		t.Error("-0 and +0 have the same sum in a block with a NaN")
	}
	// Booleans with garbage under a null, at an odd offset.
	bt := arrow.FixedWidthTypes.Boolean
	bs := arrow.NewSchema([]arrow.Field{{Name: "b", Type: bt, Nullable: true}}, nil)
	mkb := func(vals, valid byte, off int) arrow.RecordBatch {
		v := []byte{vals << off, vals >> (8 - off)}
		m := []byte{valid << off, valid >> (8 - off)}
		nulls := 4 - bitutil.CountSetBits(m, off, 4)
		data := array.NewData(bt, 4, []*memory.Buffer{memory.NewBufferBytes(m), memory.NewBufferBytes(v)}, nil, nulls, off)
		return array.NewRecordBatch(bs, []arrow.Array{array.MakeFromData(data)}, 4)
	}
	if tabletest.Sum(t, mkb(0b1001, 0b1101, 0)) != tabletest.Sum(t, mkb(0b1011, 0b1101, 5)) {
		t.Error("boolean garbage under a null or the offset changed the sum")
	}
}
