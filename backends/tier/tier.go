// Package tier puts a local directory in front of any result store — a
// bucket on S3, GCS or Azure, or mem:// in tests — so that a machine reads
// a result from the bucket once and from its own disk after that.
//
// A Store is read-through and write-through:
//
//   - Get and GetVerified read the local copy when there is one. Otherwise
//     (or when the local copy is damaged: damage is a miss) they stream the
//     result from the remote store into a local file, verified on the way
//     in as every read is (a damaged remote object stores nothing and is
//     reported as the remote store reports it), then hand it over from
//     that file, verified whole (core.VerifiedGetter). The local file is
//     the spool a remote GetVerified would have written anyway, so a miss
//     costs about what a read without the tier costs. Goroutines reading
//     one result at once download it once; the others wait for the copy.
//   - Put stores the result in the remote store — the remote stays the
//     shared truth — and, from the same bytes as they are written (the
//     value is encoded once), in the local directory.
//   - Exists asks the remote store; Delete and DeleteAll delete from both.
//
// Metadata is not tiered: entries stay in the remote metadata store, which
// every machine reads. The tier holds results only, which are
// content-addressed (a result id names its bytes): a local copy can never
// be stale, whoever wrote it, and deleting one is always safe.
//
// # Opening by URL
//
// Any store URL takes the parameters local_cache (the directory) and
// local_cache_max (its bound, DefaultMaxSize by default; a size like
// 500MB, 10GiB or a number of bytes), handled by core (see
// core.LocalCacheParam), so FLOWCACHE_URL opens a tier too:
//
//	s3://bucket/cache?region=eu-west-1&local_cache=/var/cache/flow&local_cache_max=20GiB
//
// Importing this package registers the parameters (core.RegisterTier); the
// s3, gcs and azure backends import it.
//
// # The local directory
//
// It is a cache directory of package local opened with an inline limit of
// 0: every result is a file under <dir>/results, written to a temporary
// file and renamed into place, so several processes (and several Stores)
// may share one directory and one bucket; whoever fills a result first,
// the bytes are the same. `flowcache verify <dir>` checks it; it holds no
// entries, so do not point `flowcache evict` at it (evict --gc would
// delete every result, which costs downloads, never a wrong value).
//
// # Size
//
// The directory is kept under its maximum by evicting the least recently
// used results: a local hit sets the modification time of its file (at
// most once per TouchInterval), and when the results a Store knows of
// exceed the maximum, it lists the directory (local.ResultStore's
// WalkResults) and removes the oldest files (RemoveResults) until they
// take at most 90% of it. A Store counts what it writes itself and lists
// the directory again once it wrote a tenth of the maximum, or
// RewalkInterval after the last listing, so that what other processes
// write is counted too: processes writing at once may take the directory
// past its maximum by a tenth of it each, until one of them lists it. Nothing is ever evicted
// from the remote store, and nothing needs a grace period: a reader holds
// its file open, and a result evicted before it is read is read from the
// remote again.
//
// # Faults
//
// A local fault — a directory that cannot be created or written, a full
// disk, an I/O error — never fails a read or a write: the Store uses the
// remote store alone for that call, says so once at slog.LevelWarn (later
// faults at Debug), and does not try to write the directory again for
// FaultBackoff. A directory that cannot be opened at all leaves a Store
// that passes everything to the remote store.
//
// # Capabilities
//
// Store implements core.VerifiedGetter itself and unwraps to the remote
// store (core.ResultWrapper), so core.As finds the remote's other
// capabilities: listing and removing results (maintenance sees the shared
// truth, not one machine's copies), and run logs. Reading every result
// (flowcache verify) through a URL with local_cache reads the local copies
// where there are some, and copies the others into the directory: to check
// the bucket itself, and to leave the directory's working set alone, open
// the store without local_cache.
package tier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/core"
)

// DefaultMaxSize is the size a tier directory is kept under when no
// maximum is given: 10 GiB, room for the working set of most pipelines
// (a few large inputs and intermediate tables) on any build machine's
// disk, while still far from filling it.
const DefaultMaxSize int64 = 10 << 30

// TouchInterval is how stale the last-use time of a local result may be:
// a hit sets its file's modification time only when that is older, so that
// a warm run is not a metadata write per result (Go's build cache makes the
// same trade). Least recently used is judged to this resolution.
const TouchInterval = time.Minute

// RewalkInterval is how often, at most, a Store that writes lists the
// directory again to count what other processes wrote.
const RewalkInterval = time.Minute

