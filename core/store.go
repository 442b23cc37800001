package core

import (
	"context"
	"errors"
	"io"
	"reflect"
	"time"
)

// The error vocabulary of flowcache. Stores wrap these (with the key, node or
// version in the message) so callers test them with errors.Is.
var (
	// ErrNotFound: no entry for a cache key, no stored result for a data
	// version, no run with that id.
	ErrNotFound = errors.New("not found")
	// ErrCorrupt: stored bytes failed verification (bad header, short,
	// checksum mismatch) or could not be decoded. The adapter treats it as a
	// miss; it never yields a value.
	ErrCorrupt = errors.New("corrupt stored data")
	// ErrClosed: the store or cache was closed.
	ErrClosed = errors.New("closed")
	// ErrUnsupportedType: a format cannot store values of a type.
	ErrUnsupportedType = errors.New("unsupported type")
	// ErrInvalid: bad input from the caller (an empty key, a bad option).
	ErrInvalid = errors.New("invalid argument")
)

// Entry is what the metadata store keeps for one cache key: the key's parts,
// the data version of the node result it maps to, and the format the result
// is stored in.
type Entry struct {
	Key         CacheKey
	DataVersion DataVersion
	Format      string
	Created     time.Time
	LastUsed    time.Time
}

// ID returns the lookup key of e.
func (e Entry) ID() KeyID { return e.Key.ID() }

// Outcome says what happened to a node in a run.
type Outcome string

// The outcomes recorded in run history.
const (
	OutcomeRetrieved Outcome = "retrieved" // the cache key was found; the node was not executed
	OutcomeExecuted  Outcome = "executed"  // the node was executed (a miss, Recompute, Disable or Ignore)
	OutcomeFailed    Outcome = "failed"    // the node was executed and returned an error
	OutcomeInput     Outcome = "input"     // the value was given as an input
	OutcomeOverride  Outcome = "override"  // the value was given as an override
	OutcomeSkipped   Outcome = "skipped"   // the run ended before the node could run
)

// NodeRecord is one line of a run's history: what one node (in one task, for
// nodes inside a fan-out branch) did in the run.
type NodeRecord struct {
	Node string
	// Task is the task id of a node inside a fan-out branch ("" otherwise).
	Task string
	// Key is the cache key of the node; its CodeVersion is empty for inputs
	// and overrides.
	Key         CacheKey
	DataVersion DataVersion
	Format      string
	Behavior    Behavior
	Outcome     Outcome
	// Duration is the time spent executing the node (0 when retrieved).
	Duration time.Duration
	// Size is the number of bytes of the stored result written in this run,
	// or -1 when nothing was written (an equal result was stored already;
	// a small result of the local store, deduplicated when it is flushed,
	// counts as written: see ResultStore.Put).
	Size int64
	// Requested says the node (or input) was one of the outputs the run was
	// asked for (see Run.RequestOutputs). Runs recorded before this field
	// existed have it false everywhere.
	Requested bool
	// Wait says that the run found the node's lease held by another run
	// (single-flight, WithLeases) and waited for it before it retrieved
	// the node (Outcome retrieved) or took the lease and executed it
	// itself (executed or failed: the holder failed, or died and its lease
	// expired). The zero LeaseWait when the run did not wait; runs
	// recorded before this field existed have it zero everywhere.
	Wait LeaseWait
}

// RunInfo describes a run in the metadata store.
type RunInfo struct {
	ID      RunID
	Started time.Time
}

// Batch is a set of metadata writes that a store applies atomically: either
// all of it is visible afterwards, or none of it.
type Batch struct {
	Run RunID
	// Entries are mappings to create, or to replace when their key exists
	// (a recomputed node's new result replaces the old mapping).
	Entries []Entry
	// Hits are cache keys retrieved in this run; a store may update their
	// last-used time to Now.
	Hits []KeyID
	// Records are appended to the run's history.
	Records []NodeRecord
	// Now is the time of the batch (last-used and created times).
	Now time.Time
}

