package csv_test

import (
	"bytes"
	stdcsv "encoding/csv"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats"
	"github.com/flowcache/flowcache/formats/csv"
	"github.com/flowcache/flowcache/formats/internal/tabletest"
)

type Celsius float64

type Scalars struct {
	B    bool
	I    int
	I8   int8
	I16  int16
	I32  int32
	I64  int64
	U    uint
	U8   uint8
	U16  uint16
	U32  uint32
	U64  uint64
	F32  float32
	F64  float64
	S    string
	When time.Time
	Raw  []byte
	D    time.Duration
	C    Celsius
}

type Nullable struct {
	PB   *bool
	PI   *int
	PU   *uint16
	PF   *float64
	PF32 *float32
	PS   *string
	PT   *time.Time
	PC   *Celsius
}

type Tagged struct {
	ID    int    `csv:"id"`
	Name  string `csv:"full name"`
	Quote string `csv:"say \"hi\""`
	Plain string `csv:""`
}

type Event struct {
	time.Time // an embedded time.Time is a column named Time
	N         int
}

type OneNullable struct{ P *string }

type Table []Scalars

type Grid [][]string

var (
	utc      = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	unnamed  = time.FixedZone("", 5*3600+30*60)
	negative = time.FixedZone("", -7*3600)
	zeroOff  = time.FixedZone("", 0)
)

var tricky = []string{
	"", " ", " lead", "trail ", "\tx", "a,b", `he said "hi"`, `"`, `""`, "line\nbreak", "crlf\r\nx",
	"\r", "\n", "héllo wörld 世界 🎉", "\xff\xfe not utf-8", "NaN", "null", `\N`, ",", "a\"b,c\nd",
}

// roundTrip encodes v, decodes it as its own type and checks that the
// result has the same type and fingerprint. It returns the encoded bytes.
func roundTrip(t *testing.T, f core.Format, v any) []byte {
	t.Helper()
	_, data := tabletest.RoundTrip(t, f, v, reflect.TypeOf(v))
	return data
}

func TestName(t *testing.T) {
	if n := csv.New().Name(); n != "csv" {
		t.Fatalf("Name() = %q", n)
	}
	if n := csv.New(csv.LossyTimeZones(), csv.MaxRecordSize(10)).Name(); n != "csv" {
		t.Fatalf("Name() with options = %q", n)
	}
}

func TestRegistered(t *testing.T) {
	f, err := formats.Lookup("csv")
	if err != nil || f.Name() != "csv" {
		t.Fatalf("Lookup(csv) = %v, %v", f, err)
	}
}

func TestRoundTripScalars(t *testing.T) {
	f := csv.New()
	rows := []Scalars{
		{},
		{B: true, I: math.MinInt64, I8: math.MinInt8, I16: math.MinInt16, I32: math.MinInt32, I64: math.MinInt64,
			U: math.MaxUint64, U8: math.MaxUint8, U16: math.MaxUint16, U32: math.MaxUint32, U64: math.MaxUint64,
			F32: math.MaxFloat32, F64: math.MaxFloat64, S: "x", When: utc, Raw: []byte{0, 1, 2, 255}, D: -time.Hour, C: -40},
		{I: math.MaxInt64, I64: math.MaxInt64, F32: math.SmallestNonzeroFloat32, F64: math.SmallestNonzeroFloat64, Raw: []byte{}},
		{F32: float32(math.Inf(1)), F64: math.Inf(-1), C: Celsius(math.NaN())},
		{F32: float32(math.NaN()), F64: math.NaN()},
		{F32: float32(math.Copysign(0, -1)), F64: math.Copysign(0, -1)},
		{F32: 0.1, F64: 0.1, C: 1.0 / 3},
		{F64: 1e6, F32: 1e6},
		{F64: 1e21}, {F64: 1 << 53}, {F64: 1<<53 + 2}, {F64: -(1 << 52)}, {F64: 123456789.125}, {F64: 5e-324},
		{F64: math.Nextafter(1, 2)}, {F32: math.Nextafter32(1, 2)}, {F64: -1e-300},
	}
	for _, s := range tricky {
		rows = append(rows, Scalars{S: s, Raw: []byte(s)})
	}
	data := roundTrip(t, f, rows)
	if !strings.HasPrefix(string(data), "B,I,I8,I16,I32,I64,U,U8,U16,U32,U64,F32,F64,S,When,Raw,D,C\n") {
		t.Errorf("header: %q", strings.SplitN(string(data), "\n", 2)[0])
	}
	if !bytes.Contains(data, []byte(",NaN,NaN,")) || !bytes.Contains(data, []byte(",+Inf,-Inf,")) {
		t.Errorf("NaN and Inf not written as NaN, +Inf, -Inf:\n%s", data)
	}
	roundTrip(t, f, Table(rows))
	ptrs := make([]*Scalars, len(rows))
	for i := range rows {
		ptrs[i] = &rows[i]
	}
	roundTrip(t, f, ptrs)
}

