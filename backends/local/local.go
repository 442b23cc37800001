// Package local is flowcache's embedded default store: everything lives
// under one directory (./.flowcache by default), metadata and small results
// in SQLite, larger results as files, with no server and no cgo.
//
// # Layout
//
//	<dir>/metadata.db          SQLite database in WAL mode (the -wal and
//	<dir>/metadata.db-wal      -shm files exist while it is open): cache
//	<dir>/metadata.db-shm      entries, run history and small results
//	<dir>/metadata.db-history/ the logs of runs that wrote only history
//	                           (see Run logs), until a writer folds them
//	                           into the database
//	<dir>/metadata.db-snapshots/ the preload snapshots, a file per list
//	                           of nodes (see Preload snapshots)
//	<dir>/metadata.db-gen      the generation the snapshots are current at,
//	                           or "dirty"
//	<dir>/results/ab/abcd….gob one file per result larger than the inline
//	                           limit, in the layout of package blobstore
//	                           (header, payload, trailer with a CRC-32C),
//	                           sharded by the first two characters of the
//	                           data version
//
// A result of up to the inline limit (16 KiB by default, WithInlineLimit;
// the payload the format wrote, without header) is stored inline in the
// results table; a larger one as a file. Creating a file costs 50 µs to
// 1 ms on ext4, while inline results are written in one transaction per
// batch of nodes, about 8 µs each for 100 bytes (see ResultStore), and the
// shard directories are only created for large results.
//
// The database schema is versioned with PRAGMA user_version (3 now; a
// database with a newer version is refused, not misread; one of version 1
// or 2 is upgraded in place by the first writer that opens it). Times are
// Unix nanoseconds; deps columns hold the JSON of a []core.Dep.
//
//	entries(key_id TEXT PRIMARY KEY, node, code_version, deps, data_version,
//	        format, created, last_used), indexed on node
//	runs(seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT UNIQUE, started)
//	run_batches(seq INTEGER PRIMARY KEY, run_id, records BLOB), indexed
//	          on (run_id, seq): a run's node records, one row per batch,
//	          in the encoding of core.AppendRecords
//	results(version TEXT, format TEXT, data BLOB, crc INTEGER, created,
//	        PRIMARY KEY (version, format)): the inline results; crc is the
//	        CRC-32C of version, a zero byte, format, a zero byte and data
//	leases(key_id TEXT PRIMARY KEY, token, run_id, host, pid, acquired,
//	       expires): the leases of keys being executed (core.Leaser),
//	       created at a store's first lease call, so older databases get
//	       it without a new schema version
//	entries_gen(id = 1, gen): the generation of the entries, bumped by
//	       triggers on every DELETE and UPDATE of entries and every DELETE
//	       and UPDATE of results, and by the writer once per transaction
//	       that inserts entries (see Preload snapshots)
//	folded_logs(name TEXT PRIMARY KEY): run logs being folded (see Run
//	       logs), created by the first fold
//
// Runs are listed in the order they began: by start time, then by run id
// (new ids sort in the order they were made), the database's and the run
// logs' together; a run's records in the order they were written.
//
// # Run logs
//
// A run that retrieves every node writes no entry, and only its history
// (its node records) is new. Written to SQLite, that history cost a fresh
// warm process more than anything else it did: its first write
// transaction, the WAL it creates, the checkpoint when it closes, 4–8 ms
// for 1000 nodes where the run took one. So a run has a run log, a file
// under metadata.db-history/ locked (flock) while the run goes on, made by
// its first batch of records alone (in the background; BeginRun only
// notes it), and a batch of records alone is appended to it, one write
// each. The
// first batch of the run that writes the database anyway (entries, or
// last-used times that are due) moves the log into its transaction, and
// the run's later batches go to the database. A log left when its run
// ends is folded by the next store's first write transaction, or by the
// run that ends with more than 64 logs waiting. A log is removed after
// the fold commits and before it is unlocked, and its name is kept in
// folded_logs in the same transaction, so a crash between commit and
// removal cannot fold a run twice; every frame of a log carries a
// CRC-32C, so a torn append (a killed process) loses only itself. Runs
// and Run read the database and the logs together: a run's history reads
// the same before and after its fold, from any process. On systems without
// flock (Windows), runs are written to the database as before.
//
// # Preload snapshots
//
// A run reads the entries of its nodes before it starts (core.Preloader).
// Read as rows, 1000 entries cost a fresh process about 7 ms in modernc's
// SQLite, and opening the database 2–3 ms more, most of what a warm
// process spent over an uncached one. So a preload keeps its answer as a
// preload snapshot: one checksummed file per list of nodes (keyed by the
// SHA-256 of the list) under metadata.db-snapshots/, holding the entries
// and their inline results (up to 8 MiB), which the next preload of the
// same nodes reads without opening the database, mapped into memory (read
// where it cannot be; see snapIndex for what is copied out of the mapping
// and how a file truncated under it is a miss). Its entries are in key
// order, and a run looks its hits up in the file's bytes, a binary search
// each (MetadataStore.PreloadIndex, core.IndexPreloader), rather than in a
// map of every entry, whose making cost a fresh process 3 ms for 1000. A run whose
// every node is served by it, and whose history goes to its run log, opens
// no SQLite connection at all: the store opens the database when it first
// needs it (Open checks the schema only when it cannot tell it is this
// version's, see below).
//
// SQLite stays the authority, and a snapshot is served only if nothing
// changed since it was made. The file metadata.db-gen holds the generation
// of the entries (entries_gen, bumped on every change of the entries and
// every change or deletion of a result) at which snapshots
// were last made, or "dirty". Every commit to the database marks it dirty
// first: a commit hook, which SQLite calls inside the commit while the
// writer holds the write lock, set by this package on every connection any
// code of the process opens to a database that has a generation file
// (database/sql statements of the program included). A snapshot is made,
// and the file marked clean at the generation it was read at, inside a
// transaction that holds the write lock too (BEGIN IMMEDIATE, rolled
// back): the two never interleave, so a snapshot is never served past a
// commit, and a writer killed in between leaves the file dirty. The file
// names the database file it is for (its device and inode): a database
// removed or replaced by hand has none of the old snapshots served, and its
// schema is checked when it is opened. A snapshot
// file of another generation than the clean one, or damaged (CRC-32C,
// lengths checked against what remains), is not served: the preload reads
// the rows and writes it again. So a recomputed node's new mapping, a new,
// evicted or deleted entry, a deleted or damaged-in-place result row, a
// hit's last-used update (at most once per core.LastUsedResolution, an
// hour, for an entry) end every snapshot, for this process and every
// other; so does any other commit (a fold of run logs, a lease), which
// only costs the next preload its rows once.
//
// A program that does not import this package (the sqlite3 shell, Python)
// cannot mark the generation file, so it cannot change entries or results
// either: the generation triggers call flowcache_changed(), a function
// only this package defines, and SQLite refuses the statement without it
// (reading is not affected). Inserting an entry is not refused, and since
// schema 3 does not bump the generation either (the store's writer bumps
// it once per transaction, where a trigger per inserted row cost a cold
// node about 2 µs and made SQLite journal every multi-row statement): a
// snapshot may lack an entry another program inserted, which is a miss,
// never a wrong value. Such a program must not INSERT OR REPLACE into
// entries: the delete that replaces a row fires no trigger (before schema
// 3 the insert trigger's bump ended the snapshots, but only from the next
// commit of this package on). Flowcache versions before schema 3 refuse
// the database by its version; a process of one that opened it before the
// upgrade writes on without bumping the generation for the entries it
// inserts, which again can only cost misses. A read-only store reads
// snapshots and writes none.
//
// The result store serves the inline results of the last preload from
// memory, checked against their CRC-32C: a warm run that loads its values
// reads none of them from the table.
//
// Statements are prepared at first use, and a hit's inline result is read
// on the lookup connections: a warm process opens SQLite connections only
// for what it reads, and parses only the statements it runs.
//
// # Read-only caches
//
// A cache directory that cannot be written — a read-only mount, a
// directory without write permission — is opened read-only (ModeAuto,
// the default): it serves its hits, and every write fails with an error
// wrapping core.ErrReadOnly that names the directory and why, which a run
// reports once at WARN while it computes what it cannot retrieve. With
// WithMode(ModeReadOnly), or "path?mode=ro" as a URL, a writable directory
// is opened the same way and nothing of the cache is written (no result,
// entry, run history, last-used time or log; see ModeReadOnly for SQLite's
// -shm and -wal files); WithMode(ModeReadWrite), "?mode=rw", refuses a
// directory it cannot write. On a full disk, where SQLite cannot make the
// files it reads through, a cache another process holds open is opened
// read-only too; one nobody holds cannot be read safely, and Open fails
// (package driver then runs without the cache).
//
// Nothing stored refers to the directory's own path: a cache directory can
// be moved, copied or checked into an artifact store and opened from its
// new place (after the processes using it have closed it, so that the WAL
// has been checkpointed or travels with the database).
//
// # Leases
//
// MetadataStore is a core.Leaser: processes sharing a directory execute a
// node once. Acquiring a lease is a read and one conditional statement
// (an INSERT, or an UPDATE of an expired lease only if it is still the one
// read) with its commit; finding it held, the read alone; renewing or
// releasing it, one conditional statement. Leases are exclusive across
// every goroutine and process on the machine (SQLite's write lock; see
// TestLeasesMultiProcess). A commit is the cost: acquiring and releasing a
// free key took 0.44 ms on a busy 2-core machine (BenchmarkLease), two
// commits, where a batch write spends about 20 µs a node. Expiry is judged
// by the machine's clock, which all of them share; a process killed while
// holding a lease leaves its row, which blocks the others until it
// expires.
//
// # Concurrency and durability
//
// Several goroutines and several processes may use one directory at once.
// Result files are written to a temporary file in the same directory and
// renamed into place, so a reader sees a whole file or none; inline results
// are committed in one transaction per flush. A result is checked against
// its checksum whenever it is read, so a torn or damaged result is a miss,
// never a wrong value. Small results are held in memory until the caching
// adapter flushes them, just before it writes the metadata that points to
// them, so a crash loses both together. Metadata commits are atomic (SQLite
// WAL); see MetadataStore for the locking. By default nothing is fsynced: a
// process crash loses nothing that was committed, a power loss may lose the
// last results and commits but cannot corrupt the cache. WithSyncWrites
// trades milliseconds per write for durability against power loss.
//
// A new database is made with its schema in a temporary file beside it
// (metadata.db.new-…, synced once, whole) and linked into place only where
// there is still none, so that another process opening it sees no database
// or a whole one. Made in place, the new file's switch to WAL mode was a
// transaction in rollback-journal mode at SQLite's default
// synchronous=FULL, 4 fsyncs more (with the schema's commit, 2–3 ms of a
// cold run).
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
	"github.com/flowcache/flowcache/core"
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
	inlineLimit int
	mode        Mode
}

