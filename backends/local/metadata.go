package local

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" database/sql driver, pure Go
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/flowcache/flowcache/core"
)

// schemaVersion is the version of the SQLite schema this package writes,
// kept in PRAGMA user_version. A database with a newer version is refused
// rather than misread. Version 2 added the generation file and the
// snapshot files beside the database (see gen.go), which writers of
// version 1 would not mark: it is what keeps them out. Version 3 bumps the
// generation once per transaction that inserts entries, from the writer,
// instead of a trigger per inserted row, which writers of version 2 would
// not do; and indexes the entries by node alone (a preload reads a node's
// row through it). A database of version 1 or 2 is upgraded in place when
// a writer opens it (upgradeSchema), and read as it is by a read-only
// store.
const schemaVersion = 3

// schema creates the tables and indexes of schema version 3 (genSchema
// adds the generation and its triggers). Times are Unix nanoseconds. deps
// columns hold the JSON of a []core.Dep.
const schema = `
CREATE TABLE IF NOT EXISTS entries (
	key_id       TEXT PRIMARY KEY,
	node         TEXT NOT NULL,
	code_version TEXT NOT NULL,
	deps         TEXT NOT NULL,
	data_version TEXT NOT NULL,
	format       TEXT NOT NULL,
	created      INTEGER NOT NULL,
	last_used    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	run_id  TEXT NOT NULL UNIQUE,
	started INTEGER NOT NULL
);
-- A run's history: one row per batch the run wrote, its node records in
-- core.AppendRecords' compact encoding (a row per node cost about 5 µs).
CREATE TABLE IF NOT EXISTS run_batches (
	seq     INTEGER PRIMARY KEY,
	run_id  TEXT NOT NULL,
	records BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS run_batches_run ON run_batches (run_id, seq);
-- Preload's: a node's rows. Versions 1 and 2 had a covering index on
-- (node, key_id, data_version, format, last_used), which made a preload
-- read no row but made every entry written cost one more index entry of
-- 150 bytes (and its last-used updates one more); a preload of 1000
-- entries from the rows costs the same either way (now that warm runs
-- read snapshot files, 5 ms, mostly not SQLite's), a cold node's entry
-- 1–2 µs less.
CREATE INDEX IF NOT EXISTS entries_node ON entries (node);
-- Results of up to the inline limit (16 KiB by default), stored here rather
-- than as files: see ResultStore. crc is the CRC-32C of version, a zero byte,
-- format, a zero byte and data.
CREATE TABLE IF NOT EXISTS results (
	version TEXT NOT NULL,
	format  TEXT NOT NULL,
	data    BLOB NOT NULL,
	crc     INTEGER NOT NULL,
	created INTEGER NOT NULL,
	PRIMARY KEY (version, format)
);
`

// upgradeSchema drops what versions 1 and 2 had that version 3 has not:
// the covering index of the entries by node, the trigger that bumped the
// generation per inserted entry, and the table of snapshots of a
// development version of schema 2. The generation triggers of
// entries and results are dropped too, and made again by genSchema.
const upgradeSchema = `
DROP TABLE IF EXISTS preload_snapshots;
DROP INDEX IF EXISTS entries_by_node;
DROP TRIGGER IF EXISTS entries_gen_insert;
DROP TRIGGER IF EXISTS entries_gen_delete;
DROP TRIGGER IF EXISTS entries_gen_update;
DROP TRIGGER IF EXISTS results_gen_delete;
DROP TRIGGER IF EXISTS results_gen_update;
`