// TestFloatsExact checks that floats load back with the same bits (except
// NaN payloads), beyond what fingerprints see.
func TestFloatsExact(t *testing.T) {
	type F struct {
		A float64
		B float32
	}
	var rows []F
	for i := range 2000 {
		x := math.Float64frombits(uint64(i)*0x9E3779B97F4A7C15 + 12345)
		y := math.Float32frombits(uint32(i)*0x9E3779B9 + 7)
		rows = append(rows, F{x, y})
	}
	var buf bytes.Buffer
	f := csv.New()
	if err := f.Encode(&buf, rows); err != nil {
		t.Fatal(err)
	}
	got, err := f.Decode(&buf, reflect.TypeOf(rows))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got.([]F) {
		w := rows[i]
		if math.IsNaN(w.A) != math.IsNaN(r.A) || !math.IsNaN(w.A) && math.Float64bits(w.A) != math.Float64bits(r.A) {
			t.Fatalf("row %d: float64 %v (%x) loaded as %v (%x)", i, w.A, math.Float64bits(w.A), r.A, math.Float64bits(r.A))
		}
		if math.IsNaN(float64(w.B)) != math.IsNaN(float64(r.B)) || !math.IsNaN(float64(w.B)) && math.Float32bits(w.B) != math.Float32bits(r.B) {
			t.Fatalf("row %d: float32 %v loaded as %v", i, w.B, r.B)
		}
	}
}

func TestRoundTripNullable(t *testing.T) {
	f := csv.New()
	rows := []Nullable{
		{},
		{PB: tabletest.Ptr(false), PI: tabletest.Ptr(0), PU: tabletest.Ptr[uint16](0), PF: tabletest.Ptr(0.0), PF32: tabletest.Ptr[float32](0), PS: tabletest.Ptr(""), PT: tabletest.Ptr(time.Time{}), PC: tabletest.Ptr[Celsius](0)},
		{PB: tabletest.Ptr(true), PI: tabletest.Ptr(-7), PU: tabletest.Ptr[uint16](9), PF: tabletest.Ptr(math.NaN()), PF32: tabletest.Ptr(float32(math.Inf(1))), PS: tabletest.Ptr("a,\"b\"\n"), PT: tabletest.Ptr(utc), PC: tabletest.Ptr[Celsius](36.6)},
	}
	for _, s := range tricky {
		rows = append(rows, Nullable{PS: tabletest.Ptr(s)})
	}
	data := roundTrip(t, f, rows)
	lines := strings.Split(string(data), "\n")
	if lines[1] != ",,,,,,," {
		t.Errorf("all-nil row written as %q, want empty unquoted cells", lines[1])
	}
	if !strings.Contains(lines[2], `,"",`) {
		t.Errorf("empty string written as %q, want a quoted empty cell", lines[2])
	}

	// nil and "" stay apart even when the row is a single cell (an empty line).
	one := []OneNullable{{nil}, {tabletest.Ptr("")}, {nil}, {tabletest.Ptr(" ")}}
	data = roundTrip(t, f, one)
	if string(data) != "P\n\n\"\"\n\n\" \"\r\n" {
		t.Errorf("single nullable column written as %q", data)
	}
}

