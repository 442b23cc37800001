package blobstore

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/flowcache/flowcache/core"
)

// ResultStore is a core.ResultStore over a blob bucket. It is safe for concurrent
// use, and several processes or machines may share one bucket.
type ResultStore struct {
	bucket   *blob.Bucket
	prefix   string
	name     string // what errors begin with (WithName)
	owned    bool
	checksum Checksum
	fsync    bool
	spoolDir string
	closed   atomic.Bool
}

var _ core.ResultStore = (*ResultStore)(nil)

// Option configures a ResultStore.
type Option func(*ResultStore)

// WithPrefix stores every object under prefix, which is prepended as is: use
// a trailing "/" for a folder ("flowcache/results/"). DeleteAll deletes
// everything under the prefix.
func WithPrefix(prefix string) Option { return func(s *ResultStore) { s.prefix = prefix } }

// WithName sets the name errors begin with: the package the user opened
// the cache with ("local", "mem", "s3"; "blobstore" by default).
func WithName(name string) Option { return func(s *ResultStore) { s.name = name } }

// WithOwnedBucket makes the ResultStore own the bucket: Close closes it. Without
// it the caller keeps ownership and closes the bucket itself.
func WithOwnedBucket() Option { return func(s *ResultStore) { s.owned = true } }

// WithChecksum sets the checksum algorithm of new objects (CRC32C by
// default; see the package doc). Objects written with either algorithm are
// always readable.
func WithChecksum(c Checksum) Option { return func(s *ResultStore) { s.checksum = c } }

// WithFileSync makes Put flush a result's file to stable storage before it
// is renamed into place, when the bucket is a fileblob bucket (other drivers
// ignore it). Without it a result survives a process crash but may be lost
// (never torn: the checksum catches that) in a power failure. It costs an
// fsync, milliseconds per result.
func WithFileSync() Option { return func(s *ResultStore) { s.fsync = true } }

// New returns a ResultStore over bucket. It panics if an option is invalid (an
// unknown checksum), since that is a programming error.
func New(bucket *blob.Bucket, opts ...Option) *ResultStore {
	s := &ResultStore{bucket: bucket, name: "blobstore", checksum: CRC32C}
	for _, o := range opts {
		o(s)
	}
	if s.checksum.size() == 0 {
		panic("blobstore: unknown checksum " + s.checksum.String())
	}
	return s
}

// Bucket returns the bucket the store uses.
func (s *ResultStore) Bucket() *blob.Bucket { return s.bucket }

// Key returns the name of the object holding the result id.
func (s *ResultStore) Key(id core.ResultID) string {
	v := string(id.Version)
	shard := v
	if len(v) > 2 {
		shard = v[:2]
	}
	return s.prefix + shard + "/" + v + "." + id.Format
}

// ParseKey returns the id of the result stored under key (the inverse of
// Key), or false when key is not a result's name (a temporary file, a
// foreign object).
func (s *ResultStore) ParseKey(key string) (core.ResultID, bool) {
	rest, ok := strings.CutPrefix(key, s.prefix)
	if !ok {
		return core.ResultID{}, false
	}
	_, name, ok := strings.Cut(rest, "/")
	if !ok {
		return core.ResultID{}, false
	}
	v, f, ok := strings.Cut(name, ".")
	if !ok {
		return core.ResultID{}, false
	}
	id := core.ResultID{Version: core.DataVersion(v), Format: f}
	if id.Validate() != nil || s.Key(id) != key {
		return core.ResultID{}, false
	}
	return id, true
}

func (s *ResultStore) check(op string, id core.ResultID) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: %s result %s: %w", s.name, op, id, core.ErrClosed)
	}
	return id.Validate()
}

func wrapErr(name, op string, id core.ResultID, err error) error {
	return fmt.Errorf("%s: %s result %s: %w", name, op, id, err)
}

