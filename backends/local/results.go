package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/flowcache/flowcache/backends/blobstore"
	"github.com/flowcache/flowcache/core"
)

// DefaultInlineLimit is the size up to which a result is stored inline in
// metadata.db rather than as a file (see WithInlineLimit and ResultStore).
//
// Measured on this machine class (BenchmarkInlineLimit: Put, with a flush
// every 256 results, then Get read to its end), inline against a file:
//
//	size     Put+flush inline  Put file       Get inline  Get file
//	4 KiB     35 µs            0.8 ms          15 µs       30 µs
//	16 KiB    85 µs            1.0 ms          32 µs       33 µs
//	64 KiB   290 µs            0.2–0.3 ms     110 µs       48 µs
//
// 16 KiB is the largest of these sizes at which an inline result reads as
// fast as a file while it is still written ten times faster; at 64 KiB it
// reads twice as slowly and is no faster to write (every inline byte is
// written twice, to the WAL and then to the database). It covers the
// results most pipelines produce (numbers, small structs, short slices and
// maps) and bounds what a run holds in memory between two flushes (256
// results of at most 16 KiB: 4 MiB).
const DefaultInlineLimit = 16 << 10

// maxPendingBytes bounds the memory held by results waiting for
// FlushResults: a Put that takes the pending set past it flushes. The
// caching adapter flushes long before (every 256 nodes or second); the
// bound is for callers that never flush.
const maxPendingBytes = 32 << 20

// pendingOverhead is what a pending result is counted for besides its
// bytes (its map entry and id), so that many empty results also flush.
const pendingOverhead = 128

// MaxInlineLimit is the largest inline limit Open accepts. Past 64 KiB a
// result reads faster from a file (see DefaultInlineLimit), and a pending
// result is held in memory until the next flush.
const MaxInlineLimit = 1 << 20

// WithInlineLimit sets the size up to which results are stored inline in
// metadata.db (DefaultInlineLimit by default, at most MaxInlineLimit). A
// limit of 0 or less stores every result as a file. Results already stored
// stay where they are: stores with different limits may share a directory.
func WithInlineLimit(n int) Option { return func(o *options) { o.inlineLimit = n } }