// FaultBackoff is how long a Store does not write its directory after a
// local write fault (a full disk, a read-only directory).
const FaultBackoff = time.Minute

// lowWater is the fraction of the maximum an eviction brings the directory
// down to, so that the next few writes do not list it again.
const lowWater = 0.9

// Store is a result store with a local directory in front of a remote
// one (see the package doc). It is safe for concurrent use.
type Store struct {
	remote   core.ResultStore
	dir      string
	max      int64
	now      func() time.Time
	clockSet bool
	logger   *slog.Logger

	local    *local.Store // nil when the directory could not be opened
	localErr error        // why local is nil

	warned    atomic.Bool
	mu        sync.Mutex
	used      int64     // bytes of local results known; -1 before the first listing
	sinceWalk int64     // bytes this Store wrote since the last listing
	lastWalk  time.Time // when the directory was last listed
	noFill    time.Time // no local writes before this time (after a write fault)
	evicting  sync.Mutex
	fillMu    sync.Mutex
	filling   map[core.ResultID]*fillCall // fills in progress
	closed    atomic.Bool
}

var (
	_ core.ResultStore    = (*Store)(nil)
	_ core.VerifiedGetter = (*Store)(nil)
	_ core.ResultWrapper  = (*Store)(nil)
)

// Option configures Open.
type Option func(*Store)

// WithMaxSize sets the size the directory is kept under (DefaultMaxSize
// by default). A size of 0 or less means DefaultMaxSize.
func WithMaxSize(n int64) Option {
	return func(s *Store) {
		if n > 0 {
			s.max = n
		}
	}
}

// WithClock sets the clock of last-use times (time.Now by default), for
// tests of eviction.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now, s.clockSet = now, true }
}

// WithLogger sets where local faults are reported (slog.Default() by
// default).
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.logger = l } }

// Open puts the directory dir (created when missing) in front of remote.
// The Store's Close closes the directory, not remote: remote belongs to
// the caller, who closes it after the Store. Open fails only when dir is
// empty; a directory that cannot be opened gives a Store that passes
// everything to remote (see LocalErr), after a warning.
func Open(ctx context.Context, dir string, remote core.ResultStore, opts ...Option) (*Store, error) {
	if dir == "" {
		return nil, fmt.Errorf("tier: %w: empty directory", core.ErrInvalid)
	}
	if remote == nil {
		return nil, fmt.Errorf("tier: %w: nil remote store", core.ErrInvalid)
	}
	s := &Store{remote: remote, dir: dir, max: DefaultMaxSize, now: time.Now, used: -1}
	for _, o := range opts {
		o(s)
	}
	st, err := local.Open(ctx, dir, local.WithInlineLimit(0))
	if err != nil {
		s.localErr = err
		s.fault("opening the directory", err)
		return s, nil
	}
	s.local = st
	if err := st.Writable(); err != nil {
		s.fault("opening the directory", err)
	}
	return s, nil
}

// Dir returns the local directory.
func (s *Store) Dir() string { return s.dir }

// MaxSize returns the size the directory is kept under.
func (s *Store) MaxSize() int64 { return s.max }

// Remote returns the remote store.
func (s *Store) Remote() core.ResultStore { return s.remote }

// Unwrap returns the remote store (core.ResultWrapper).
func (s *Store) Unwrap() core.ResultStore { return s.remote }

// Local returns the result store of the local directory, nil when it could
// not be opened (see LocalErr).
func (s *Store) Local() *local.ResultStore {
	if s.local == nil {
		return nil
	}
	return s.local.Results()
}

// LocalErr returns why the directory could not be opened, nil when it
// was.
func (s *Store) LocalErr() error { return s.localErr }

// fault reports a local fault: the first at Warn, the others at Debug.
func (s *Store) fault(what string, err error) {
	l := s.logger
	if l == nil {
		l = slog.Default()
	}
	if s.warned.CompareAndSwap(false, true) {
		l.Warn("flowcache: local tier fault: results are read from and written to the remote store alone where the tier fails (reported once)",
			"dir", s.dir, "op", what, "err", err)
		return
	}
	l.Debug("flowcache: local tier fault", "dir", s.dir, "op", what, "err", err)
}

// writeFault reports a fault writing the directory and stops writes to it
// for FaultBackoff.
func (s *Store) writeFault(what string, err error) {
	s.mu.Lock()
	s.noFill = s.now().Add(FaultBackoff)
	s.mu.Unlock()
	s.fault(what, err)
}

