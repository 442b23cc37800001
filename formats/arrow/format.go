package arrow

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/internal/corrupt"
)

// DefaultBatchRows is the number of rows per record batch when a slice of
// structs is written: 64 Ki rows of 8 numeric columns is a 4 MiB batch,
// large enough that per-batch costs vanish, small enough that only one
// batch is converted at a time.
const DefaultBatchRows = 64 << 10

// RowsKey is the schema metadata key that holds the number of rows of a
// stored slice, so that decoding allocates the slice once, at its size,
// instead of growing it (which would briefly hold one and a half copies).
// The count is trusted for at most MaxPrealloc bytes of slice, and by
// Decode for at most 64 times the bytes read so far plus 1 MiB, before it
// is verified; it must match the rows read.
const RowsKey = "flowcache.rows"

// MaxPrealloc bounds the slice memory allocated on the strength of RowsKey
// before the rows are read; beyond it the slice grows as rows arrive.
const MaxPrealloc = 512 << 20

// NilSliceKey is the schema metadata key that marks a stored nil slice, so
// that a nil []T loads back nil and an empty one empty (they fingerprint
// differently).
const NilSliceKey = "flowcache.nil_slice"

// Option configures the format made by New.
type Option func(*config)

type config struct {
	mem       memory.Allocator
	batchRows int
}

// WithAllocator sets the allocator of the buffers arrow-go allocates while
// writing and reading (default memory.DefaultAllocator). Bodies read from
// a stream are Go memory either way.
func WithAllocator(mem memory.Allocator) Option {
	return func(c *config) {
		if mem != nil {
			c.mem = mem
		}
	}
}

// WithBatchRows sets the rows per record batch of stored slices (default
// DefaultBatchRows).
func WithBatchRows(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.batchRows = n
		}
	}
}

// New returns the Arrow IPC format, named "arrow".
func New(opts ...Option) core.Format {
	c := config{mem: memory.DefaultAllocator, batchRows: DefaultBatchRows}
	for _, o := range opts {
		o(&c)
	}
	return &format{c}
}

type format struct{ c config }

var _ core.Format = (*format)(nil)

// Name is "arrow": the Arrow IPC stream format, uncompressed.
func (*format) Name() string { return "arrow" }

// Check accepts arrow.Record, arrow.Table and slices of flat structs (see
// CheckType).
func (*format) Check(t reflect.Type) error {
	if err := CheckType(t); err != nil {
		return fmt.Errorf("arrow: %w", err)
	}
	return nil
}

// Source returns a reader of v as record batches, and their schema:
// a record is one batch, a table one batch per chunk (zero copy: the
// columns are sliced where their chunks end), a slice of structs one batch
// per batchRows rows, converted as the reader reaches it. The schema of a
// nil slice carries NilSliceKey.
func Source(v any, batchRows int) (array.RecordReader, *arrow.Schema, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil, unsupported("nil value")
	case arrow.RecordBatch:
		rr, err := array.NewRecordReader(x.Schema(), []arrow.RecordBatch{x})
		if err != nil {
			return nil, nil, err
		}
		return rr, x.Schema(), nil
	case arrow.Table:
		return array.NewTableReader(x, -1), x.Schema(), nil
	}
	rr, err := NewSliceReader(v, batchRows)
	if err != nil {
		return nil, nil, err
	}
	sr := rr.(*sliceReader)
	keys, vals := []string{RowsKey}, []string{strconv.Itoa(sr.v.Len())}
	if sr.v.IsNil() {
		keys, vals = append(keys, NilSliceKey), append(vals, "true")
	}
	md := arrow.NewMetadata(keys, vals)
	sr.schema = arrow.NewSchema(sr.schema.Fields(), &md)
	return rr, sr.schema, nil
}

// Encode writes v as an Arrow IPC stream: the schema, then the batches of
// Source, then the end-of-stream marker. Buffers go to w as they are (no
// copy for records and tables).
func (f *format) Encode(w io.Writer, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("arrow: encoding %T: %v", v, p)
		}
	}()
	rr, schema, err := Source(v, f.c.batchRows)
	if err != nil {
		return fmt.Errorf("arrow: encoding %T: %w", v, err)
	}
	defer rr.Release()
	bw := bufio.NewWriterSize(w, 64<<10)
	iw := ipc.NewWriter(bw, ipc.WithSchema(schema), ipc.WithAllocator(f.c.mem))
	defer func() {
		if err != nil {
			_ = iw.Close()
		}
	}()
	for rr.Next() {
		if err := iw.Write(rr.RecordBatch()); err != nil {
			return fmt.Errorf("arrow: encoding %T: %w", v, err)
		}
	}
	if err := rr.Err(); err != nil {
		return fmt.Errorf("arrow: encoding %T: %w", v, err)
	}
	if err := iw.Close(); err != nil {
		return fmt.Errorf("arrow: encoding %T: %w", v, err)
	}
	return bw.Flush()
}

