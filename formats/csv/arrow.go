package csv

import (
	"encoding/base64"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/flowcache/flowcache/core"
	farrow "github.com/flowcache/flowcache/formats/arrow"
)

// Arrow records and tables: one column per field, the header cell of a
// field is its name followed by its type, "name [type]" ("name [type not
// null]" for a field that is not nullable), so the schema survives the
// round trip.

var (
	recordType = reflect.TypeFor[arrow.RecordBatch]()
	tableType  = reflect.TypeFor[arrow.Table]()
)

// arrowTypes are the Arrow column types csv stores, by their header name
// (the type's String()).
var arrowTypes = func() map[string]arrow.DataType {
	m := map[string]arrow.DataType{}
	for _, dt := range []arrow.DataType{
		arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64,
		arrow.PrimitiveTypes.Uint8, arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint64,
		arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64,
		arrow.FixedWidthTypes.Boolean, arrow.BinaryTypes.String, arrow.BinaryTypes.Binary,
		farrow.TimestampType,
	} {
		m[dt.String()] = dt
	}
	return m
}()

var errUnsupported = core.ErrUnsupportedType

const notNull = " not null"

// arrowHeader returns the header cell of field f, or an error naming the
// field when csv cannot store it.
func arrowHeader(f arrow.Field) (string, error) {
	dt, ok := arrowTypes[typeName(f.Type)]
	if !ok || !arrow.TypeEqual(dt, f.Type) {
		return "", fmt.Errorf("%w: csv cannot store column %q of type %v: csv stores Arrow columns of types int8…int64, uint8…uint64, float32, float64, bool, utf8, binary and timestamp[ns, tz=UTC]; use the parquet or arrow format", errUnsupported, f.Name, f.Type)
	}
	if f.HasMetadata() {
		return "", fmt.Errorf("%w: csv cannot store column %q: it has field metadata %v, which a csv header cannot hold; use the parquet or arrow format", errUnsupported, f.Name, f.Metadata)
	}
	h := f.Name + " [" + dt.String()
	if !f.Nullable {
		h += notNull
	}
	return h + "]", nil
}

func typeName(dt arrow.DataType) string {
	if dt == nil {
		return "<nil>"
	}
	return dt.String()
}

// parseArrowHeader is the inverse of arrowHeader.
func parseArrowHeader(cell string) (arrow.Field, error) {
	i := strings.LastIndex(cell, " [")
	if i < 0 || !strings.HasSuffix(cell, "]") {
		return arrow.Field{}, fmt.Errorf("header cell %q is not \"name [type]\"", clip(cell))
	}
	name, typ := cell[:i], cell[i+2:len(cell)-1]
	f := arrow.Field{Name: name, Nullable: true}
	if t, ok := strings.CutSuffix(typ, notNull); ok {
		typ, f.Nullable = t, false
	}
	dt, ok := arrowTypes[typ]
	if !ok {
		return arrow.Field{}, fmt.Errorf("header cell %q: unknown column type %q", clip(cell), clip(typ))
	}
	f.Type = dt
	return f, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:61] + "..."
	}
	return s
}