// writable reports whether the directory is to be written now.
func (s *Store) writable() bool {
	if s.local == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.now().Before(s.noFill)
}

// Put stores the bytes write writes under id in the remote store and, as
// they are written, in the local directory. It returns what the remote
// Put returns; a local fault only costs the local copy. When the remote
// store has the result already (Put returns 0 without calling write), the
// local copy is made by the next read.
func (s *Store) Put(ctx context.Context, id core.ResultID, write func(io.Writer) error) (int64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	if !s.writable() {
		return s.remote.Put(ctx, id, write)
	}
	var (
		pw        *io.PipeWriter
		localDone chan localPut
		writeErr  error
	)
	n, err := s.remote.Put(ctx, id, func(w io.Writer) error {
		if localDone != nil { // write called again (a retrying store): no second copy
			return write(w)
		}
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		localDone = make(chan localPut, 1)
		go func() {
			n, err := s.local.Results().Put(ctx, id, func(lw io.Writer) error {
				_, err := io.Copy(lw, pr)
				return err
			})
			// A Put that found the result stored did not read: make the
			// tee stop writing.
			pr.CloseWithError(errLocalDone)
			localDone <- localPut{n, err}
		}()
		t := &teeWriter{w: w, pw: pw}
		closed := false
		defer func() {
			if !closed { // write panicked
				pw.CloseWithError(errWriteAborted)
			}
		}()
		writeErr = write(t)
		closed = true
		if writeErr != nil {
			pw.CloseWithError(writeErr)
		} else {
			pw.Close()
		}
		return writeErr
	})
	if localDone != nil {
		lp := <-localDone
		switch {
		case err != nil || writeErr != nil:
			// The local Put was aborted with the write, or the remote one
			// failed after it: a local copy made anyway holds the right
			// bytes (ids are content-addressed), nothing to undo.
		case lp.err != nil:
			s.writeFault("storing a result", lp.err)
		case lp.n > 0:
			s.stamp(id)
			s.added(ctx, lp.n)
		}
	}
	return n, err
}

type localPut struct {
	n   int64
	err error
}

var (
	errLocalDone    = errors.New("tier: local copy done")
	errWriteAborted = errors.New("tier: write aborted")
)

// teeWriter writes to w and, while it can, to the local copy: a failing
// local write stops the copy, never the remote write.
type teeWriter struct {
	w    io.Writer
	pw   *io.PipeWriter
	dead bool
}

func (t *teeWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if !t.dead && n > 0 {
		if _, lerr := t.pw.Write(p[:n]); lerr != nil {
			t.dead = true
		}
	}
	return n, err
}

// Get opens the result stored under id, as GetVerified does: the reader it
// returns has been verified whole, which a Get reader may be.
func (s *Store) Get(ctx context.Context, id core.ResultID) (io.ReadCloser, error) {
	return s.GetVerified(ctx, id)
}

// GetVerified implements core.VerifiedGetter: it opens the local copy of
// the result, verified whole; when there is none, or it is damaged (then it
// is deleted), it streams the result from the remote store into the
// directory and opens that copy. A result missing or damaged in the remote
// store is the remote store's error (wrapping core.ErrNotFound or
// core.ErrCorrupt). On a local fault it reads the remote store alone.
func (s *Store) GetVerified(ctx context.Context, id core.ResultID) (io.ReadCloser, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if err := id.Validate(); err != nil {
		return nil, fmt.Errorf("tier: %w", err)
	}
	if s.local != nil {
		lr := s.local.Results()
		rc, err := lr.GetVerified(ctx, id)
		switch {
		case err == nil:
			s.touch(id)
			return rc, nil
		case errors.Is(err, core.ErrNotFound):
		case errors.Is(err, core.ErrCorrupt):
			// Damage is a miss: the copy goes, the remote one replaces it.
			if derr := lr.Delete(ctx, id); derr != nil {
				s.writeFault("deleting a damaged result", derr)
			}
		case ctx.Err() != nil:
			return nil, err
		default:
			s.fault("reading a result", err)
		}
		if rc, err, done := s.fillOnce(ctx, id); done {
			return rc, err
		}
	}
	return core.GetVerified(ctx, s.remote, id)
}

// fillCall is a fill in progress; done is closed when it ends.
type fillCall struct{ done chan struct{} }