func TestRoundTripTimes(t *testing.T) {
	type T struct {
		At time.Time
		P  *time.Time
	}
	times := []time.Time{
		{}, utc, utc.In(unnamed), utc.In(negative), utc.In(zeroOff),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(2024, 1, 1, 0, 0, 0, 100, unnamed),
		time.Now().UTC(), // a monotonic reading is not part of the value
		time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("UTC", 0)),
	}
	var rows []T
	for _, at := range times {
		rows = append(rows, T{At: at, P: &at})
	}
	data := roundTrip(t, csv.New(), rows)
	for _, want := range []string{"2024-05-06T07:08:09.123456789Z", "2024-05-06T12:38:09.123456789+05:30", "2024-05-06T00:08:09.123456789-07:00", "2024-05-06T07:08:09.123456789+00:00", "0001-01-01T00:00:00Z"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("output lacks %s:\n%s", want, data)
		}
	}
	got := decode[[]T](t, csv.New(), data)
	if got[2].At.Location().String() != "" || got[1].At.Location() != time.UTC {
		t.Errorf("locations: %v, %v", got[1].At.Location(), got[2].At.Location())
	}

	// time.Parse gives a time the machine's Local zone when the offset
	// matches it; Decode never does.
	old := time.Local
	time.Local = time.FixedZone("Somewhere", 5*3600+30*60)
	defer func() { time.Local = old }()
	roundTrip(t, csv.New(), rows)
}

func TestNamedZones(t *testing.T) {
	type T struct{ At time.Time }
	named := time.FixedZone("CET", 3600)
	odd := time.FixedZone("", 561) // not a whole number of minutes
	for _, at := range []time.Time{utc.In(named), utc.In(time.Local), utc.In(odd), utc.In(time.FixedZone("GMT", 0))} {
		var buf bytes.Buffer
		err := csv.New().Encode(&buf, []T{{utc}, {at}})
		if err == nil || !strings.Contains(err.Error(), "row 1, field T.At") || !strings.Contains(err.Error(), "LossyTimeZones") {
			t.Errorf("Encode of a time in zone %q: %v, want an error naming the row and field", at.Location(), err)
		}
	}

	// With LossyTimeZones the instant survives, the zone's name does not.
	f := csv.New(csv.LossyTimeZones())
	for _, c := range []struct {
		at   time.Time
		loc  string
		text string
	}{
		{utc.In(named), "", "08:08:09.123456789+01:00"},
		{utc.In(odd), "UTC", "07:08:09.123456789Z"},
		{utc.In(time.FixedZone("GMT", 0)), "UTC", "07:08:09.123456789Z"},
	} {
		var buf bytes.Buffer
		if err := f.Encode(&buf, []T{{c.at}}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), c.text) {
			t.Errorf("%v written as %q, want %s", c.at, buf.String(), c.text)
		}
		got := decode[[]T](t, f, buf.Bytes())
		if !got[0].At.Equal(c.at) || got[0].At.Location().String() != c.loc {
			t.Errorf("%v loaded as %v (zone %q), want the same instant in zone %q", c.at, got[0].At, got[0].At.Location(), c.loc)
		}
		if tabletest.Sum(t, got) == tabletest.Sum(t, []T{{c.at}}) {
			t.Errorf("%v: fingerprint unchanged; the doc says a named zone changes it", c.at)
		}
	}

	for _, y := range []int{-1, 10000} {
		err := csv.New().Encode(io.Discard, []T{{time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)}})
		if err == nil || !strings.Contains(err.Error(), "0..9999") {
			t.Errorf("year %d: %v", y, err)
		}
	}
}

func TestRoundTripTagsAndEmbedded(t *testing.T) {
	f := csv.New()
	data := roundTrip(t, f, []Tagged{{1, "a", "b", "c"}, {2, "", ",", "\""}})
	if h := strings.SplitN(string(data), "\n", 2)[0]; h != `id,full name,"say ""hi""",Plain` {
		t.Errorf("header %s", h)
	}
	data = roundTrip(t, f, []Event{{utc, 1}, {time.Time{}, 2}})
	if !strings.HasPrefix(string(data), "Time,N\n") {
		t.Errorf("embedded time: %q", data)
	}
	anon := []struct {
		X int `csv:"x"`
		Y string
	}{{1, "a"}}
	roundTrip(t, f, anon)
}

