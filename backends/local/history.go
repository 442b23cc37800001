package local

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowcache/flowcache/core"
)

// Run logs: the history of a run that retrieves everything goes to a file
// of its own instead of SQLite, and is folded into the database by the next
// write transaction. The package doc ("Run logs") says why and how; the
// locking rules are at runLogs.begin, lockFile and removeFolded.

const (
	// historyMagic begins every run log.
	historyMagic = "flowcache run log 1\n"
	// frameBegin holds the run's id and start time; frameRecords a batch
	// of records in core.AppendRecords' encoding.
	frameBegin   = 'B'
	frameRecords = 'R'
	// foldAt is how many ended runs' logs may wait before EndRun folds
	// them.
	foldAt = 64
	// foldMax is how many foreign logs one transaction folds.
	foldMax = 256
)

// foldedSchema is the table of folded logs, created by the first fold.
const foldedSchema = `CREATE TABLE IF NOT EXISTS folded_logs (name TEXT PRIMARY KEY)`

// historyDir is the directory of the run logs of the database at path.
func historyDir(path string) string { return path + "-history" }

// logPrefix is the start of the names of the logs of run: a hash, since a
// run id may hold any character.
func logPrefix(run core.RunID) string {
	sum := sha256.Sum256([]byte(run))
	return hex.EncodeToString(sum[:8]) + "-"
}

// runLog is a run log this store writes. Its file is made by the run's
// first batch of records alone (appendRecords), not by BeginRun: see
// runLogs.begin.
type runLog struct {
	mu      sync.Mutex
	dir     string
	name    string // base name in the history directory
	run     core.RunID
	started int64    // the run's start, Unix nanoseconds
	f       *os.File // nil until made, and once closed
	// tried: the file was made, or making it failed (then the run's
	// batches go to the database, the first with the run's row).
	tried bool
	// inDB: the log was folded (or could not be written): the run's
	// batches go to the database.
	inDB bool
	// unbegun: the run's start is in no file and no row yet (the log is
	// not made, or making it failed and no transaction has written the
	// row yet). Read without mu by readLogs.
	unbegun atomic.Bool
}

// runLogs are the logs of the runs this store began.
type runLogs struct {
	dir string
	mu  sync.Mutex
	m   map[core.RunID]*runLog
	// foldedOnce: this store folded the ended runs' logs at its first
	// write transaction.
	foldedOnce bool
}

// appendFrame appends a frame: its length (uvarint, of kind and payload),
// its kind, its payload and the CRC-32C of kind and payload.
func appendFrame(dst []byte, kind byte, payload []byte) []byte {
	dst = appendFrameHead(dst, kind, len(payload))
	return binary.LittleEndian.AppendUint32(append(dst, payload...), frameCRC(kind, payload))
}

// appendFrameHead appends what precedes a frame's payload of n bytes: its
// length and its kind.
func appendFrameHead(dst []byte, kind byte, n int) []byte {
	return append(binary.AppendUvarint(dst, uint64(n)+1), kind)
}

// frameCRC is the CRC-32C of a frame's kind and payload.
func frameCRC(kind byte, payload []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, []byte{kind}), castagnoli, payload)
}

// writeFrame writes prefix (the log's magic and begin frame when the file
// is new, or nothing) and the frame of kind and payload in one write call,
// the payload from where it is: appendFrame's bytes, without copying the
// payload into a frame first.
func writeFrame(f *os.File, prefix []byte, kind byte, payload []byte) error {
	var buf [96]byte
	head := appendFrameHead(append(buf[:0], prefix...), kind, len(payload))
	var tail [4]byte
	binary.LittleEndian.PutUint32(tail[:], frameCRC(kind, payload))
	return writeAll(f, head, payload, tail[:])
}

// beginFrame returns the start of the log's file: the magic and the begin
// frame (the run's start time and id).
func (lg *runLog) beginFrame() []byte {
	payload := binary.AppendVarint(make([]byte, 0, binary.MaxVarintLen64+len(lg.run)), lg.started)
	payload = append(payload, lg.run...)
	return appendFrame([]byte(historyMagic), frameBegin, payload)
}