// ResultStore is the core.ResultStore of a local cache directory. A result of
// up to the inline limit (WithInlineLimit, 16 KiB by default) is kept in
// memory by Put, without any system call, and written by FlushResults, with
// every other pending result, to the results table of metadata.db in one
// transaction; a larger one is streamed to a file under <dir>/results
// (package blobstore's layout, see Files). Creating a file costs 50 µs to
// 1 ms on ext4; storing a 100-byte result inline about 8 µs with its share
// of the flush (BenchmarkPutFlush; 21 µs when Put first asked the table
// whether the result was stored, see below).
//
// The caching adapter calls FlushResults before every metadata write, so an
// entry never points at a result that is not stored (core.ResultFlusher).
// Until then a pending result is served by Get and Exists of this ResultStore
// only: other ResultStores, in this process or another, see it once it is
// flushed. Close flushes.
//
// A result is looked for in the pending set, then in the table, then in the
// files, by Get and Exists; Delete and DeleteAll remove it from all three.
// Put looks for it in the pending set only, while it fits inline: results
// are content-addressed, so a small result stored by an earlier flush (or
// another process) is written again into memory, and the flush's INSERT OR
// IGNORE keeps the row already there. Such a Put returns the size it wrote,
// not 0 (core.ResultStore allows a buffering store not to know). A result
// that outgrows the inline limit looks for its file before writing one,
// and returns 0 when it finds it. Inline results carry a
// CRC-32C of their id and bytes, checked by Get: a damaged row (or a row
// copied under another id) is an error wrapping core.ErrCorrupt, like a
// damaged file.
//
// GetVerified (what a run decodes from) hands over no byte before all are
// verified: a pending or inline result is in memory, its CRC checked; a
// file is verified to its end and then read again from the page cache
// through the same open file (see blobstore.ResultStore.GetVerified): no copy of
// the result in memory.
//
// Only a regular file is a result file. Anything else at a result file's
// path — a directory, a symbolic link, a named pipe — is damage: Get and
// GetVerified report it as core.ErrCorrupt (without opening it), Exists as
// absent, Delete removes it (a directory with what is in it; a link, never
// what it points to; nothing when the shard directory holding it is itself
// a link out of the cache), and Put replaces it. A writer killed during a
// Put leaves a temporary file next to the result file; Open removes, in the
// background, those not written for StaleTempAge (an hour), and
// FindDebris and RemoveDebris list and remove what is left (flowcache
// verify and evict --gc).
//
// ResultStore is safe for concurrent use, and several processes may share a
// directory: the table is written with INSERT OR IGNORE (results are
// content-addressed, so whichever process stores a result first, the bytes
// are the same), files as package blobstore writes them.
type ResultStore struct {
	meta   *MetadataStore // its writer (w) and readers (r)
	files  *blobstore.ResultStore
	dir    string // the directory of files' bucket, "" if unknown
	limit  int
	closed atomic.Bool

	// flushMu serializes FlushResults with Delete and DeleteAll, so that a
	// flush in progress cannot write back a result deleted meanwhile.
	flushMu sync.Mutex

	mu           sync.Mutex
	pending      map[core.ResultID]*pendingResult
	pendingBytes int
	stopped      bool // no more pending results: closed

	bufs sync.Pool // *[]byte of capacity limit

	// The sweep of stale temporary files started by Open (see sweep).
	sweepStop context.CancelFunc
	sweepDone chan struct{}

	insert multiInsert // on meta.w
	del    lazyStmt    // on meta.w
	// Reading an inline result and checking for one go through
	// meta.lookups.
	closeOnce sync.Once
	closeErr  error
}

var (
	_ core.ResultStore    = (*ResultStore)(nil)
	_ core.ResultFlusher  = (*ResultStore)(nil)
	_ core.VerifiedGetter = (*ResultStore)(nil)
)

type pendingResult struct {
	data    []byte // never modified: readers share it
	crc     uint32
	created int64
}

// The statements of the results table.
const (
	sqlResultInsert = `INSERT OR IGNORE INTO results (version, format, data, crc, created) VALUES `
	sqlResultGet    = `SELECT data, crc FROM results WHERE version = ? AND format = ?`
	sqlResultExists = `SELECT 1 FROM results WHERE version = ? AND format = ?`
	sqlResultDelete = `DELETE FROM results WHERE version = ? AND format = ?`
	sqlResultWalk   = `SELECT version, format, length(data) FROM results ORDER BY version, format`
)

// newResults returns the result store over meta's database and files.
func newResults(ctx context.Context, meta *MetadataStore, files *blobstore.ResultStore, dir string, limit int) (*ResultStore, error) {
	r := &ResultStore{meta: meta, files: files, dir: dir, limit: limit, pending: map[core.ResultID]*pendingResult{}}
	if limit > 0 {
		r.bufs.New = func() any { b := make([]byte, 0, limit); return &b }
	}
	// The statements are prepared at first use (see lazyStmt).
	r.insert.init(meta.w, sqlResultInsert, 5, "", "results")
	r.del.init(meta.w, sqlResultDelete)
	// The metadata store flushes pending results before it closes: they
	// share the database, whichever is closed first.
	meta.beforeClose = func() error {
		r.stopSweep()
		err := r.flush(context.Background())
		return errors.Join(err, r.closeStmts())
	}
	r.startSweep()
	return r, nil
}

// Files returns the store of the results too large to be inlined.
func (r *ResultStore) Files() *blobstore.ResultStore { return r.files }

// InlineLimit returns the size up to which results are stored inline.
func (r *ResultStore) InlineLimit() int { return r.limit }

func wrapResult(op string, id core.ResultID, err error) error {
	return fmt.Errorf("local: %s result %s: %w", op, id, err)
}