func TestRoundTripStrings(t *testing.T) {
	f := csv.New()
	rows := [][]string{
		{"a", "b", "c"},
		{"only"},
		{""},
		{"", ""},
		tricky,
		{"x", "", "y"},
		{","},
	}
	data := roundTrip(t, f, rows)
	got := decode[[][]string](t, f, data)
	if !reflect.DeepEqual(got, rows) {
		t.Errorf("got %q, want %q", got, rows)
	}
	roundTrip(t, f, Grid(rows))
	roundTrip(t, f, [][]string{{""}})

	// Documented: rows without cells are refused.
	for _, v := range [][][]string{{{"a"}, {}}, {{"a"}, nil}} {
		err := f.Encode(io.Discard, v)
		if err == nil || !strings.Contains(err.Error(), "row 1") {
			t.Errorf("Encode(%q) = %v, want an error naming row 1", v, err)
		}
	}
}

// TestEmpty checks that nil and empty tables load back as they were stored,
// nil or empty (a node may test rows == nil), and how they are written.
func TestEmpty(t *testing.T) {
	f := csv.New()
	for _, v := range []any{[]Scalars(nil), []Scalars{}, []*Nullable{}, []*Nullable(nil), [][]string(nil), [][]string{}, Table{}, Table(nil)} {
		data := encode(t, f, v)
		got, err := f.Decode(bytes.NewReader(data), reflect.TypeOf(v))
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		rv := reflect.ValueOf(got)
		if rv.Type() != reflect.TypeOf(v) || rv.IsNil() != reflect.ValueOf(v).IsNil() || rv.Len() != 0 {
			t.Errorf("%T %#v loaded as %#v", v, v, got)
		}
	}
	for _, c := range []struct {
		v    any
		want string
	}{
		{[]Tagged{}, "id,full name,\"say \"\"hi\"\"\",Plain\r\n"}, // the header only
		{[]Tagged(nil), "\r\n"},                                   // the end mark only
		{[][]string{}, "\r\n"},                                    // the end mark only
		{[][]string(nil), "\n\r\n"},                               // an empty line and the end mark
	} {
		if got := string(encode(t, f, c.v)); got != c.want {
			t.Errorf("%#v written as %q, want %q", c.v, got, c.want)
		}
	}
	// Empty lines are no rows of a table otherwise.
	for _, bad := range []string{"\n\r\n\r\n", "\n\n\r\n", "\na\r\n", "\r\n\r\n"} {
		if got, err := f.Decode(strings.NewReader(bad), reflect.TypeOf([][]string{})); err == nil {
			t.Errorf("%q decoded as %#v, want an error", bad, got)
		}
	}
	for _, bad := range []string{"\r\n\r\n", "\r\nA\r\n", "\n\r\n"} {
		if got, err := f.Decode(strings.NewReader(bad), reflect.TypeOf([]Scalars{})); err == nil {
			t.Errorf("%q decoded as %#v, want an error", bad, got)
		}
	}
}

// TestReadableByOthers checks that the files are ordinary CSV: encoding/csv
// (which, like pandas, reads both null and "" as empty) reads the same
// cells.
func TestReadableByOthers(t *testing.T) {
	f := csv.New()
	rows := [][]string{{"h1", "h2"}, {"a,b", `q"q`}, {"multi\nline", " sp "}, {"héllo", "NaN"}}
	r := stdcsv.NewReader(bytes.NewReader(encode(t, f, rows)))
	got, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rows) {
		t.Errorf("encoding/csv read %q, want %q", got, rows)
	}
	type R struct {
		A float64
		B *int
		C string
	}
	r = stdcsv.NewReader(bytes.NewReader(encode(t, f, []R{{1.5, nil, ""}, {math.Inf(1), tabletest.Ptr(3), "x y"}})))
	got, err = r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"A", "B", "C"}, {"1.5", "", ""}, {"+Inf", "3", "x y"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("encoding/csv read %q, want %q", got, want)
	}
}

