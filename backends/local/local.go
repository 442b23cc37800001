// Package local is flowcache's embedded default store: everything lives
// under one directory (./.flowcache by default), results as files and
// metadata in SQLite, with no server and no cgo.
//
// # Layout
//
//	<dir>/metadata.db          SQLite database in WAL mode (the -wal and
//	<dir>/metadata.db-wal      -shm files exist while it is open)
//	<dir>/metadata.db-shm
//	<dir>/results/ab/abcd….gob one file per stored result, in the layout of
//	                           package blobstore (header, payload, trailer
//	                           with a CRC-32C), sharded by the first two
//	                           characters of the data version
//
// The database schema is versioned with PRAGMA user_version (1 now; a
// database with a newer version is refused, not misread). Times are Unix
// nanoseconds; deps columns hold the JSON of a []core.Dep.
//
//	entries(key_id TEXT PRIMARY KEY, node, code_version, deps, data_version,
//	        format, created, last_used)
//	runs(seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT UNIQUE, started)
//	run_batches(seq INTEGER PRIMARY KEY, run_id, records BLOB), indexed
//	          on (run_id, seq): a run's node records, one row per batch,
//	          in the encoding of core.AppendRecords
//
// Runs are listed by seq, the order they began; a run's records by seq, the
// order they were written.
//
// Nothing stored refers to the directory's own path: a cache directory can
// be moved, copied or checked into an artifact store and opened from its
// new place (after the processes using it have closed it, so that the WAL
// has been checkpointed or travels with the database).
//
// # Concurrency and durability
//
// Several goroutines and several processes may use one directory at once.
// Result files are written to a temporary file in the same directory and
// renamed into place, so a reader sees a whole file or none; a result is
// checked against its checksum whenever it is read, so a torn or damaged
// file is a miss, never a wrong value. Metadata commits are atomic (SQLite
// WAL); see MetadataStore for the locking. By default nothing is fsynced: a
// process crash loses nothing that was committed, a power loss may lose the
// last results and commits but cannot corrupt the cache. WithSyncWrites
// trades milliseconds per write for durability against power loss.
package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"gocloud.dev/blob/fileblob"

	"github.com/flowcache/flowcache/backends/blobstore"
)

// DefaultDir is the directory Open uses when given "".
const DefaultDir = ".flowcache"

// The names inside the directory.
const (
	MetadataFile = "metadata.db"
	ResultsDir   = "results"
)

// Option configures Open and OpenMetadata.
type Option func(*options)

type options struct {
	busyTimeout time.Duration
	syncFull    bool
	now         func() time.Time
}

func newOptions(opts []Option) *options {
	o := &options{busyTimeout: 10 * time.Second, now: time.Now}
	for _, f := range opts {
		f(o)
	}
	return o
}

// WithBusyTimeout sets how long a process waits for another process's
// metadata write before failing (10 s by default).
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// WithSyncWrites makes every metadata commit and every result file reach
// stable storage before the write returns (SQLite synchronous=FULL, fsync
// of result files). It costs several milliseconds per write.
func WithSyncWrites() Option { return func(o *options) { o.syncFull = true } }

// WithClock sets the clock for times the caller does not give (a batch
// with a zero Now, a run with a zero start time); time.Now by default.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// Store is a local cache directory: its metadata store and its result
// store.
type Store struct {
	dir     string
	meta    *MetadataStore
	results *blobstore.Store
}

// Open opens the cache directory dir (DefaultDir if ""), creating it when
// missing.
func Open(ctx context.Context, dir string, opts ...Option) (*Store, error) {
	if dir == "" {
		dir = DefaultDir
	}
	o := newOptions(opts)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("local: open %s: %w", dir, err)
	}
	bucket, err := fileblob.OpenBucket(filepath.Join(dir, ResultsDir), &fileblob.Options{
		CreateDir: true,
		// Temporary files next to the final ones: the rename into place
		// stays on one file system, so it is atomic (and works when the
		// cache is on another mount than os.TempDir).
		NoTempDir: true,
		// No .attrs sidecar files: the object layout carries what we need.
		Metadata: fileblob.MetadataDontWrite,
	})
	if err != nil {
		return nil, fmt.Errorf("local: open %s: %w", filepath.Join(dir, ResultsDir), err)
	}
	// fileblob's IfNotExist is check-then-rename, not atomic: two processes
	// storing the same result at once may both rename, the last one
	// winning. Results are content-addressed, so both files hold the same
	// bytes and a reader sees one whole file either way.
	bopts := []blobstore.Option{blobstore.WithOwnedBucket()}
	if o.syncFull {
		bopts = append(bopts, blobstore.WithFileSync())
	}
	results := blobstore.New(bucket, bopts...)
	meta, err := OpenMetadata(ctx, filepath.Join(dir, MetadataFile), opts...)
	if err != nil {
		results.Close()
		return nil, err
	}
	return &Store{dir: dir, meta: meta, results: results}, nil
}

// Dir returns the cache directory.
func (s *Store) Dir() string { return s.dir }

// Metadata returns the metadata store (SQLite).
func (s *Store) Metadata() *MetadataStore { return s.meta }

// Results returns the result store (files under Dir()/results).
func (s *Store) Results() *blobstore.Store { return s.results }

// Close closes both stores.
func (s *Store) Close() error {
	return errors.Join(s.meta.Close(), s.results.Close())
}