// The statements, prepared at first use (see lazyStmt).
const (
	sqlGet = `SELECT node, code_version, deps, data_version, format, created, last_used FROM entries WHERE key_id = ?`
	// A replaced mapping (another data version or format) is a new mapping
	// and takes the new created time; storing the same mapping again keeps
	// the time it was first stored. In an UPDATE every expression sees the
	// old row, so the CASE compares with the old data version.
	sqlUpsertInto     = `INSERT INTO entries (key_id, node, code_version, deps, data_version, format, created, last_used) VALUES `
	sqlUpsertConflict = ` ON CONFLICT (key_id) DO UPDATE SET
	node = excluded.node, code_version = excluded.code_version, deps = excluded.deps,
	created = CASE WHEN data_version = excluded.data_version AND format = excluded.format THEN created ELSE excluded.created END,
	data_version = excluded.data_version, format = excluded.format, last_used = excluded.last_used`
	// sqlInsertInto inserts the entries of new keys and leaves those of
	// stored keys (the upsert then writes them). It fires no trigger and
	// takes no statement journal (OR FAIL: a NOT NULL failure ends the
	// statement where it is, and write rolls the transaction back), where
	// the upsert took both: SQLite journals the pages a statement changes
	// when it writes several rows and may abort, and the update triggers'
	// flowcache_changed() call is one that may. write bumps the generation
	// once per transaction instead of a trigger per inserted row.
	// Together with the narrower index, a cold node cost the store 15%
	// less in one process (BenchmarkColdRun: 23–26 → 20–22.5 µs), more in
	// a fresh one, which takes the journal's and the index's pages new.
	sqlInsertInto     = `INSERT OR FAIL INTO entries (key_id, node, code_version, deps, data_version, format, created, last_used) VALUES `
	sqlInsertConflict = ` ON CONFLICT (key_id) DO NOTHING`
	sqlBumpGen        = `UPDATE entries_gen SET gen = gen + 1 WHERE id = 1`
	sqlHit            = `UPDATE entries SET last_used = ? WHERE key_id = ? AND last_used < ?`
	sqlBeginRun       = `INSERT INTO runs (run_id, started) VALUES (?, ?) ON CONFLICT (run_id) DO NOTHING`
	sqlRecordBatch    = `INSERT INTO run_batches (run_id, records) VALUES (?, ?)`
	sqlDelete         = `DELETE FROM entries WHERE key_id = ?`
	sqlRuns           = `SELECT run_id, started FROM runs ORDER BY started, run_id`
	sqlRunExists      = `SELECT 1 FROM runs WHERE run_id = ?`
	// sqlPreload reads the entries of a list of nodes (a JSON array) and,
	// for those whose result is stored inline, the result's row.
	sqlPreload    = `SELECT e.key_id, e.data_version, e.format, e.last_used, r.data, r.crc FROM entries e LEFT JOIN results r ON r.version = e.data_version AND r.format = e.format WHERE e.node IN (SELECT value FROM json_each(?))`
	sqlRunBatches = `SELECT records FROM run_batches WHERE run_id = ? ORDER BY seq`
)

// MetadataStore is the core.MetadataStore of the local backend: an SQLite
// database (modernc.org/sqlite, no cgo) in WAL mode. Several goroutines and
// several processes may use one database at once.
//
// Writes go through one connection per process (so goroutines queue in Go
// instead of sleeping in SQLite's busy handler) and begin with BEGIN
// IMMEDIATE, which takes the write lock up front: a deferred transaction
// that reads and then writes can fail with SQLITE_BUSY when another process
// wrote in between, whatever the busy timeout. Reads use a pool of
// connections and, thanks to WAL, never wait for writers.
type MetadataStore struct {
	path   string
	w, r   *sql.DB
	now    func() time.Time
	closed atomic.Bool
	// readOnly, when not nil, says why the store was opened read-only: it
	// is the error of every write (see ModeReadOnly).
	readOnly *readOnlyStore

	lookups lookups

	// beforeClose, when set (by Open), flushes the results pending in the
	// Results sharing this database.
	beforeClose func() error

	upsert, insert                      multiInsert
	hit, beginRun, del, record, bumpGen lazyStmt

	// recordBufs holds the buffers of encoded records: a batch of 256
	// records is 80 KB, which a fresh process took from new pages at every
	// batch.
	recordBufs sync.Pool

	leases   leaseTable  // see leases.go
	genPath  string      // the generation file (see gen.go)
	snapDir  string      // the preload snapshots (see snapshot.go)
	warm     warmResults // the inline results preloads read
	logs     runLogs     // see history.go
	syncFull bool        // WithSyncWrites: run logs are fsynced too

	// madeNew is set while the database may still be the new one this
	// store's open made (see newDBPreload).
	madeNew atomic.Bool
	abs     string // the database file's absolute path
}

var _ core.MetadataStore = (*MetadataStore)(nil)

