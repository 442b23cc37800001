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
// stream, so the file is first read into memory; see the package
// documentation for the cost.
func (f *format) Decode(r io.Reader, t reflect.Type) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, fmt.Errorf("parquet: decoding %v: invalid file: %v", t, p)
		}
	}()
	if err := flowarrow.CheckType(t); err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	src, size, cleanup, err := f.buffer(r)
	if err != nil {
		return nil, fmt.Errorf("parquet: decoding %v: %w", t, err)
	}
	defer cleanup()
	v, err = f.decode(src, size, t)
	if err != nil {
		return nil, fmt.Errorf("parquet: decoding %v: %w", t, err)
	}
	return v, nil
}

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

func (f *format) decode(src pq.ReaderAtSeeker, size int64, t reflect.Type) (any, error) {
	left := f.c.maxDecoded + 64*size
	mem := &flowarrow.LimitedAllocator{Mem: f.c.mem, Limit: func() int64 { return left }, Err: errBudget}
	props := pq.NewReaderProperties(mem)
	// A page cannot be larger than the file.
	props.MaxCompressedPageSize = max(1, min(size, pq.DefaultMaxCompressedPageSize))
	rdr, err := file.NewParquetReader(src, file.WithReadProps(props))
	if err != nil {
		return nil, err
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: int64(f.c.rowGroup)}, mem)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	schema, err := fr.Schema()
	if err != nil {
		return nil, err
	}
	schema = stripFieldIDs(schema)
	if t.Kind() == reflect.Slice {
		// Batch by batch: only one batch exists in Arrow form at a time.
		rr, err := fr.GetRecordReader(ctx, nil, nil)
		if err != nil {
			return nil, err
		}
		defer rr.Release()
		return flowarrow.Collect(withSchema{rr, schema}, t, mem)
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
