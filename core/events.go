package core

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	// EventCacheFault says that a part of the cache failed and what the run
	// does without it (its message), with the error (its value): once per
	// run and part (see Run.Faults), at slog.LevelWarn.
	EventCacheFault EventType = "cache_fault"
	// EventCacheFaultSummary says, at the end of a run whose cache failed
	// more often than its cache_fault events said (a part failed more than
	// once), at slog.LevelWarn: how often each part failed, for which
	// nodes, the first error and how to fix its cause where that is known
	// (a full disk, a read-only directory, a value the format cannot
	// store). Its message is the summary.
	EventCacheFaultSummary EventType = "cache_fault_summary"
	// EventLeaseWait says that a node's lease is held by another run (its
	// value: the holder, and until when), which this run waits for instead
	// of executing the node (see WithLeases); at slog.LevelInfo, once per
	// holder.
	EventLeaseWait EventType = "lease_wait"
	// EventLeaseTakeover says that a run took over the lease of a node
	// whose holder (the value) let it expire without storing the node:
	// killed, or on a lost machine. At slog.LevelWarn.
	EventLeaseTakeover EventType = "lease_takeover"
)

// EventMessage is the message of an event: what the event type's step
// found or did. The messages core emits are the constants below; a few
// events carry a message made for people instead (a cache_fault says what
// the run does without the failing part, a fan-out's set_data_version says
// "N items", a disabled or ignored node's set_data_version names its
// behaviour). Compare with the constants, not with string literals.
type EventMessage string

// The event messages, with the event types that carry them.
const (
	// MessageHit: get_result (adapter) and get_data_version
	// (metadata_store): the node's cache key was found; it is retrieved.
	MessageHit EventMessage = "hit"
	// MessageMiss: get_result (adapter): the node is executed; from the
	// result_store, its stored result could not be read (Value says why).
	// get_data_version (metadata_store): the key is not stored.
	MessageMiss EventMessage = "miss"
	// MessageError: get_data_version (metadata_store): the lookup failed.
	MessageError EventMessage = "error"
	// MessageLoaded: get_result (result_store): a retrieved result was read.
	MessageLoaded EventMessage = "loaded"
	// MessageStored: set_result (result_store): the result was written.
	MessageStored EventMessage = "stored"
	// MessageExists: set_result (result_store): an equal result was
	// already stored (results are content-addressed), as far as the
	// result store could tell (see ResultStore.Put).
	MessageExists EventMessage = "exists"
	// MessageItem: set_data_version (adapter): an item of a fan-out.
	MessageItem EventMessage = "item"
	// MessageExpand: resolve_behavior (adapter): a fan-out node, always
	// executed.
	MessageExpand EventMessage = "expand"
	// MessageUnhashable: unhashable_data_version (adapter).
	MessageUnhashable EventMessage = "unhashable"
	// MessageFallback: code_version (adapter): the node's code version was
	// not derived from its source (Value says why).
	MessageFallback EventMessage = "fallback"
	// MessageManifest: code_version (adapter): a code manifest was stored.
	MessageManifest EventMessage = "manifest"
	// MessageManifestsSkipped: code_version (adapter): code versions left
	// undescribed (Value says why).
	MessageManifestsSkipped EventMessage = "manifests skipped"
	// MessagePreloadFailed: get_data_version (metadata_store): reading the
	// run's entries in one request failed; lookups go one by one.
	MessagePreloadFailed EventMessage = "preload failed"
	// The failed_store_write messages name the write that failed.
	MessageSetResult     EventMessage = "set_result"            // a node's result
	MessageDeleteDamaged EventMessage = "delete damaged result" // removing a damaged result
	MessageFlush         EventMessage = "flush"                 // the result store's flush
	MessageWrite         EventMessage = "write"                 // a metadata batch
	MessageCodeManifest  EventMessage = "code manifest"         // code manifests
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
	RunID   RunID        `json:"run_id"`
	Node    string       `json:"node"`
	Task    string       `json:"task_id,omitempty"`
	Actor   Actor        `json:"actor"`
	Type    EventType    `json:"event_type"`
	Message EventMessage `json:"msg,omitempty"`
	// Value is a detail of the event: a data version, a cache key, a
	// behaviour name, an error message.
	Value string    `json:"value,omitempty"`
	Time  time.Time `json:"timestamp"`
}