// dsn returns the data source name for the database at path. Pragmas are set
// in the DSN so that every connection of the pools gets them:
//   - busy_timeout: a process waits up to 10 s (by default) for another
//     process's write transaction instead of failing with SQLITE_BUSY;
//   - journal_mode=WAL: readers do not block the writer nor the writer
//     readers, and a commit is one append to the WAL file;
//   - synchronous=NORMAL: in WAL mode a commit is durable against a crash
//     of the process (the WAL is in the OS's page cache) and the database
//     can never be corrupted; only a power loss or OS crash may lose the
//     last commits. FULL would fsync on every commit, about 7 ms on this
//     machine class, which is the whole per-node budget many times over;
//   - temp_store=MEMORY: the statement journal of the multi-row upserts
//     (which write stored keys again; new keys take none, see
//     sqlInsertInto) stays in memory instead of a temporary file
//     (BenchmarkWrite1000, when it upserted: 35 → 29 µs per record);
//   - _txlock=immediate: BEGIN IMMEDIATE for write transactions (read-only
//     ones stay deferred).
//
// The writer connection also gets a 32 MiB page cache, so that a batch of
// a thousand nodes is not spilled to the WAL before it commits, and
// checkpoints every 10,000 pages instead of 1,000, so that pages written
// by consecutive batches are copied to the database once (29 → 20 µs per
// record together). The WAL may grow to about 40 MiB; it is removed when
// the last connection closes.
//
// Foreign keys are not used: the store writes a run's row before its
// records in the same transaction, and an enforced key would cost a lookup
// per record.
//
// A read-only store (ro not nil: SQLite's mode=ro, and immutable=1 where
// needed, see sqliteReadOnly) sets only the pragmas that do not write.
func dsn(path string, o *options, writer bool, ro url.Values) string {
	u := fileURL(path)
	sync := "NORMAL"
	if o.syncFull {
		sync = "FULL"
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.busyTimeout.Milliseconds()))
	if ro != nil {
		q.Add("_pragma", "temp_store(MEMORY)")
		for k, vs := range ro {
			q[k] = vs
		}
		return u.String() + "?" + q.Encode()
	}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+sync+")")
	q.Add("_pragma", "temp_store(MEMORY)")
	if writer {
		q.Add("_pragma", "cache_size(-32768)")
		q.Add("_pragma", "wal_autocheckpoint(10000)")
	}
	q.Set("_txlock", "immediate")
	return u.String() + "?" + q.Encode()
}

// fileURL is the file: URL of the absolute path, for SQLite.
func fileURL(path string) url.URL {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path)}
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path // file:///C:/... on Windows
	}
	return u
}

// OpenMetadata opens the SQLite metadata store at path, creating the file
// and the schema when missing. It fails if the database has a schema newer
// than this package knows. WithMode applies as it does to Open, for the
// directory holding path.
func OpenMetadata(ctx context.Context, path string, opts ...Option) (*MetadataStore, error) {
	o := newOptions(opts)
	ro, err := resolveMode(filepath.Dir(path), o.mode)
	if err != nil {
		return nil, fmt.Errorf("local: open metadata %s: %w", path, err)
	}
	return openMetadata(ctx, path, o, ro)
}

// openMetadata opens the metadata store at path, read-only when ro is not
// nil.
func openMetadata(ctx context.Context, path string, o *options, ro *readOnlyStore) (*MetadataStore, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("local: metadata %s: %w", path, err)
	}
	if ro == nil {
		s := newMetadataStore(path, abs, o, nil)
		// The generation file before any connection: every connection
		// to a database that has one marks it at each commit (gen.go).
		// A clean one says the schema is this version's (a writer of it
		// made snapshots), so the database need not be opened before it
		// is used: a run served by a snapshot never opens it.
		_, clean := readGen(s.genPath)
		if !clean {
			if err := writeGen(s.genPath, genDirty, true); err != nil {
				if diskFull(err) {
					err = fmt.Errorf("the disk is full: %w", err)
				}
				return nil, fmt.Errorf("local: open metadata %s: %w", path, err)
			}
			// A new database is made whole beside it (see
			// createDatabase); if that fails, migrate makes it in place.
			removeStaleNew(abs)
			made, _ := createDatabase(ctx, abs)
			s.madeNew.Store(made)
		}
		if err := s.open(ctx, dsn(abs, o, true, nil), dsn(abs, o, false, nil), o.busyTimeout, clean); err != nil {
			s.closeDBs()
			return nil, fmt.Errorf("local: open metadata %s: %w", path, err)
		}
		return s, nil
	}
	if _, err := os.Stat(abs); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%w: no database file", core.ErrNotFound)
		}
		return nil, fmt.Errorf("local: open metadata %s read-only: %w", path, err)
	}
	s := newMetadataStore(path, abs, o, ro)
	err = s.open(ctx, dsn(abs, o, true, sqliteModeRO), dsn(abs, o, false, sqliteModeRO), o.busyTimeout, false)
	if isCantOpen(err) && !ro.noImmutable {
		s.closeDBs()
		s = newMetadataStore(path, abs, o, ro)
		err = s.open(ctx, dsn(abs, o, true, sqliteImmutable), dsn(abs, o, false, sqliteImmutable), o.busyTimeout, false)
	}
	if err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("local: open metadata %s read-only: %w", path, err)
	}
	return s, nil
}

