package core

import (
	"context"
	"io"
	"time"
)

// This file gathers the optional capabilities of stores and formats; the
// doc comment of As lists them, who has each and who uses it.

// MetadataWrapper is implemented by a metadata store that wraps another.
type MetadataWrapper interface {
	// Unwrap returns the store this one wraps.
	Unwrap() MetadataStore
}

// ResultWrapper is implemented by a result store that wraps another.
type ResultWrapper interface {
	// Unwrap returns the store this one wraps.
	Unwrap() ResultStore
}

// maxUnwrap bounds the Unwrap chains As follows, so that a wrapper that
// returns itself cannot make it loop.
const maxUnwrap = 64

// As returns store as a T (an optional interface, or a concrete store
// type), following Unwrap chains (MetadataWrapper, ResultWrapper) from
// store until a store in the chain is a T. It reports false when none is.
// store is a MetadataStore, a ResultStore or any other value (a Format);
// a nil store is never a T.
//
// The optional capabilities are looked up with As, never with a plain
// type assertion, so that a wrapped store keeps them. A store needs none
// of them to be correct; each makes something possible or cheaper:
//
//	capability       implemented by            used by
//	EntryWalker      every metadata store      inspect (usage, nodes, verify, evict), conformance
//	Preloader        local, bucket, docstore   core: a run reads its nodes' entries in one request
//	IndexPreloader   local                     core: the same, answered without a map of every entry
//	EntryRemover     every metadata store      inspect evict: delete entries only if unchanged
//	VerifiedGetter   local, bucket, mem        GetVerified: open a result verified whole, no spool
//	ResultFlusher    local                     core: flush buffered results before a metadata write
//	BufferedPutter   local                     core: store a small result on the node's goroutine
//	                                           (looked up on the store itself, not through wrappers)
//	RunEnder         local                     core: a run has ended (its history written)
//	ResultWalker     local, bucket, mem        inspect (usage, nodes, verify, evict --gc)
//	ResultRemover    local                     inspect evict: many results in one transaction
//	DebrisFinder     local                     maintain verify, evict --gc: non-results in the results' place
//	LogStore         local, mem, bucket        core (WithRunLogs, ReadRunLog), driver, inspect logs
//	Leaser           local, mem, bucket,       executors: a node executes once across processes
//	                 docstore                  and machines (single-flight; see lease.go)
//	FormatValidator  the formats of flowcache  inspect verify, formats (zstd over another format)
//
// A store that wraps another (for metrics, tracing, retries, or core's own
// CheckMetadata and CheckResults) implements the base interface and
// exposes what it wraps with Unwrap() MetadataStore or Unwrap()
// ResultStore. As finds every capability of the wrapped store through it,
// and the capability is called on the store that has it, past the wrappers
// above (a wrapper that must see those calls implements the capability
// itself, and As finds it first).
func As[T any](store any) (T, bool) {
	for range maxUnwrap {
		if store == nil {
			break
		}
		if t, ok := store.(T); ok {
			return t, true
		}
		switch w := store.(type) {
		case MetadataWrapper:
			store = w.Unwrap() // a nil interface becomes a nil any
		case ResultWrapper:
			store = w.Unwrap() // a nil interface becomes a nil any
		default:
			store = nil
		}
	}
	var zero T
	return zero, false
}

// Capabilities of metadata stores.

// EntryWalker is an optional interface of metadata stores that can list
// their entries (for inspection, verification and eviction).
type EntryWalker interface {
	// WalkEntries calls fn for every entry, in no particular order, and
	// stops at the first error fn returns.
	WalkEntries(ctx context.Context, fn func(Entry) error) error
}

// Preloader is an optional interface of metadata stores that can read the
// entries of many nodes in one round trip. A run preloads the entries of the
// nodes it may look up, so that a warm node costs a map lookup instead of a
// query (the local SQLite store: about 7 µs a query).
type Preloader interface {
	// Preload returns the entries whose key's node is one of nodes, by
	// lookup key. Only DataVersion, Format and LastUsed need be set: the
	// caller looks entries up by the key it computed.
	Preload(ctx context.Context, nodes []string) (map[KeyID]Entry, error)
}

// PreloadIndex is the answer of an IndexPreloader: the entries of the
// nodes preloaded, looked up by key. It is read by several goroutines at
// once and never changes.
type PreloadIndex interface {
	// Lookup returns the entry of id, with DataVersion, Format and
	// LastUsed set, and whether there is one.
	Lookup(id KeyID) (Entry, bool)
	// Len returns the number of entries.
	Len() int
}

// EntryMap is a PreloadIndex over a map, what a Preloader returns.
type EntryMap map[KeyID]Entry

// Lookup implements PreloadIndex.
func (m EntryMap) Lookup(id KeyID) (Entry, bool) {
	e, ok := m[id]
	return e, ok
}

// Len implements PreloadIndex.
func (m EntryMap) Len() int { return len(m) }

