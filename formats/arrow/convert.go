package arrow

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Conversions between slices of flat structs and records. Fields are read
// and written at their offsets, one column at a time, without reflection
// per value: converting a 10^6-row slice of 8 numeric fields takes a few
// milliseconds. The buffers of records built here are Go memory (the
// garbage collector frees them; Release is not needed but harmless).

// The instants a timestamp[ns] holds.
var (
	minTime = time.Unix(0, math.MinInt64).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

// RecordFromSlice converts a slice of flat structs (see SchemaOf) to a
// record with one row per element. A time.Time that is not in UTC, or is
// outside the range of TimestampType, is an error (it would load back
// different); convert times with t.UTC() first.
func RecordFromSlice(slice any) (arrow.RecordBatch, error) {
	v := reflect.ValueOf(slice)
	if v.Kind() != reflect.Slice {
		return nil, unsupported("%T: not a slice of structs", slice)
	}
	l, err := layoutOf(v.Type().Elem())
	if err != nil {
		return nil, err
	}
	return l.record(l.schema, v, 0, v.Len())
}

// NewSliceReader returns a reader of the rows of a slice of flat structs as
// records of at most batchRows rows (all rows in one record if batchRows
// <= 0). Each record is converted when the reader reaches it, so only one
// batch exists in Arrow form at a time. The slice must not change while it
// is read. Conversion errors (see RecordFromSlice) end the iteration and are
// returned by Err.
func NewSliceReader(slice any, batchRows int) (array.RecordReader, error) {
	v := reflect.ValueOf(slice)
	if v.Kind() != reflect.Slice {
		return nil, unsupported("%T: not a slice of structs", slice)
	}
	l, err := layoutOf(v.Type().Elem())
	if err != nil {
		return nil, err
	}
	if batchRows <= 0 {
		batchRows = max(v.Len(), 1)
	}
	r := &sliceReader{l: l, schema: l.schema, v: v, batch: batchRows}
	r.refs.Store(1)
	return r, nil
}

type sliceReader struct {
	refs   atomic.Int64
	l      *rowLayout
	schema *arrow.Schema // l.schema, or with NilSliceKey
	v      reflect.Value
	batch  int
	pos    int
	cur    arrow.RecordBatch
	err    error
}

func (r *sliceReader) Retain() { r.refs.Add(1) }
func (r *sliceReader) Release() {
	if r.refs.Add(-1) == 0 && r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
}
func (r *sliceReader) Schema() *arrow.Schema { return r.schema }
func (r *sliceReader) Err() error            { return r.err }

// RecordBatch returns the current record, valid until the next call to
// Next.
func (r *sliceReader) RecordBatch() arrow.RecordBatch { return r.cur }

// Record is RecordBatch, under its deprecated name.
func (r *sliceReader) Record() arrow.RecordBatch { return r.cur }

func (r *sliceReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.err != nil || r.pos >= r.v.Len() {
		return false
	}
	hi := min(r.pos+r.batch, r.v.Len())
	r.cur, r.err = r.l.record(r.schema, r.v, r.pos, hi)
	r.pos = hi
	return r.err == nil
}

// record converts the rows lo..hi of the slice v to a record with schema
// (l.schema, perhaps with other metadata).
func (l *rowLayout) record(schema *arrow.Schema, v reflect.Value, lo, hi int) (arrow.RecordBatch, error) {
	n := hi - lo
	var base unsafe.Pointer
	if n > 0 {
		base = v.Index(lo).Addr().UnsafePointer()
	}
	stride := l.typ.Size()
	cols := make([]arrow.Array, len(l.cols))
	for i := range l.cols {
		c := &l.cols[i]
		data, err := c.build(base, stride, n)
		if err != nil {
			var re *rowError
			if errors.As(err, &re) {
				return nil, fmt.Errorf("%v.%s, row %d: %w", l.typ, c.field, lo+re.row, re.err)
			}
			return nil, fmt.Errorf("%v.%s: %w", l.typ, c.field, err)
		}
		cols[i] = array.MakeFromData(data)
	}
	return array.NewRecordBatch(schema, cols, int64(n)), nil
}

type rowError struct {
	row int
	err error
}

func (e *rowError) Error() string { return fmt.Sprintf("row %d: %v", e.row, e.err) }

func at[T any](base unsafe.Pointer, stride uintptr, i int, off uintptr) *T {
	return (*T)(unsafe.Add(base, uintptr(i)*stride+off))
}

// bytesOf views a slice of fixed-width values as bytes.
func bytesOf[T any](s []T) []byte {
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(z)))
}