// fillOnce fills id as fill does, once at a time in this Store: readers
// of a result being filled (the tasks of a fan-out reading one input) wait
// for that fill and read the local copy, instead of each downloading it.
func (s *Store) fillOnce(ctx context.Context, id core.ResultID) (rc io.ReadCloser, err error, done bool) {
	s.fillMu.Lock()
	if c, busy := s.filling[id]; busy {
		s.fillMu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, ctx.Err(), true
		}
		if rc, err := s.local.Results().GetVerified(ctx, id); err == nil {
			s.touch(id)
			return rc, nil, true
		}
		return nil, nil, false // the fill failed: read the remote store
	}
	if s.filling == nil {
		s.filling = map[core.ResultID]*fillCall{}
	}
	c := &fillCall{done: make(chan struct{})}
	s.filling[id] = c
	s.fillMu.Unlock()
	defer func() {
		s.fillMu.Lock()
		delete(s.filling, id)
		s.fillMu.Unlock()
		close(c.done)
	}()
	return s.fill(ctx, id)
}

// fill copies the result id from the remote store into the directory and
// opens the copy. done is false when a local fault prevented it (the
// caller reads the remote store alone); otherwise rc, err is the answer,
// err the remote store's when it has no good result.
func (s *Store) fill(ctx context.Context, id core.ResultID) (rc io.ReadCloser, err error, done bool) {
	if !s.writable() {
		return nil, nil, false
	}
	lr := s.local.Results()
	var remoteErr error
	n, err := lr.Put(ctx, id, func(w io.Writer) error {
		src, err := s.remote.Get(ctx, id)
		if err != nil {
			remoteErr = err
			return err
		}
		defer src.Close()
		r := &readErr{r: src}
		_, err = io.Copy(w, r)
		if r.err != nil {
			remoteErr = r.err
		}
		return err
	})
	switch {
	case remoteErr != nil:
		return nil, remoteErr, true
	case err != nil && ctx.Err() != nil:
		return nil, err, true
	case err != nil:
		s.writeFault("storing a result read from the remote store", err)
		return nil, nil, false
	}
	if n > 0 {
		s.stamp(id)
	}
	rc, err = lr.GetVerified(ctx, id)
	if err != nil {
		// Evicted or damaged in the meantime: read the remote store.
		if !errors.Is(err, core.ErrNotFound) {
			s.fault("reading a result just stored", err)
		}
		return nil, nil, false
	}
	if n > 0 {
		// After opening the copy: an eviction may remove it (a result
		// larger than the maximum), not the open file.
		s.added(ctx, n)
	}
	return rc, nil, true
}

// readErr remembers the error of the reader it wraps, to tell a remote
// read error from a local write error after io.Copy.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// Exists reports whether the remote store holds a result under id: the
// remote is the shared truth (a local copy may outlive a remote result
// evicted since).
func (s *Store) Exists(ctx context.Context, id core.ResultID) (bool, error) {
	if err := s.checkOpen(); err != nil {
		return false, err
	}
	return s.remote.Exists(ctx, id)
}

// Delete removes the result from the directory and from the remote store.
// Only the remote store's errors are returned.
func (s *Store) Delete(ctx context.Context, id core.ResultID) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if s.local != nil {
		if err := s.local.Results().Delete(ctx, id); err != nil {
			s.fault("deleting a result", err)
		}
	}
	return s.remote.Delete(ctx, id)
}

// DeleteAll removes every result from the directory and from the remote
// store. Only the remote store's errors are returned.
func (s *Store) DeleteAll(ctx context.Context) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if s.local != nil {
		if err := s.local.Results().DeleteAll(ctx); err != nil {
			s.fault("deleting every result", err)
		}
		s.mu.Lock()
		s.used = -1
		s.mu.Unlock()
	}
	return s.remote.DeleteAll(ctx)
}

// Close closes the directory. It does not close the remote store. Closing
// twice is not an error.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) || s.local == nil {
		return nil
	}
	return s.local.Close()
}

// checkOpen returns an error wrapping core.ErrClosed after Close.
func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return fmt.Errorf("tier %s: %w", s.dir, core.ErrClosed)
	}
	return nil
}

// path returns the path of the file of a local result.
func (s *Store) path(id core.ResultID) string {
	return filepath.Join(s.local.Dir(), local.ResultsDir, filepath.FromSlash(s.local.Files().Key(id)))
}

// touch marks the local result id as used now, when its mark is older than
// TouchInterval. A failure is no fault: the result is only evicted sooner.
func (s *Store) touch(id core.ResultID) {
	p := s.path(id)
	fi, err := os.Stat(p)
	if err != nil {
		return
	}
	now := s.now()
	if now.Sub(fi.ModTime()) < TouchInterval {
		return
	}
	_ = os.Chtimes(p, now, now)
}