// IndexPreloader is an optional interface of metadata stores whose preload
// answers lookups without building a map of every entry first: the local
// store looks them up in the bytes of its snapshot file, which costs a
// fresh process a fraction of decoding 1000 entries into a map. A run
// prefers it to Preloader; a store implementing it implements Preloader
// too, with the same entries.
type IndexPreloader interface {
	PreloadIndex(ctx context.Context, nodes []string) (PreloadIndex, error)
}

// preload reads the entries of nodes from meta, through IndexPreloader or
// Preloader; ok is false when meta has neither.
func preload(ctx context.Context, meta MetadataStore, nodes []string) (idx PreloadIndex, ok bool, err error) {
	if p, ok := As[IndexPreloader](meta); ok {
		idx, err := p.PreloadIndex(ctx, nodes)
		return idx, true, err
	}
	if p, ok := As[Preloader](meta); ok {
		m, err := p.Preload(ctx, nodes)
		if err != nil || m == nil {
			return nil, true, err // a nil map preloads nothing, as before
		}
		return EntryMap(m), true, nil
	}
	return nil, false, nil
}

// canPreload reports whether meta preloads at all.
func canPreload(meta MetadataStore) bool {
	if _, ok := As[IndexPreloader](meta); ok {
		return true
	}
	_, ok := As[Preloader](meta)
	return ok
}

// EntryRemover is an optional interface of metadata stores that delete many
// entries in one request, each only if it is still as it was read: eviction
// decides from a listing that a run may change before the deletion.
type EntryRemover interface {
	// RemoveEntries deletes, for every e in entries, the stored entry of
	// e.ID() if it still maps to e.DataVersion and e.Format and its Created
	// and LastUsed are not after e's (no run stored or used it since e was
	// read). It returns the ids it deleted; a missing entry is not one and
	// not an error.
	RemoveEntries(ctx context.Context, entries []Entry) ([]KeyID, error)
}

// Capabilities of result stores.

// VerifiedGetter is the optional interface of result stores that can open
// a result verified whole (see GetVerified, which uses it).
type VerifiedGetter interface {
	// GetVerified opens the result stored under id once every byte of it
	// has passed verification: no Read of the returned reader yields a
	// byte that was not checked against the result's checksum (and id)
	// before GetVerified returned. A missing result is an error wrapping
	// ErrNotFound; a damaged one — including something that is not a
	// result where the result should be, like a directory at a result
	// file's path — an error wrapping ErrCorrupt, from GetVerified itself.
	// Read may still fail with an I/O error; and a store that reads a
	// verified file a second time instead of copying it (the local store)
	// reports a file changed in between with an error wrapping ErrCorrupt
	// at the end: read to io.EOF before trusting what was decoded, as with
	// Get. The memory GetVerified holds is bounded (a large result is read
	// twice or spooled to a temporary file, never held whole in memory).
	GetVerified(ctx context.Context, id ResultID) (io.ReadCloser, error)
}

// ResultFlusher is an optional interface of result stores that buffer
// writes (the local store keeps small results in memory and writes them to
// its database in one transaction). A run calls FlushResults before every
// metadata write, so that no entry is written before the result it points
// to. A result store that buffers must still serve buffered results from
// Get and Exists.
type ResultFlusher interface {
	FlushResults(ctx context.Context) error
}

// BufferedPutter is an optional interface of result stores that keep small
// results in memory until their next FlushResults (see ResultFlusher): the
// local store, up to its inline limit. BufferedPutLimit returns the size up
// to which a Put only copies the bytes into memory. A run stores a result
// that small on the node's own goroutine once it is encoded, rather than
// hand it to a background upload (see WithBackgroundStores), whose
// goroutine cost more than the copy: about 1.5 µs a node of a cold chain
// of a thousand. It is looked for on the store given to New itself, not
// through wrappers (the Put that a run calls is the wrapper's, which may do
// more than a copy).
type BufferedPutter interface {
	BufferedPutLimit() int
}

// RunEnder is an optional interface of metadata stores that keep state per
// run (the local store writes the history of a run that retrieves
// everything to a log of its own, locked while the run goes on; see
// package local). Run.End calls EndRun once the run's last batch is
// written; a run it does not know is not an error. Its error is a cache
// fault of the run, like any store's, never the run's.
type RunEnder interface {
	EndRun(ctx context.Context, run RunID) error
}

// ResultInfo describes one stored result, as a ResultWalker lists it.
type ResultInfo struct {
	ID ResultID
	// Size is the number of bytes the result takes in the store (for a
	// file or object, its header and trailer included).
	Size int64
	// Created is when the result was stored (the modification time of its
	// file or object); zero when the store cannot tell.
	Created time.Time
}

// ResultWalker is an optional interface of result stores that can list
// their results (for inspection, verification and garbage collection).
type ResultWalker interface {
	// WalkResults calls fn for every stored result, in no particular order,
	// and stops at the first error fn returns. Results stored or deleted
	// during the walk may or may not be seen.
	WalkResults(ctx context.Context, fn func(ResultInfo) error) error
}

// ResultRemover is an optional interface of result stores that delete many
// results in one request (the local store: one transaction for the inline
// ones, instead of a commit per result).
type ResultRemover interface {
	// RemoveResults deletes every result of ids, as Delete does; a missing
	// result is not an error.
	RemoveResults(ctx context.Context, ids []ResultID) error
}