func bitmap(valid []byte, nulls int) *memory.Buffer {
	if nulls == 0 {
		return nil
	}
	return memory.NewBufferBytes(valid)
}

func (c *column) build(base unsafe.Pointer, stride uintptr, n int) (arrow.ArrayData, error) {
	switch c.kind {
	case kInt:
		return buildNum[int, int64](c, base, stride, n), nil
	case kInt8:
		return buildNum[int8, int8](c, base, stride, n), nil
	case kInt16:
		return buildNum[int16, int16](c, base, stride, n), nil
	case kInt32:
		return buildNum[int32, int32](c, base, stride, n), nil
	case kInt64:
		return buildNum[int64, int64](c, base, stride, n), nil
	case kUint:
		return buildNum[uint, uint64](c, base, stride, n), nil
	case kUint8:
		return buildNum[uint8, uint8](c, base, stride, n), nil
	case kUint16:
		return buildNum[uint16, uint16](c, base, stride, n), nil
	case kUint32:
		return buildNum[uint32, uint32](c, base, stride, n), nil
	case kUint64:
		return buildNum[uint64, uint64](c, base, stride, n), nil
	case kFloat32:
		return buildNum[float32, float32](c, base, stride, n), nil
	case kFloat64:
		return buildNum[float64, float64](c, base, stride, n), nil
	case kBool:
		return c.buildBool(base, stride, n), nil
	case kString:
		return c.buildString(base, stride, n)
	case kBytes:
		return c.buildBytes(base, stride, n)
	case kTime:
		return c.buildTime(base, stride, n)
	}
	panic("arrow: unknown column kind")
}

type number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

func buildNum[S, D number](c *column, base unsafe.Pointer, stride uintptr, n int) arrow.ArrayData {
	vals := make([]D, n)
	var valid []byte
	nulls := 0
	if c.ptr {
		valid = make([]byte, bitutil.BytesForBits(int64(n)))
		for i := range vals {
			p := *at[*S](base, stride, i, c.offset)
			if p == nil {
				nulls++
				continue
			}
			vals[i] = D(*p)
			bitutil.SetBit(valid, i)
		}
	} else {
		for i := range vals {
			vals[i] = D(*at[S](base, stride, i, c.offset))
		}
	}
	return array.NewData(kindTypes[c.kind], n, []*memory.Buffer{bitmap(valid, nulls), memory.NewBufferBytes(bytesOf(vals))}, nil, nulls, 0)
}

func (c *column) buildBool(base unsafe.Pointer, stride uintptr, n int) arrow.ArrayData {
	vals := make([]byte, bitutil.BytesForBits(int64(n)))
	var valid []byte
	nulls := 0
	if c.ptr {
		valid = make([]byte, len(vals))
	}
	for i := range n {
		var b bool
		if c.ptr {
			p := *at[*bool](base, stride, i, c.offset)
			if p == nil {
				nulls++
				continue
			}
			bitutil.SetBit(valid, i)
			b = *p
		} else {
			b = *at[bool](base, stride, i, c.offset)
		}
		if b {
			bitutil.SetBit(vals, i)
		}
	}
	return array.NewData(kindTypes[kBool], n, []*memory.Buffer{bitmap(valid, nulls), memory.NewBufferBytes(vals)}, nil, nulls, 0)
}