// Exists reports whether a result is stored under id, without reading it.
func (s *ResultStore) Exists(ctx context.Context, id core.ResultID) (bool, error) {
	if err := s.check("exists", id); err != nil {
		return false, err
	}
	ok, err := s.bucket.Exists(ctx, s.Key(id))
	if err != nil {
		return false, wrapErr(s.name, "exists", id, err)
	}
	return ok, nil
}

// Delete removes the result stored under id; a missing result is not an
// error.
func (s *ResultStore) Delete(ctx context.Context, id core.ResultID) error {
	if err := s.check("delete", id); err != nil {
		return err
	}
	if err := s.bucket.Delete(ctx, s.Key(id)); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return wrapErr(s.name, "delete", id, err)
	}
	return nil
}

// DeleteAll deletes every object under the store's prefix: all results, and
// any temporary files left by writers that were killed.
func (s *ResultStore) DeleteAll(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: delete all: %w", s.name, core.ErrClosed)
	}
	it := s.bucket.List(&blob.ListOptions{Prefix: s.prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: delete all under %q: %w", s.name, s.prefix, err)
		}
		if obj.IsDir {
			continue
		}
		if err := s.bucket.Delete(ctx, obj.Key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			return fmt.Errorf("%s: delete all: object %q: %w", s.name, obj.Key, err)
		}
	}
}

// Walk calls fn for every result in the store, in the order of their object
// names, with the size of the stored object (header and trailer included).
// Objects that are not results (temporary files, foreign objects under the
// prefix) are skipped. Walk stops at the first error fn returns and returns
// it. Results written or deleted during the walk may or may not be seen.
func (s *ResultStore) Walk(ctx context.Context, fn func(id core.ResultID, size int64) error) error {
	return s.WalkResults(ctx, func(r core.ResultInfo) error { return fn(r.ID, r.Size) })
}

// Close marks the store closed and closes the bucket if the store owns it
// (WithOwnedBucket). Closing twice is not an error.
func (s *ResultStore) Close() error {
	if s.closed.Swap(true) || !s.owned {
		return nil
	}
	if err := s.bucket.Close(); err != nil {
		return fmt.Errorf("%s: close bucket: %w", s.name, err)
	}
	return nil
}

// bufPool holds the buffers between a result's writer and the blob writer.
// Formats such as gob write in many small pieces; without a buffer every
// piece would be a system call on fileblob.
var bufPool = sync.Pool{New: func() any { return bufio.NewWriterSize(io.Discard, 64<<10) }}

// smallResult is how many bytes of a result Put holds in memory before it
// opens the blob writer: a result that fits is uploaded in one request,
// conditional on the object not existing, without asking first whether it
// exists.
const smallResult = 1 << 20