// check rejects calls on a closed store and ids that could not name a file.
func (r *ResultStore) check(op string, id core.ResultID) error {
	if r.closed.Load() || r.meta.closed.Load() {
		return wrapResult(op, id, core.ErrClosed)
	}
	if err := id.Validate(); err != nil {
		return fmt.Errorf("local: %s: %w", op, err)
	}
	if ro := r.meta.readOnly; ro != nil && (op == "put" || op == "delete") {
		return wrapResult(op, id, ro) // see ModeReadOnly
	}
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// inlineCRC is the checksum of an inline result: CRC-32C of its version, a
// zero byte, its format, a zero byte and its bytes. Covering the id catches
// a row moved under another id.
//
// It allocates nothing: the id's strings are read in place. Copied to a
// buffer on the stack, which escaped to the heap through crc32.Update, the
// id cost every Put, and every inline result a warm run served, 128 bytes
// of garbage (a cold run of 1000 nodes, 120 KB of a fresh process's new
// heap pages).
func inlineCRC(id core.ResultID, data []byte) uint32 {
	crc := crc32.Update(0, castagnoli, stringBytes(string(id.Version)))
	crc = crc32.Update(crc, castagnoli, zeroByte[:])
	crc = crc32.Update(crc, castagnoli, stringBytes(id.Format))
	crc = crc32.Update(crc, castagnoli, zeroByte[:])
	return crc32.Update(crc, castagnoli, data)
}

var zeroByte = [1]byte{0}

// stringBytes returns the bytes of s, not copied: they must only be read.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func (r *ResultStore) pendingGet(id core.ResultID) *pendingResult {
	r.mu.Lock()
	p := r.pending[id]
	r.mu.Unlock()
	return p
}

// inline reads the row of id: found is false when there is none. Point
// lookups such as this one and inlineExists are not worth interrupting:
// with a cancellable context the driver starts a goroutine per query to
// watch it.
func (r *ResultStore) inline(ctx context.Context, id core.ResultID) (data []byte, found bool, err error) {
	d, c, found, err := r.meta.lookups.inlineResult(context.WithoutCancel(ctx), string(id.Version), id.Format)
	if err != nil || !found {
		return nil, false, err
	}
	data, ok := d.([]byte)
	crc, ok2 := c.(int64)
	switch {
	case !ok:
		return nil, true, fmt.Errorf("%w: the data column holds %T, not a blob", core.ErrCorrupt, d)
	case !ok2:
		return nil, true, fmt.Errorf("%w: the crc column holds %T, not an integer", core.ErrCorrupt, c)
	case crc < 0 || crc > 1<<32-1 || uint32(crc) != inlineCRC(id, data):
		return nil, true, fmt.Errorf("%w: CRC-32C mismatch (stored %#x, computed %#x, %d bytes)", core.ErrCorrupt, crc, inlineCRC(id, data), len(data))
	}
	return data, true, nil
}

func (r *ResultStore) inlineExists(ctx context.Context, id core.ResultID) (bool, error) {
	return r.meta.lookups.inlineExists(context.WithoutCancel(ctx), string(id.Version), id.Format)
}

// Exists reports whether a result is stored under id (pending, inline or as
// a file), without verifying it.
func (r *ResultStore) Exists(ctx context.Context, id core.ResultID) (bool, error) {
	if err := r.check("exists", id); err != nil {
		return false, err
	}
	if r.pendingGet(id) != nil {
		return true, nil
	}
	if ok, err := r.inlineExists(ctx, id); err != nil || ok {
		if err != nil {
			return false, wrapResult("exists", id, err)
		}
		return true, nil
	}
	return r.fileExists(ctx, id)
}

// fileState is what sits at the path of a result's file.
type fileState int

const (
	fileUnknown fileState = iota // ask the bucket (see fileAt)
	fileAbsent
	fileRegular
	fileOther // anything but a regular file: a directory, a symbolic link, a device
)