// binaryData builds a utf8 or binary array from n values; get returns the
// bytes of row i and whether it is valid.
func binaryData(dt arrow.DataType, n int, get func(i int) ([]byte, bool)) (arrow.ArrayData, error) {
	total := 0
	for i := range n {
		b, _ := get(i)
		total += len(b)
	}
	if total > math.MaxInt32 {
		return nil, fmt.Errorf("%d bytes of %v data in one record; the limit is 2 GiB (store fewer rows per record)", total, dt)
	}
	offsets := make([]int32, n+1)
	data := make([]byte, 0, total)
	var valid []byte
	nulls := 0
	for i := range n {
		b, ok := get(i)
		if !ok {
			if valid == nil {
				valid = make([]byte, bitutil.BytesForBits(int64(n)))
				bitutil.SetBitsTo(valid, 0, int64(i), true)
			}
			nulls++
		} else if valid != nil {
			bitutil.SetBit(valid, i)
		}
		data = append(data, b...)
		offsets[i+1] = int32(len(data))
	}
	return array.NewData(dt, n, []*memory.Buffer{bitmap(valid, nulls), memory.NewBufferBytes(bytesOf(offsets)), memory.NewBufferBytes(data)}, nil, nulls, 0), nil
}

func (c *column) buildString(base unsafe.Pointer, stride uintptr, n int) (arrow.ArrayData, error) {
	bad := -1
	data, err := binaryData(kindTypes[kString], n, func(i int) ([]byte, bool) {
		var s string
		if c.ptr {
			p := *at[*string](base, stride, i, c.offset)
			if p == nil {
				return nil, false
			}
			s = *p
		} else {
			s = *at[string](base, stride, i, c.offset)
		}
		if bad < 0 && !utf8.ValidString(s) {
			bad = i
		}
		return unsafe.Slice(unsafe.StringData(s), len(s)), true
	})
	if err == nil && bad >= 0 {
		return nil, &rowError{row: bad, err: errors.New("string is not valid UTF-8, which Arrow and Parquet strings must be; use a []byte field for arbitrary bytes")}
	}
	return data, err
}

func (c *column) buildBytes(base unsafe.Pointer, stride uintptr, n int) (arrow.ArrayData, error) {
	return binaryData(kindTypes[kBytes], n, func(i int) ([]byte, bool) {
		b := *at[[]byte](base, stride, i, c.offset)
		return b, b != nil
	})
}

// storable reports why t cannot be stored as a UTC nanosecond timestamp.
func storable(t time.Time) error {
	if t.Location() != time.UTC {
		if _, off := t.Zone(); off != 0 || t.Location().String() != "UTC" {
			return fmt.Errorf("time %v is in location %q: only UTC times are stored (they load back in UTC); convert with t.UTC()", t, t.Location())
		}
	}
	if t.Before(minTime) || t.After(maxTime) {
		return fmt.Errorf("time %v is outside the range of timestamp[ns] (%v to %v)", t, minTime, maxTime)
	}
	return nil
}

func (c *column) buildTime(base unsafe.Pointer, stride uintptr, n int) (arrow.ArrayData, error) {
	vals := make([]int64, n)
	valid := make([]byte, bitutil.BytesForBits(int64(n)))
	nulls := 0
	for i := range n {
		var t time.Time
		if c.ptr {
			p := *at[*time.Time](base, stride, i, c.offset)
			if p == nil {
				nulls++
				continue
			}
			t = *p
		} else {
			t = *at[time.Time](base, stride, i, c.offset)
			if t.IsZero() && t.Location() == time.UTC {
				nulls++
				continue
			}
		}
		if err := storable(t); err != nil {
			return nil, &rowError{row: i, err: err}
		}
		vals[i] = t.UnixNano()
		bitutil.SetBit(valid, i)
	}
	return array.NewData(TimestampType, n, []*memory.Buffer{bitmap(valid, nulls), memory.NewBufferBytes(bytesOf(vals))}, nil, nulls, 0), nil
}

// SliceFromRecord converts a record whose schema is SchemaOf(t) (names,
// types and nullability; metadata is ignored) to a slice of type t, a slice
// of flat structs. The slice shares no memory with the record.
func SliceFromRecord(rec arrow.RecordBatch, t reflect.Type) (any, error) {
	if t == nil || t.Kind() != reflect.Slice {
		return nil, unsupported("%v: not a slice of structs", t)
	}
	s := reflect.MakeSlice(t, 0, int(rec.NumRows()))
	return AppendRecord(s.Interface(), rec)
}

