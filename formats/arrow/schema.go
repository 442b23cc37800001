package arrow

import (
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/flowcache/flowcache/core"
)

// The interface types the formats store as they are.
var (
	recordType = reflect.TypeFor[arrow.RecordBatch]() // arrow.Record is an alias of it
	tableType  = reflect.TypeFor[arrow.Table]()
	timeType   = reflect.TypeFor[time.Time]()
)

// TimestampType is the Arrow type of time.Time columns: nanoseconds since
// the Unix epoch, in UTC. It holds the instants from 1677-09-21 to
// 2262-04-11; times outside that range cannot be stored.
var TimestampType = &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}

// colKind is the Go kind of a column's field.
type colKind uint8

const (
	kInt colKind = iota + 1
	kInt8
	kInt16
	kInt32
	kInt64
	kUint
	kUint8
	kUint16
	kUint32
	kUint64
	kFloat32
	kFloat64
	kBool
	kString
	kBytes
	kTime
)

var kindTypes = map[colKind]arrow.DataType{
	kInt:     arrow.PrimitiveTypes.Int64,
	kInt8:    arrow.PrimitiveTypes.Int8,
	kInt16:   arrow.PrimitiveTypes.Int16,
	kInt32:   arrow.PrimitiveTypes.Int32,
	kInt64:   arrow.PrimitiveTypes.Int64,
	kUint:    arrow.PrimitiveTypes.Uint64,
	kUint8:   arrow.PrimitiveTypes.Uint8,
	kUint16:  arrow.PrimitiveTypes.Uint16,
	kUint32:  arrow.PrimitiveTypes.Uint32,
	kUint64:  arrow.PrimitiveTypes.Uint64,
	kFloat32: arrow.PrimitiveTypes.Float32,
	kFloat64: arrow.PrimitiveTypes.Float64,
	kBool:    arrow.FixedWidthTypes.Boolean,
	kString:  arrow.BinaryTypes.String,
	kBytes:   arrow.BinaryTypes.Binary,
	kTime:    TimestampType,
}

// column maps one struct field to one Arrow column.
type column struct {
	name   string // column name
	field  string // Go field name, for messages
	offset uintptr
	kind   colKind
	// ptr: the field is a pointer, nil is null.
	ptr bool
}

// nullable reports whether the column can hold nulls: pointer fields (nil),
// []byte (nil) and time.Time (the zero time).
func (c *column) nullable() bool { return c.ptr || c.kind == kBytes || c.kind == kTime }

// rowLayout maps a flat struct type to a record schema.
type rowLayout struct {
	typ    reflect.Type
	schema *arrow.Schema
	cols   []column
}

var layouts sync.Map // reflect.Type -> *rowLayout or error

// layoutOf returns the layout of the struct type t, or an error wrapping
// core.ErrUnsupportedType naming the field at fault.
func layoutOf(t reflect.Type) (*rowLayout, error) {
	if v, ok := layouts.Load(t); ok {
		if err, ok := v.(error); ok {
			return nil, err
		}
		return v.(*rowLayout), nil
	}
	l, err := newLayout(t)
	if err != nil {
		layouts.Store(t, err)
		return nil, err
	}
	layouts.Store(t, l)
	return l, nil
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{core.ErrUnsupportedType}, args...)...)
}

func newLayout(t reflect.Type) (*rowLayout, error) {
	if t.Kind() != reflect.Struct {
		return nil, unsupported("%v: rows must be structs", t)
	}
	if t.NumField() == 0 {
		return nil, unsupported("%v: a row struct needs at least one field", t)
	}
	l := &rowLayout{typ: t}
	fields := make([]arrow.Field, 0, t.NumField())
	seen := map[string]string{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Anonymous {
			return nil, unsupported("field %v.%s: unexported and embedded fields cannot be columns (they would load back zero)", t, f.Name)
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("arrow"); ok {
			if tag == "-" {
				return nil, unsupported("field %v.%s: skipped fields (arrow:\"-\") would load back zero", t, f.Name)
			}
			if tag != "" {
				name = tag
			}
		}
		if prev, dup := seen[name]; dup {
			return nil, unsupported("fields %v.%s and %s both map to column %q", t, prev, f.Name, name)
		}
		seen[name] = f.Name
		c := column{name: name, field: f.Name, offset: f.Offset}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			c.ptr = true
			ft = ft.Elem()
		}
		c.kind = kindOf(ft)
		if c.kind == 0 || (c.ptr && c.kind == kBytes) {
			return nil, unsupported("field %v.%s has type %v: columns are ints, uints, floats, bools, strings, []byte, time.Time or pointers to them (maps, slices, structs, interfaces and the like are not supported)", t, f.Name, f.Type)
		}
		l.cols = append(l.cols, c)
		fields = append(fields, arrow.Field{Name: name, Type: kindTypes[c.kind], Nullable: c.nullable()})
	}
	l.schema = arrow.NewSchema(fields, nil)
	return l, nil
}

