package csv

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats"
)

func init() { formats.Register(New()) }

// DefaultMaxRecordSize is the default limit on the bytes of one record (a
// row, quotes and line end included), for Encode and Decode.
const DefaultMaxRecordSize = 64 << 20

// Option configures the format. Options change what Encode accepts and
// what Decode is willing to read, never the bytes written for a value that
// is accepted, so every configuration shares the name "csv".
type Option func(*config)

type config struct {
	lossyZones bool
	maxRecord  int
}

// LossyTimeZones lets Encode store times in named zones (time.Local,
// Europe/Paris, ...) as their UTC offset. They load back as the same
// instant in an unnamed fixed zone, which fingerprints differently from the
// stored value: downstream nodes see a different data version after a load.
func LossyTimeZones() Option { return func(c *config) { c.lossyZones = true } }

// MaxRecordSize sets the limit on the bytes of one record (default
// DefaultMaxRecordSize). Encode refuses a larger row and Decode fails on
// one, so corrupt input cannot make Decode buffer more than n bytes. n <= 0
// keeps the default.
func MaxRecordSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxRecord = n
		}
	}
}

// Format returns the CSV format, named "csv". See the package doc for what
// it stores and how.
func New(opts ...Option) core.Format {
	c := config{maxRecord: DefaultMaxRecordSize}
	for _, o := range opts {
		o(&c)
	}
	return &format{cfg: c}
}

type format struct{ cfg config }

var _ core.Format = (*format)(nil)

// Name returns "csv".
func (*format) Name() string { return "csv" }

// Check reports whether values of type t can be stored: slices of structs
// whose fields are all of a supported type, [][]string, arrow.RecordBatch
// (arrow.Record) or arrow.Table. The column types of Arrow values are
// checked by Encode, as Check cannot see them.
func (*format) Check(t reflect.Type) error {
	_, err := planFor(t)
	return err
}

// rowKind says how the rows of a table are held.
type rowKind uint8

const (
	structRows    rowKind = iota // []T
	structPtrRows                // []*T
	stringRows                   // [][]string
	arrowRows                    // arrow.RecordBatch, arrow.Table
)

// cellKind is the encoding of one cell.
type cellKind uint8

const (
	cellBool cellKind = iota
	cellInt
	cellUint
	cellFloat32
	cellFloat64
	cellString
	cellBytes
	cellTime
)

// column is one field of a row struct.
type column struct {
	name     string       // header name
	field    int          // index of the field in the struct
	path     string       // Row.Field, for messages
	kind     cellKind     //
	bits     int          // size of integers, for range checks
	nullable bool         // the field is a pointer; nil is an empty cell
	elem     reflect.Type // the pointed-to type, when nullable
}

// plan is how values of one type are encoded, computed once per type.
type plan struct {
	t      reflect.Type
	rows   rowKind
	row    reflect.Type // the struct type, for struct rows
	cols   []column
	header []string
}

var plans sync.Map // reflect.Type -> planResult

type planResult struct {
	p   *plan
	err error
}

func planFor(t reflect.Type) (*plan, error) {
	if t == nil {
		return nil, fmt.Errorf("%w: csv: nil type", core.ErrUnsupportedType)
	}
	if r, ok := plans.Load(t); ok {
		r := r.(planResult)
		return r.p, r.err
	}
	p, err := makePlan(t)
	plans.Store(t, planResult{p, err})
	return p, err
}

var timeType = reflect.TypeFor[time.Time]()

func notTable(t reflect.Type) error {
	return fmt.Errorf("%w: csv cannot store %v: not a table; csv stores slices of structs ([]T, []*T), [][]string, arrow.RecordBatch and arrow.Table", core.ErrUnsupportedType, t)
}

func makePlan(t reflect.Type) (*plan, error) {
	if t == recordType || t == tableType {
		return &plan{t: t, rows: arrowRows}, nil
	}
	if t.Kind() != reflect.Slice {
		return nil, notTable(t)
	}
	e := t.Elem()
	p := &plan{t: t}
	switch {
	case e.Kind() == reflect.Slice && e.Elem().Kind() == reflect.String:
		p.rows = stringRows
		return p, nil
	case e.Kind() == reflect.Struct && e != timeType:
		p.rows, p.row = structRows, e
	case e.Kind() == reflect.Pointer && e.Elem().Kind() == reflect.Struct && e.Elem() != timeType:
		p.rows, p.row = structPtrRows, e.Elem()
	default:
		return nil, notTable(t)
	}
	if p.row.NumField() == 0 {
		return nil, fmt.Errorf("%w: csv cannot store %v: struct %v has no fields, so there are no columns", core.ErrUnsupportedType, t, p.row)
	}
	seen := map[string]string{}
	for i := range p.row.NumField() {
		f := p.row.Field(i)
		c, err := makeColumn(t, p.row, f, i)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[c.name]; dup {
			return nil, fmt.Errorf("%w: csv cannot store %v: fields %s and %s both have the column name %q", core.ErrUnsupportedType, t, prev, c.path, c.name)
		}
		seen[c.name] = c.path
		p.cols = append(p.cols, c)
		p.header = append(p.header, c.name)
	}
	return p, nil
}

func makeColumn(t, row reflect.Type, f reflect.StructField, i int) (column, error) {
	c := column{name: f.Name, field: i, path: row.Name() + "." + f.Name}
	if row.Name() == "" {
		c.path = f.Name
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: csv cannot store %v: field %s (type %v) %s", core.ErrUnsupportedType, t, c.path, f.Type, fmt.Sprintf(format, args...))
	}
	if tag, ok := f.Tag.Lookup("csv"); ok {
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && opts == "" {
			return c, bad("is tagged csv:\"-\": a skipped field would load back as its zero value; remove the field from the result type or store it with another format")
		}
		if opts != "" {
			return c, bad("has the tag csv:%q: csv tags hold only a column name", tag)
		}
		if name != "" {
			c.name = name
		}
	}
	if !f.IsExported() {
		return c, bad("is unexported: it would not be stored and would load back as its zero value")
	}
	ft := f.Type
	if ft.Kind() == reflect.Pointer {
		c.nullable, c.elem = true, ft.Elem()
		ft = ft.Elem()
		if ft.Kind() == reflect.Slice {
			return c, bad("is a pointer to a slice; use []byte (nil is the empty cell)")
		}
	}
	switch {
	case ft == timeType:
		c.kind = cellTime
		return c, nil
	case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Uint8:
		c.kind = cellBytes
		return c, nil
	}
	switch ft.Kind() {
	case reflect.Bool:
		c.kind = cellBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		c.kind, c.bits = cellInt, ft.Bits()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		c.kind, c.bits = cellUint, ft.Bits()
	case reflect.Float32:
		c.kind = cellFloat32
	case reflect.Float64:
		c.kind = cellFloat64
	case reflect.String:
		c.kind = cellString
	case reflect.Struct:
		if f.Anonymous {
			return c, bad("is an embedded struct: csv rows are flat (only time.Time is a cell); give the row the fields of %v itself", ft)
		}
		return c, bad("is a nested struct: csv rows are flat (only time.Time is a cell)")
	case reflect.Pointer:
		return c, bad("is a pointer to a pointer: only one level of pointer (nullable) is supported")
	default:
		return c, bad("has kind %v: a csv cell holds a bool, an integer, a float, a string, a time.Time, a []byte or a pointer to one of them", ft.Kind())
	}
	return c, nil
}