// StaleTempAge is how long a temporary file a result store writes must
// have gone unwritten before it is taken for the leftover of a writer that
// was killed (DebrisStaleTemp): the age maintenance passes to a
// DebrisFinder. A writer writes its temporary file from the first byte to
// the rename into place without waiting for anything but the encoder, so
// its modification time is never more than a moment old; an hour leaves
// room for a machine under heavy load.
const StaleTempAge = time.Hour

// DebrisKind says what kind of debris a DebrisFinder found.
type DebrisKind string

// The kinds of debris.
const (
	// DebrisNotAFile is something other than a regular file (a directory,
	// a symbolic link, a named pipe) at the path of a result's file. A
	// run that needs the result treats it as damage: it deletes it, and
	// its Put replaces it.
	DebrisNotAFile DebrisKind = "not_a_file"
	// DebrisStaleTemp is a temporary file older than the age given to
	// FindDebris (StaleTempAge): what a writer killed during a Put leaves.
	DebrisStaleTemp DebrisKind = "stale_temp"
)

// Debris is something where a result store keeps its results that is not
// a result and that nothing will use, as a DebrisFinder lists it.
type Debris struct {
	Kind DebrisKind `json:"kind"`
	// Path is its path under the store's results directory,
	// slash-separated ("3f/3fa9….gob").
	Path string `json:"path"`
	// Result is the result whose path it occupies (DebrisNotAFile) or
	// whose write left it (DebrisStaleTemp).
	Result ResultID `json:"result"`
	// What it is: "directory", "symbolic link", "temporary file"…
	What    string    `json:"what"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
}

// DebrisFinder is an optional interface of result stores that keep
// results as files (the local store), where a killed writer or a hand can
// leave what no run will use or remove: non-files at result paths and
// stale temporary files. Maintenance lists it (flowcache verify) and
// removes it (flowcache evict --gc).
type DebrisFinder interface {
	// FindDebris lists the debris: non-files at result paths
	// (DebrisNotAFile) and temporary files not written for staleAfter
	// (DebrisStaleTemp). It only reads.
	FindDebris(ctx context.Context, staleAfter time.Duration) ([]Debris, error)
	// RemoveDebris removes what FindDebris listed, each only if it is
	// still debris (for a temporary file: still not written for
	// staleAfter), and returns what it removed. An element that names no
	// possible debris of the store is an error wrapping ErrInvalid; a
	// read-only store refuses with an error wrapping ErrReadOnly.
	RemoveDebris(ctx context.Context, debris []Debris, staleAfter time.Duration) ([]Debris, error)
}

// Capabilities of both.

// LogStore is an optional interface of metadata stores and result stores
// that keep each run's event log, so that the events of any run can be read
// back after the process that ran it has exited, from wherever the cache
// lives: backends/local keeps one JSONL file per run in the cache directory,
// backends/mem keeps the logs in memory, and backends/blobstore (the result
// store of the S3, GCS and Azure backends) one object per run in the bucket.
// A Cache writes to it with WithRunLogs; ReadRunLog reads a run's log back.
// Implementations must be safe for concurrent use.
type LogStore interface {
	// OpenLog returns a writer appending to the log of run, which it
	// creates. A run's log is written by the process running it, through
	// one writer.
	OpenLog(ctx context.Context, run RunID) (LogWriter, error)
	// ReadLog opens the log of run: the JSONL bytes written to it (see
	// DecodeLog). It returns an error wrapping ErrNotFound when the run has
	// no log.
	ReadLog(ctx context.Context, run RunID) (io.ReadCloser, error)
	// DeleteLog removes the log of run. Deleting a missing log is not an
	// error.
	DeleteLog(ctx context.Context, run RunID) error
}

// LogWriter appends to the log of one run. The Cache writes whole lines,
// one event each, as events happen, calls Flush at the run's metadata flush
// points and Close when the run ends. It must be safe for concurrent use (a
// remote store may upload in Flush while events are written).
type LogWriter interface {
	// Write appends p, which holds whole lines.
	Write(p []byte) (int, error)
	// Flush makes what was written readable, at the latest when the store
	// says so: a store whose logs live remotely may upload at most every
	// few seconds (see the store's documentation). Local stores make every
	// Write readable at once.
	Flush(ctx context.Context) error
	// Close makes everything written readable and releases the writer.
	Close(ctx context.Context) error
}

// Capabilities of formats.

// FormatValidator is an optional interface of formats that can check
// encoded bytes without knowing the Go type they were encoded from: that
// the structure is well formed and that every length and count in it fits
// in the bytes that remain, so that Decode of these bytes cannot allocate
// beyond a bound proportional to their size. Tools that verify a store
// without the program's types (flowcache verify, evict --gc) call it; Decode
// applies the same checks itself.
type FormatValidator interface {
	// Validate reads an encoded result from r to its end. Its error wraps
	// ErrCorrupt and says what is wrong and where.
	Validate(r io.Reader) error
}