// TestDecodeLenient checks input this package does not write but
// accepts: quoted numbers, other bool spellings, unquoted empty strings.
func TestDecodeLenient(t *testing.T) {
	type R struct {
		N int
		B bool
		S string
		P *float64
	}
	in := "N,B,S,\"P\"\n\"1\",True,plain,\n2,1,\"a\r\nb\",2.5\n3,F,,\"\"\r\n"
	_, err := csv.New().Decode(strings.NewReader(in), reflect.TypeFor[[]R]())
	if err == nil || !strings.Contains(err.Error(), "line 5") || !strings.Contains(err.Error(), `column "P"`) {
		t.Fatalf("a quoted empty float: %v, want an error on line 5, column P", err)
	}
	in = strings.TrimSuffix(in, "\"\"\r\n") + "\r\n"
	got := decode[[]R](t, csv.New(), []byte(in))
	want := []R{{1, true, "plain", nil}, {2, true, "a\r\nb", tabletest.Ptr(2.5)}, {3, false, "", nil}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// TestEndMark checks that a table cut between records, or with anything
// after its end, is an error: every strict prefix of an encoding fails.
func TestEndMark(t *testing.T) {
	f := csv.New()
	for _, v := range []any{[]Tagged{{1, "a", "b", "c"}, {2, "d", "e", "f"}}, []OneNullable{{nil}, {nil}}, [][]string{{"a"}, {"b", "c"}}, [][]string{}, []Tagged{}} {
		data := encode(t, f, v)
		typ := reflect.TypeOf(v)
		for n := range len(data) {
			if got, err := f.Decode(bytes.NewReader(data[:n]), typ); err == nil {
				t.Errorf("%v: the first %d of %d bytes decoded to %v", typ, n, len(data), got)
			}
		}
		for _, extra := range []string{"\n", "\r\n", "x", "a\r\n"} {
			if _, err := f.Decode(bytes.NewReader(append(bytes.Clone(data), extra...)), typ); err == nil {
				t.Errorf("%v: decoded with %q after the end", typ, extra)
			}
		}
	}
	// Files from other writers lack the end mark (all "\n" or all "\r\n").
	for _, in := range []string{"A\n1\n2\n", "A\r\n1\r\n2\r\n"} {
		_, err := f.Decode(strings.NewReader(in), reflect.TypeFor[[]struct{ A int }]())
		if err == nil || !strings.Contains(err.Error(), "end") {
			t.Errorf("%q: %v, want an error about the end mark", in, err)
		}
	}
}

type withMap struct{ M map[string]int }
type withNested struct{ N struct{ A int } }
type withNestedPtr struct{ N *Tagged }
type Base struct{ A int }
type withEmbedded struct {
	Base
	B int
}
type withSlice struct{ S []int }
type withArray struct{ A [4]byte }
type withIface struct{ I any }
type withFunc struct{ F func() }
type withChan struct{ C chan int }
type withComplex struct{ C complex128 }
type withPtrPtr struct{ P **int }
type withPtrBytes struct{ P *[]byte }
type withUintptr struct{ U uintptr }
type withUnexported struct {
	A int
	b int
}
type withSkip struct {
	A int
	B int `csv:"-"`
}
type withTagOpts struct {
	A int `csv:"a,omitempty"`
}
type withDup struct {
	A int `csv:"x"`
	B int `csv:"x"`
}
type empty struct{}

var _ = withUnexported{b: 1}.b

func TestCheckRejects(t *testing.T) {
	f := csv.New()
	cases := []struct {
		v    any
		want []string
	}{
		{map[string]int{}, []string{"map[string]int", "not a table"}},
		{[]int{}, []string{"[]int", "not a table"}},
		{42, []string{"int", "not a table"}},
		{"s", []string{"not a table"}},
		{Scalars{}, []string{"csv_test.Scalars", "not a table"}},
		{&[]Scalars{}, []string{"not a table"}},
		{[]time.Time{}, []string{"not a table"}},
		{[]map[string]int{}, []string{"not a table"}},
		{[][]int{}, []string{"not a table"}},
		{[]**Scalars{}, []string{"not a table"}},
		{[]withMap{}, []string{"withMap.M", "map[string]int"}},
		{[]withNested{}, []string{"withNested.N", "nested struct"}},
		{[]withNestedPtr{}, []string{"withNestedPtr.N", "nested struct"}},
		{[]withEmbedded{}, []string{"withEmbedded.Base", "embedded"}},
		{[]withSlice{}, []string{"withSlice.S", "[]int"}},
		{[]withArray{}, []string{"withArray.A", "[4]uint8"}},
		{[]withIface{}, []string{"withIface.I", "interface"}},
		{[]withFunc{}, []string{"withFunc.F", "func"}},
		{[]withChan{}, []string{"withChan.C", "chan"}},
		{[]withComplex{}, []string{"withComplex.C", "complex128"}},
		{[]withPtrPtr{}, []string{"withPtrPtr.P", "pointer to a pointer"}},
		{[]withPtrBytes{}, []string{"withPtrBytes.P", "pointer to a slice"}},
		{[]withUintptr{}, []string{"withUintptr.U", "uintptr"}},
		{[]withUnexported{}, []string{"withUnexported.b", "unexported"}},
		{[]withSkip{}, []string{"withSkip.B", `csv:"-"`}},
		{[]withTagOpts{}, []string{"withTagOpts.A", "omitempty"}},
		{[]withDup{}, []string{"withDup.A", "withDup.B", `"x"`}},
		{[]empty{}, []string{"no fields"}},
		{[]*withMap{}, []string{"withMap.M"}},
	}
	for _, c := range cases {
		typ := reflect.TypeOf(c.v)
		err := f.Check(typ)
		if err == nil || !errors.Is(err, core.ErrUnsupportedType) {
			t.Errorf("Check(%v) = %v, want an error wrapping ErrUnsupportedType", typ, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Check(%v) = %q, want it to name %q", typ, err, w)
			}
		}
		if err := f.Encode(io.Discard, c.v); !errors.Is(err, core.ErrUnsupportedType) {
			t.Errorf("Encode(%v) = %v, want ErrUnsupportedType", typ, err)
		}
		if _, err := f.Decode(strings.NewReader(""), typ); !errors.Is(err, core.ErrUnsupportedType) {
			t.Errorf("Decode(%v) = %v, want ErrUnsupportedType", typ, err)
		}
	}
	if err := f.Check(nil); !errors.Is(err, core.ErrUnsupportedType) {
		t.Errorf("Check(nil) = %v", err)
	}
	if err := f.Encode(io.Discard, nil); err == nil {
		t.Error("Encode(nil) succeeded")
	}
}

func TestEncodeErrors(t *testing.T) {
	f := csv.New()
	err := f.Encode(io.Discard, []*Tagged{{ID: 1}, nil})
	if err == nil || !strings.Contains(err.Error(), "row 1") {
		t.Errorf("nil row: %v", err)
	}
	small := csv.New(csv.MaxRecordSize(64))
	err = small.Encode(io.Discard, [][]string{{"ok"}, {strings.Repeat("x", 100)}})
	if err == nil || !strings.Contains(err.Error(), "row 1") || !strings.Contains(err.Error(), "MaxRecordSize") {
		t.Errorf("oversized row: %v", err)
	}
	werr := errors.New("disk full")
	err = f.Encode(failWriter{werr}, [][]string{{"a"}})
	if !errors.Is(err, werr) {
		t.Errorf("write error: %v", err)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

type Other struct {
	ID    int    `csv:"id"`
	Name  string `csv:"full name"`
	Quote string `csv:"say \"hi\""`
}

type Reordered struct {
	Name  string `csv:"full name"`
	ID    int    `csv:"id"`
	Quote string `csv:"say \"hi\""`
	Plain string
}

func TestDecodeErrors(t *testing.T) {
	f := csv.New()
	tagged := encode(t, f, []Tagged{{1, "a", "b", "c"}})
	typT := reflect.TypeFor[[]Tagged]()
	typS := reflect.TypeFor[[]Scalars]()
	cases := []struct {
		name string
		in   string
		typ  reflect.Type
		want string
	}{
		{"fewer columns", string(tagged), reflect.TypeFor[[]Other](), "header"},
		{"other order", string(tagged), reflect.TypeFor[[]Reordered](), "header"},
		{"other type", string(tagged), typS, "header"},
		{"empty", "", typT, "empty input"},
		{"truncated", strings.TrimSuffix(string(tagged), "\n"), typT, "without a line end"},
		{"truncated in quotes", "id\n\"1", reflect.TypeFor[[]struct {
			ID int `csv:"id"`
		}](), "without a line end"},
		{"unclosed quote", "a\n\"x\n", reflect.TypeFor[[][]string](), "not closed"},
		{"bare quote", "a\"b\n", reflect.TypeFor[[][]string](), "quote inside"},
		{"after quote", "\"a\"b\n", reflect.TypeFor[[][]string](), "after a closing quote"},
		{"bare CR", "a\rb\n", reflect.TypeFor[[][]string](), "carriage return"},
		{"short row", "id,full name,\"say \"\"hi\"\"\",Plain\n1,a,b\n", typT, "3 cells, want 4"},
		{"long row", "id,full name,\"say \"\"hi\"\"\",Plain\n1,a,b,c,d\n", typT, "5 cells, want 4"},
		{"bad int", "id,full name,\"say \"\"hi\"\"\",Plain\nx,a,b,c\n", typT, `column "id"`},
		{"empty int", "id,full name,\"say \"\"hi\"\"\",Plain\n,a,b,c\n", typT, "cannot be null"},
		{"int overflow", "A\n128\n", reflect.TypeFor[[]struct{ A int8 }](), "out of range"},
		{"uint negative", "A\n-1\n", reflect.TypeFor[[]struct{ A uint }](), "invalid syntax"},
		{"float32 overflow", "A\n1e39\n", reflect.TypeFor[[]struct{ A float32 }](), "out of range"},
		{"bad bool", "A\nyes\n", reflect.TypeFor[[]struct{ A bool }](), "invalid syntax"},
		{"bad time", "A\n2024-13-01T00:00:00Z\n", reflect.TypeFor[[]struct{ A time.Time }](), "month out of range"},
		{"bad base64", "A\n!!!!\n", reflect.TypeFor[[]struct{ A []byte }](), "illegal base64"},
	}
	for _, c := range cases {
		_, err := f.Decode(strings.NewReader(c.in), c.typ)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Decode = %v, want an error containing %q", c.name, err, c.want)
		}
	}

	// The record limit bounds what corrupt input can make Decode buffer,
	// in a single long line and across lines of one quoted cell.
	small := csv.New(csv.MaxRecordSize(1000))
	for _, in := range []string{strings.Repeat("x", 200000) + "\n", "\"" + strings.Repeat("x\n", 100000) + "\"\n"} {
		_, err := small.Decode(strings.NewReader(in), reflect.TypeFor[[][]string]())
		if err == nil || !strings.Contains(err.Error(), "limit of 1000 bytes") {
			t.Errorf("oversized record: %v", err)
		}
	}

	rerr := errors.New("network down")
	_, err := f.Decode(iotest.ErrReader(rerr), typT)
	if !errors.Is(err, rerr) {
		t.Errorf("read error: %v", err)
	}
}

// TestStreamingReads checks that Decode works with readers that return a
// byte at a time and that return data with io.EOF, and with lines longer
// than its read buffer.
func TestStreamingReads(t *testing.T) {
	f := csv.New()
	long := strings.Repeat("long cell, \"quoted\"\n", 20000)
	rows := []Tagged{{1, long, "b", "c"}, {2, "x", long + long, ""}, {3, strings.Repeat("y", 200000), "", "z"}}
	data := encode(t, f, rows)
	for name, r := range map[string]io.Reader{
		"one byte": iotest.OneByteReader(bytes.NewReader(data)),
		"data+EOF": iotest.DataErrReader(bytes.NewReader(data)),
		"half":     iotest.HalfReader(bytes.NewReader(data)),
	} {
		got, err := f.Decode(r, reflect.TypeOf(rows))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, rows) {
			t.Errorf("%s: rows differ", name)
		}
	}
}

func TestConcurrent(t *testing.T) {
	f := csv.New()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			type R struct{ A, B int }
			rows := []R{{i, i}, {i + 1, -i}}
			var buf bytes.Buffer
			if err := f.Encode(&buf, rows); err != nil {
				t.Error(err)
				return
			}
			got, err := f.Decode(&buf, reflect.TypeOf(rows))
			if err != nil || !reflect.DeepEqual(got, rows) {
				t.Errorf("got %v, %v", got, err)
			}
		})
	}
	wg.Wait()
}

func TestLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large table")
	}
	rows := benchRows(200000)
	data := roundTrip(t, csv.New(), rows)
	t.Logf("%d rows, %d bytes", len(rows), len(data))
}

func encode(t *testing.T, f core.Format, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := f.Encode(&buf, v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decode[T any](t *testing.T, f core.Format, data []byte) T {
	t.Helper()
	got, err := f.Decode(bytes.NewReader(data), reflect.TypeFor[T]())
	if err != nil {
		t.Fatalf("Decode(%v): %v\n%s", reflect.TypeFor[T](), err, data)
	}
	return got.(T)
}