// newMetadataStore returns the store of the database at path (abs, made
// absolute), not opened yet; read-only when ro is not nil.
func newMetadataStore(path, abs string, o *options, ro *readOnlyStore) *MetadataStore {
	return &MetadataStore{
		path: path, abs: abs, now: o.now, readOnly: ro, syncFull: o.syncFull,
		logs: runLogs{dir: historyDir(abs)}, genPath: genPath(abs), snapDir: snapshotDir(abs),
		recordBufs: sync.Pool{New: func() any { return new([]byte) }},
	}
}

// maxRecordBuf is the largest buffer of encoded records kept for the next
// batch.
const maxRecordBuf = 1 << 20

// isCantOpen reports whether err is SQLite's SQLITE_CANTOPEN.
func isCantOpen(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CANTOPEN
}

// Writable returns nil when the store writes, or else an error wrapping
// core.ErrReadOnly that says why it was opened read-only.
func (s *MetadataStore) Writable() error {
	if s.readOnly == nil {
		return nil
	}
	return s.readOnly
}

// checkWrite rejects a write on a closed or read-only store.
func (s *MetadataStore) checkWrite(op string) error {
	if err := s.checkOpen(op); err != nil {
		return err
	}
	if s.readOnly != nil {
		return s.fail(op, s.readOnly)
	}
	return nil
}

// open makes the database handles (no connection yet) and, unless
// skipMigrate, checks the schema, creating or upgrading it.
func (s *MetadataStore) open(ctx context.Context, writerDSN, readerDSN string, busyTimeout time.Duration, skipMigrate bool) error {
	var err error
	if s.w, err = sql.Open("sqlite", writerDSN); err != nil {
		return err
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	if s.r, err = sql.Open("sqlite", readerDSN); err != nil {
		return err
	}
	// Keep every reader connection open: opening one runs the pragmas and
	// re-prepares the statements.
	n := max(4, runtime.GOMAXPROCS(0))
	s.r.SetMaxOpenConns(n)
	s.r.SetMaxIdleConns(n)
	s.r.SetConnMaxLifetime(0)

	// Processes opening a new database at once may get SQLITE_BUSY without
	// SQLite's busy handler waiting, while one of them switches the file to
	// WAL mode (seen about once in 60 runs of TestMultiProcess); such an
	// open is retried for the busy timeout.
	deadline := time.Now().Add(busyTimeout)
	for !skipMigrate {
		migrate := s.migrate
		if s.readOnly != nil {
			migrate = s.checkSchema
		}
		err := migrate(ctx)
		if err == nil {
			break
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(5+rand.IntN(20)) * time.Millisecond):
		}
	}
	drv := s.r.Driver()
	s.lookups.max = n
	s.lookups.open = func() (driver.Conn, error) { return drv.Open(readerDSN) }
	s.upsert.init(s.w, sqlUpsertInto, 8, sqlUpsertConflict, "entries")
	s.insert.init(s.w, sqlInsertInto, 8, sqlInsertConflict, "entries")
	s.bumpGen.init(s.w, sqlBumpGen)
	s.record.init(s.w, sqlRecordBatch)
	s.hit.init(s.w, sqlHit)
	s.beginRun.init(s.w, sqlBeginRun)
	s.del.init(s.w, sqlDelete)
	return nil
}

// isBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED
// (any extended code).
func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}