// MetadataStore maps cache keys to data versions and keeps run history.
//
// Implementations must be safe for concurrent use by several goroutines,
// and should be safe for several processes sharing the same storage.
type MetadataStore interface {
	// BeginRun records the start of a run, at run.StartTime(clock). Runs
	// are listed in the order they began; beginning a known run is a
	// no-op. A run id that RunID.Validate refuses is an error wrapping
	// ErrInvalid.
	BeginRun(ctx context.Context, run RunInfo) error
	// Get returns the entry for a cache key. It returns an error wrapping
	// ErrNotFound when there is none.
	Get(ctx context.Context, id KeyID) (Entry, error)
	// Write applies a batch atomically. Writing the same batch twice has
	// the same effect as writing it once, except for the run's history.
	//
	// The rules every store applies, the same everywhere:
	//
	//   - A batch that b.Validate refuses is refused whole, with an error
	//     wrapping ErrInvalid, and nothing of it is visible.
	//   - The batch's time is b.Time(clock): its Now, or the store's clock
	//     when Now is zero. Times are kept to the nanosecond (StoredTime).
	//   - An entry's Created and LastUsed are e.TimesAt(now): its own when
	//     set, else the batch's time. When the key already maps to the
	//     same data version and format, the earlier Created is kept
	//     (storing the same mapping again is not a new mapping); otherwise
	//     the entry replaces the stored one.
	//   - A hit sets the entry's LastUsed to the batch's time unless it is
	//     later already; a hit on a missing entry is no error.
	//   - Records of a run that was not begun begin it, started at the
	//     batch's time; each record is stored with r.StoredKey().
	//
	// CheckMetadata refuses an invalid batch before a store sees it, but a
	// store used directly must still call b.Validate itself.
	//
	// A store must not keep b's slices, or use them once Write has
	// returned: a run reuses them for its next batch.
	Write(ctx context.Context, b Batch) error
	// Delete removes the entry of a cache key. Deleting a missing entry is
	// not an error.
	Delete(ctx context.Context, id KeyID) error
	// DeleteAll removes every entry and all run history.
	DeleteAll(ctx context.Context) error
	// Runs returns every run, oldest first.
	Runs(ctx context.Context) ([]RunInfo, error)
	// Run returns the history of one run in the order it was written. It
	// returns an error wrapping ErrNotFound for an unknown run.
	Run(ctx context.Context, run RunID) ([]NodeRecord, error)
	// Close releases the store's resources.
	Close() error
}

// ResultStore keeps encoded results, addressed by ResultID
// (content-addressed: many cache keys may share one result).
//
// Implementations must be safe for concurrent use, verify what they read
// (a torn, truncated or altered result must never read back as valid bytes,
// nor a result stored under another id: the checksum covers the id) and
// write atomically (a reader sees a whole result or none).
//
// Get streams a result and verifies it as it goes, which suits copying
// bytes, but not decoding them: a decoder would trust lengths and counts
// before the end of the stream proves them. Whatever decodes a result
// opens it with GetVerified instead, which hands over no byte before all of
// them are verified: through the store's VerifiedGetter when it has one
// (the stores of flowcache have: a local file is verified and then read
// again from the page cache, an inline result is checked in memory, a
// bucket object is spooled while hashed), else by spooling Get's reader in
// core. A store gets the cheaper path by implementing VerifiedGetter; it
// needs nothing more to be correct.
type ResultStore interface {
	// Put stores the bytes written by write under id. If write returns an
	// error or ctx is cancelled, nothing is stored. If a result for id
	// already exists, Put leaves it as it is and returns 0, with or without
	// calling write (a store may find out only when it stores) — or, in a
	// store that buffers results and drops the ones stored already when it
	// writes them (a ResultFlusher, such as the local store's small
	// results), the number of bytes write wrote, as it cannot tell yet.
	// Otherwise Put returns the number of bytes write wrote.
	Put(ctx context.Context, id ResultID, write func(io.Writer) error) (int64, error)
	// Get opens the result stored under id. It returns an error wrapping
	// ErrNotFound when there is none. The reader verifies the bytes as they
	// are read: a damaged result makes Read return an error wrapping
	// ErrCorrupt, at the latest when the end is reached, so a caller must
	// read to io.EOF before trusting any byte it read. Never decode from
	// it: use GetVerified.
	Get(ctx context.Context, id ResultID) (io.ReadCloser, error)
	// Exists reports whether a result is stored under id (without
	// verifying it).
	Exists(ctx context.Context, id ResultID) (bool, error)
	// Delete removes a result. Deleting a missing result is not an error.
	Delete(ctx context.Context, id ResultID) error
	// DeleteAll removes every result.
	DeleteAll(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// Format encodes node results to bytes and back (a materializer).
//
// Implementations must be safe for concurrent use.
type Format interface {
	// Name identifies the encoding; it is stored with every result and is
	// part of the result's id, so it must change whenever the encoding
	// changes incompatibly (e.g. "gob", "json+zstd").
	Name() string
	// Check reports whether values of type t can be stored and loaded back
	// equal. Its error wraps ErrUnsupportedType and names the type and, for
	// structs, the field at fault. t is a node's declared result type, the
	// type Decode is given; when it is an interface, Encode gets only the
	// value inside, so a format that cannot load that value back into the
	// interface must reject t (or every run would miss).
	Check(t reflect.Type) error
	// Encode writes v to w.
	Encode(w io.Writer, v any) error
	// Decode reads a value of type t from r. Corrupt input must give an
	// error, never a panic. The cache gives it only verified bytes (see
	// GetVerified): what was stored for this result, unless a writer stored
	// hostile bytes with a valid checksum, which Decode must survive too.
	Decode(r io.Reader, t reflect.Type) (any, error)
}
