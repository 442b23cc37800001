package core

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// EventType names what happened. The names are those of Hamilton's caching
// events, so its users recognise them.
type EventType string

// The event types.
const (
	EventGetDataVersion   EventType = "get_data_version"
	EventSetDataVersion   EventType = "set_data_version"
	EventGetCacheKey      EventType = "get_cache_key"
	EventSetCacheKey      EventType = "set_cache_key"
	EventGetResult        EventType = "get_result"
	EventSetResult        EventType = "set_result"
	EventMissingResult    EventType = "missing_result"
	EventExecuteNode      EventType = "execute_node"
	EventFailedExecution  EventType = "failed_execution"
	EventResolveBehavior  EventType = "resolve_behavior"
	EventUnhashable       EventType = "unhashable_data_version"
	EventIsInput          EventType = "is_input"
	EventIsOverride       EventType = "is_override"
	EventIsFinalVar       EventType = "is_final_var"
	EventCodeVersion      EventType = "code_version"
	EventFailedStoreWrite EventType = "failed_store_write"
)

// Actor is the part of the cache that emitted an event.
type Actor string

// The actors.
const (
	ActorAdapter       Actor = "adapter"
	ActorMetadataStore Actor = "metadata_store"
	ActorResultStore   Actor = "result_store"
)

// Event is one thing the cache did for one node in one run.
type Event struct {
	RunID   RunID     `json:"run_id"`
	Node    string    `json:"node"`
	Task    string    `json:"task_id,omitempty"`
	Actor   Actor     `json:"actor"`
	Type    EventType `json:"event_type"`
	Message string    `json:"msg,omitempty"`
	// Value is a detail of the event: a data version, a cache key, a
	// behaviour name, an error message.
	Value string    `json:"value,omitempty"`
	Time  time.Time `json:"timestamp"`
}

// Level returns the log level of e: Info for get_result and execute_node,
// Debug for every other event type.
func (e Event) Level() slog.Level {
	switch e.Type {
	case EventGetResult, EventExecuteNode:
		return slog.LevelInfo
	case EventFailedExecution, EventFailedStoreWrite:
		return slog.LevelWarn
	}
	return slog.LevelDebug
}

// String returns the text form node::task::actor::event_type::message,
// leaving empty parts out, e.g. "foo::result_store::get_result::hit".
func (e Event) String() string {
	var b strings.Builder
	for _, p := range [...]string{e.Node, e.Task, string(e.Actor), string(e.Type), e.Message} {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("::")
		}
		b.WriteString(p)
	}
	return b.String()
}

// runEvents holds one run's events in chunks, so that a long run's events
// are never copied to a larger array as they grow.
type runEvents struct {
	chunks [][]Event
}

const eventChunk = 512

func (r *runEvents) add(e Event) {
	n := len(r.chunks)
	if n == 0 || len(r.chunks[n-1]) == cap(r.chunks[n-1]) {
		size := eventChunk
		if n == 0 {
			size = 64 // most runs in tests and small pipelines are small
		}
		r.chunks = append(r.chunks, make([]Event, 0, size))
		n++
	}
	r.chunks[n-1] = append(r.chunks[n-1], e)
}

// all yields the events in order; a nil receiver yields none.
func (r *runEvents) all() func(yield func(Event) bool) {
	return func(yield func(Event) bool) {
		if r == nil {
			return
		}
		for _, c := range r.chunks {
			for _, e := range c {
				if !yield(e) {
					return
				}
			}
		}
	}
}

// defaultKeepRuns is how many runs' events a Cache keeps in memory: a
// long-lived process running a pipeline every minute must not grow without
// bound (about 170 bytes an event, several events a node). The log file
// keeps everything.
const defaultKeepRuns = 64

// eventLog keeps the events of every run of one Cache, in memory, and
// forwards them to a slog logger and optionally to a JSONL file.
type eventLog struct {
	logger *slog.Logger

	keep int // runs whose events are kept in memory

	mu     sync.Mutex
	order  []RunID
	byRun  map[RunID]*runEvents
	file   *os.File
	encBuf []byte
	err    error // first error writing the file
}

func newEventLog(logger *slog.Logger) *eventLog {
	return &eventLog{logger: logger, byRun: map[RunID]*runEvents{}, keep: defaultKeepRuns}
}

func (l *eventLog) openFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("flowcache: log file: %w", err)
	}
	l.file = f
	return nil
}

func (l *eventLog) add(ctx context.Context, e Event) {
	level := e.Level()
	if l.logger.Enabled(ctx, level) {
		attrs := []slog.Attr{
			slog.String("run_id", string(e.RunID)),
			slog.String("node", e.Node),
			slog.String("actor", string(e.Actor)),
			slog.String("event_type", string(e.Type)),
		}
		if e.Task != "" {
			attrs = append(attrs, slog.String("task_id", e.Task))
		}
		if e.Value != "" {
			attrs = append(attrs, slog.String("value", e.Value))
		}
		l.logger.LogAttrs(ctx, level, e.String(), attrs...)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	evs, ok := l.byRun[e.RunID]
	if !ok {
		evs = &runEvents{}
		l.byRun[e.RunID] = evs
		l.order = append(l.order, e.RunID)
		if len(l.order) > l.keep {
			delete(l.byRun, l.order[0])
			l.order = l.order[1:]
		}
	}
	evs.add(e)
	if l.file != nil && l.err == nil {
		// One write per event on an O_APPEND file: lines from several
		// processes do not interleave.
		l.encBuf = l.encBuf[:0]
		b, err := json.Marshal(e)
		if err == nil {
			l.encBuf = append(append(l.encBuf, b...), '\n')
			_, err = l.file.Write(l.encBuf)
		}
		if err != nil {
			l.err = err
			l.logger.Warn("flowcache: writing log file failed; further events are not written", "err", err)
		}
	}
}

func (l *eventLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		return nil
	}
	err := l.file.Close()
	l.file = nil
	return err
}

// events returns the events of run at or above level.
func (l *eventLog) events(level slog.Level, run RunID) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for e := range l.byRun[run].all() {
		if e.Level() >= level {
			out = append(out, e)
		}
	}
	return out
}

func (l *eventLog) runs() []RunID {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]RunID(nil), l.order...)
}

// ReadLogFile reads a JSONL log written with the LogFile option and returns
// its events in file order. A torn last line (a process killed while
// writing) is skipped.
func ReadLogFile(path string) ([]Event, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Event
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var e Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			if !strings.HasSuffix(string(b), "\n") && i == strings.Count(string(b), "\n") {
				break // torn last line
			}
			return out, fmt.Errorf("flowcache: log file %s line %d: %v", path, i+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}