// fileAt looks at the path of the file of result id. For the names
// flowcache writes (hex versions, formats such as "gob" or "json+zstd") it
// lstats the path fileblob uses for the name; other names, and errors other
// than a missing file, are fileUnknown: the bucket is asked instead. A stat
// costs about 1.5 µs, a miss through the bucket about 8 µs (mostly building
// gocloud's error).
func (r *ResultStore) fileAt(id core.ResultID) (fileState, fs.FileInfo, string) {
	key := r.files.Key(id)
	if r.dir == "" || !plainKey(key) {
		return fileUnknown, nil, ""
	}
	path := filepath.Join(r.dir, filepath.FromSlash(key))
	fi, err := os.Lstat(path)
	switch {
	case err == nil && fi.Mode().IsRegular():
		return fileRegular, fi, path
	case err == nil:
		return fileOther, fi, path
	case errors.Is(err, fs.ErrNotExist):
		return fileAbsent, nil, path
	}
	return fileUnknown, nil, path
}

// fileExists reports whether the file of result id exists (a regular file:
// anything else at its path is damage, see notAFile).
func (r *ResultStore) fileExists(ctx context.Context, id core.ResultID) (bool, error) {
	switch st, _, _ := r.fileAt(id); st {
	case fileRegular:
		return true, nil
	case fileAbsent, fileOther:
		return false, nil
	}
	return r.files.Exists(ctx, id)
}

// notAFile is the error of something other than a regular file at the path
// of result id's file: damage, which the caching adapter deletes (Delete
// removes it) and Put replaces.
func (r *ResultStore) notAFile(op string, id core.ResultID, fi fs.FileInfo) error {
	return wrapResult(op, id, fmt.Errorf("%w: %s is a %s, not a result file", core.ErrCorrupt,
		filepath.ToSlash(filepath.Join(ResultsDir, filepath.FromSlash(r.files.Key(id)))), describeMode(fi.Mode())))
}

// describeMode names the type of a file.
func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	case m.IsRegular():
		return "regular file"
	}
	return "file of mode " + m.String()
}

// removeNotAFile removes what sits at path, the path of a result's file,
// when it is not a regular file: a directory with everything in it, or
// the link itself of a symbolic link (never what it points to). It refuses
// when the shard directory holding path is not a directory of the cache
// itself (a symbolic link to elsewhere), so that nothing outside the cache
// is ever removed.
func (r *ResultStore) removeNotAFile(path string) error {
	shard := filepath.Dir(path)
	if filepath.Dir(shard) != r.dir {
		return fmt.Errorf("local: not removing %s: not a result path under %s", path, r.dir)
	}
	sfi, err := os.Lstat(shard)
	if err != nil {
		return fmt.Errorf("local: removing %s: %w", path, err)
	}
	if !sfi.IsDir() {
		return fmt.Errorf("local: not removing %s: %s is a %s, not a directory of the cache", path, shard, describeMode(sfi.Mode()))
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("local: removing %s: %w", path, err)
	case fi.Mode().IsRegular():
		return nil // replaced by a result file meanwhile
	case fi.IsDir():
		// RemoveAll removes symbolic links inside, never what they
		// point to.
		err = os.RemoveAll(path)
	default:
		err = os.Remove(path)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("local: removing the %s at a result's path: %w", describeMode(fi.Mode()), err)
	}
	return nil
}

// prepareFile reports whether the file of result id exists, after removing
// anything else sitting at its path (so that Put can store the file).
func (r *ResultStore) prepareFile(ctx context.Context, id core.ResultID) (bool, error) {
	st, _, path := r.fileAt(id)
	switch st {
	case fileRegular:
		return true, nil
	case fileAbsent:
		return false, nil
	case fileOther:
		if err := r.removeNotAFile(path); err != nil {
			return false, wrapResult("put", id, err)
		}
		return false, nil
	}
	return r.files.Exists(ctx, id)
}

