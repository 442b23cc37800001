package parquet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/flowcache/flowcache/core"
	flowarrow "github.com/flowcache/flowcache/formats/arrow"
	"github.com/flowcache/flowcache/internal/corrupt"
)

// DefaultRowGroupRows is the default number of rows per row group. See the
// package documentation for why.
const DefaultRowGroupRows = 128 << 10

// DefaultCompression is the default codec. See the package documentation
// for the measurements behind it.
var DefaultCompression = compress.Codecs.Snappy

// DefaultSpillAbove is the size up to which Decode buffers a stored file
// in memory; larger files go to a temporary file. See the package
// documentation.
const DefaultSpillAbove = 64 << 20

// DefaultCompressionLevel is the default codec level.
var DefaultCompressionLevel = compress.DefaultCompressionLevel

// DefaultMaxDecoded is the default bound on what decoding one result may
// allocate: 1 GiB plus 64 times the stored size.
const DefaultMaxDecoded = 1 << 30

// Option configures the format made by New.
type Option func(*config)

type config struct {
	codec      compress.Compression
	level      int
	rowGroup   int
	mem        memory.Allocator
	maxDecoded int64
	spillAbove int64
	tempDir    string
}

// WithCompression sets the codec of the column chunks:
// compress.Codecs.Snappy (the default), compress.Codecs.Zstd,
// compress.Codecs.Uncompressed, or another codec arrow-go writes. Readers
// detect the codec, so files written with any of them load with the same
// format.
func WithCompression(c compress.Compression) Option {
	return func(cfg *config) { cfg.codec = c }
}

// WithCompressionLevel sets the codec's level (for zstd: 1 fastest to 22
// smallest; default DefaultCompressionLevel).
func WithCompressionLevel(level int) Option {
	return func(cfg *config) { cfg.level = level }
}

// WithRowGroupRows sets the maximum number of rows per row group (default
// DefaultRowGroupRows; n <= 0 keeps the default).
func WithRowGroupRows(n int) Option {
	return func(cfg *config) {
		if n > 0 {
			cfg.rowGroup = n
		}
	}
}

// WithAllocator sets the allocator of the buffers written and decoded
// (default memory.DefaultAllocator; nil keeps the default).
func WithAllocator(mem memory.Allocator) Option {
	return func(cfg *config) {
		if mem != nil {
			cfg.mem = mem
		}
	}
}

// WithMaxDecoded bounds what decoding one result may allocate through the
// allocator: n bytes plus 64 times the stored size (default
// DefaultMaxDecoded; n <= 0 keeps the default). Parquet compresses
// repetitive data very well, so a small corrupt file could otherwise claim
// terabytes; a result that needs more fails to decode (a cache miss, with
// the reason in the get_result event).
func WithMaxDecoded(n int64) Option {
	return func(cfg *config) {
		if n > 0 {
			cfg.maxDecoded = n
		}
	}
}

// WithSpill sets where Decode buffers a file: in memory up to above bytes
// (default DefaultSpillAbove; above <= 0 keeps the default), in a
// temporary file in dir (default os.TempDir()) beyond.
func WithSpill(above int64, dir string) Option {
	return func(cfg *config) {
		if above > 0 {
			cfg.spillAbove = above
		}
		cfg.tempDir = dir
	}
}

// New returns the Parquet format, named "parquet".
func New(opts ...Option) core.Format {
	c := config{codec: DefaultCompression, level: DefaultCompressionLevel, rowGroup: DefaultRowGroupRows, mem: memory.DefaultAllocator, maxDecoded: DefaultMaxDecoded, spillAbove: DefaultSpillAbove}
	for _, o := range opts {
		o(&c)
	}
	return &format{c}
}

type format struct{ c config }

var _ core.Format = (*format)(nil)

// Name is "parquet", whatever the codec and row group size: readers detect
// both.
func (*format) Name() string { return "parquet" }

// Check accepts arrow.Record, arrow.Table and slices of flat structs (see
// flowarrow.CheckType).
func (*format) Check(t reflect.Type) error {
	if err := flowarrow.CheckType(t); err != nil {
		return fmt.Errorf("parquet: %w", err)
	}
	return nil
}