func newOptions(opts []Option) *options {
	o := &options{busyTimeout: 10 * time.Second, now: time.Now, inlineLimit: DefaultInlineLimit}
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
	results *ResultStore
}

// Open opens the cache directory dir (DefaultDir if ""), creating it when
// missing. Without WithMode, a directory that exists but cannot be written
// (a read-only file system or mount, no write permission) is opened
// read-only (see ModeReadOnly), and a run over it says so; any other
// failure to open is an error.
func Open(ctx context.Context, dir string, opts ...Option) (*Store, error) {
	if dir == "" {
		dir = DefaultDir
	}
	o := newOptions(opts)
	if o.inlineLimit > MaxInlineLimit {
		return nil, fmt.Errorf("local: open %s: %w: inline limit %d is over %d", dir, core.ErrInvalid, o.inlineLimit, MaxInlineLimit)
	}
	if o.mode < ModeAuto || o.mode > ModeReadOnly {
		return nil, fmt.Errorf("local: open %s: %w: mode %d", dir, core.ErrInvalid, o.mode)
	}
	if o.mode != ModeReadOnly {
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return nil, fmt.Errorf("local: open %s: %w", dir, err)
		}
	}
	ro, err := resolveMode(dir, o.mode)
	if err != nil {
		return nil, fmt.Errorf("local: open %s: %w", dir, err)
	}
	if ro != nil {
		return openReadOnly(ctx, dir, o, ro)
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
	bopts := []blobstore.Option{blobstore.WithOwnedBucket(), blobstore.WithName("local")}
	if o.syncFull {
		bopts = append(bopts, blobstore.WithFileSync())
	}
	files := blobstore.New(bucket, bopts...)
	meta, err := openMetadata(ctx, filepath.Join(dir, MetadataFile), o, nil)
	if err != nil {
		files.Close()
		if o.mode == ModeAuto && diskFull(err) {
			// SQLite could not create the -shm file it reads through: a
			// read-only store can still serve hits when another process
			// has the database open (then the -shm exists).
			s, rerr := openReadOnly(ctx, dir, o, &readOnlyStore{dir: dir, why: fmt.Sprintf("the disk is full (%v), so it was opened read-only", err), noImmutable: true})
			if rerr == nil {
				return s, nil
			}
			return nil, fmt.Errorf("%w (no space left on the device, not even to read it)", err)
		}
		return nil, err
	}
	return newStore(ctx, dir, meta, files, o)
}