// deleteFile removes the file of result id, or whatever else sits at its
// path.
func (r *ResultStore) deleteFile(ctx context.Context, id core.ResultID) error {
	switch st, _, path := r.fileAt(id); st {
	case fileAbsent:
		return nil
	case fileOther:
		if err := r.removeNotAFile(path); err != nil {
			return wrapResult("delete", id, err)
		}
		return nil
	}
	return r.files.Delete(ctx, id)
}

// openFile opens the file of result id, verified as it is read (Get) or
// before (GetVerified).
func (r *ResultStore) openFile(ctx context.Context, op string, id core.ResultID, verified bool) (io.ReadCloser, error) {
	// The path is looked at first: a missing file needs no more, and a
	// named pipe at the path would block the open.
	switch st, fi, _ := r.fileAt(id); st {
	case fileAbsent:
		return nil, wrapResult(op, id, core.ErrNotFound)
	case fileOther:
		return nil, r.notAFile(op, id, fi)
	}
	get := r.files.Get
	if verified {
		get = r.files.GetVerified
	}
	rc, err := get(ctx, id)
	if errors.Is(err, core.ErrNotFound) {
		if st, fi, _ := r.fileAt(id); st == fileOther {
			return nil, r.notAFile(op, id, fi)
		}
		return nil, wrapResult(op, id, core.ErrNotFound)
	}
	return rc, err
}

// plainKey reports whether fileblob stores key under the path key names,
// unescaped: letters, digits, '/', '.', '-', '_' and '+', no "__" (which
// could start an escape sequence) and not the name of a sidecar file.
func plainKey(key string) bool {
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '/', c == '.', c == '-', c == '_', c == '+':
		default:
			return false
		}
	}
	return !strings.Contains(key, "__") && !strings.Contains(key, "//") && !strings.Contains(key, "..") && !strings.HasSuffix(key, ".attrs")
}

// Get opens the result stored under id. An inline result is verified
// before Get returns (damage is an error wrapping core.ErrCorrupt from Get);
// a file is verified as it is read, as package blobstore does. A result
// stored nowhere is an error wrapping core.ErrNotFound; anything but a
// regular file at a result file's path (a directory, a symbolic link) one
// wrapping core.ErrCorrupt, so that the caching adapter deletes it.
func (r *ResultStore) Get(ctx context.Context, id core.ResultID) (io.ReadCloser, error) {
	return r.open(ctx, "get", id, false)
}

// GetVerified implements core.VerifiedGetter: it opens the result stored
// under id once all of it is verified. A pending or inline result is in
// memory, checked against its CRC-32C before GetVerified returns; a file is
// verified to its end and then read again from the page cache, through the
// same open file (see blobstore.ResultStore.GetVerified). Errors are those of
// Get.
func (r *ResultStore) GetVerified(ctx context.Context, id core.ResultID) (io.ReadCloser, error) {
	return r.open(ctx, "get", id, true)
}