// Encode writes v as a Parquet file. A slice of structs is converted one
// row group at a time; records and tables are written from their buffers.
// The Arrow schema is stored in the file's metadata (ARROW:schema), so
// types Parquet lacks (unsigned integers, time zones, large strings) load
// back exactly, while other readers see ordinary Parquet types.
func (f *format) Encode(w io.Writer, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("parquet: encoding %T: %v", v, p)
		}
	}()
	rr, schema, err := flowarrow.Source(v, f.c.rowGroup)
	if err != nil {
		return fmt.Errorf("parquet: encoding %T: %w", v, err)
	}
	defer rr.Release()
	bw := bufio.NewWriterSize(w, 64<<10)
	wprops := []pq.WriterProperty{
		pq.WithCompression(f.c.codec),
		pq.WithCompressionLevel(f.c.level),
		pq.WithMaxRowGroupLength(int64(f.c.rowGroup)),
		pq.WithAllocator(f.c.mem),
		// Dictionary encoding only for strings and binary: see the
		// package documentation.
		pq.WithDictionaryDefault(false),
	}
	for _, fd := range schema.Fields() {
		switch fd.Type.ID() {
		case arrow.STRING, arrow.BINARY, arrow.LARGE_STRING, arrow.LARGE_BINARY:
			wprops = append(wprops, pq.WithDictionaryFor(fd.Name, true))
		}
	}
	props := pq.NewWriterProperties(wprops...)
	arrProps := pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(f.c.mem))
	fw, err := pqarrow.NewFileWriter(schema, bw, props, arrProps)
	if err != nil {
		return fmt.Errorf("parquet: encoding %T: %w", v, err)
	}
	for rr.Next() {
		if err := fw.WriteBuffered(rr.RecordBatch()); err != nil {
			_ = fw.Close()
			return fmt.Errorf("parquet: encoding %T: %w", v, err)
		}
	}
	if err := rr.Err(); err != nil {
		_ = fw.Close()
		return fmt.Errorf("parquet: encoding %T: %w", v, err)
	}
	if err := fw.Close(); err != nil {
		return fmt.Errorf("parquet: encoding %T: %w", v, err)
	}
	return bw.Flush()
}

// Decode reads a Parquet file as a value of type t. Parquet readers need
// random access (the footer is at the end), and a stored result is a
// stream, so the file is first read into memory or a temporary file; see
// the package documentation for the cost. The footer is checked before
// arrow-go reads it (see checkFile), and what decoding allocates is
// bounded (see WithMaxDecoded). Damaged or hostile bytes are an error
// wrapping core.ErrCorrupt.
func (f *format) Decode(r io.Reader, t reflect.Type) (v any, err error) {
	if err := flowarrow.CheckType(t); err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	what := fmt.Sprintf("parquet: decoding %v", t)
	src, size, cleanup, err := f.buffer(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer cleanup()
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, corrupt.Errorf("%s: invalid file: %v", what, p)
		}
	}()
	v, err = f.decode(src, size, t)
	if err != nil {
		return nil, corrupt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

// Validate checks a stored Parquet file without its Go type (see
// core.FormatValidator): the checks Decode makes before reading, then
// every row group read into Arrow records under the same allocation bound
// and validated (flowarrow.ValidateRecord), one batch at a time. Its error
// wraps core.ErrCorrupt when the bytes are at fault.
func (f *format) Validate(r io.Reader) (err error) {
	src, size, cleanup, err := f.buffer(r)
	if err != nil {
		return fmt.Errorf("parquet: validating: %w", err)
	}
	defer cleanup()
	defer func() {
		if p := recover(); p != nil {
			err = corrupt.Errorf("parquet: invalid file: %v", p)
		}
	}()
	fr, _, done, err := f.open(src, size)
	if err != nil {
		return corrupt.Errorf("parquet: %w", err)
	}
	defer done()
	if _, err := fr.Schema(); err != nil {
		return corrupt.Errorf("parquet: %w", err)
	}
	rr, err := fr.GetRecordReader(context.Background(), nil, nil)
	if err != nil {
		return corrupt.Errorf("parquet: %w", err)
	}
	defer rr.Release()
	rows := int64(0)
	for rr.Next() {
		if err := flowarrow.ValidateRecord(rr.RecordBatch()); err != nil {
			return corrupt.Errorf("parquet: %w", err)
		}
		rows += rr.RecordBatch().NumRows()
	}
	if err := rr.Err(); err != nil {
		return corrupt.Errorf("parquet: %w", err)
	}
	if want := fr.ParquetReader().NumRows(); rows != want {
		return corrupt.Errorf("parquet: %d rows read, the footer says %d", rows, want)
	}
	return nil
}

var _ core.FormatValidator = (*format)(nil)

// buffer makes r random-access: in memory up to spillAbove bytes, else in
// a temporary file (removed by cleanup).
func (f *format) buffer(r io.Reader) (pq.ReaderAtSeeker, int64, func(), error) {
	// io.ReadAll grows with the bytes that arrive: a stream cannot make it
	// allocate more than it holds.
	data, err := io.ReadAll(io.LimitReader(r, f.c.spillAbove+1))
	if err != nil {
		return nil, 0, nil, err
	}
	if int64(len(data)) <= f.c.spillAbove {
		return bytes.NewReader(data), int64(len(data)), func() {}, nil
	}
	tmp, err := os.CreateTemp(f.c.tempDir, "flowcache-parquet-*")
	if err != nil {
		return nil, 0, nil, err
	}
	cleanup := func() {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
	}
	if _, err := tmp.Write(data); err != nil {
		cleanup()
		return nil, 0, nil, err
	}
	n, err := io.Copy(tmp, r)
	if err != nil {
		cleanup()
		return nil, 0, nil, err
	}
	return tmp, int64(len(data)) + n, cleanup, nil
}

// budget is what decoding a file of size bytes may allocate.
func (f *format) budget(size int64) int64 { return f.c.maxDecoded + 64*size }

// open checks the file (checkFile) and opens it for reading with an
// allocator that refuses to go past the budget. done closes it.
func (f *format) open(src pq.ReaderAtSeeker, size int64) (*pqarrow.FileReader, *flowarrow.LimitedAllocator, func(), error) {
	budget := f.budget(size)
	info, err := checkFile(src, size, budget)
	if err != nil {
		return nil, nil, nil, err
	}
	mem := &flowarrow.LimitedAllocator{Mem: f.c.mem, Limit: func() int64 { return budget }, Err: errBudget}
	props := pq.NewReaderProperties(mem)
	// No page is larger than the file, nor (uncompressed) than the
	// largest column chunk.
	props.MaxCompressedPageSize = max(1, min(size, pq.DefaultMaxCompressedPageSize))
	props.MaxUncompressedPageSize = max(1, min(info.maxChunk, pq.DefaultMaxUncompressedPageSize))
	rdr, err := file.NewParquetReader(src, file.WithReadProps(props), file.WithMetadata(info.meta))
	if err != nil {
		return nil, nil, nil, err
	}
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: int64(f.c.rowGroup)}, mem)
	if err != nil {
		_ = rdr.Close()
		return nil, nil, nil, err
	}
	return fr, mem, func() { _ = rdr.Close() }, nil
}