// parsedLog is what a run log holds, up to its first torn or damaged frame.
type parsedLog struct {
	run     core.RunID
	started int64
	batches [][]byte
}

// parseLog reads a run log's frames; ok is false when it does not begin
// with a whole begin frame (then it holds nothing to read).
func parseLog(b []byte) (p parsedLog, ok bool) {
	if !bytes.HasPrefix(b, []byte(historyMagic)) {
		return p, false
	}
	b = b[len(historyMagic):]
	first := true
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n == 0 || n > uint64(len(b)-k) || uint64(len(b)-k)-n < 4 {
			break // torn
		}
		frame := b[k : k+int(n)]
		sum := binary.LittleEndian.Uint32(b[k+int(n):])
		b = b[k+int(n)+4:]
		if crc32.Checksum(frame, castagnoli) != sum {
			break // damaged: what follows cannot be trusted
		}
		kind, payload := frame[0], frame[1:]
		switch {
		case first && kind == frameBegin:
			started, k := binary.Varint(payload)
			if k <= 0 {
				return p, false
			}
			p.run, p.started = core.RunID(payload[k:]), started
			first = false
		case !first && kind == frameRecords:
			p.batches = append(p.batches, payload)
		default:
			if first {
				return p, false
			}
			return p, true
		}
	}
	return p, !first
}

// minLogSpace is the free space under which begin makes a run's log file
// at once (see begin).
const minLogSpace = 1 << 20