// arrowRows writes v, an arrow.RecordBatch or arrow.Table: the annotated
// header, then the rows of each batch.
func (e *encoder) arrowRows(v any) error {
	var schema *arrow.Schema
	switch x := v.(type) {
	case arrow.RecordBatch:
		schema = x.Schema()
	case arrow.Table:
		schema = x.Schema()
	}
	if schema == nil {
		return fmt.Errorf("csv: %T has no schema", v)
	}
	if md := schema.Metadata(); md.Len() > 0 {
		return fmt.Errorf("%w: csv cannot store the schema metadata %v of %T (keys %q): a csv header holds only column names and types; remove it or use the parquet or arrow format", errUnsupported, md, v, md.Keys())
	}
	if schema.NumFields() == 0 {
		return fmt.Errorf("%w: csv cannot store %T without columns", errUnsupported, v)
	}
	for j, f := range schema.Fields() {
		h, err := arrowHeader(f)
		if err != nil {
			return err
		}
		if j > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendString(e.buf, h)
	}
	if err := e.end(-1); err != nil {
		return err
	}
	rr, _, err := farrow.Source(v, 0)
	if err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	defer rr.Release()
	cells := make([]func([]byte, int) []byte, schema.NumFields())
	row := 0
	for rr.Next() {
		rec := rr.RecordBatch()
		if int(rec.NumCols()) != len(cells) {
			return fmt.Errorf("csv: a batch has %d columns, the schema %d", rec.NumCols(), len(cells))
		}
		for j, col := range rec.Columns() {
			f := schema.Field(j)
			if !f.Nullable && col.NullN() > 0 {
				return fmt.Errorf("csv: column %q is not nullable but holds %d nulls", f.Name, col.NullN())
			}
			if cells[j] = arrowCell(col); cells[j] == nil {
				return fmt.Errorf("%w: csv cannot store column %q: its array is a %T", errUnsupported, f.Name, col)
			}
		}
		cols := rec.Columns()
		for i := range int(rec.NumRows()) {
			for j, col := range cols {
				if j > 0 {
					e.buf = append(e.buf, ',')
				}
				if col.IsNull(i) {
					continue // null: an empty cell without quotes
				}
				e.buf = cells[j](e.buf, i)
			}
			if err := e.end(row); err != nil {
				return err
			}
			row++
		}
	}
	if err := rr.Err(); err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	return nil
}

// arrowCell returns the function appending the cell of row i of arr (not
// null), or nil for an array type csv does not store.
func arrowCell(arr arrow.Array) func(b []byte, i int) []byte {
	switch a := arr.(type) {
	case *array.Int8:
		return func(b []byte, i int) []byte { return strconv.AppendInt(b, int64(a.Value(i)), 10) }
	case *array.Int16:
		return func(b []byte, i int) []byte { return strconv.AppendInt(b, int64(a.Value(i)), 10) }
	case *array.Int32:
		return func(b []byte, i int) []byte { return strconv.AppendInt(b, int64(a.Value(i)), 10) }
	case *array.Int64:
		return func(b []byte, i int) []byte { return strconv.AppendInt(b, a.Value(i), 10) }
	case *array.Uint8:
		return func(b []byte, i int) []byte { return strconv.AppendUint(b, uint64(a.Value(i)), 10) }
	case *array.Uint16:
		return func(b []byte, i int) []byte { return strconv.AppendUint(b, uint64(a.Value(i)), 10) }
	case *array.Uint32:
		return func(b []byte, i int) []byte { return strconv.AppendUint(b, uint64(a.Value(i)), 10) }
	case *array.Uint64:
		return func(b []byte, i int) []byte { return strconv.AppendUint(b, a.Value(i), 10) }
	case *array.Float32:
		return func(b []byte, i int) []byte { return strconv.AppendFloat(b, float64(a.Value(i)), 'g', -1, 32) }
	case *array.Float64:
		return func(b []byte, i int) []byte { return appendFloat64(b, a.Value(i)) }
	case *array.Boolean:
		return func(b []byte, i int) []byte { return strconv.AppendBool(b, a.Value(i)) }
	case *array.String:
		return func(b []byte, i int) []byte { return appendString(b, a.Value(i)) }
	case *array.Binary:
		return func(b []byte, i int) []byte {
			v := a.Value(i)
			if len(v) == 0 {
				return append(b, `""`...)
			}
			return base64.StdEncoding.AppendEncode(b, v)
		}
	case *array.Timestamp:
		return func(b []byte, i int) []byte {
			return time.Unix(0, int64(a.Value(i))).UTC().AppendFormat(b, timeLayoutZ)
		}
	}
	return nil
}