// migrate creates the schema in an empty database and checks the version
// of an existing one. Processes opening the same new database at once are
// serialized by BEGIN IMMEDIATE.
func (s *MetadataStore) migrate(ctx context.Context) error {
	// The common case, an up-to-date database, needs no write lock.
	var cur int
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&cur); err == nil && cur == schemaVersion {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > schemaVersion {
		return fmt.Errorf("database schema version %d is newer than this flowcache knows (%d): upgrade flowcache", v, schemaVersion)
	}
	if v == schemaVersion {
		return nil // another process made it since the check above
	}
	// A new database takes one script; an older one first loses what
	// version 3 dropped (its statements are harmless on a new one).
	script := schema + genSchema + fmt.Sprintf("PRAGMA user_version = %d;", schemaVersion)
	if v > 0 {
		script = upgradeSchema + script
	}
	if _, err := tx.ExecContext(ctx, script); err != nil {
		return err
	}
	return tx.Commit()
}

// checkSchema checks, without writing, that the database has the schema
// this package writes (for a read-only store).
func (s *MetadataStore) checkSchema(ctx context.Context) error {
	var v int
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	switch {
	case v > schemaVersion:
		return fmt.Errorf("database schema version %d is newer than this flowcache knows (%d): upgrade flowcache", v, schemaVersion)
	case v < 1:
		return fmt.Errorf("database schema version %d: not a flowcache cache, or one never written (a read-only store cannot create the schema)", v)
	}
	return nil
}

// Path returns the path of the database file, as given to OpenMetadata.
func (s *MetadataStore) Path() string { return s.path }

// fail wraps the error of op, naming the database: a cache fault said at
// WARN must say which cache.
func (s *MetadataStore) fail(op string, err error) error {
	return fmt.Errorf("local metadata %s: %s: %w", s.path, op, err)
}

func (s *MetadataStore) checkOpen(op string) error {
	if s.closed.Load() {
		return s.fail(op, core.ErrClosed)
	}
	return nil
}

