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
// # Corrupt input
//
// Parquet compresses repetitive data so well that a small corrupt file can
// claim terabytes: what decoding allocates through the allocator is capped
// at DefaultMaxDecoded (1 GiB) plus 64 times the file's size (WithMaxDecoded),
// a page may not be larger than the file, a slice is preallocated for at most
// 512 MiB before its rows are read, and panics inside arrow-go become
// errors. FuzzDecode exercises it.
package parquet
