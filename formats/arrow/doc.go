// Package arrow is the "arrow" format: node results stored as Arrow IPC
// streams, the fastest columnar round trip. It also holds what
// formats/parquet shares: the mapping between slices of Go structs and
// Arrow records (SchemaOf, RecordFromSlice, NewSliceReader, AppendRecord,
// Collect), and fingerprints of Arrow records and tables (Fingerprint,
// FingerprintTable).
//
// The package is named arrow like arrow-go's; import it under another name
// (flowarrow in the examples) when both are used. Importing it registers
// the format with formats.Register.
//
// # What it stores
//
// A node whose declared type is arrow.Record (arrow.RecordBatch),
// arrow.Table, or a slice of flat structs []T. Decoding yields that type:
// a record, a table, or a []T. The struct mapping is in SchemaOf: ints,
// uints, floats, bools, strings, []byte, time.Time and pointers to them
// (nil is null); maps, slices, nested structs and interfaces are rejected
// by Check with an error naming the field. Other types are rejected too.
//
// # Stream, not file
//
// The bytes are the Arrow IPC stream format (schema, record batches,
// end-of-stream marker; what pyarrow.ipc.open_stream reads), not the IPC
// file format: the file format ends with a footer that a reader must seek
// to, and a stored result is read as a stream. Records go to the writer
// from their own buffers (no copy); a slice is converted DefaultBatchRows
// (64 Ki) rows at a time, so only one batch exists in Arrow form while
// encoding. Tables are written one batch per chunk.
//
// # Memory of decoded values
//
// A decoded record or table points into the message bodies read from the
// stream: no copy after reading. Bodies up to 4 MiB are read with one
// allocation; larger ones grow as their bytes arrive (doubling), which
// costs one extra copy of their bytes and at most 1.5 times the body while
// reading; that is the price of never allocating what a corrupt header
// claims. The buffers are Go memory: decoded records stay valid after
// Decode returns, for as long as they are referenced, and Release is
// optional (the garbage collector frees them). A record stored as a table
// of several chunks and loaded as arrow.Record is concatenated (a copy).
// A slice is allocated once at its final size (the row count is in the
// schema metadata, RowsKey) and filled batch by batch; the count is trusted
// only for as much memory as 64 times the bytes read so far plus 1 MiB,
// which a stream of fixed-width columns passes once its first batch is
// read.
//
// # Lossy cases
//
//   - time.Time is stored as timestamp[ns, tz=UTC]. Times in another
//     location would load back in UTC and fingerprint differently, so Encode
//     rejects them (convert with t.UTC()); so it does times outside
//     1677-09-21..2262-04-11. The zero time is stored as null and loads back
//     as the zero time.
//   - Strings must be valid UTF-8, as Arrow and Parquet strings are: Encode
//     rejects others naming the row; use []byte for arbitrary bytes.
//   - A nil []byte is null, an empty one is empty: they stay apart.
//   - NaN payloads and -0 are stored bit for bit.
//   - int and uint are 64-bit columns.
//
// # Corrupt and hostile input
//
// Decode never trusts the stream. It checks every message's flatbuffer
// metadata before arrow-go reads it (verifyMessage: arrow-go allocates what
// vector lengths claim), reads bodies only as fast as bytes arrive, caps
// what arrow-go allocates itself at 1 MiB plus twice the bytes read,
// refuses compressed bodies (arrow-go decompresses them with decoders of
// default limits, outside that cap; Encode never compresses), requires the
// end-of-stream marker (a truncated stream is an error, not fewer rows),
// caps rows at 8 per byte read plus 1 Mi (columns of the null type take no
// bytes), trusts a declared row count only as far as the bytes read (see
// above), validates every record (ValidateRecord) and turns any panic into
// an error. Damaged bytes are an error wrapping core.ErrCorrupt; a failing
// reader's error is passed on. Validate (core.FormatValidator) reads a
// stream the same way without a Go type. FuzzDecode and FuzzValidate run
// under an allocation bound of 64 MiB plus 128 bytes per byte of input.
// CheckSchemaMessage applies the message checks to the Arrow schema a
// Parquet file carries.
//
// # Fingerprints
//
// Fingerprint and FingerprintTable hash schema and buffers directly, in
// place: two records with the same content hash equal however they are
// sliced or chunked, and differ when a value, a null, a column name, a
// type, nullability or metadata differs (see fingerprint.go for the
// canonical form). The fingerprint registry matches concrete types, and
// arrow-go's record and table types are unexported, so registering them
// needs a registry entry for the interface types arrow.RecordBatch and
// arrow.Table; until then wrap values in a type with a Fingerprint method
// that calls these functions.
//
// # Speed
//
// Measured on the 2-core AMD EPYC target machine (go test -bench .), on the
// 10^6 x 8 table of 4 float64 and 4 int64 columns (64 MB), shared with
// other work, best of several runs:
//
//	encode table                     5.6 GB/s (to memory)
//	decode table                     1.7 GB/s (one 64 MB batch: doubling reads)
//	encode []struct (64 Ki batches)  3.4 GB/s
//	decode []struct                  2.4 GB/s
//	fingerprint table                3.0 GB/s (1 or 16 chunks alike)
package arrow
