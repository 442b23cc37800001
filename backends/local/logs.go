package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/flowcache/flowcache/core"
)

// LogsDir is the directory, inside the cache directory, that holds the
// event log of each run written with core.WithRunLogs (driver.LogToFile("")):
// <dir>/logs/<run id>.jsonl, one event as JSON per line, appended as the
// events happen.
const LogsDir = "logs"

var _ core.LogStore = (*MetadataStore)(nil)

// logPath returns the path of the log of run, next to the database.
func (s *MetadataStore) logPath(op string, run core.RunID) (string, error) {
	if err := s.checkOpen(op); err != nil {
		return "", err
	}
	name, err := core.LogName(run)
	if err != nil {
		return "", s.fail(op, err)
	}
	return filepath.Join(filepath.Dir(s.path), LogsDir, name), nil
}

// OpenLog opens the log of run for appending, creating it (and the logs
// directory) when missing. Every Write is one write to a file opened with
// O_APPEND, readable at once; Flush does nothing and Close closes the file.
// A crash loses no event that Write returned.
func (s *MetadataStore) OpenLog(ctx context.Context, run core.RunID) (core.LogWriter, error) {
	op := "open log of run " + string(run)
	path, err := s.logPath(op, run)
	if err != nil {
		return nil, err
	}
	if s.readOnly != nil {
		return nil, s.fail(op, s.readOnly)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return nil, s.fail(op, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, s.fail(op, err)
	}
	return fileLog{f}, nil
}

// ReadLog opens the log of run.
func (s *MetadataStore) ReadLog(ctx context.Context, run core.RunID) (io.ReadCloser, error) {
	op := "read log of run " + string(run)
	path, err := s.logPath(op, run)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, s.fail(op, fmt.Errorf("%w: no file %s", core.ErrNotFound, path))
	}
	if err != nil {
		return nil, s.fail(op, err)
	}
	return f, nil
}

// DeleteLog removes the log of run.
func (s *MetadataStore) DeleteLog(ctx context.Context, run core.RunID) error {
	op := "delete log of run " + string(run)
	path, err := s.logPath(op, run)
	if err != nil {
		return err
	}
	if s.readOnly != nil {
		return s.fail(op, s.readOnly)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s.fail(op, err)
	}
	return nil
}

// fileLog is a core.LogWriter over a file opened for appending.
type fileLog struct{ f *os.File }

func (l fileLog) Write(p []byte) (int, error) { return l.f.Write(p) }
func (fileLog) Flush(context.Context) error   { return nil }
func (l fileLog) Close(context.Context) error { return l.f.Close() }