func kindOf(t reflect.Type) colKind {
	if t == timeType {
		return kTime
	}
	switch t.Kind() {
	case reflect.Int:
		return kInt
	case reflect.Int8:
		return kInt8
	case reflect.Int16:
		return kInt16
	case reflect.Int32:
		return kInt32
	case reflect.Int64:
		return kInt64
	case reflect.Uint:
		return kUint
	case reflect.Uint8:
		return kUint8
	case reflect.Uint16:
		return kUint16
	case reflect.Uint32:
		return kUint32
	case reflect.Uint64:
		return kUint64
	case reflect.Float32:
		return kFloat32
	case reflect.Float64:
		return kFloat64
	case reflect.Bool:
		return kBool
	case reflect.String:
		return kString
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return kBytes
		}
	}
	return 0
}

// SchemaOf returns the Arrow schema of rows of the struct type t (or of the
// elements of the slice type t). Each exported field is a column named
// after the field or its `arrow:"name"` tag:
//
//	int, int64                  int64
//	int8, int16, int32          int8, int16, int32
//	uint, uint64                uint64
//	uint8, uint16, uint32       uint8, uint16, uint32
//	float32, float64            float32, float64
//	bool                        bool
//	string                      utf8
//	[]byte                      binary, nullable (nil is null)
//	time.Time                   timestamp[ns, tz=UTC], nullable (the zero time is null)
//	*T for T above              T, nullable (nil is null)
//
// Named types with these underlying types map like them. Other field types
// (maps, slices, structs, interfaces, ...), unexported or embedded fields and
// fields tagged `arrow:"-"` are rejected with an error wrapping
// core.ErrUnsupportedType that names the field.
func SchemaOf(t reflect.Type) (*arrow.Schema, error) {
	if t == nil {
		return nil, unsupported("nil type")
	}
	if t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	l, err := layoutOf(t)
	if err != nil {
		return nil, err
	}
	return l.schema, nil
}

// CheckType reports whether the formats of this package and of
// formats/parquet store values of type t: arrow.Record (arrow.RecordBatch),
// arrow.Table, and slices of flat structs (see SchemaOf). Its error wraps
// core.ErrUnsupportedType and names the type and, for structs, the field.
func CheckType(t reflect.Type) error {
	switch {
	case t == nil:
		return unsupported("nil type")
	case t == recordType || t == tableType:
		return nil
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct && t.Elem() != timeType:
		if _, err := layoutOf(t.Elem()); err != nil {
			return fmt.Errorf("%v: %w", t, err)
		}
		return nil
	}
	return unsupported("%v: Arrow formats store arrow.Record, arrow.Table and slices of flat structs", t)
}

// sameColumns reports whether s has the columns of l (names, types and
// nullability; metadata is ignored).
func (l *rowLayout) sameColumns(s *arrow.Schema) error {
	if s.NumFields() != len(l.cols) {
		return fmt.Errorf("record has %d columns, %v has %d", s.NumFields(), l.typ, len(l.cols))
	}
	for i, want := range l.schema.Fields() {
		got := s.Field(i)
		if got.Name != want.Name || !arrow.TypeEqual(got.Type, want.Type) || got.Nullable != want.Nullable {
			return fmt.Errorf("column %d is %s (%v, nullable %t), %v.%s wants %s (%v, nullable %t)",
				i, got.Name, got.Type, got.Nullable, l.typ, l.cols[i].field, want.Name, want.Type, want.Nullable)
		}
	}
	return nil
}