// newStore completes Open: the result store over meta's database and
// files.
func newStore(ctx context.Context, dir string, meta *MetadataStore, files *blobstore.ResultStore, o *options) (*Store, error) {
	// Results stats result files itself (see ResultStore.fileExists), by
	// absolute path like fileblob.
	filesDir, err := filepath.Abs(filepath.Join(dir, ResultsDir))
	if err != nil {
		filesDir = ""
	}
	results, err := newResults(ctx, meta, files, filesDir, o.inlineLimit)
	if err != nil {
		meta.Close()
		files.Close()
		return nil, fmt.Errorf("local: open %s: %w", dir, err)
	}
	return &Store{dir: dir, meta: meta, results: results}, nil
}

// Dir returns the cache directory.
func (s *Store) Dir() string { return s.dir }

// Writable returns nil when the store writes, or else an error wrapping
// core.ErrReadOnly that says why it was opened read-only (see
// ModeReadOnly).
func (s *Store) Writable() error { return s.meta.Writable() }

// Metadata returns the metadata store (SQLite).
func (s *Store) Metadata() *MetadataStore { return s.meta }

// Results returns the result store: small results inline in the
// database, the others as files under Dir()/results.
func (s *Store) Results() *ResultStore { return s.results }

// Files returns the store of the results kept as files under
// Dir()/results (those larger than the inline limit); ResultStore uses it.
func (s *Store) Files() *blobstore.ResultStore { return s.results.files }

// Stores returns both stores as core.Stores, whose Close closes the Store.
func (s *Store) Stores() *core.Stores {
	return &core.Stores{Metadata: s.meta, Results: s.results, Close: s.Close}
}

// Close flushes the pending results and closes both stores.
func (s *Store) Close() error {
	return errors.Join(s.results.Close(), s.meta.Close())
}