// Decode reads a stream written by Encode (or any uncompressed Arrow IPC
// stream with the right schema) as a value of type t. It never trusts the
// input: sizes are checked against the bytes that arrive (see ipcread.go),
// every record is validated (ValidateRecord), and a panic inside arrow-go
// becomes an error. Damaged or hostile bytes are an error wrapping
// core.ErrCorrupt; a failure of r itself is passed on.
func (f *format) Decode(r io.Reader, t reflect.Type) (v any, err error) {
	if err := CheckType(t); err != nil {
		return nil, fmt.Errorf("arrow: %w", err)
	}
	what := fmt.Sprintf("arrow: decoding %v", t)
	src := &corrupt.Reader{R: r}
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, src.Wrap(what, fmt.Errorf("invalid stream: %v", p))
		}
	}()
	cr := &countingReader{r: src}
	rdr, err := f.reader(cr)
	if err != nil {
		return nil, src.Wrap(what, err)
	}
	defer rdr.Release()
	v, err = collect(&boundedRows{Reader: rdr, read: cr}, t, f.c.mem, cr.prealloc)
	if err != nil {
		return nil, src.Wrap(what, err)
	}
	return v, nil
}

// reader opens an IPC stream with the allocation bounds of Decode.
func (f *format) reader(cr *countingReader) (*ipc.Reader, error) {
	mem := &LimitedAllocator{Mem: f.c.mem, Limit: func() int64 { return allocSlack + 2*cr.n.Load() }, Err: errBudget}
	return ipc.NewReaderFromMessageReader(newMessageReader(cr), ipc.WithAllocator(mem))
}

// Validate reads an IPC stream without a Go type (see
// core.FormatValidator), with the bounds of Decode: every message is
// verified, every record validated (ValidateRecord), and the row count a
// stored slice declares (RowsKey) must match the rows.
func (f *format) Validate(r io.Reader) (err error) {
	src := &corrupt.Reader{R: r}
	defer func() {
		if p := recover(); p != nil {
			err = src.Wrap("arrow: validating", fmt.Errorf("invalid stream: %v", p))
		}
	}()
	cr := &countingReader{r: src}
	rdr, err := f.reader(cr)
	if err != nil {
		return src.Wrap("arrow: validating", err)
	}
	defer rdr.Release()
	rr := &boundedRows{Reader: rdr, read: cr}
	for rr.Next() {
		if err := ValidateRecord(rr.RecordBatch()); err != nil {
			return src.Wrap("arrow: validating", err)
		}
	}
	if err := rr.Err(); err != nil {
		return src.Wrap("arrow: validating", err)
	}
	if md := rdr.Schema().Metadata(); md.FindKey(RowsKey) >= 0 {
		if want := md.Values()[md.FindKey(RowsKey)]; want != strconv.FormatInt(rr.rows, 10) {
			return src.Wrap("arrow: validating", fmt.Errorf("%d rows, the stream says %q", rr.rows, want))
		}
	}
	return nil
}

var _ core.FormatValidator = (*format)(nil)

// Collect reads every record of rr and builds a value of type t from them
// (see CheckType): a table of the records (no copy); a record (the one
// record, no copy; several are concatenated, an empty stream gives zero
// rows); or a slice of structs (each record converted as it is read). The
// records are validated (ValidateRecord) first, and given rr's schema
// (they must have its columns; their metadata may differ).
func Collect(rr array.RecordReader, t reflect.Type, mem memory.Allocator) (any, error) {
	return CollectLimit(rr, t, mem, MaxPrealloc)
}

// CollectLimit is Collect with another bound than MaxPrealloc on the slice
// memory allocated on the strength of RowsKey before the rows are read.
func CollectLimit(rr array.RecordReader, t reflect.Type, mem memory.Allocator, maxPrealloc int64) (any, error) {
	return collect(rr, t, mem, func() int64 { return maxPrealloc })
}

