// Package parquet is the "parquet" format: node results stored as ordinary
// Parquet files (github.com/apache/arrow-go/v18/parquet and pqarrow), which
// any Parquet reader opens. Importing it registers the format with
// formats.Register.
//
// It stores what formats/arrow stores: arrow.Record, arrow.Table and
// slices of flat structs, with the same struct mapping and the same lossy
// cases (see flowarrow.SchemaOf and the formats/arrow documentation), and
// decodes to the node's declared type.
//
// # The file
//
// Columns are Parquet columns; nullable ones (pointers, []byte,
// time.Time) are optional. The Arrow schema is stored in the file metadata
// (ARROW:schema), so what Parquet has no type for loads back exactly here
// and in pyarrow: unsigned integers are INT32/INT64 with an unsigned
// logical type (a reader that ignores logical types sees uint64 values
// above 2^63 as negative), timestamps are INT64 nanoseconds in UTC. pqarrow
// adds a "PARQUET:field_id" = "-1" metadata pair to every field it reads;
// Decode removes it from top-level fields so records load back with the
// metadata they were stored with (fields nested in struct or list columns
// keep it, and fingerprint differently).
//
// # Choices, with numbers
//
// Measured on the 2-core target machine, shared with other work (so the
// figures vary by a third from run to run), on the 10^6 x 8 benchmark table
// (4 float64 + 4 int64 columns, 64 MB) and on the same shape of random
// values:
//
//	                      encode    decode   stored   random: encode  stored
//	snappy (default)     213 MB/s  660 MB/s  31.9 MB          287 MB/s 48.2 MB
//	zstd                 103 MB/s  455 MB/s   8.3 MB          192 MB/s 41.9 MB
//	uncompressed         811 MB/s  340 MB/s  64.0 MB          884 MB/s 64.0 MB
//	snappy, dictionaries  55 MB/s            48.9 MB
//
// Snappy is the default: twice as fast as zstd to write and faster to read,
// and the cost of a cold run is the write; zstd is the choice for remote
// stores where bytes cost more than CPU (WithCompression). Dictionary
// encoding is used for string and binary columns only: on numeric columns
// arrow-go's dictionary encoder spent most of the time hashing, made
// encoding four times slower and the file larger (48.9 MB against 31.9 MB
// with snappy), as numeric results are rarely low-cardinality.
//
// Row groups hold DefaultRowGroupRows (128 Ki) rows: pqarrow buffers a whole
// row group while writing, and a slice is converted one row group at a time,
// so the row group bounds the writer's memory (8 MB for 64-byte rows) while
// staying large enough for compression and per-group overhead (DuckDB writes
// 122,880-row groups, for the same reasons). WithRowGroupRows changes it.
//
// # Decoding needs random access
//
// Parquet readers start from the footer, at the end of the file, and a
// stored result is a stream. Decode reads files up to DefaultSpillAbove
// (64 MiB) into memory (a cost of the file's size, released when Decode
// returns, usually small next to the decoded value) and larger ones into a
// temporary file (WithSpill), so a large result never has a whole extra
// copy of its encoding in memory. A 210 MB slice of structs (103 MB of
// Parquet) decodes with the heap 50 MB above the decoded value.
//
// # Corrupt and hostile input
//
// A stored file is checked before arrow-go reads it, because arrow-go
// trusts the lengths in a footer: one Parquet file of a few KB whose
// ARROW:schema declared 2.4 billion fields made it allocate 212 GB and
// killed the process. Decode and Validate therefore
//
//   - walk the footer's thrift encoding first and require every list and
//     string to fit in the bytes that hold it (arrow-go's thrift code
//     allocates a list at its declared length, up to 100 million
//     elements), with list element types as parquet.thrift declares them
//     and nesting under 64;
//   - require the schema to form one tree at most 64 deep (arrow-go
//     allocates a group's children at their declared count, and recurses);
//   - require every column chunk to lie inside the file, be unencrypted
//     and in this file, match its column's type, declare an uncompressed
//     size its codec can produce (snappy expands at most 22 times; an
//     uncompressed chunk not at all), and agree with the row counts; and the
//     uncompressed sizes to add up to at most the budget below;
//   - walk every page header first and require the pages to fill their
//     column chunk, a dictionary page to hold no more values than its bytes
//     can (arrow-go decodes a dictionary up to the highest index used, into
//     a slice of that length: 48 GiB for a crafted index), the value counts
//     to add up, and data pages to use the encodings arrow-go's and
//     pyarrow's writers use by default: the delta encodings are refused, as
//     arrow-go's delta decoders allocate at a block size the page declares
//     (32 GiB from a 555-byte file);
//   - verify the ARROW:schema IPC message with formats/arrow's flatbuffer
//     verifier (flowarrow.CheckSchemaMessage);
//   - cap a page at the file's size (compressed) and at the largest column
//     chunk's declared size (uncompressed), and decompress snappy and zstd
//     pages into the page's buffer only: importing this package replaces
//     arrow-go's snappy and zstd page decoders (compress.RegisterCodec)
//     with ones that refuse a block longer than the page, where arrow-go's
//     allocate what the block declares (4 GiB for snappy, 64 GiB for zstd)
//     and check the length afterwards. Valid files decode as before.
//
// What decoding then allocates through the allocator is capped at
// DefaultMaxDecoded (1 GiB) plus 64 times the file's size
// (WithMaxDecoded), and a slice result must fit in that budget too (it is
// preallocated for at most 512 MiB before its rows are read). Panics inside
// arrow-go become errors. A file that fails any of this is an error wrapping
// core.ErrCorrupt; TestCraftedArrowSchema, TestLyingFooter and
// TestLyingPages build such files, and FuzzDecode and FuzzValidate run
// under an allocation bound.
//
// Validate (core.FormatValidator) makes the same checks without the Go
// type, then reads every row group into Arrow records, one batch at a
// time, and checks them (flowarrow.ValidateRecord) and their row count.
package parquet