// decodeArrow reads an annotated header and its rows into a record, or a
// table of one chunk when t is arrow.Table.
func decodeArrow(rd *reader, t reflect.Type, mem memory.Allocator) (any, error) {
	if err := rd.next(); err != nil {
		return nil, err
	}
	fields := make([]arrow.Field, rd.cells())
	for i := range fields {
		b, _ := rd.cell(i)
		f, err := parseArrowHeader(string(b))
		if err != nil {
			return nil, rd.errorf("%v", err)
		}
		fields[i] = f
	}
	schema := arrow.NewSchema(fields, nil)
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	parse := make([]func(b []byte, quoted bool) error, len(fields))
	for j, f := range fields {
		parse[j] = arrowParser(rb.Field(j), f.Nullable)
	}
	for row := 0; ; row++ {
		if err := rd.next(); err != nil {
			if err == io.EOF {
				break
			}
			return nil, err
		}
		if rd.cells() != len(fields) {
			return nil, rd.errorf("row %d has %d cells, want %d", row, rd.cells(), len(fields))
		}
		for j := range fields {
			b, q := rd.cell(j)
			if err := parse[j](b, q); err != nil {
				return nil, rd.errorf("row %d, column %q: %v", row, fields[j].Name, err)
			}
		}
	}
	rec := rb.NewRecordBatch()
	if t == recordType {
		return rec, nil
	}
	defer rec.Release()
	return array.NewTableFromRecords(schema, []arrow.RecordBatch{rec}), nil
}

// arrowParser returns the function appending a cell to bld.
func arrowParser(bld array.Builder, nullable bool) func(b []byte, quoted bool) error {
	value := func(b []byte) error { return nil }
	switch x := bld.(type) {
	case *array.Int8Builder:
		value = parseInt(8, func(v int64) { x.Append(int8(v)) })
	case *array.Int16Builder:
		value = parseInt(16, func(v int64) { x.Append(int16(v)) })
	case *array.Int32Builder:
		value = parseInt(32, func(v int64) { x.Append(int32(v)) })
	case *array.Int64Builder:
		value = parseInt(64, x.Append)
	case *array.Uint8Builder:
		value = parseUint(8, func(v uint64) { x.Append(uint8(v)) })
	case *array.Uint16Builder:
		value = parseUint(16, func(v uint64) { x.Append(uint16(v)) })
	case *array.Uint32Builder:
		value = parseUint(32, func(v uint64) { x.Append(uint32(v)) })
	case *array.Uint64Builder:
		value = parseUint(64, x.Append)
	case *array.Float32Builder:
		value = func(b []byte) error {
			v, err := strconv.ParseFloat(string(b), 32)
			x.Append(float32(v))
			return err
		}
	case *array.Float64Builder:
		value = func(b []byte) error {
			v, err := strconv.ParseFloat(string(b), 64)
			x.Append(v)
			return err
		}
	case *array.BooleanBuilder:
		value = func(b []byte) error {
			v, err := strconv.ParseBool(string(b))
			x.Append(v)
			return err
		}
	case *array.TimestampBuilder:
		value = func(b []byte) error {
			v, err := time.Parse(time.RFC3339Nano, string(b))
			if err != nil {
				return err
			}
			ts, err := arrow.TimestampFromTime(v, arrow.Nanosecond)
			x.Append(ts)
			return err
		}
	case *array.StringBuilder:
		return func(b []byte, quoted bool) error {
			if len(b) == 0 && !quoted && nullable {
				x.AppendNull()
				return nil
			}
			x.BinaryBuilder.Append(b)
			return nil
		}
	case *array.BinaryBuilder:
		return func(b []byte, quoted bool) error {
			if len(b) == 0 {
				if !quoted && nullable {
					x.AppendNull()
					return nil
				}
				x.Append([]byte{})
				return nil
			}
			out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
			n, err := base64.StdEncoding.Decode(out, b)
			if err != nil {
				return err
			}
			x.Append(out[:n])
			return nil
		}
	}
	return func(b []byte, quoted bool) error {
		if len(b) == 0 {
			if !quoted && nullable {
				bld.AppendNull()
				return nil
			}
			return errEmpty
		}
		return value(b)
	}
}

func parseInt(bits int, add func(int64)) func([]byte) error {
	return func(b []byte) error {
		v, err := strconv.ParseInt(string(b), 10, bits)
		if err == nil {
			add(v)
		}
		return err
	}
}

func parseUint(bits int, add func(uint64)) func([]byte) error {
	return func(b []byte) error {
		v, err := strconv.ParseUint(string(b), 10, bits)
		if err == nil {
			add(v)
		}
		return err
	}
}