// AppendRecord appends the rows of rec to slice, a slice of flat structs
// whose schema (SchemaOf) rec has, and returns the extended slice.
func AppendRecord(slice any, rec arrow.RecordBatch) (any, error) {
	v := reflect.ValueOf(slice)
	if v.Kind() != reflect.Slice {
		return nil, unsupported("%T: not a slice of structs", slice)
	}
	l, err := layoutOf(v.Type().Elem())
	if err != nil {
		return nil, err
	}
	v, err = l.appendRecord(v, rec)
	if err != nil {
		return nil, err
	}
	return v.Interface(), nil
}

func (l *rowLayout) appendRecord(v reflect.Value, rec arrow.RecordBatch) (reflect.Value, error) {
	if err := l.sameColumns(rec.Schema()); err != nil {
		return v, err
	}
	n := int(rec.NumRows())
	if n == 0 {
		return v, nil
	}
	for i, col := range rec.Columns() {
		if col.Len() != n {
			return v, fmt.Errorf("column %s has %d rows, the record %d", l.cols[i].name, col.Len(), n)
		}
	}
	old := v.Len()
	if v.Cap()-old < n {
		nv := reflect.MakeSlice(v.Type(), old, max(2*v.Cap(), old+n))
		reflect.Copy(nv, v)
		v = nv
	}
	v = v.Slice(0, old+n)
	base := v.Index(old).Addr().UnsafePointer()
	stride := l.typ.Size()
	for i := range l.cols {
		c := &l.cols[i]
		col := rec.Column(i)
		if !c.nullable() && col.NullN() > 0 {
			return v.Slice(0, old), fmt.Errorf("column %s: %d nulls in a column of non-pointer field %v.%s", c.name, col.NullN(), l.typ, c.field)
		}
		if err := c.fill(col, base, stride, n); err != nil {
			return v.Slice(0, old), fmt.Errorf("column %s: %w", c.name, err)
		}
	}
	return v, nil
}

func (c *column) fill(arr arrow.Array, base unsafe.Pointer, stride uintptr, n int) error {
	switch c.kind {
	case kInt:
		return fillNum[int, int64](c, arr, base, stride, n)
	case kInt8:
		return fillNum[int8, int8](c, arr, base, stride, n)
	case kInt16:
		return fillNum[int16, int16](c, arr, base, stride, n)
	case kInt32:
		return fillNum[int32, int32](c, arr, base, stride, n)
	case kInt64:
		return fillNum[int64, int64](c, arr, base, stride, n)
	case kUint:
		return fillNum[uint, uint64](c, arr, base, stride, n)
	case kUint8:
		return fillNum[uint8, uint8](c, arr, base, stride, n)
	case kUint16:
		return fillNum[uint16, uint16](c, arr, base, stride, n)
	case kUint32:
		return fillNum[uint32, uint32](c, arr, base, stride, n)
	case kUint64:
		return fillNum[uint64, uint64](c, arr, base, stride, n)
	case kFloat32:
		return fillNum[float32, float32](c, arr, base, stride, n)
	case kFloat64:
		return fillNum[float64, float64](c, arr, base, stride, n)
	case kBool:
		return c.fillBool(arr, base, stride, n)
	case kString, kBytes:
		return c.fillBinary(arr, base, stride, n)
	case kTime:
		return c.fillTime(arr, base, stride, n)
	}
	panic("arrow: unknown column kind")
}