// Put stores the bytes write writes under id (see the package doc for the
// protocol). It returns the number of payload bytes write wrote, 0 when the
// result already existed (write may then not have been called).
func (s *ResultStore) Put(ctx context.Context, id core.ResultID, write func(io.Writer) error) (n int64, err error) {
	if err := s.check("put", id); err != nil {
		return 0, err
	}
	// Cancelling wctx before Close is how a blob write is aborted.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lw := &lazyWriter{s: s, ctx: wctx, cancel: cancel, key: s.Key(id), limit: smallResult}
	lw.opts = &blob.WriterOptions{IfNotExist: true, ContentType: "application/octet-stream"}
	if s.fsync {
		lw.opts.BeforeWrite = func(as func(any) bool) error {
			as(&lw.file) // fileblob exposes its temporary *os.File; others do not
			return nil
		}
	}
	closed := false
	defer func() {
		if !closed { // write panicked: abort, and let the panic go on
			cancel()
			lw.abort()
		}
	}()
	abort := func(err error) (int64, error) {
		closed = true
		cancel()
		lw.abort()
		if lw.exists {
			return 0, nil // found stored once the result outgrew memory
		}
		return 0, wrapErr(s.name, "put", id, err)
	}

	buf := bufPool.Get().(*bufio.Writer)
	buf.Reset(lw)
	defer func() {
		buf.Reset(io.Discard)
		bufPool.Put(buf)
	}()
	ow := &objectWriter{w: buf, h: s.checksum.newHash(), ctx: ctx, done: ctx.Done()}
	var hdr [fixedHeader + 128]byte
	if err := ow.writeHashed(appendHeader(hdr[:0], s.checksum, string(id.Version), id.Format)); err != nil {
		return abort(err)
	}
	if err := write(ow); err != nil {
		return abort(err)
	}
	if ow.err != nil { // write swallowed an error of ours
		return abort(ow.err)
	}
	if err := ctx.Err(); err != nil {
		return abort(err)
	}
	n = ow.n
	var trailer [8 + 32]byte
	if err := ow.writeHashed(binary.LittleEndian.AppendUint64(trailer[:0], uint64(n))); err != nil {
		return abort(err)
	}
	if err := ow.writeRaw(ow.h.Sum(trailer[:0])); err != nil {
		return abort(err)
	}
	if err := buf.Flush(); err != nil {
		return abort(err)
	}
	closed = true
	err = lw.close()
	switch {
	case err == nil:
		return n, nil
	case gcerrors.Code(err) == gcerrors.FailedPrecondition:
		// IfNotExist refused: the result was stored before, or by another
		// writer meanwhile. It is content-addressed: the same content.
		return 0, nil
	case errors.Is(err, errWriterPanic):
		// The driver panics only when the service refused the upload; if
		// the object is there, it was stored before (as IfNotExist says).
		if ok, xerr := s.bucket.Exists(ctx, lw.key); xerr == nil && ok {
			return 0, nil
		}
	}
	return 0, wrapErr(s.name, "put", id, err)
}

// errStored stops a write whose result turned out to be stored already.
var errStored = errors.New("blobstore: result already stored")

// lazyWriter holds the first limit bytes of an object in memory and opens
// the blob writer only when the object outgrows them (after checking that
// the object does not exist, so a large result already stored is not
// uploaded again) or when it is closed (a small object: one conditional
// upload, no existence check).
type lazyWriter struct {
	s      *ResultStore
	ctx    context.Context
	cancel context.CancelFunc // aborts the blob write
	key    string
	opts   *blob.WriterOptions
	limit  int
	mem    []byte
	bw     *blob.Writer
	file   *os.File // fileblob's temporary file, with WithFileSync
	exists bool     // the object was found stored when it outgrew memory
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if l.bw == nil {
		if len(l.mem)+len(p) <= l.limit {
			l.mem = append(l.mem, p...)
			return len(p), nil
		}
		ok, err := l.s.bucket.Exists(l.ctx, l.key)
		if err != nil {
			return 0, err
		}
		if ok {
			l.exists = true
			return 0, errStored
		}
		if err := l.open(); err != nil {
			return 0, err
		}
	}
	return l.bw.Write(p)
}

// open opens the blob writer and hands it what memory holds. (The drivers'
// default part sizes, 5 MiB and more, exceed smallResult: a small object
// goes in one request.)
func (l *lazyWriter) open() error {
	bw, err := l.s.bucket.NewWriter(l.ctx, l.key, l.opts)
	if err != nil {
		return err
	}
	l.bw = bw
	_, err = bw.Write(l.mem)
	l.mem = nil
	return err
}

// close finishes the object: uploads it if it is still in memory, syncs
// fileblob's file when asked, and closes the writer.
func (l *lazyWriter) close() error {
	if l.bw == nil {
		if err := l.open(); err != nil {
			l.cancel()
			l.abort()
			return err
		}
	}
	if l.file != nil && l.s.fsync {
		if err := l.file.Sync(); err != nil {
			l.cancel()
			l.abort()
			return err
		}
	}
	return closeWriter(l.bw)
}

// abort closes an open writer whose context is cancelled, so nothing is
// stored.
func (l *lazyWriter) abort() {
	if l.bw != nil {
		_ = closeWriter(l.bw)
	}
}
