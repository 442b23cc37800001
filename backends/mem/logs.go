package mem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"weak"

	"github.com/flowcache/flowcache/core"
)

var _ core.LogStore = (*MetadataStore)(nil)

// runLogs holds the logs of one MetadataStore, by run.
type runLogs struct {
	mu   sync.Mutex
	runs map[core.RunID]*memLog
}

// storeLogs maps each MetadataStore to its logs. The map holds weak
// pointers, and an entry is removed when its store is garbage collected, so
// logs live exactly as long as their store.
var storeLogs = struct {
	sync.Mutex
	m map[weak.Pointer[MetadataStore]]*runLogs
}{m: map[weak.Pointer[MetadataStore]]*runLogs{}}

func (s *MetadataStore) logs() *runLogs {
	wp := weak.Make(s)
	storeLogs.Lock()
	defer storeLogs.Unlock()
	l := storeLogs.m[wp]
	if l == nil {
		l = &runLogs{runs: map[core.RunID]*memLog{}}
		storeLogs.m[wp] = l
		runtime.AddCleanup(s, func(wp weak.Pointer[MetadataStore]) {
			storeLogs.Lock()
			delete(storeLogs.m, wp)
			storeLogs.Unlock()
		}, wp)
	}
	return l
}

func (s *MetadataStore) checkLog(op string, run core.RunID) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return errClosed(op)
	}
	if _, err := core.LogName(run); err != nil {
		return fmt.Errorf("mem: %s: %w", op, err)
	}
	return nil
}

// OpenLog returns a writer appending to the in-memory log of run, which is
// readable at once (the logs live as long as the store).
func (s *MetadataStore) OpenLog(ctx context.Context, run core.RunID) (core.LogWriter, error) {
	if err := s.checkLog("open log of run "+string(run), run); err != nil {
		return nil, err
	}
	l := s.logs()
	l.mu.Lock()
	defer l.mu.Unlock()
	ml := l.runs[run]
	if ml == nil {
		ml = &memLog{}
		l.runs[run] = ml
	}
	return ml, nil
}

// ReadLog returns a copy of the log of run.
func (s *MetadataStore) ReadLog(ctx context.Context, run core.RunID) (io.ReadCloser, error) {
	op := "read log of run " + string(run)
	if err := s.checkLog(op, run); err != nil {
		return nil, err
	}
	l := s.logs()
	l.mu.Lock()
	ml := l.runs[run]
	l.mu.Unlock()
	if ml == nil {
		return nil, fmt.Errorf("mem: %s: %w", op, core.ErrNotFound)
	}
	ml.mu.Lock()
	defer ml.mu.Unlock()
	return io.NopCloser(bytes.NewReader(bytes.Clone(ml.b))), nil
}

// DeleteLog removes the log of run.
func (s *MetadataStore) DeleteLog(ctx context.Context, run core.RunID) error {
	if err := s.checkLog("delete log of run "+string(run), run); err != nil {
		return err
	}
	l := s.logs()
	l.mu.Lock()
	delete(l.runs, run)
	l.mu.Unlock()
	return nil
}

// memLog is the log of one run, and its writer.
type memLog struct {
	mu sync.Mutex
	b  []byte
}

func (m *memLog) Write(p []byte) (int, error) {
	m.mu.Lock()
	m.b = append(m.b, p...)
	m.mu.Unlock()
	return len(p), nil
}

func (*memLog) Flush(context.Context) error { return nil }
func (*memLog) Close(context.Context) error { return nil }