func (r *ResultStore) open(ctx context.Context, op string, id core.ResultID, verified bool) (io.ReadCloser, error) {
	if err := r.check(op, id); err != nil {
		return nil, err
	}
	if p := r.pendingGet(id); p != nil {
		return io.NopCloser(bytes.NewReader(p.data)), nil
	}
	if data, ok := r.meta.warm.get(id); ok {
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	data, found, err := r.inline(ctx, id)
	switch {
	case err != nil:
		return nil, wrapResult(op+" inline", id, err)
	case found:
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	return r.openFile(ctx, op, id, verified)
}

// BufferedPutLimit implements core.BufferedPutter: a result of up to the
// inline limit is kept in memory by Put until the next FlushResults.
func (r *ResultStore) BufferedPutLimit() int { return max(r.limit, 0) }

var _ core.BufferedPutter = (*ResultStore)(nil)

// Put stores the bytes write writes under id, unless a result is stored
// under id already (then it returns 0 without calling write). A result of
// up to the inline limit becomes pending (see ResultStore); a larger one is
// streamed to a file: the bytes buffered up to the limit first, then the
// rest as write writes it, so a large result is never held in memory. If
// write fails or panics, or ctx is cancelled, nothing is stored.
func (r *ResultStore) Put(ctx context.Context, id core.ResultID, write func(io.Writer) error) (int64, error) {
	if err := r.check("put", id); err != nil {
		return 0, err
	}
	if r.pendingGet(id) != nil {
		return 0, nil
	}
	if r.limit <= 0 {
		if ok, err := r.prepareFile(ctx, id); err != nil || ok {
			return 0, err
		}
		return r.files.Put(ctx, id, write)
	}
	// A result that fits inline is not looked for in the table first: the
	// flush's INSERT OR IGNORE keeps the row already there, and a query per
	// Put was most of what a cold node cost (see the type's doc). A result
	// that outgrows the limit looks for its file before writing it (spill).
	if err := ctx.Err(); err != nil {
		return 0, wrapResult("put", id, err)
	}

	buf := r.bufs.Get().(*[]byte)
	w := &putWriter{r: r, ctx: ctx, done: ctx.Done(), id: id, buf: (*buf)[:0], limit: r.limit}
	finished := false
	defer func() {
		if !finished && w.spilled() { // write panicked: drop the file, let the panic go on
			w.end(errWritePanicked)
		}
		w.err, w.buf = errPutReturned, nil // in case write kept w
		r.bufs.Put(buf)
	}()
	werr := write(w)
	finished = true
	if w.spilled() {
		return w.finish(werr)
	}
	switch {
	case werr != nil:
		return 0, wrapResult("put", id, werr)
	case w.err != nil: // write swallowed an error of ours
		return 0, wrapResult("put", id, w.err)
	case ctx.Err() != nil:
		return 0, wrapResult("put", id, ctx.Err())
	}
	p := &pendingResult{data: make([]byte, len(w.buf)), created: r.meta.now().UnixNano()}
	copy(p.data, w.buf)
	p.crc = inlineCRC(id, p.data)
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return 0, wrapResult("put", id, core.ErrClosed)
	}
	if r.pending[id] == nil {
		r.pending[id] = p
		r.pendingBytes += len(p.data) + pendingOverhead
	}
	full := r.pendingBytes >= maxPendingBytes
	r.mu.Unlock()
	if full {
		// The results stay pending if this fails; the caller's next
		// FlushResults reports the error.
		_ = r.flush(context.WithoutCancel(ctx))
	}
	return int64(len(p.data)), nil
}

var (
	errWritePanicked = errors.New("write panicked")
	errPutReturned   = errors.New("write after Put returned")
)

// putWriter is the io.Writer a result's write function gets. It buffers up
// to the inline limit. Past it, it starts a Put on the file store in a
// goroutine and hands it the buffered bytes, then the rest: small writes
// coalesced in the buffer, large ones as they are, without copying them.
type putWriter struct {
	r     *ResultStore
	ctx   context.Context
	done  <-chan struct{}
	id    core.ResultID
	buf   []byte
	limit int
	n     int64 // bytes accepted from write
	err   error // sticky

	// Set once the result outgrew the limit (see spill).
	chunks   chan []byte // to the file Put; closed at the end
	acks     chan error  // the file Put's error writing a chunk
	abort    error       // why chunks was closed early; set before closing it
	fileDone chan struct{}
	fileN    int64 // the file Put's result, set before fileDone is closed
	fileErr  error
}

func (w *putWriter) spilled() bool { return w.chunks != nil }

func (w *putWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	select {
	case <-w.done:
		w.err = w.ctx.Err()
		return 0, w.err
	default:
	}
	if len(w.buf)+len(p) <= w.limit {
		w.buf = append(w.buf, p...)
		w.n += int64(len(p))
		return len(p), nil
	}
	if !w.spilled() {
		w.spill()
	}
	if err := w.send(w.buf); err != nil {
		return 0, err
	}
	w.buf = w.buf[:0]
	if len(p) < w.limit {
		w.buf = append(w.buf, p...)
	} else if err := w.send(p); err != nil {
		return 0, err
	}
	w.n += int64(len(p))
	return len(p), nil
}

// send hands p to the file Put and waits until it has written it.
func (w *putWriter) send(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	select {
	case w.chunks <- p:
		w.err = <-w.acks
	case <-w.fileDone: // it returned early: failed, or found the file stored
		w.err = w.fileErr
		if w.err == nil {
			w.err = fs.ErrExist
		}
	}
	return w.err
}

// spill starts storing the result as a file: a Put on the file store, in a
// goroutine, whose write function writes the chunks send hands it.
func (w *putWriter) spill() {
	w.chunks, w.acks, w.fileDone = make(chan []byte), make(chan error, 1), make(chan struct{})
	go func() {
		defer close(w.fileDone)
		// A file stored already ends the Put as one stored meanwhile does
		// (fileN 0, no error); anything else at its path is removed first.
		if ok, err := w.r.prepareFile(w.ctx, w.id); err != nil || ok {
			w.fileErr = err
			return
		}
		w.fileN, w.fileErr = w.r.files.Put(w.ctx, w.id, func(fw io.Writer) error {
			for p := range w.chunks {
				_, err := fw.Write(p)
				w.acks <- err
				if err != nil {
					return err
				}
			}
			return w.abort // nil at the end of the result
		})
	}()
}

// end tells the file Put that the result is complete (cause == nil) or
// must be dropped, and waits for it.
func (w *putWriter) end(cause error) {
	w.abort = cause
	close(w.chunks)
	<-w.fileDone
}

// finish completes a Put that went to the file store.
func (w *putWriter) finish(werr error) (int64, error) {
	cause := werr
	if cause == nil {
		cause = w.err
	}
	if cause == nil {
		cause = w.ctx.Err()
	}
	if cause == nil {
		cause = w.send(w.buf)
	}
	w.end(cause)
	switch {
	case w.fileErr == nil && w.fileN == 0:
		// The file Put did not call its write function: the result was
		// stored meanwhile (by another process).
		return 0, nil
	case cause != nil:
		return 0, wrapResult("put", w.id, cause)
	case w.fileErr != nil:
		return 0, w.fileErr
	}
	return w.n, nil
}

// FlushResults writes every pending result to the results table of
// metadata.db in one transaction (on the metadata store's writer
// connection), and drops them from memory once it has committed. On error
// they stay pending.
func (r *ResultStore) FlushResults(ctx context.Context) error {
	if r.closed.Load() || r.meta.closed.Load() {
		return fmt.Errorf("local: flush results: %w", core.ErrClosed)
	}
	return r.flush(ctx)
}

type flushItem struct {
	id core.ResultID
	p  *pendingResult
}

func (r *ResultStore) flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	items := make([]flushItem, 0, len(r.pending))
	for id, p := range r.pending {
		items = append(items, flushItem{id, p})
	}
	r.mu.Unlock()
	if len(items) == 0 {
		return nil
	}
	if err := r.writeInline(ctx, items); err != nil {
		return fmt.Errorf("local: flush %d results: %w", len(items), err)
	}
	r.mu.Lock()
	for _, it := range items {
		delete(r.pending, it.id)
		r.pendingBytes -= len(it.p.data) + pendingOverhead
	}
	r.mu.Unlock()
	return nil
}