// Level returns the log level of e: Warn for cache_fault and
// cache_fault_summary; Info for
// get_result, execute_node, failed_execution and failed_store_write; Debug
// for every other event type.
//
// A node's failure is the run's error, and a store write that failed for
// one node is one of many: neither is a warning of its own. What a failing
// store means for the run is said once, by cache_fault.
func (e Event) Level() slog.Level {
	switch e.Type {
	case EventCacheFault, EventCacheFaultSummary, EventLeaseTakeover:
		return slog.LevelWarn
	case EventGetResult, EventExecuteNode, EventFailedExecution, EventFailedStoreWrite, EventLeaseWait:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// String returns the text form node::task::actor::event_type::message,
// leaving empty parts out, e.g. "foo::result_store::get_result::hit".
func (e Event) String() string {
	var b strings.Builder
	for _, p := range [...]string{e.Node, e.Task, string(e.Actor), string(e.Type), string(e.Message)} {
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

// storedEvent is an event as a Cache keeps it in memory: its run is that of
// the runEvents holding it, its actor and type are codes (see eventCodes),
// a lookup's four events (resolve_behavior, get_cache_key, get_data_version
// and get_result, hit or miss: see emitLookup) are one storedEvent, and so
// are a stored result's two (set_result and set_cache_key, see
// finishStore). A warm run of a thousand nodes keeps a thousand of these, 96
// bytes each, where it kept four thousand Events of 136 bytes: building and
// keeping them was a third of a hit's cost in a fresh process.
type storedEvent struct {
	node, task string
	// msg and value are the event's; a lookup's and a stored result's
	// are its cache key id and the data version (found, "" for a miss;
	// stored).
	msg, value string
	time       time.Time
	// raw is, for an event whose actor or type has no code (none of core's
	// own), its index in runEvents.raw.
	raw        int32
	actor, typ uint8
	kind       uint8 // evOne, evHit, evMiss or evStored
	// behavior is a lookup's behaviour (a lookup is Default's: see
	// Run.node); for a stored result, 1 when its result existed already
	// (set_result's message is exists, else stored).
	behavior uint8
}

// The kinds of storedEvent.
const (
	evOne    = iota // one event
	evHit           // a lookup's four events, hit
	evMiss          // a lookup's four events, the key not stored
	evStored        // a stored result's two events
)

// eventActors and eventTypes are the codes of storedEvent: an actor's or a
// type's index. The tests check that every event type and actor declared
// above is here.
var (
	eventActors = [...]Actor{ActorAdapter, ActorMetadataStore, ActorResultStore}
	eventTypes  = [...]EventType{
		EventGetDataVersion, EventSetDataVersion, EventGetCacheKey, EventSetCacheKey,
		EventGetResult, EventSetResult, EventMissingResult, EventExecuteNode,
		EventFailedExecution, EventResolveBehavior, EventUnhashable, EventIsInput,
		EventIsOverride, EventIsFinalVar, EventCodeVersion, EventFailedStoreWrite,
		EventCacheFault, EventCacheFaultSummary, EventLeaseWait, EventLeaseTakeover,
	}
)

func actorCode(a Actor) (uint8, bool) {
	for i, x := range eventActors {
		if x == a {
			return uint8(i), true
		}
	}
	return 0, false
}

func typeCode(t EventType) (uint8, bool) {
	for i, x := range eventTypes {
		if x == t {
			return uint8(i), true
		}
	}
	return 0, false
}

// runEvents holds one run's events in chunks, so that a long run's events
// are never copied to a larger array as they grow.
type runEvents struct {
	run    RunID
	chunks [][]storedEvent
	raw    []Event // events without codes (see storedEvent.raw)
}

const eventChunk = 512

func (r *runEvents) add(e Event) {
	se := storedEvent{node: e.Node, task: e.Task, msg: string(e.Message), value: e.Value, time: e.Time, raw: -1}
	a, okA := actorCode(e.Actor)
	t, okT := typeCode(e.Type)
	if okA && okT {
		se.actor, se.typ = a, t
	} else {
		se.raw = int32(len(r.raw))
		r.raw = append(r.raw, e)
	}
	r.store(se)
}

func (r *runEvents) store(se storedEvent) {
	n := len(r.chunks)
	if n == 0 || len(r.chunks[n-1]) == cap(r.chunks[n-1]) {
		size := eventChunk
		if n == 0 {
			size = 64 // most runs in tests and small pipelines are small
		}
		r.chunks = append(r.chunks, make([]storedEvent, 0, size))
		n++
	}
	r.chunks[n-1] = append(r.chunks[n-1], se)
}

// lookupEvent is the storedEvent of a lookup's four events (see emitLookup).
func lookupEvent(node, task string, b Behavior, id KeyID, dv DataVersion, hit bool, at time.Time) storedEvent {
	kind := uint8(evMiss)
	if hit {
		kind = evHit
	}
	return storedEvent{node: node, task: task, msg: string(id), value: string(dv), time: at, raw: -1, kind: kind, behavior: uint8(b)}
}

// storedResultEvent is the storedEvent of a stored result's two events:
// set_result, msg MessageStored or MessageExists, and set_cache_key.
func storedResultEvent(node, task string, msg EventMessage, id KeyID, dv DataVersion, at time.Time) storedEvent {
	exists := uint8(0)
	if msg == MessageExists {
		exists = 1
	}
	return storedEvent{node: node, task: task, msg: string(id), value: string(dv), time: at, raw: -1, kind: evStored, behavior: exists}
}

// expand returns the events of run's compact event se (a lookup's four, a
// stored result's two), in buf: the one place that says what they are,
// whether they are kept as one or emitted one by one.
func (se *storedEvent) expand(run RunID, buf *[4]Event) []Event {
	base := Event{RunID: run, Node: se.node, Task: se.task, Actor: ActorAdapter, Time: se.time}
	if se.kind == evStored {
		evs := buf[:2]
		evs[0], evs[1] = base, base
		msg := MessageStored
		if se.behavior == 1 {
			msg = MessageExists
		}
		evs[0].Actor, evs[0].Type, evs[0].Message, evs[0].Value = ActorResultStore, EventSetResult, msg, se.value
		evs[1].Actor, evs[1].Type, evs[1].Value = ActorMetadataStore, EventSetCacheKey, se.msg
		return evs
	}
	evs := buf[:]
	for i := range evs {
		evs[i] = base
	}
	msg := MessageHit
	if se.kind == evMiss {
		msg = MessageMiss
	}
	evs[0].Type, evs[0].Value = EventResolveBehavior, Behavior(se.behavior).String()
	evs[1].Type, evs[1].Value = EventGetCacheKey, se.msg
	evs[2].Actor, evs[2].Type, evs[2].Message, evs[2].Value = ActorMetadataStore, EventGetDataVersion, msg, se.value
	evs[3].Type, evs[3].Message, evs[3].Value = EventGetResult, msg, se.value
	return evs
}

// all yields the events in order; a nil receiver yields none.
func (r *runEvents) all() func(yield func(Event) bool) {
	return func(yield func(Event) bool) {
		if r == nil {
			return
		}
		for _, c := range r.chunks {
			for i := range c {
				se := &c[i]
				switch {
				case se.kind != evOne:
					var buf [4]Event
					for _, e := range se.expand(r.run, &buf) {
						if !yield(e) {
							return
						}
					}
				case se.raw >= 0:
					if !yield(r.raw[se.raw]) {
						return
					}
				default:
					e := Event{RunID: r.run, Node: se.node, Task: se.task, Actor: eventActors[se.actor], Type: eventTypes[se.typ],
						Message: EventMessage(se.msg), Value: se.value, Time: se.time}
					if !yield(e) {
						return
					}
				}
			}
		}
	}
}

// defaultKeepRuns is how many runs' events a Cache keeps in memory: a
// long-lived process running a pipeline every minute must not grow without
// bound (about 100 bytes an event and its strings, several events an executed
// node, one for the four of a lookup: see storedEvent). The log file
// keeps everything.
const defaultKeepRuns = 64

// eventLog keeps the events of every run of one Cache, in memory, and
// forwards them to a slog logger, optionally to a JSONL file, and optionally
// to each run's log in a LogStore.
type eventLog struct {
	logger *slog.Logger

	keep int // runs whose events are kept in memory

	// store keeps each run's log (WithRunLogs), or nil.
	store LogStore

	mu     sync.Mutex
	order  []RunID
	byRun  map[RunID]*runEvents
	file   *os.File
	encBuf []byte
	err    error // first error writing the file
	// runLogs are the open writers of the runs in progress (WithRunLogs).
	runLogs map[RunID]*runLog
}

// runLog is the writer of one run's log in the LogStore.
type runLog struct {
	w   LogWriter
	err error // first error writing; the rest of the run's events are not written
}

func newEventLog(logger *slog.Logger) *eventLog {
	return &eventLog{logger: logger, byRun: map[RunID]*runEvents{}, keep: defaultKeepRuns, runLogs: map[RunID]*runLog{}}
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
		msg := e.String()
		switch e.Type {
		case EventCacheFault:
			// Read by people who may not know flowcache's event names.
			msg = "flowcache: " + string(e.Message)
			attrs = append(attrs[:1], slog.String("error", e.Value), slog.String("actor", string(e.Actor)), slog.String("event_type", string(e.Type)))
		case EventCacheFaultSummary:
			msg = "flowcache: " + string(e.Message)
			attrs = append(attrs[:1], slog.String("event_type", string(e.Type)))
		}
		l.logger.LogAttrs(ctx, level, msg, attrs...)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.runEvents(e.RunID).add(e)
	rl := l.runLogs[e.RunID]
	if (l.file == nil || l.err != nil) && (rl == nil || rl.err != nil) {
		return
	}
	l.encBuf = l.encBuf[:0]
	b, err := json.Marshal(e)
	if err != nil {
		return // an Event holds only strings and a time: not reached
	}
	l.encBuf = append(append(l.encBuf, b...), '\n')
	if l.file != nil && l.err == nil {
		// One write per event on an O_APPEND file: lines from several
		// processes do not interleave.
		if _, err := l.file.Write(l.encBuf); err != nil {
			l.err = err
			l.logger.Warn("flowcache: writing log file failed; further events are not written", "err", err)
		}
	}
	if rl != nil && rl.err == nil {
		if _, err := rl.w.Write(l.encBuf); err != nil {
			rl.err = err
			l.logger.Warn("flowcache: writing the run's log failed; further events of the run are not written", "run_id", string(e.RunID), "err", err)
		}
	}
}

// runEvents returns the events kept of run, keeping a new run's (and
// forgetting the oldest run's when more than l.keep are kept). l.mu is held.
func (l *eventLog) runEvents(run RunID) *runEvents {
	evs, ok := l.byRun[run]
	if !ok {
		evs = &runEvents{run: run}
		l.byRun[run] = evs
		l.order = append(l.order, run)
		if len(l.order) > l.keep {
			delete(l.byRun, l.order[0])
			l.order = l.order[1:]
		}
	}
	return evs
}

// addCompact keeps the events of a lookup or a stored result (see
// emitCompact) as one, unless something else wants each of them now: a
// logger enabled at their levels (Info or Debug), the log file or the run's
// log. It reports whether it kept them; if not, the caller emits them one by
// one.
func (l *eventLog) addCompact(ctx context.Context, run RunID, se storedEvent) bool {
	if l.logger.Enabled(ctx, slog.LevelDebug) || l.logger.Enabled(ctx, slog.LevelInfo) {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil && l.err == nil {
		return false
	}
	if rl := l.runLogs[run]; rl != nil && rl.err == nil {
		return false
	}
	l.runEvents(run).store(se)
	return true
}

// openRun opens the log of a run in the LogStore, when there is one. The
// run goes on without a stored log when it fails; the caller reports the
// error.
func (l *eventLog) openRun(ctx context.Context, run RunID) error {
	if l.store == nil {
		return nil
	}
	w, err := l.store.OpenLog(ctx, run)
	if err != nil {
		return fmt.Errorf("flowcache: opening the log of run %s: %w", run, err)
	}
	l.mu.Lock()
	l.runLogs[run] = &runLog{w: w}
	l.mu.Unlock()
	return nil
}

// flushRun publishes what the run's log holds (see LogWriter.Flush).
func (l *eventLog) flushRun(ctx context.Context, run RunID) error {
	l.mu.Lock()
	rl := l.runLogs[run]
	l.mu.Unlock()
	if rl == nil {
		return nil
	}
	// Without the lock: a remote store may upload here, while the run's
	// other goroutines go on emitting events (LogWriter is safe for that).
	if err := rl.w.Flush(ctx); err != nil {
		return fmt.Errorf("flowcache: log of run %s: %w", run, err)
	}
	return nil
}

// closeRun closes the run's log; later events of the run are kept in memory
// only.
func (l *eventLog) closeRun(ctx context.Context, run RunID) error {
	l.mu.Lock()
	rl := l.runLogs[run]
	delete(l.runLogs, run)
	l.mu.Unlock()
	if rl == nil {
		return nil
	}
	if err := rl.w.Close(ctx); err != nil {
		return fmt.Errorf("flowcache: log of run %s: %w", run, err)
	}
	return nil
}

func (l *eventLog) close() error {
	l.mu.Lock()
	runs := make([]RunID, 0, len(l.runLogs))
	for id := range l.runLogs {
		runs = append(runs, id)
	}
	l.mu.Unlock()
	var errs []error
	for _, id := range runs {
		errs = append(errs, l.closeRun(context.Background(), id))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		errs = append(errs, l.file.Close())
		l.file = nil
	}
	return errors.Join(errs...)
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

// ReadLogFile reads a JSONL log written with the WithLogFile option and
// returns its events in file order. A torn last line (a process killed while
// writing) is skipped.
func ReadLogFile(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	evs, err := DecodeLog(f)
	if err != nil {
		return evs, fmt.Errorf("flowcache: log file %s: %w", path, err)
	}
	return evs, nil
}

// DecodeLog reads JSONL events (one Event as JSON per line, as WithLogFile
// and run logs hold them) until the end of r, in order. A last line without
// its newline that does not parse (a writer killed mid-line) is skipped; any
// other line that does not parse is an error naming its line number, returned
// with the events before it.
func DecodeLog(r io.Reader) ([]Event, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var out []Event
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return out, err
		}
		last := err == io.EOF
		if len(bytes.TrimSpace(line)) > 0 {
			var e Event
			if jerr := json.Unmarshal(line, &e); jerr != nil {
				if last && !bytes.HasSuffix(line, []byte("\n")) {
					return out, nil // torn last line
				}
				return out, fmt.Errorf("line %d: %v", n, jerr)
			}
			out = append(out, e)
		}
		if last {
			return out, nil
		}
	}
}

// LogStoreOf returns the store that keeps run logs for a pair of stores: the
// metadata store if it implements LogStore, else the result store if it
// does, else nil.
func LogStoreOf(meta MetadataStore, results ResultStore) LogStore {
	if ls, ok := As[LogStore](meta); ok {
		return ls
	}
	if ls, ok := As[LogStore](results); ok {
		return ls
	}
	return nil
}

// ErrNoLogs is wrapped by the errors of WithRunLogs and ReadRunLog when
// neither store keeps run logs (implements LogStore).
var ErrNoLogs = errors.New("the stores keep no run logs")

// ReadRunLog returns the events of one run, in the order they happened, from
// the log its Cache kept with WithRunLogs in the stores (see LogStoreOf). It
// works in any process, long after the run: the log lives with the cache.
// The error wraps ErrNotFound when the run has no log, ErrNoLogs when the
// stores keep none.
func ReadRunLog(ctx context.Context, meta MetadataStore, results ResultStore, run RunID) ([]Event, error) {
	ls := LogStoreOf(meta, results)
	if ls == nil {
		return nil, fmt.Errorf("flowcache: log of run %s: %w", run, ErrNoLogs)
	}
	rc, err := ls.ReadLog(ctx, run)
	if err != nil {
		return nil, fmt.Errorf("flowcache: log of run %s: %w", run, err)
	}
	defer rc.Close()
	evs, err := DecodeLog(rc)
	if err != nil {
		return evs, fmt.Errorf("flowcache: log of run %s: %w", run, err)
	}
	return evs, nil
}

// LogName returns the name a store gives the log of run, "<run>.jsonl". It
// rejects (with an error wrapping ErrInvalid) run ids that would not make
// a safe file or object name: empty, longer than 200 bytes, starting with
// a dot, or with characters other than ASCII letters, digits, '-', '_' and
// '.'. Run ids from NewRunID are always accepted.
func LogName(run RunID) (string, error) {
	s := string(run)
	ok := s != "" && len(s) <= 200 && s[0] != '.'
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
	}
	if !ok {
		return "", fmt.Errorf("%w: run id %q cannot name a log (want ASCII letters, digits, '-', '_' or '.', not starting with '.')", ErrInvalid, s)
	}
	return s + ".jsonl", nil
}

// defaultLogger is the logger of a Cache without WithLogger: records at
// slog.LevelWarn and above go to slog.Default(), the rest are discarded.
var defaultLogger = slog.New(warnToDefault{})

// warnToDefault is a slog.Handler that passes records at slog.LevelWarn and
// above to the handler of slog.Default() as it is when they are logged
// (slog.SetDefault may be called after the Cache is made). with holds what
// WithAttrs and WithGroup were given, applied in order.
type warnToDefault struct {
	with []func(slog.Handler) slog.Handler
}

func (h warnToDefault) handler() slog.Handler {
	d := slog.Default().Handler()
	for _, f := range h.with {
		d = f(d)
	}
	return d
}

func (h warnToDefault) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelWarn && slog.Default().Handler().Enabled(ctx, level)
}

func (h warnToDefault) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return nil
	}
	return h.handler().Handle(ctx, r)
}

func (h warnToDefault) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.then(func(d slog.Handler) slog.Handler { return d.WithAttrs(attrs) })
}

func (h warnToDefault) WithGroup(name string) slog.Handler {
	return h.then(func(d slog.Handler) slog.Handler { return d.WithGroup(name) })
}

func (h warnToDefault) then(f func(slog.Handler) slog.Handler) warnToDefault {
	return warnToDefault{with: append(h.with[:len(h.with):len(h.with)], f)}
}