// collect is Collect with the bound on preallocated slice memory, asked
// again whenever the slice is full (it may grow as the input is read).
func collect(rr array.RecordReader, t reflect.Type, mem memory.Allocator, maxPrealloc func() int64) (any, error) {
	schema := rr.Schema()
	if schema == nil {
		return nil, errors.New("no schema")
	}
	if t.Kind() == reflect.Slice {
		l, err := layoutOf(t.Elem())
		if err != nil {
			return nil, err
		}
		if err := l.sameColumns(schema); err != nil {
			return nil, err
		}
		hint := int64(-1)
		if md := schema.Metadata(); md.FindKey(RowsKey) >= 0 {
			n, err := strconv.ParseInt(md.Values()[md.FindKey(RowsKey)], 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("bad %s %q", RowsKey, md.Values()[md.FindKey(RowsKey)])
			}
			hint = n
		}
		// The slice is allocated at the declared row count, as far as the
		// bound allows; past it, it grows as rows arrive.
		prealloc := func(need int64) int64 {
			n := max(hint, 0)
			if size := int64(t.Elem().Size()); size > 0 {
				n = min(n, maxPrealloc()/size)
			}
			return max(n, need)
		}
		out := reflect.MakeSlice(t, 0, int(prealloc(0)))
		for rr.Next() {
			rec := rr.RecordBatch()
			if err := ValidateRecord(rec); err != nil {
				return nil, err
			}
			if need := int64(out.Len()) + rec.NumRows(); need > int64(out.Cap()) {
				if n := prealloc(need); n > need {
					grown := reflect.MakeSlice(t, out.Len(), int(n))
					reflect.Copy(grown, out)
					out = grown
				}
			}
			if out, err = l.appendRecord(out, rec); err != nil {
				return nil, err
			}
		}
		if err := rr.Err(); err != nil {
			return nil, err
		}
		if hint >= 0 && int64(out.Len()) != hint {
			return nil, fmt.Errorf("%d rows, the stream says %d", out.Len(), hint)
		}
		if out.Len() == 0 && schema.HasMetadata() {
			if i := schema.Metadata().FindKey(NilSliceKey); i >= 0 {
				return reflect.Zero(t).Interface(), nil
			}
		}
		return out.Interface(), nil
	}
	var recs []arrow.RecordBatch
	defer func() {
		for _, rec := range recs {
			rec.Release()
		}
	}()
	for rr.Next() {
		rec := rr.RecordBatch()
		if err := ValidateRecord(rec); err != nil {
			return nil, err
		}
		if !sameFields(rec.Schema(), schema) {
			return nil, fmt.Errorf("record schema %v differs from the stream's %v", rec.Schema(), schema)
		}
		if rec.Schema() != schema {
			// Same columns, perhaps other metadata: the reader's schema wins.
			rec = array.NewRecordBatch(schema, rec.Columns(), rec.NumRows())
		} else {
			rec.Retain()
		}
		recs = append(recs, rec)
	}
	if err := rr.Err(); err != nil {
		return nil, err
	}
	if t == tableType {
		return array.NewTableFromRecords(schema, recs), nil
	}
	switch len(recs) {
	case 0:
		cols := make([]arrow.Array, schema.NumFields())
		for i, fd := range schema.Fields() {
			cols[i] = array.MakeArrayOfNull(mem, fd.Type, 0)
			defer cols[i].Release()
		}
		return array.NewRecordBatch(schema, cols, 0), nil
	case 1:
		rec := recs[0]
		rec.Retain()
		return rec, nil
	}
	return concatRecords(schema, recs, mem)
}

func concatRecords(schema *arrow.Schema, recs []arrow.RecordBatch, mem memory.Allocator) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, schema.NumFields())
	rows := int64(0)
	for _, rec := range recs {
		rows += rec.NumRows()
	}
	parts := make([]arrow.Array, len(recs))
	for i := range cols {
		for j, rec := range recs {
			parts[j] = rec.Column(i)
		}
		c, err := array.Concatenate(parts, mem)
		if err != nil {
			for _, c := range cols[:i] {
				c.Release()
			}
			return nil, err
		}
		cols[i] = c
	}
	rec := array.NewRecordBatch(schema, cols, rows)
	for _, c := range cols {
		c.Release()
	}
	return rec, nil
}

// sameFields reports whether a and b have the same columns: names, types
// and nullability (metadata aside).
func sameFields(a, b *arrow.Schema) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for i := range a.NumFields() {
		fa, fb := a.Field(i), b.Field(i)
		if fa.Name != fb.Name || fa.Nullable != fb.Nullable || !arrow.TypeEqual(fa.Type, fb.Type) {
			return false
		}
	}
	return true
}

// freeRows is how many rows a stream may hold beyond 8 per byte read.
const freeRows = 1 << 20

// boundedRows ends a stream whose records claim more rows than it could
// hold: every column but the null type and structs without fields takes at
// least a bit per row, so more than 8 rows per byte read (plus freeRows)
// is corrupt. Without this, a record of a few bytes could claim 2^60 rows
// of nothing and make whoever iterates it spin for ever.
type boundedRows struct {
	*ipc.Reader
	read *countingReader
	rows int64
	err  error
}

func (b *boundedRows) Next() bool {
	if b.err != nil || !b.Reader.Next() {
		return false
	}
	b.rows += b.Reader.RecordBatch().NumRows()
	if b.rows < 0 || b.rows > 8*b.read.n.Load()+freeRows {
		b.err = fmt.Errorf("records claim %d rows in %d bytes", b.rows, b.read.n.Load())
		return false
	}
	return true
}

func (b *boundedRows) Err() error {
	if b.err != nil {
		return b.err
	}
	return b.Reader.Err()
}