func (r *ResultStore) writeInline(ctx context.Context, items []flushItem) error {
	if err := r.insert.ready(ctx, len(items)); err != nil {
		return err
	}
	tx, err := r.meta.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = r.insert.exec(ctx, tx, len(items), func(i int, args []any) error {
		it := &items[i]
		args[0], args[1], args[2] = string(it.id.Version), it.id.Format, it.p.data
		args[3], args[4] = int64(it.p.crc), it.p.created
		return nil
	})
	if err != nil {
		return err
	}
	return tx.Commit()
}

// Delete removes the result stored under id, wherever it is: pending,
// inline or as a file. Deleting a missing result is not an error.
func (r *ResultStore) Delete(ctx context.Context, id core.ResultID) error {
	if err := r.check("delete", id); err != nil {
		return err
	}
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	if p := r.pending[id]; p != nil {
		delete(r.pending, id)
		r.pendingBytes -= len(p.data) + pendingOverhead
	}
	r.mu.Unlock()
	r.meta.warm.drop(&id)
	st, err := r.del.get(ctx)
	if err == nil {
		_, err = st.ExecContext(ctx, string(id.Version), id.Format)
	}
	if err != nil {
		return wrapResult("delete", id, err)
	}
	return r.deleteFile(ctx, id)
}

