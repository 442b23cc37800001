package conformance

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
)

// OpTimeout bounds every call the suites make to a store's base interface
// (core.MetadataStore, core.ResultStore, and core.GetVerified) and every
// Read of a result reader: a call that has not returned by then fails the
// test with the operation and the key named, instead of hanging it. The
// call's context carries the same deadline. It is the -op-timeout flag of
// a test binary that imports the package (`go test -args -op-timeout=2m`).
// The optional capabilities (EntryWalker, Preloader, EntryRemover, ...)
// are called on the store itself, found through Unwrap, and are not bounded.
// The default is 30 s, and 2 minutes in a binary built with the race
// detector, which slows a store several times (CI saw the 100 MB Put of
// the results suite take over 30 s under -race on a loaded machine).
var OpTimeout = defaultOpTimeout()

func defaultOpTimeout() time.Duration {
	if raceEnabled {
		return 2 * time.Minute
	}
	return 30 * time.Second
}

// maxEmptyReads is how many Reads in a row may return (0, nil) before the
// suites fail the reader (io.Reader discourages them; a reader that returns
// them forever would make io.ReadAll spin). bufio allows 100 too.
const maxEmptyReads = 100

func init() {
	flag.DurationVar(&OpTimeout, "op-timeout", OpTimeout, "conformance: the longest a store operation of the suites may take before the test fails naming it")
}

// timed runs fn with a context bounded by OpTimeout and waits for it at
// most that long. When the deadline passes, t fails with what named and
// the returned error wraps context.DeadlineExceeded; fn keeps running (in
// its goroutine) if it does not heed its context.
func timed(t testing.TB, ctx context.Context, what string, fn func(ctx context.Context) error) error {
	t.Helper()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, OpTimeout)
	defer cancel()
	ok, err := wait(ctx, fn)
	// A deadline of the caller's own is the caller's business.
	if ok && (!errors.Is(err, context.DeadlineExceeded) || parent.Err() != nil || !errors.Is(ctx.Err(), context.DeadlineExceeded)) {
		return err
	}
	return timedOut(t, what)
}

// wait runs fn(ctx) and waits for it at most OpTimeout; ok is false when
// it did not return in time.
func wait(ctx context.Context, fn func(ctx context.Context) error) (ok bool, err error) {
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	timer := time.NewTimer(OpTimeout)
	defer timer.Stop()
	select {
	case err = <-done:
		return true, err
	case <-timer.C:
		return false, nil
	}
}

// timedOut fails t for the operation what and returns the error to
// return from it.
func timedOut(t testing.TB, what string) error {
	t.Helper()
	err := fmt.Errorf("%s did not return within %v (-op-timeout): %w", what, OpTimeout, context.DeadlineExceeded)
	t.Errorf("%v", err)
	return err
}

// timedMetadata is the metadata store the suite calls: every base method
// under OpTimeout.
type timedMetadata struct {
	t testing.TB
	s core.MetadataStore
}

func (m *timedMetadata) Unwrap() core.MetadataStore { return m.s }

func (m *timedMetadata) BeginRun(ctx context.Context, run core.RunInfo) error {
	return timed(m.t, ctx, fmt.Sprintf("BeginRun(%s)", run.ID), func(ctx context.Context) error {
		return m.s.BeginRun(ctx, run)
	})
}

func (m *timedMetadata) Get(ctx context.Context, id core.KeyID) (e core.Entry, err error) {
	err = timed(m.t, ctx, fmt.Sprintf("Get(%s)", id), func(ctx context.Context) (err error) {
		e, err = m.s.Get(ctx, id)
		return err
	})
	return e, err
}

func (m *timedMetadata) Write(ctx context.Context, b core.Batch) error {
	return timed(m.t, ctx, fmt.Sprintf("Write(a batch of %d entries, %d hits, %d records of run %q)", len(b.Entries), len(b.Hits), len(b.Records), b.Run), func(ctx context.Context) error {
		return m.s.Write(ctx, b)
	})
}

func (m *timedMetadata) Delete(ctx context.Context, id core.KeyID) error {
	return timed(m.t, ctx, fmt.Sprintf("Delete(%s)", id), func(ctx context.Context) error { return m.s.Delete(ctx, id) })
}

func (m *timedMetadata) DeleteAll(ctx context.Context) error {
	return timed(m.t, ctx, "DeleteAll", m.s.DeleteAll)
}

func (m *timedMetadata) Runs(ctx context.Context) (runs []core.RunInfo, err error) {
	err = timed(m.t, ctx, "Runs", func(ctx context.Context) (err error) {
		runs, err = m.s.Runs(ctx)
		return err
	})
	return runs, err
}

func (m *timedMetadata) Run(ctx context.Context, run core.RunID) (recs []core.NodeRecord, err error) {
	err = timed(m.t, ctx, fmt.Sprintf("Run(%s)", run), func(ctx context.Context) (err error) {
		recs, err = m.s.Run(ctx, run)
		return err
	})
	return recs, err
}