func (f *format) decode(src pq.ReaderAtSeeker, size int64, t reflect.Type) (any, error) {
	fr, mem, done, err := f.open(src, size)
	if err != nil {
		return nil, err
	}
	defer done()
	budget := f.budget(size)
	ctx := context.Background()
	schema, err := fr.Schema()
	if err != nil {
		return nil, err
	}
	schema = stripFieldIDs(schema)
	if t.Kind() == reflect.Slice {
		// The slice alone must fit in the budget; it is preallocated
		// for at most that.
		rows := fr.ParquetReader().NumRows()
		if es := int64(t.Elem().Size()); es > 0 && rows > budget/es {
			return nil, fmt.Errorf("%d rows of %d bytes are more than the decoding limit of %d bytes (see WithMaxDecoded)", rows, es, budget)
		}
		// Batch by batch: only one batch exists in Arrow form at a time.
		rr, err := fr.GetRecordReader(ctx, nil, nil)
		if err != nil {
			return nil, err
		}
		defer rr.Release()
		return flowarrow.CollectLimit(withSchema{rr, schema}, t, mem, min(flowarrow.MaxPrealloc, budget))
	}
	tbl, err := fr.ReadTable(ctx)
	if err != nil {
		return nil, err
	}
	defer tbl.Release()
	rr := array.NewTableReader(tbl, -1)
	defer rr.Release()
	return flowarrow.Collect(withSchema{rr, schema}, t, f.c.mem)
}

// fieldIDKey is the field metadata pqarrow adds to every column it reads:
// the Parquet field id, "-1" when the writer set none.
const fieldIDKey = "PARQUET:field_id"

// stripFieldIDs removes the "no field id" marks pqarrow adds to top-level
// fields, so that a record loads back with the metadata it was stored
// with. (Fields nested in struct or list columns keep theirs.)
func stripFieldIDs(s *arrow.Schema) *arrow.Schema {
	fields := s.Fields()
	changed := false
	for i, f := range fields {
		k := f.Metadata.FindKey(fieldIDKey)
		if k < 0 || f.Metadata.Values()[k] != "-1" {
			continue
		}
		var keys, vals []string
		for j := range f.Metadata.Len() {
			if j != k {
				keys = append(keys, f.Metadata.Keys()[j])
				vals = append(vals, f.Metadata.Values()[j])
			}
		}
		fields[i].Metadata = arrow.NewMetadata(keys, vals)
		changed = true
	}
	if !changed {
		return s
	}
	md := s.Metadata()
	return arrow.NewSchema(fields, &md)
}

// withSchema is a record reader with another schema of the same columns
// (other field metadata); Collect gives its records that schema.
type withSchema struct {
	array.RecordReader
	schema *arrow.Schema
}

func (w withSchema) Schema() *arrow.Schema { return w.schema }

var errBudget = errors.New("decoding would allocate more than the limit (see WithMaxDecoded)")
