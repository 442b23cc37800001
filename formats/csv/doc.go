// Package csv is the "csv" result format of flowcache: tables stored as
// plain CSV (RFC 4180 quoting, comma separated, header row first) that a
// person, a spreadsheet, Python's csv module or pandas.read_csv can open.
//
// The format registers itself in package formats under the name "csv"
// when this package is imported:
//
//	import _ "github.com/flowcache/flowcache/formats/csv"
//
// # What it stores
//
//   - Slices of structs, []T and []*T (and named slice types of them). The
//     header row holds one column per field, named by the field's name or
//     its `csv:"name"` tag (the text before any comma; tag options are
//     refused, as none are defined), in field order. A cell holds a field
//     of kind bool, int, int8…int64, uint, uint8…uint64, float32, float64
//     or string (named types such as time.Duration included), a
//     time.Time (an embedded one is a column named Time), a []byte, or a
//     pointer to any of those but []byte (nullable).
//   - [][]string (and named types of it): rows as they are, no header,
//     rows of different lengths allowed, but not rows without cells.
//   - Arrow data: arrow.RecordBatch (arrow.Record) and arrow.Table
//     (importing this package imports formats/arrow, which registers their
//     fingerprints). The header has one cell per field: its name, a space,
//     and its type in brackets, "price [float64]", with " not null" for a
//     field that is not nullable, "id [int64 not null]". Readers that know
//     nothing of it see ordinary column names (pandas.read_csv included);
//     Decode parses them back into the schema, so field names, types and
//     nullability survive the round trip and the loaded value fingerprints
//     equal to the stored one. The column types are int8…int64,
//     uint8…uint64, float32, float64 ("float64"), bool ("bool"), utf8
//     ("utf8"), binary ("binary", in base64) and timestamp[ns, tz=UTC]
//     ("timestamp[ns, tz=UTC]", written like a time.Time in UTC); nulls
//     follow the null rule below. A table is written chunk after chunk and
//     loads back as a table of one chunk (chunking does not change a
//     fingerprint); a record loads back as one record. Decode allocates
//     with memory.DefaultAllocator; release the value as usual. Check
//     accepts the two interface types, as it cannot see a schema: Encode
//     refuses, naming the column, a column of another type (lists,
//     structs, dictionaries, other timestamp units or zones, large or view
//     strings, ...) or with field metadata, a schema with metadata (such as
//     pandas' or PARQUET:field_id, which a header cannot hold), a schema
//     without fields, and nulls in a field that is not nullable.
//
// Everything else fails Check (so a node fails at Build) with an error
// wrapping core.ErrUnsupportedType that names the type and, for a struct,
// the field: maps, nested or embedded structs, slices and arrays in rows
// (other than []byte), interfaces, funcs, channels, complex numbers,
// pointers to pointers or slices, unexported fields (they would be lost),
// fields tagged `csv:"-"` (they would load back as zero values, so they
// are refused rather than skipped), two columns with one name, and
// structs without fields.
//
// # Encoding rules
//
//   - Numbers are written in decimal. A float is written with the shortest
//     text that parses back to the same bits (strconv 'g', precision -1;
//     integral values below 2^53 without an exponent, "1000000" rather
//     than "1e+06"), so every float round-trips exactly, -0 included. NaN,
//     +Inf and -Inf are written "NaN", "+Inf" and "-Inf" and read back as
//     such (pandas.read_csv reads them as floats too). All NaNs load back
//     as the one NaN strconv returns; fingerprints treat every NaN as
//     equal, so the loaded value fingerprints equal.
//   - Bools are "true" and "false" (reading also accepts the other forms
//     strconv.ParseBool accepts, such as "True" and "1").
//   - Strings are written as they are, between double quotes when they are
//     empty, contain a comma, a quote, "\r" or "\n", or begin or end with a
//     space or a tab; a quote inside is doubled. Bytes are written and read
//     back exactly (UTF-8 or not; "\r\n" inside a string stays "\r\n").
//   - []byte is written in standard base64 (with padding).
//   - Null: a nil pointer (and a nil []byte) is an empty cell without
//     quotes; an empty string (and an empty, non-nil []byte) is a quoted
//     empty cell, "". This is the one rule encoding/csv cannot read (it
//     makes both ""), which is why the package has its own small reader and
//     writer. pandas reads both as missing (NaN) by default.
//   - Line ends: every record ends with "\n" except the last, which ends
//     with "\r\n", the end mark; a table without records ([][]string{}) is
//     the end mark alone. CSV readers take both as line ends, and Decode
//     requires the mark where it belongs, so a file cut between two
//     records, or with anything after its end, is an error rather than a
//     shorter table (the result store verifies results too; this makes
//     the format safe on its own).
//   - nil and empty tables differ, and load back as they were: an empty
//     table of structs is its header alone, a nil one the end mark alone
//     (no header: pandas.read_csv finds no columns in it); an empty
//     [][]string is the end mark alone, a nil one an empty line and the
//     end mark (CSV readers skip the empty line).
//   - time.Time is RFC 3339 with nanoseconds (trailing zeros dropped),
//     e.g. 2024-05-06T07:08:09.5Z. A time in UTC is written with "Z" and
//     loads back in time.UTC; a time in an unnamed fixed zone
//     (time.FixedZone("", offset), what time.Parse makes of an offset) is
//     written with its offset and loads back in such a zone. Both round
//     trip exactly, zone name included. A time in a named zone (time.Local,
//     time.LoadLocation("Europe/Paris"), a named fixed zone) would load back
//     without its name, and fingerprints include the zone's name, so
//     Encode refuses it with an error naming the row and the field. Convert
//     such times with .UTC() before returning them, or accept the loss with
//     the LossyTimeZones option. Years outside 0…9999 are refused (RFC 3339
//     cannot write them).
//
// # Lossy cases (documented, tested)
//
//   - With LossyTimeZones, a time in a named zone loads back as the same
//     instant in an unnamed fixed zone (UTC when the offset is 0, or when
//     the offset is not a whole number of minutes), so its fingerprint
//     differs from the stored value's.
//   - Refused by Encode, which names the row (Check cannot see values, so
//     the node's value is then used but not stored): a nil element of a
//     []*T, a [][]string row without cells (an empty line, which CSV
//     readers skip), a time in a named zone or a year outside 0…9999, and
//     a record above the size limit.
//   - Outside flowcache: pandas reads both null and "" as missing (NaN),
//     skips the empty line of an all-null row of a one-column table, and
//     reads strings such as "NA" or "null" as missing unless
//     keep_default_na=False.
//
// # Reading
//
// Encode writes and Decode reads one record at a time through 64 KiB
// buffers, so neither holds the file in memory: Decode holds the decoded
// rows (in chunks of up to 4 MiB, copied once into the result) and one
// record. A record is limited to 64 MiB (see MaxRecordSize), and Encode
// refuses to write a record that Decode would refuse. Decode requires the
// header to match the struct (the same names in the same order), every
// row to have one cell per column, every cell to parse as its field's
// type, and the end mark at the end and nowhere else, so a file of another
// type, damaged bytes or a cut file is an error, never a wrong value or a
// panic. It is lenient only where that cannot change a value: quoted
// numbers, an unquoted empty cell for a (non-pointer) string, and the
// spellings strconv accepts. Files from other writers lack the end mark,
// so Decode reads only what Encode wrote.
//
// CSV holds no lengths or counts, so nothing in a file can make Decode
// allocate ahead of the bytes: what it holds grows with the cells read
// (FuzzDecode bounds it at 64 MiB plus 64 bytes per byte of input). Bad
// bytes are an error wrapping core.ErrCorrupt; a failing reader's error is
// passed on. Validate (core.FormatValidator) checks the framing without
// the Go type, one record in memory at a time.
//
// # Speed
//
// On the reference machine (AMD EPYC, 2 cores), a 10^6-row table of 4
// float64 and 4 int64 columns (64 MB in memory, a 110 MB file) encodes in
// 0.35 s (180 MB/s of table, 310 MB/s of CSV) and decodes in 0.59 s
// (108 MB/s of table, 185 MB/s of CSV); most of the decoding time is
// strconv.ParseFloat on 17-digit floats. Columnar formats (parquet, arrow)
// are much faster; csv is for results people and other tools read.
package csv