func fillNum[S, D number](c *column, arr arrow.Array, base unsafe.Pointer, stride uintptr, n int) error {
	a, ok := arr.(interface{ Values() []D })
	if !ok {
		return fmt.Errorf("unexpected array %T", arr)
	}
	vals := a.Values()
	if len(vals) < n {
		return fmt.Errorf("%d values for %d rows", len(vals), n)
	}
	if !c.ptr {
		for i := range n {
			*at[S](base, stride, i, c.offset) = S(vals[i])
		}
		return nil
	}
	backing := make([]S, n)
	for i := range n {
		p := at[*S](base, stride, i, c.offset)
		if arr.IsNull(i) {
			*p = nil
			continue
		}
		backing[i] = S(vals[i])
		*p = &backing[i]
	}
	return nil
}

func (c *column) fillBool(arr arrow.Array, base unsafe.Pointer, stride uintptr, n int) error {
	a, ok := arr.(*array.Boolean)
	if !ok {
		return fmt.Errorf("unexpected array %T", arr)
	}
	var backing []bool
	if c.ptr {
		backing = make([]bool, n)
	}
	for i := range n {
		if !c.ptr {
			*at[bool](base, stride, i, c.offset) = a.Value(i)
			continue
		}
		p := at[*bool](base, stride, i, c.offset)
		if a.IsNull(i) {
			*p = nil
			continue
		}
		backing[i] = a.Value(i)
		*p = &backing[i]
	}
	return nil
}

// fillBinary copies the column's bytes once (one string or one []byte for
// the whole batch) and points the fields into the copy.
func (c *column) fillBinary(arr arrow.Array, base unsafe.Pointer, stride uintptr, n int) error {
	var offsets []int32
	var data []byte
	switch a := arr.(type) {
	case *array.String:
		offsets, data = a.ValueOffsets(), a.ValueBytes()
	case *array.Binary:
		offsets, data = a.ValueOffsets(), a.ValueBytes()
	default:
		return fmt.Errorf("unexpected array %T", arr)
	}
	if len(offsets) < n+1 {
		return fmt.Errorf("%d offsets for %d rows", len(offsets), n)
	}
	// ValueBytes starts at the first value's offset.
	first := offsets[0]
	span := func(i int) (int, int, error) {
		lo, hi := int(offsets[i]-first), int(offsets[i+1]-first)
		if lo < 0 || hi < lo || hi > len(data) {
			return 0, 0, fmt.Errorf("row %d: bad offsets %d..%d", i, offsets[i], offsets[i+1])
		}
		return lo, hi, nil
	}
	if c.kind == kBytes {
		buf := append([]byte{}, data...)
		for i := range n {
			p := at[[]byte](base, stride, i, c.offset)
			if arr.IsNull(i) {
				*p = nil
				continue
			}
			lo, hi, err := span(i)
			if err != nil {
				return err
			}
			*p = buf[lo:hi:hi]
		}
		return nil
	}
	all := string(data)
	var backing []string
	if c.ptr {
		backing = make([]string, n)
	}
	for i := range n {
		if c.ptr && arr.IsNull(i) {
			*at[*string](base, stride, i, c.offset) = nil
			continue
		}
		lo, hi, err := span(i)
		if err != nil {
			return err
		}
		if !c.ptr {
			*at[string](base, stride, i, c.offset) = all[lo:hi]
			continue
		}
		backing[i] = all[lo:hi]
		*at[*string](base, stride, i, c.offset) = &backing[i]
	}
	return nil
}

func (c *column) fillTime(arr arrow.Array, base unsafe.Pointer, stride uintptr, n int) error {
	a, ok := arr.(*array.Timestamp)
	if !ok {
		return fmt.Errorf("unexpected array %T", arr)
	}
	vals := a.Values()
	if len(vals) < n {
		return fmt.Errorf("%d values for %d rows", len(vals), n)
	}
	var backing []time.Time
	if c.ptr {
		backing = make([]time.Time, n)
	}
	for i := range n {
		null := a.IsNull(i)
		var t time.Time
		if !null {
			t = time.Unix(0, int64(vals[i])).UTC()
		}
		if !c.ptr {
			*at[time.Time](base, stride, i, c.offset) = t
			continue
		}
		p := at[*time.Time](base, stride, i, c.offset)
		if null {
			*p = nil
			continue
		}
		backing[i] = t
		*p = &backing[i]
	}
	return nil
}
