// Package formats holds the encodings (materializers) flowcache stores node
// results in, and a registry of them by name (Register, Lookup, Names).
//
// # The formats
//
//	name            what it stores                                  registered by
//	gob             any value encoding/gob round-trips (default)    this package
//	json            values encoding/json round-trips, plain JSON    this package
//	gob+zstd        gob, Zstandard-compressed                       this package
//	json+zstd       json, Zstandard-compressed                      this package
//	csv             tables: slices of structs, [][]string, Arrow    formats/csv (import it)
//	parquet         tables: Arrow records/tables, slices of structs formats/parquet
//	arrow           Arrow IPC files                                 formats/arrow
//
// A format's name is stored with every result and is part of its id, so
// changing a node's format is a cache miss, never a wrong decoding; a
// format whose encoding changes incompatibly takes a new name ("-v2").
// Check runs when a dataflow is built and rejects, naming the type and the
// field path, a result type the format cannot load back equal (an error
// wrapping core.ErrUnsupportedType). That includes a result whose type is
// an interface (any, error, ...) for gob and json: Encode is handed the
// value inside, which gob cannot decode into an interface and json would
// load back as one of its own kinds, so the node would miss on every run;
// such a node must return a concrete type (the Arrow formats load
// arrow.RecordBatch and arrow.Table back into those interfaces). "Equal" means: the same Go type and
// the same fingerprint (package core/fingerprint), which tells a nil slice
// or map from an empty one and -0 from +0. The cache fingerprints every
// value it loads and treats one that differs from the data version it was
// stored under as a miss, so a format that loses something costs a miss,
// never a wrong value; the formats here lose none of these.
//
// # nil, empty and -0
//
// Every format here loads a nil slice or map back as nil, an empty one as
// empty, and -0 as -0, or refuses the value when encoding. What each does
// for it:
//
//   - gob: encoding/gob alone loads every zero-length slice as nil (an
//     empty []T or []byte too, wherever it is); a nil map as an empty one
//     when it is the whole value, an element, a map value or the value in
//     an interface (a nil map struct field stays nil, and an empty map
//     stays empty everywhere); and a float or complex struct field that is
//     -0 as +0 (gob leaves zero fields out; -0 elsewhere is kept). Gob
//     notes these places before the gob value and restores them after
//     decoding (it refuses a map that needs a note when a key holds a NaN
//     or a -0 field, or two keys are pointers to equal values).
//   - json: null and [] (or {}) tell nil from empty; -0 is written "-0".
//     Encode refuses what json would leave out and load back different:
//     an empty slice or map, or a -0, in a field tagged omitempty (and a
//     -0 under omitzero), and a nil []any or map[string]any in an `any`.
//   - csv: a nil table is written without its header (a nil [][]string as
//     an empty line), an empty one as its header alone; a nil []byte cell
//     is unquoted and empty, an empty one quoted; floats are written with
//     their sign (see package formats/csv).
//   - arrow and parquet: a nil slice is marked in the schema's metadata,
//     a null []byte cell differs from an empty one, and float bits are
//     stored as they are (see package formats/arrow).
//
// # What each loses, and what is done about it
//
// gob (see Gob): unexported struct fields (Check rejects them); a struct
// field pointing to a zero value, like Score *float64 pointing to 0 (gob
// does not transmit zero fields, so it would load back nil: Encode refuses
// such a value, naming the field); nil pointers inside slices and maps
// (gob refuses them); unregistered concrete types in interfaces (Encode
// fails). What gob itself changes (empty slices, nil maps, -0 fields) is
// restored, see above. time.Time keeps its instant and offset but not its zone's name
// (gob uses MarshalBinary): keep times in UTC when the zone matters.
//
// json (see JSON): Check rejects funcs, chans, complex numbers, non-empty
// interfaces, pointers to pointers, map keys JSON cannot hold, fields json
// leaves out (unexported, `json:"-"`, hidden by another field of the same
// JSON name) and types whose marshal/unmarshal methods do not pair up.
// Encode refuses NaN and ±Inf, strings that are not valid UTF-8, values in
// an `any` that are not JSON's own (nil, bool, float64, string, []any,
// map[string]any), and non-nil pointers to nil slices or maps. time.Time
// loads back as the same instant in a fixed-offset zone: a named zone such
// as "Europe/Paris" is not kept (UTC is), which changes the fingerprint.
//
// Formats that fail to encode a value at run time make the cache report a
// failed_store_write event and use the value without storing it.
//
// # Memory
//
// json and the +zstd wrappers stream: json writes and reads a top-level
// slice element by element, and zstd compresses and decompresses as the
// inner format writes and reads. gob writes a large top-level slice or map
// in chunks of about 4 MiB and loads it into a slice made once from its
// count, and a large top-level slice of fixed-size numbers ([]float64,
// []int64, []float32, ..., not []byte; named types too) as its raw bytes,
// little-endian, read straight into the slice (see Gob, "Large slices of
// numbers"; gob+zstd keeps chunks); other gob values are one message,
// built whole in memory both ways. Peak memory (the process's peak
// resident set, VmHWM, over the value's size; an empty process is about
// 55 MB of it) storing and loading one 500 MB result through a local cache
// directory, each in a fresh process (go run ./cmd/flowbench memory), on
// the 2-core development machine:
//
//	                 []float64        []byte           []struct (40 B rows)
//	                 store  load      store  load      store  load
//	gob (default)    1.13   1.13      1.14   1.38      1.18   1.39
//	gob+zstd         1.31   1.44      1.23   1.44      1.27   1.43
//	json             1.17   2.98      3.80   3.62      1.17   2.12
//	json+zstd        1.22   2.97      3.88   3.62      1.22   2.14
//	csv                                                1.17   2.12
//	parquet                                            2.23   2.20
//	arrow                                              2.06   2.02
//
// Before chunks, gob took 7.4 / 5.3 ([]float64), 3.1 / 5.3 ([]byte) and
// 4.7 / 5.4 ([]struct); with chunks and before raw slices, 1.2 / 1.37 for
// []float64 (the same machine, loaded, in one run with 1.13 / 1.13). json
// holds a []byte's base64 text whole, both ways.
//
// # Zstandard, and why the default stays plain gob
//
// Zstd wraps any format (github.com/klauspost/compress/zstd). Measured on
// the 2-core development machine (AMD EPYC, shared with other work, so
// ranges), go test -bench . in this package, MB/s of the value in memory:
// a table of 10^6 rows × 8 columns (4 float64, 4 int64; 64 MB) and an
// 80 MB []float64:
//
//	                     encode MB/s       decode MB/s       encoded size
//	                     table   floats    table   floats    table    floats
//	gob                  250-400 (raw)     270-290 1650      53 MB    80 MB
//	gob+zstd (default)   110-150 150       185-195 255-280   26 MB    6.6 MB
//	gob+zstd, fastest    125-130 150       175-190 225-255   29 MB    17 MB
//	json                 145-170 120       30      23        115 MB   168 MB
//	json+zstd (default)  56-61   72        24-30   23        26 MB    3.1 MB
//	json+zstd, fastest   64-69   71        30      23        23 MB    4.5 MB
//
// gob writes the floats raw (see Gob): Encode hands the slice's memory to
// the writer as it is, which the benchmark's counting writer does not
// read, and Decode copies it into the slice it makes (best of 3 on the
// machine loaded by other work; 125 MB/s before raw slices in the same
// session, 84 MB encoded; gob+zstd keeps gob's chunks).
//
// The level: zstd.SpeedDefault (zstd's level 3) encodes as fast as
// SpeedFastest here, also on one core, and compresses the numbers 2.6
// times better (6.6 MB against 17 MB for gob floats), so it is the
// default; ZstdLevel changes it (the name stays: any level reads any
// other's output).
//
// The default format: the same machine writes 1.1 GB/s sequentially to
// its disk (1 GiB with fsync), so on a local disk compression costs more
// than it saves: gob+zstd spends about 300 ms more CPU on the table to save
// 27 MB of writing (25 ms). The default stays plain gob; choose gob+zstd
// or json+zstd per node or per build for results that go to a remote
// store (S3, GCS, Azure), where bandwidth is the cost, or that compress
// very well and are kept for long.
//
// Decoders are hardened: every decoder here returns an error, never a
// panic, on truncated or corrupt input (fuzz tests with committed corpora
// under testdata/fuzz), rejects trailing data, and allocates in proportion
// to its input; a zstd frame may ask for a window of at most 8 MiB.
//
// # Reading a result without its Go type
//
// DecodeAny decodes a gob or json result (compressed or not) without the
// type it was encoded from, into values encoding/json writes back (gob
// structs as *GobStruct, interface values as GobInterface with their type
// name): what flowcache show prints. Results are self-describing enough
// for that; the typed way back is Format.Decode (inspect.Load).
//
// # Checking a format
//
// conformance.TestFormat runs the contract every format here passes
// (round trips of supported values, rejection of unsupported types, empty
// values, corrupt input, a large value streamed) against any core.Format,
// a user's own included.
package formats