// begin notes the log of run; its file is made by the run's first batch
// of records alone (appendRecords) or when the run ends (end), whichever
// comes first. It returns false when logs are not used here (no file
// locks on this system): the run is then begun in the database.
//
// Making the file at BeginRun cost a warm process 0.3–0.5 ms on its
// critical path (create, flock, a write); the first batch of records is
// written in the background, and writes the begin frame with its own
// frame, in one call. Until then the run is in no file and no row
// (unbegun): this store lists it (readLogs), other processes do not, and
// a process killed before its first batch leaves no trace of the run
// (there was nothing of it but its start). A transaction that writes a
// batch of the run before the file is made writes the run's row with its
// start time (foldsFor), and from then on the run is in the database as
// when its log is folded; EndRun of a run whose file cannot be made writes
// the row itself.
//
// On a file system with less than minLogSpace free, the file is made by
// begin, as it was always before: a full disk is found out by BeginRun,
// whose run then stores nothing and says so once (core), instead of by
// every write of a run begun as if it could store.
//
// The file is made as before by begin, with the same rules (create):
// between the file's creation and its lock, a folder may take it for the
// log of a dead writer (no begin frame yet), fold it and remove it: a log
// that is no longer at its path once locked is given up, as one another
// process locked first is, and the run's batches go to the database. The
// begin frame is in the file before anything else of the run, in its
// first write: a reader or folder never finds records without their run.
func (l *runLogs) begin(run core.RunID, started time.Time) bool {
	if !fileLocks {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.m[run]; ok {
		return true // a known run
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	lg := &runLog{dir: l.dir, name: logPrefix(run) + hex.EncodeToString(rnd[:]) + ".log", run: run, started: started.UnixNano()}
	lg.unbegun.Store(true)
	if lowOnSpace(l.dir) {
		// A full disk: made now, as before, so that BeginRun finds out
		// (the run is begun in the database, which fails too, and the
		// run stores nothing and says so once) rather than every
		// write of the run.
		if lg.materialize(); lg.unbegun.Load() {
			return false
		}
	}
	if l.m == nil {
		l.m = map[core.RunID]*runLog{}
	}
	l.m[run] = lg
	return true
}

// create makes the log's file and locks it; lg.mu is held. False when it
// cannot, or a folder took it before the lock (see begin); it is tried
// once.
func (lg *runLog) create() bool {
	if lg.tried {
		return false
	}
	lg.tried = true
	if err := os.MkdirAll(lg.dir, 0o777); err != nil {
		return false
	}
	path := filepath.Join(lg.dir, lg.name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o666)
	if err != nil {
		return false
	}
	if ok, err := tryLock(f); !ok || err != nil || !stillAt(f, path) {
		f.Close()
		return false // a folder has it, or removed it: it removes it
	}
	lg.f = f
	return true
}

// giveUp removes the file whose first write failed (before it unlocks
// it); lg.mu is held.
func (lg *runLog) giveUp() {
	os.Remove(filepath.Join(lg.dir, lg.name))
	lg.f.Close()
	lg.f = nil
}

// materialize makes the file of a log no batch made, with the begin frame
// alone (the run ends, or the store closes); lg.mu is held.
func (lg *runLog) materialize() {
	if lg.inDB || !lg.unbegun.Load() || !lg.create() {
		return
	}
	if _, err := lg.f.Write(lg.beginFrame()); err != nil {
		lg.giveUp()
		return
	}
	lg.unbegun.Store(false)
}

// stillAt reports whether the open file f is the one at path.
func stillAt(f *os.File, path string) bool {
	fi, err1 := f.Stat()
	pi, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(fi, pi)
}

func (l *runLogs) get(run core.RunID) *runLog {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[run]
}

// end closes the log of run (unlocking it) and forgets it; a log no
// batch made is made first, with the begin frame alone. It returns the
// start of a run that is in no file and no row even so (its file could
// not be made), for the caller to write to the database.
func (l *runLogs) end(run core.RunID) (unbegun bool, started int64) {
	l.mu.Lock()
	lg := l.m[run]
	delete(l.m, run)
	l.mu.Unlock()
	if lg == nil {
		return false, 0
	}
	lg.mu.Lock()
	defer lg.mu.Unlock()
	lg.materialize()
	unbegun = lg.unbegun.Load() && !lg.inDB
	lg.close()
	return unbegun, lg.started
}

// closeAll closes every log (at Close, or after DeleteAll removed them),
// making those no batch made first (see end).
func (l *runLogs) closeAll() {
	l.mu.Lock()
	m := l.m
	l.m = nil
	l.mu.Unlock()
	for _, lg := range m {
		lg.mu.Lock()
		lg.materialize()
		lg.close()
		lg.inDB = true
		lg.mu.Unlock()
	}
}

// close closes the file; lg.mu is held. The run is no longer this
// store's to begin: its start is in the file, or in the database (the
// caller folded it, or wrote its row).
func (lg *runLog) close() {
	if lg.f != nil {
		lg.f.Close()
		lg.f = nil
	}
	lg.unbegun.Store(false)
}

// unbegunLogs returns the logs of this store's runs (of run, or all when
// run is "") that are in no file and no row yet, as logs without batches.
func (l *runLogs) unbegunLogs(run core.RunID) []parsedLog {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []parsedLog
	for id, lg := range l.m {
		if (run == "" || id == run) && lg.unbegun.Load() {
			out = append(out, parsedLog{run: id, started: lg.started})
		}
	}
	return out
}

// appendRecords appends a batch of records, making the log's file first
// (with its begin frame, in the same write) for the run's first batch;
// false when the log is not in use any more (folded, closed), cannot be
// made, or the append failed, and the batch goes to the database. lg.mu
// is held.
func (lg *runLog) appendRecords(blob []byte, sync bool) bool {
	if lg.inDB {
		return false
	}
	var prefix []byte
	if lg.f == nil {
		if !lg.unbegun.Load() || !lg.create() {
			return false
		}
		prefix = lg.beginFrame()
	}
	if err := writeFrame(lg.f, prefix, frameRecords, blob); err != nil {
		if prefix != nil {
			// Nothing of the run is in the file for sure: the run's
			// row goes to the database with this batch.
			lg.giveUp()
		}
		// A partial frame is ignored by readers (its CRC); the run goes
		// on in the database, after this log is folded.
		return false
	}
	lg.unbegun.Store(false)
	if sync && lg.f.Sync() != nil {
		return false
	}
	return true
}

// logFile is a log found in the history directory, locked by this store
// for a fold.
type logFile struct {
	name string
	f    *os.File // nil for this store's own log, which it holds already
	log  parsedLog
	// unread: log is to be read from f when it is folded (foldLogs).
	unread bool
}

// foldLogs moves logs into the database in tx: the run's row (a known run
// keeps its own), its batches in order, and the log's name in folded_logs.
// A log whose name is there already was folded before (a crash between
// that commit and the removal of the file): it is only removed, as the
// caller removes the others once tx commits (removeFolded).
//
// A log without a name stands for a run of this store whose log was never
// made (see runLogs.begin): only its row is written.
//
// The logs lockFile locked are read here, one after the other, into one
// buffer: the 64 logs of 1000-node runs that EndRun folds are 6.8 MB,
// which read whole each (as they were) cost a fresh process about 1650
// page faults (20 ms of the fold's 0.2–0.4 s), where the buffer reused
// costs those of the largest log. They are not mapped (internal/mapfile):
// their batches are read by SQLite's code when they are bound, where a
// fault of a file truncated by hand could not be recovered from safely.
func foldLogs(ctx context.Context, tx *sql.Tx, logs []logFile) error {
	var buf []byte
	tableMade := false
	for _, lf := range logs {
		if lf.name != "" {
			// The table of folded logs is made by the first fold of a
			// file (a run whose log was never made has none to note).
			if !tableMade {
				if _, err := tx.ExecContext(ctx, foldedSchema); err != nil {
					return err
				}
				tableMade = true
			}
			res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO folded_logs (name) VALUES (?)`, lf.name)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				continue // folded already
			}
		}
		p := lf.log
		if lf.unread {
			var err error
			if buf, err = readAllAt(lf.f, buf); err != nil {
				return fmt.Errorf("reading run log %s: %w", lf.name, err)
			}
			var ok bool
			if p, ok = parseLog(buf); !ok {
				// Not a run log, or one whose begin frame never made it
				// to the disk: nothing to fold. Removed with the others.
				p = parsedLog{}
			}
		}
		if p.run == "" {
			continue // no whole begin frame (its writer was killed): nothing to fold
		}
		if _, err := tx.ExecContext(ctx, sqlBeginRun, string(p.run), p.started); err != nil {
			return err
		}
		// The batches are bound and copied by SQLite before the buffer
		// is read into again.
		for _, b := range p.batches {
			if _, err := tx.ExecContext(ctx, sqlRecordBatch, string(p.run), b); err != nil {
				return err
			}
		}
	}
	return nil
}

// readAllAt reads the file f from its start into buf, which it reuses.
func readAllAt(f *os.File, buf []byte) ([]byte, error) {
	buf = buf[:0]
	if fi, err := f.Stat(); err == nil && fi.Size() < 1<<31 {
		buf = slices.Grow(buf, int(fi.Size()))
	}
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, 4096)
		}
		n, err := f.ReadAt(buf[len(buf):cap(buf)], int64(len(buf)))
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// lockEnded opens and locks, for a fold, up to max logs of the directory
// that no store holds (their runs ended, or their process died), except
// skip. The caller closes their files.
func (l *runLogs) lockEnded(skip string, max int) []logFile {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return nil
	}
	var out []logFile
	for _, e := range ents {
		if len(out) == max {
			break
		}
		name := e.Name()
		if !strings.HasSuffix(name, ".log") || name == skip {
			continue
		}
		lf, ok := l.lockFile(name)
		if ok {
			out = append(out, lf)
		}
	}
	return out
}

// lockFile opens and locks the log name when no one holds it and it is
// still in the directory once locked (a folder removes a log before it
// unlocks it). The log is read when it is folded (foldLogs).
func (l *runLogs) lockFile(name string) (logFile, bool) {
	path := filepath.Join(l.dir, name)
	f, err := os.Open(path)
	if err != nil {
		return logFile{}, false
	}
	if ok, err := tryLock(f); !ok || err != nil || !stillAt(f, path) {
		f.Close()
		return logFile{}, false
	}
	return logFile{name: name, f: f, unread: true}, true
}

// removeFolded removes the files of folded logs and their names from
// folded_logs (best effort: a name left there is harmless, and a file left
// is found folded by the next folder), then unlocks them.
func (s *MetadataStore) removeFolded(ctx context.Context, logs []logFile) {
	if len(logs) == 0 {
		return
	}
	names := make([]any, 0, len(logs))
	for _, lf := range logs {
		if lf.name == "" {
			continue // no file (see foldLogs)
		}
		if err := os.Remove(filepath.Join(s.logs.dir, lf.name)); err == nil || errors.Is(err, fs.ErrNotExist) {
			names = append(names, lf.name)
		}
		if lf.f != nil {
			lf.f.Close()
		}
	}
	if len(names) > 0 {
		q := `DELETE FROM folded_logs WHERE name IN (?` + strings.Repeat(",?", len(names)-1) + `)`
		_, _ = s.w.ExecContext(context.WithoutCancel(ctx), q, names...)
	}
}

// foldsFor returns the logs the write transaction of a batch of run folds:
// the run's own log when this store writes one (its mutex held until
// done is called; a log whose file was never made stands for the run's
// row alone), and, at the store's first write transaction, the logs of
// ended runs.
func (s *MetadataStore) foldsFor(run core.RunID) (own *runLog, logs []logFile) {
	if run != "" {
		if lg := s.logs.get(run); lg != nil {
			lg.mu.Lock()
			switch {
			case !lg.inDB && lg.f != nil:
				own = lg
				if b, err := os.ReadFile(filepath.Join(s.logs.dir, lg.name)); err == nil {
					if p, ok := parseLog(b); ok {
						logs = append(logs, logFile{name: lg.name, log: p})
					}
				}
			case !lg.inDB && lg.unbegun.Load():
				own = lg
				logs = append(logs, logFile{log: parsedLog{run: lg.run, started: lg.started}})
			default:
				lg.mu.Unlock()
			}
		}
	}
	s.logs.mu.Lock()
	first := !s.logs.foldedOnce
	s.logs.foldedOnce = true
	s.logs.mu.Unlock()
	if first && fileLocks {
		skip := ""
		if own != nil {
			skip = own.name
		}
		logs = append(logs, s.logs.lockEnded(skip, foldMax)...)
	}
	return own, logs
}

// foldEnded folds the logs of ended runs in a transaction of its own, when
// more than foldAt are waiting (see EndRun).
func (s *MetadataStore) foldEnded(ctx context.Context) error {
	ents, err := os.ReadDir(s.logs.dir)
	if err != nil || len(ents) <= foldAt {
		return nil
	}
	return s.foldUnheld(ctx)
}

// foldUnheld folds, in a transaction of its own, the logs no store holds.
func (s *MetadataStore) foldUnheld(ctx context.Context) error {
	logs := s.logs.lockEnded("", foldMax)
	if len(logs) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		closeLogs(logs)
		return err
	}
	defer tx.Rollback()
	if err := foldLogs(ctx, tx, logs); err != nil {
		closeLogs(logs)
		return err
	}
	if err := tx.Commit(); err != nil {
		closeLogs(logs)
		return err
	}
	s.removeFolded(ctx, logs)
	return nil
}

func closeLogs(logs []logFile) {
	for _, lf := range logs {
		if lf.f != nil {
			lf.f.Close()
		}
	}
}

// EndRun closes the log of a run this store began (see "Run logs" in the
// package doc), so that the next writer may fold it, and folds the logs of
// ended runs when more than 64 are waiting. A run the store does not know is
// not an error. core.Run.End calls it (core.RunEnder).
func (s *MetadataStore) EndRun(ctx context.Context, run core.RunID) error {
	if err := s.checkWrite("end run " + string(run)); err != nil {
		return err
	}
	if s.logs.get(run) == nil {
		return nil
	}
	if unbegun, started := s.logs.end(run); unbegun {
		// Its log could not be made: the run's row, as BeginRun writes
		// it where there are no logs.
		st, err := s.beginRun.get(ctx)
		if err == nil {
			_, err = st.ExecContext(ctx, string(run), started)
		}
		if err != nil {
			return s.fail("end run "+string(run), err)
		}
	}
	if err := s.foldEnded(ctx); err != nil {
		return s.fail("end run "+string(run)+": fold run logs", err)
	}
	return nil
}

var _ core.RunEnder = (*MetadataStore)(nil)

// readLogs reads the logs not folded yet (of run, or every run when run is
// ""), skipping those whose names the database lists as folded.
//
// This store's runs whose logs are not made yet are read as logs without
// batches (see runLogs.begin).
func (s *MetadataStore) readLogs(ctx context.Context, run core.RunID) ([]parsedLog, error) {
	out := s.logs.unbegunLogs(run)
	ents, err := os.ReadDir(s.logs.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	prefix := ""
	if run != "" {
		prefix = logPrefix(run)
	}
	var names []string
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".log") && strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return out, nil
	}
	folded := map[string]bool{}
	rows, err := s.r.QueryContext(ctx, `SELECT name FROM folded_logs`)
	if err == nil {
		for rows.Next() {
			var n string
			if rows.Scan(&n) == nil {
				folded[n] = true
			}
		}
		rows.Close()
	}
	for _, n := range names {
		if folded[n] {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.logs.dir, n))
		if err != nil {
			continue // folded and removed meanwhile: the database has it
		}
		p, ok := parseLog(b)
		if !ok || (run != "" && p.run != run) {
			continue
		}
		out = append(out, p)
	}
	slices.SortStableFunc(out, func(a, b parsedLog) int { return cmp.Compare(a.started, b.started) })
	return out, nil
}

// compareRuns orders runs as Runs lists them: by start time, then by id
// (new run ids are UUIDv7, which sort in the order they were made, so runs
// begun in the same instant of a test clock keep their order).
func compareRuns(a, b core.RunInfo) int {
	if c := a.Started.Compare(b.Started); c != 0 {
		return c
	}
	return strings.Compare(string(a.ID), string(b.ID))
}

// logRuns adds the runs of the logs not folded yet to runs (read from the
// database, in the order they began): a run known there keeps its row.
func (s *MetadataStore) logRuns(ctx context.Context, runs []core.RunInfo) ([]core.RunInfo, error) {
	logs, err := s.readLogs(ctx, "")
	if err != nil || len(logs) == 0 {
		return runs, err
	}
	known := make(map[core.RunID]bool, len(runs))
	for _, r := range runs {
		known[r.ID] = true
	}
	for _, p := range logs {
		if known[p.run] {
			continue
		}
		known[p.run] = true
		runs = append(runs, core.RunInfo{ID: p.run, Started: time.Unix(0, p.started)})
	}
	slices.SortStableFunc(runs, compareRuns)
	return runs, nil
}

// logRecords returns the records of run in the logs not folded yet, and
// whether there is such a log.
func (s *MetadataStore) logRecords(ctx context.Context, run core.RunID) ([]core.NodeRecord, bool, error) {
	logs, err := s.readLogs(ctx, run)
	if err != nil || len(logs) == 0 {
		return nil, false, err
	}
	var recs []core.NodeRecord
	for _, p := range logs {
		for _, b := range p.batches {
			batch, err := core.DecodeRecords(b)
			if err != nil {
				return nil, true, fmt.Errorf("run log of %s: %w", run, err)
			}
			recs = append(recs, batch...)
		}
	}
	return recs, true, nil
}

// removeLogs removes every run log (DeleteAll); this store's own logs are
// closed first, and their runs' later batches go to the database.
func (s *MetadataStore) removeLogs() error {
	s.logs.closeAll()
	ents, err := os.ReadDir(s.logs.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".log") {
			if err := os.Remove(filepath.Join(s.logs.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
