package blobstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/flowcache/flowcache/core"
)

// LogUploadInterval is the least time between two uploads of a run's log at
// flush points: every upload sends the whole log, so uploading at every
// flush (every second by default) would cost a long run's log size many
// times over. The end of a run always uploads.
const LogUploadInterval = 5 * time.Second

var _ core.LogStore = (*ResultStore)(nil)

// LogPrefix returns the prefix of the run logs' objects: a sibling of the
// results' prefix when that ends in a "results/" folder ("cache/results/"
// gives "cache/logs/", "results/" gives "logs/"), and otherwise the folder
// "logs/" under it ("" gives "logs/", "cache/" gives "cache/logs/"). A log's
// name never parses as a result's, so Walk skips logs either way; DeleteAll
// deletes them in the second case only.
func (s *ResultStore) LogPrefix() string {
	if s.prefix == "results/" {
		return "logs/"
	}
	if base, ok := strings.CutSuffix(s.prefix, "/results/"); ok {
		return base + "/logs/"
	}
	return s.prefix + "logs/"
}

// LogKey returns the name of the object holding the log of run.
func (s *ResultStore) LogKey(run core.RunID) (string, error) {
	name, err := core.LogName(run)
	if err != nil {
		return "", err
	}
	return s.LogPrefix() + name, nil
}

func (s *ResultStore) logKey(op string, run core.RunID) (string, error) {
	if s.closed.Load() {
		return "", fmt.Errorf("%s: %s: %w", s.name, op, core.ErrClosed)
	}
	key, err := s.LogKey(run)
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", s.name, op, err)
	}
	return key, nil
}

// OpenLog returns a writer for the event log of run (core.LogStore, used by
// core.WithRunLogs and driver.LogToFile("")). The log is one object,
// LogKey(run), beside the results (see LogPrefix). A bucket cannot append
// to an object, so the events go, as they happen, to a spool file in
// os.TempDir(), which is uploaded whole: at the run's flush points once
// LogUploadInterval has passed since the last upload, and when the run
// ends (Close). Any process can then read the log of any run from the
// bucket (ReadLog, core.ReadRunLog). A process that crashes leaves the log
// as last uploaded, and its spool file behind.
func (s *ResultStore) OpenLog(ctx context.Context, run core.RunID) (core.LogWriter, error) {
	op := "open log of run " + string(run)
	key, err := s.logKey(op, run)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp("", "flowcache-log-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("%s: %s: spool file: %w", s.name, op, err)
	}
	return &blobLog{bucket: s.bucket, name: s.name, key: key, f: f, w: bufio.NewWriterSize(f, 32<<10), opened: time.Now()}, nil
}

// ReadLog opens the log of run as last uploaded.
func (s *ResultStore) ReadLog(ctx context.Context, run core.RunID) (io.ReadCloser, error) {
	op := "read log of run " + string(run)
	key, err := s.logKey(op, run)
	if err != nil {
		return nil, err
	}
	r, err := s.bucket.NewReader(ctx, key, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("%s: %s: object %q: %w", s.name, op, key, core.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s: object %q: %w", s.name, op, key, err)
	}
	return r, nil
}

// DeleteLog deletes the log of run.
func (s *ResultStore) DeleteLog(ctx context.Context, run core.RunID) error {
	op := "delete log of run " + string(run)
	key, err := s.logKey(op, run)
	if err != nil {
		return err
	}
	if err := s.bucket.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("%s: %s: object %q: %w", s.name, op, key, err)
	}
	return nil
}

// blobLog spools one run's log to a file and uploads it.
type blobLog struct {
	bucket *blob.Bucket
	name   string // what errors begin with
	key    string
	opened time.Time

	mu      sync.Mutex // guards the fields below, never held while uploading
	f       *os.File
	w       *bufio.Writer
	written int64 // bytes given to w
	err     error // first error writing the spool file
	closed  bool

	upMu     sync.Mutex // serialises uploads; guards the fields below
	uploaded int64      // bytes of the spool file in the last upload
	lastUp   time.Time  // time of the last upload, zero before the first
}

func (l *blobLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, fmt.Errorf("%s: log %q: %w", l.name, l.key, core.ErrClosed)
	}
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.w.Write(p)
	l.written += int64(n)
	if err != nil {
		l.err = fmt.Errorf("%s: log %q: spool file: %w", l.name, l.key, err)
		return n, l.err
	}
	return n, nil
}

// Flush uploads the log when LogUploadInterval has passed since the last
// upload (or the opening) and something was written since.
func (l *blobLog) Flush(ctx context.Context) error {
	l.upMu.Lock()
	defer l.upMu.Unlock()
	last := l.lastUp
	if last.IsZero() {
		last = l.opened
	}
	if time.Since(last) < LogUploadInterval {
		return nil
	}
	return l.uploadLocked(ctx, false)
}

// Close uploads the whole log and removes the spool file.
func (l *blobLog) Close(ctx context.Context) error {
	l.upMu.Lock()
	defer l.upMu.Unlock()
	err := l.uploadLocked(ctx, true)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return errors.Join(err, l.f.Close(), os.Remove(l.f.Name()))
}

// uploadLocked sends the spool file, as written so far, as the log's
// object; l.upMu is held. It does not block Write: the file only grows, and
// the upload reads the part written before it started. After a failed
// spool write nothing more is uploaded: the object keeps the last whole
// log rather than a torn one.
func (l *blobLog) uploadLocked(ctx context.Context, final bool) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	if l.err == nil {
		if err := l.w.Flush(); err != nil {
			l.err = fmt.Errorf("%s: log %q: spool file: %w", l.name, l.key, err)
		}
	}
	n, err := l.written, l.err
	l.mu.Unlock()
	if err != nil {
		return err
	}
	if l.lastUp.IsZero() && n == 0 && !final {
		return nil
	}
	if !l.lastUp.IsZero() && n == l.uploaded {
		return nil
	}
	err = l.bucket.Upload(ctx, l.key, io.NewSectionReader(l.f, 0, n), &blob.WriterOptions{ContentType: "application/x-ndjson"})
	if err != nil {
		return fmt.Errorf("%s: upload log %q: %w", l.name, l.key, err)
	}
	l.uploaded, l.lastUp = n, time.Now()
	return nil
}