func (m *timedMetadata) Close() error {
	return timed(m.t, context.Background(), "Close of the metadata store", func(context.Context) error { return m.s.Close() })
}

// timedResults is the result store the suite calls: every base method, and
// every Read of the readers it returns, under OpTimeout.
type timedResults struct {
	t testing.TB
	s core.ResultStore
}

func (r *timedResults) Unwrap() core.ResultStore { return r.s }

func (r *timedResults) Put(ctx context.Context, id core.ResultID, write func(io.Writer) error) (n int64, err error) {
	err = timed(r.t, ctx, fmt.Sprintf("Put(%s)", id), func(ctx context.Context) (err error) {
		n, err = r.s.Put(ctx, id, write)
		return err
	})
	return n, err
}

func (r *timedResults) Get(ctx context.Context, id core.ResultID) (io.ReadCloser, error) {
	return r.open(ctx, "Get", id, r.s.Get)
}

// GetVerified is core.GetVerified on the store, bounded (the wrapper has
// the capability whether the store has it or not: core.GetVerified does the
// same for both).
func (r *timedResults) GetVerified(ctx context.Context, id core.ResultID) (io.ReadCloser, error) {
	return r.open(ctx, "GetVerified", id, func(ctx context.Context, id core.ResultID) (io.ReadCloser, error) {
		return core.GetVerified(ctx, r.s, id)
	})
}

// open opens a reader with get, waiting at most OpTimeout; the reader's
// context (which its reads may use) has no deadline and is cancelled when
// the reader is closed.
func (r *timedResults) open(ctx context.Context, op string, id core.ResultID, get func(context.Context, core.ResultID) (io.ReadCloser, error)) (io.ReadCloser, error) {
	what := fmt.Sprintf("%s(%s)", op, id)
	ctx, cancel := context.WithCancel(ctx)
	var rc io.ReadCloser
	ok, err := wait(ctx, func(ctx context.Context) (err error) {
		rc, err = get(ctx, id)
		return err
	})
	if !ok {
		cancel()
		return nil, timedOut(r.t, what)
	}
	if err != nil {
		cancel()
		return nil, err
	}
	return &timedReader{t: r.t, rc: rc, what: what, cancel: cancel}, nil
}

func (r *timedResults) Exists(ctx context.Context, id core.ResultID) (ok bool, err error) {
	err = timed(r.t, ctx, fmt.Sprintf("Exists(%s)", id), func(ctx context.Context) (err error) {
		ok, err = r.s.Exists(ctx, id)
		return err
	})
	return ok, err
}

func (r *timedResults) Delete(ctx context.Context, id core.ResultID) error {
	return timed(r.t, ctx, fmt.Sprintf("Delete(%s)", id), func(ctx context.Context) error { return r.s.Delete(ctx, id) })
}

func (r *timedResults) DeleteAll(ctx context.Context) error {
	return timed(r.t, ctx, "DeleteAll", r.s.DeleteAll)
}

func (r *timedResults) Close() error {
	return timed(r.t, context.Background(), "Close of the result store", func(context.Context) error { return r.s.Close() })
}

// timedReader bounds every Read and Close of a result reader by OpTimeout,
// and fails a reader that makes no progress: maxEmptyReads reads in a row
// returning (0, nil). After a Read times out, the buffer it was given
// belongs to the hung Read.
type timedReader struct {
	t      testing.TB
	rc     io.ReadCloser
	what   string
	empty  int
	cancel context.CancelFunc
}

func (r *timedReader) Read(p []byte) (n int, err error) {
	err = timed(r.t, context.Background(), "Read of "+r.what, func(context.Context) (err error) {
		n, err = r.rc.Read(p)
		return err
	})
	if n > 0 || err != nil || len(p) == 0 {
		r.empty = 0
		return n, err
	}
	if r.empty++; r.empty >= maxEmptyReads {
		err := fmt.Errorf("Read of %s returned (0, nil) %d times in a row: %w", r.what, r.empty, io.ErrNoProgress)
		r.t.Errorf("%v", err)
		return 0, err
	}
	return 0, nil
}

func (r *timedReader) Close() error {
	defer r.cancel()
	return timed(r.t, context.Background(), "Close of the reader of "+r.what, func(context.Context) error { return r.rc.Close() })
}

// timeMetadata returns s with its calls bounded by OpTimeout, failing t.
func timeMetadata(t testing.TB, s core.MetadataStore) core.MetadataStore {
	return &timedMetadata{t: t, s: s}
}

// timeResults returns s with its calls bounded by OpTimeout, failing t.
func timeResults(t testing.TB, s core.ResultStore) core.ResultStore {
	return &timedResults{t: t, s: s}
}