// DeleteAll removes every result: pending, inline and files (and temporary
// files left by killed writers).
func (r *ResultStore) DeleteAll(ctx context.Context) error {
	if r.closed.Load() || r.meta.closed.Load() {
		return fmt.Errorf("local: delete all results: %w", core.ErrClosed)
	}
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	clear(r.pending)
	r.pendingBytes = 0
	r.mu.Unlock()
	r.meta.warm.drop(nil)
	if _, err := r.meta.w.ExecContext(ctx, `DELETE FROM results`); err != nil {
		return fmt.Errorf("local: delete all results: %w", err)
	}
	return r.files.DeleteAll(ctx)
}

// Walk calls fn for every stored result: the pending ones, then the inline
// ones in id order, then the files in name order (see blobstore.ResultStore.Walk).
// size is what the result takes: its bytes for a pending or inline result,
// the whole file (header and trailer included) for a file. Walk stops at
// the first error fn returns and returns it. Results stored or deleted
// during the walk may or may not be seen.
func (r *ResultStore) Walk(ctx context.Context, fn func(id core.ResultID, size int64) error) error {
	if r.closed.Load() || r.meta.closed.Load() {
		return fmt.Errorf("local: walk results: %w", core.ErrClosed)
	}
	r.mu.Lock()
	pending := make(map[core.ResultID]int64, len(r.pending))
	for id, p := range r.pending {
		pending[id] = int64(len(p.data))
	}
	r.mu.Unlock()
	for id, size := range pending {
		if err := fn(id, size); err != nil {
			return err
		}
	}
	if err := r.walkInline(ctx, pending, fn); err != nil {
		return err
	}
	return r.files.Walk(ctx, fn)
}

func (r *ResultStore) walkInline(ctx context.Context, skip map[core.ResultID]int64, fn func(core.ResultID, int64) error) error {
	rows, err := r.meta.r.QueryContext(ctx, sqlResultWalk)
	if err != nil {
		return fmt.Errorf("local: walk inline results: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id   core.ResultID
			size int64
		)
		if err := rows.Scan(&id.Version, &id.Format, &size); err != nil {
			return fmt.Errorf("local: walk inline results: %w", err)
		}
		if _, ok := skip[id]; ok {
			continue
		}
		if err := fn(id, size); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("local: walk inline results: %w", err)
	}
	return nil
}

// Close flushes the pending results and closes the store (and the file
// store). The metadata store stays open; closing it first also flushes.
// Closing twice is not an error.
func (r *ResultStore) Close() error {
	r.mu.Lock()
	stopped := r.stopped
	r.stopped = true
	r.mu.Unlock()
	if stopped {
		return nil
	}
	r.stopSweep()
	var errs []error
	if !r.meta.closed.Load() {
		errs = append(errs, r.flush(context.Background()))
	}
	r.closed.Store(true)
	errs = append(errs, r.closeStmts(), r.files.Close())
	return errors.Join(errs...)
}

func (r *ResultStore) closeStmts() error {
	r.closeOnce.Do(func() {
		errs := []error{r.insert.close()}
		for _, st := range []*lazyStmt{&r.del} {
			errs = append(errs, st.close())
		}
		r.closeErr = errors.Join(errs...)
	})
	return r.closeErr
}