// BeginRun records the start of a run; a known run is left as it is.
func (s *MetadataStore) BeginRun(ctx context.Context, run core.RunInfo) error {
	op := "begin run " + string(run.ID)
	if err := s.checkWrite(op); err != nil {
		return err
	}
	if err := run.ID.Validate(); err != nil {
		return s.fail(op, err)
	}
	// A run log when it can be made (see history.go); the database
	// otherwise.
	if s.logs.begin(run.ID, run.StartTime(s.now)) {
		return nil
	}
	st, err := s.beginRun.get(ctx)
	if err == nil {
		_, err = st.ExecContext(ctx, string(run.ID), run.StartTime(s.now).UnixNano())
	}
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// Get returns the entry of a cache key.
func (s *MetadataStore) Get(ctx context.Context, id core.KeyID) (core.Entry, error) {
	if err := s.checkOpen("get key " + string(id)); err != nil {
		return core.Entry{}, err
	}
	e, err := s.lookups.lookup(ctx, id)
	if err != nil {
		return core.Entry{}, s.fail("get key "+string(id), err)
	}
	return e, nil
}

// Write applies a batch in one transaction.
func (s *MetadataStore) Write(ctx context.Context, b core.Batch) error {
	op := "write"
	if b.Run != "" {
		op = "write batch of run " + string(b.Run)
	}
	if err := s.checkWrite(op); err != nil {
		return err
	}
	if err := b.Validate(); err != nil {
		return s.fail(op, err)
	}
	if err := s.write(ctx, b); err != nil {
		return s.fail(op, err)
	}
	return nil
}

func (s *MetadataStore) write(ctx context.Context, b core.Batch) error {
	now := b.Time(s.now)
	nowNs := now.UnixNano()
	var blob []byte
	if len(b.Records) > 0 {
		// AppendRecords keeps what StoredKey keeps: a key's node is the
		// record's, not written. The buffer is the last batch's: both the
		// driver (which copies it when it binds it) and a run log are done
		// with it when write returns.
		buf := s.recordBufs.Get().(*[]byte)
		defer func() {
			if cap(blob) <= maxRecordBuf {
				*buf = blob[:0]
				s.recordBufs.Put(buf)
			}
		}()
		blob = core.AppendRecords((*buf)[:0], b.Records)
	}
	// Records alone go to the run's log, when this store writes one.
	if len(b.Entries) == 0 && len(b.Hits) == 0 && blob != nil {
		if lg := s.logs.get(b.Run); lg != nil {
			lg.mu.Lock()
			ok := lg.appendRecords(blob, s.syncFull)
			lg.mu.Unlock()
			if ok {
				return nil
			}
		}
	}
	// Otherwise a transaction, which folds the run's log first (and, the
	// first time, the logs of ended runs).
	own, folds := s.foldsFor(b.Run)
	if own != nil {
		defer own.mu.Unlock()
	}
	committed := false
	defer func() {
		if !committed {
			closeLogs(folds)
		}
	}()
	// The statements first: they are prepared on the writer's connection,
	// which the transaction then holds.
	var beginRun, record, hit, bumpGen *sql.Stmt
	var err error
	if len(b.Records) > 0 {
		if beginRun, err = s.beginRun.get(ctx); err != nil {
			return err
		}
		if record, err = s.record.get(ctx); err != nil {
			return err
		}
	}
	if len(b.Hits) > 0 {
		if hit, err = s.hit.get(ctx); err != nil {
			return err
		}
	}
	if len(b.Entries) > 0 {
		if err := s.insert.ready(ctx, len(b.Entries)); err != nil {
			return err
		}
		if err := s.upsert.readyIfWanted(ctx, len(b.Entries)); err != nil {
			return err
		}
		if bumpGen, err = s.bumpGen.get(ctx); err != nil {
			return err
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var scratch []byte
	if err := foldLogs(ctx, tx, folds); err != nil {
		return fmt.Errorf("folding run logs: %w", err)
	}
	if len(b.Records) > 0 {
		if _, err := tx.StmtContext(ctx, beginRun).ExecContext(ctx, string(b.Run), nowNs); err != nil {
			return fmt.Errorf("run %s: %w", b.Run, err)
		}
	}
	fill := func(i int, args []any) error {
		e := &b.Entries[i]
		if scratch, err = appendDeps(scratch[:0], e.Key.Deps); err != nil {
			return fmt.Errorf("entry for %s: %w", e.Key, err)
		}
		args[0], args[1], args[2], args[3] = string(e.ID()), e.Key.Node, string(e.Key.CodeVersion), string(scratch)
		args[4], args[5] = string(e.DataVersion), e.Format
		created, lastUsed := e.TimesAt(now)
		args[6], args[7] = created.UnixNano(), lastUsed.UnixNano()
		return nil
	}
	// New keys are inserted; a statement some of whose keys were stored
	// already is run again as the upsert, whose updates the generation
	// triggers see. The generation is bumped once for the new rows (see
	// sqlInsertInto).
	inserted, err := s.insert.execOr(ctx, tx, len(b.Entries), fill, &s.upsert)
	if err != nil {
		return err
	}
	if inserted > 0 {
		if _, err := tx.StmtContext(ctx, bumpGen).ExecContext(ctx); err != nil {
			return fmt.Errorf("entries generation: %w", err)
		}
	}
	if len(b.Hits) > 0 {
		st := tx.StmtContext(ctx, hit)
		for _, h := range b.Hits {
			if _, err := st.ExecContext(ctx, nowNs, string(h), nowNs); err != nil {
				return fmt.Errorf("hit on key %s: %w", h, err)
			}
		}
	}
	if blob != nil {
		if _, err := tx.StmtContext(ctx, record).ExecContext(ctx, string(b.Run), blob); err != nil {
			return fmt.Errorf("records of run %s: %w", b.Run, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	committed = true
	// The logs are removed before they are unlocked (closed), so that no
	// one can lock one still in the directory and fold it again.
	s.removeFolded(ctx, folds)
	if own != nil {
		// The run's batches go to the database from now on.
		own.inDB = true
		own.close()
	}
	return nil
}

// Delete removes the entry of a cache key.
func (s *MetadataStore) Delete(ctx context.Context, id core.KeyID) error {
	op := "delete key " + string(id)
	if err := s.checkWrite(op); err != nil {
		return err
	}
	st, err := s.del.get(ctx)
	if err == nil {
		_, err = st.ExecContext(ctx, string(id))
	}
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// DeleteAll removes every entry and all run history in one transaction.
func (s *MetadataStore) DeleteAll(ctx context.Context) error {
	if err := s.checkWrite("delete all"); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("delete all", err)
	}
	defer tx.Rollback()
	for _, q := range []string{"DELETE FROM entries", "DELETE FROM run_batches", "DELETE FROM runs"} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return s.fail("delete all", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.fail("delete all", err)
	}
	if err := s.removeLogs(); err != nil {
		return s.fail("delete all: run logs", err)
	}
	return nil
}

// Runs returns every run in the order they began.
func (s *MetadataStore) Runs(ctx context.Context) ([]core.RunInfo, error) {
	if err := s.checkOpen("runs"); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, sqlRuns)
	if err != nil {
		return nil, s.fail("runs", err)
	}
	defer rows.Close()
	var runs []core.RunInfo
	for rows.Next() {
		var id string
		var started int64
		if err := rows.Scan(&id, &started); err != nil {
			return nil, s.fail("runs", err)
		}
		runs = append(runs, core.RunInfo{ID: core.RunID(id), Started: time.Unix(0, started)})
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("runs", err)
	}
	runs, err = s.logRuns(ctx, runs)
	if err != nil {
		return nil, s.fail("runs: run logs", err)
	}
	return runs, nil
}

// Run returns the history of a run in the order it was written.
func (s *MetadataStore) Run(ctx context.Context, run core.RunID) ([]core.NodeRecord, error) {
	op := "run " + string(run)
	if err := s.checkOpen(op); err != nil {
		return nil, err
	}
	recs, err := s.run(ctx, run)
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return nil, s.fail(op, err)
	}
	logged, found, lerr := s.logRecords(ctx, run)
	if lerr != nil {
		return nil, s.fail(op, lerr)
	}
	if err != nil && !found {
		return nil, s.fail(op, err)
	}
	if recs == nil {
		recs = []core.NodeRecord{}
	}
	return append(recs, logged...), nil
}

func (s *MetadataStore) run(ctx context.Context, run core.RunID) ([]core.NodeRecord, error) {
	// One read transaction: the run and its records from one snapshot.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var one int
	if err := tx.QueryRowContext(ctx, sqlRunExists, string(run)).Scan(&one); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, core.ErrNotFound
		}
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, sqlRunBatches, string(run))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	recs := []core.NodeRecord{}
	for rows.Next() {
		var blob []byte
		if err := rows.Scan(&blob); err != nil {
			return nil, err
		}
		batch, err := core.DecodeRecords(blob)
		if err != nil {
			return nil, err
		}
		recs = append(recs, batch...)
	}
	return recs, rows.Err()
}

// Close closes the database. Later calls fail with core.ErrClosed; closing
// twice is not an error.
func (s *MetadataStore) Close() error {
	if s.closed.Load() {
		return nil
	}
	var errs []error
	if s.beforeClose != nil {
		errs = append(errs, s.beforeClose())
	}
	if s.closed.Swap(true) {
		return nil
	}
	s.logs.closeAll()
	errs = append(errs, s.closeDBs())
	if err := errors.Join(errs...); err != nil {
		return s.fail("close", err)
	}
	return nil
}

func (s *MetadataStore) closeDBs() error {
	var errs []error
	errs = append(errs, s.lookups.close())
	errs = append(errs, s.upsert.close(), s.insert.close())
	for _, st := range []*lazyStmt{&s.hit, &s.beginRun, &s.del, &s.record, &s.bumpGen} {
		errs = append(errs, st.close())
	}
	for _, db := range []*sql.DB{s.r, s.w} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}

var _ core.EntryWalker = (*MetadataStore)(nil)

// WalkEntries calls fn for every entry, in key order, and stops at the first
// error fn returns. The entries are read in one read transaction, so fn sees
// a consistent snapshot; fn must not write to the store.
func (s *MetadataStore) WalkEntries(ctx context.Context, fn func(core.Entry) error) error {
	if err := s.checkOpen("walk entries"); err != nil {
		return err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT node, code_version, deps, data_version, format, created, last_used FROM entries ORDER BY key_id`)
	if err != nil {
		return s.fail("walk entries", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			node, code, dv, format string
			deps                   string
			created, lastUsed      int64
		)
		if err := rows.Scan(&node, &code, &deps, &dv, &format, &created, &lastUsed); err != nil {
			return s.fail("walk entries", err)
		}
		d, err := decodeDeps(deps)
		if err != nil {
			return s.fail("walk entries: entry of node "+node, err)
		}
		e := core.Entry{
			Key:         core.CacheKey{Node: node, CodeVersion: core.CodeVersion(code), Deps: d},
			DataVersion: core.DataVersion(dv), Format: format,
			Created: time.Unix(0, created), LastUsed: time.Unix(0, lastUsed),
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.fail("walk entries", err)
	}
	return nil
}

var _ core.Preloader = (*MetadataStore)(nil)

// Preload returns the entries of the given nodes, by lookup key (see
// PreloadIndex, which a run uses).
func (s *MetadataStore) Preload(ctx context.Context, nodes []string) (map[core.KeyID]core.Entry, error) {
	idx, err := s.PreloadIndex(ctx, nodes)
	if err != nil {
		return nil, err
	}
	switch idx := idx.(type) {
	case core.EntryMap:
		return idx, nil
	case *snapIndex:
		return idx.preloaded().entries, nil
	}
	return nil, s.fail("preload", fmt.Errorf("preload index of type %T", idx))
}

var _ core.IndexPreloader = (*MetadataStore)(nil)

// newDBPreload reports, once, whether the database is still the new one
// this store's open made (createDatabase), which holds no entry: then a
// preload needs no SQLite connection, and keeps no snapshot, which the
// run's first write would end anyway. A cold run's preload, which opened a
// connection to read no row, began a transaction on the writer's and
// wrote a snapshot file and the generation file, cost 1.5–2.5 ms
// (BenchmarkColdRun: 42 → 40 µs a node).
//
// The database holds no entry if no process committed to it: the -wal
// file is missing or empty (a commit writes it first, and a checkpoint
// copies it to the database before the file goes), and then the database
// file still has the bytes of newDB. Looked at in that order, the answer
// is the database's at the moment the -wal file was looked at, as a
// preload reading the rows answers for the moment it read them.
func (s *MetadataStore) newDBPreload() bool {
	if !s.madeNew.Swap(false) {
		return false
	}
	if fi, err := os.Lstat(s.abs + "-wal"); err == nil && fi.Size() != 0 || err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	f, err := os.Open(s.abs)
	if err != nil {
		return false
	}
	defer f.Close()
	var buf [4096]byte
	rest := newDB
	for {
		n, err := io.ReadFull(f, buf[:])
		if n > len(rest) || !bytes.Equal(buf[:n], rest[:n]) {
			return false
		}
		rest = rest[n:]
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return len(rest) == 0
		case err != nil:
			return false
		}
	}
}

// PreloadIndex implements core.IndexPreloader: the entries of the given
// nodes, looked up by key. Only what a lookup needs is read: the data
// version, format and last-used time; the key parts and created time are
// left zero (the caller knows the key it looks up). The inline results of
// the entries are read with them, and served by the ResultStore.
//
// It reads the preload snapshot of these nodes, a file, when it is current
// (see "Preload snapshots" in the package doc), without opening the
// database, and looks entries up in its bytes; otherwise it reads the
// entries in one query (the node names travel as one JSON array parameter)
// and, on a writable store, keeps them as the snapshot for the next preload
// of the same nodes.
func (s *MetadataStore) PreloadIndex(ctx context.Context, nodes []string) (core.PreloadIndex, error) {
	if err := s.checkOpen("preload"); err != nil {
		return nil, err
	}
	names, err := nodeList(nodes)
	if err != nil {
		return nil, s.fail("preload", err)
	}
	key := snapshotKey(names)
	if x, ok := s.readSnapshot(key); ok {
		s.warm.set(x)
		return x, nil
	}
	if s.readOnly == nil && s.newDBPreload() {
		// The snapshots' directory, as keepSnapshot would have made it:
		// the first preload that keeps one may be on a full disk, where
		// making it would change the cache.
		_ = os.MkdirAll(s.snapDir, 0o777)
		s.warm.set(warmMap(nil))
		return core.EntryMap{}, nil
	}
	// No current snapshot (none, an older generation, damaged): the rows,
	// kept as the snapshot of these nodes when the store writes.
	var out *preloaded
	if s.readOnly == nil {
		out, err = s.buildSnapshot(ctx, key, string(names))
	} else {
		out, err = s.lookups.preload(ctx, string(names))
	}
	if err != nil {
		return nil, s.fail("preload", err)
	}
	s.warm.set(warmMap(out.results))
	return core.EntryMap(out.entries), nil
}
