package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowcache/flowcache/core/fingerprint"
	"go.opentelemetry.io/otel/trace"
)

// Hasher computes data versions of values. *fingerprint.Hasher implements
// it; the default is fingerprint.Of.
type Hasher interface {
	Sum(v any) (fingerprint.Sum, error)
}

type defaultHasher struct{}

func (defaultHasher) Sum(v any) (fingerprint.Sum, error) { return fingerprint.Of(v) }

// Cache is the caching adapter: it decides, node by node, whether a result
// can be retrieved or the node must be executed, stores what was executed,
// and keeps the events of every run. A dataflow executor (package driver is
// the reference one) drives it through Run.
//
// A Cache is safe for concurrent use; several runs may be in progress at
// once.
type Cache struct {
	meta    MetadataStore
	results ResultStore
	hasher  Hasher
	log     *eventLog
	now     func() time.Time
	// tracer makes the runs' spans; nil when not tracing (see
	// WithTracerProvider).
	tracer trace.Tracer

	logFile    string
	runLogs    bool
	flushEvery int
	flushAfter time.Duration
	// Background result writes: at most storeSlots at once, of results
	// whose encoding fits in storeBuffer bytes (see WithBackgroundStores).
	storeSlots  chan struct{}
	storeBuffer int
	// bufferedPut is the size up to which the result store's Put is a
	// copy into memory (BufferedPutter): a result that small is stored on
	// the node's goroutine.
	bufferedPut int
	// leaseTTL > 0: nodes take a lease before they execute (WithLeases).
	leaseTTL time.Duration

	// manifests holds the code versions whose manifest this Cache stored
	// or found stored (see NodeSpec.Manifest); manifestsCheap says that a
	// description took less than manifestWait, so runs describe as they
	// go.
	manifests      sync.Map
	manifestsCheap atomic.Bool
	manifestWait   time.Duration

	// bg counts the background reads (Prefetch) that Close cancels
	// (stopBG) and waits for, so no read reaches a store after its owner
	// closed it.
	bg     sync.WaitGroup
	bgCtx  context.Context
	stopBG context.CancelFunc

	mu      sync.Mutex
	lastRun RunID
	closed  bool
}

// Option configures a Cache.
type Option func(*Cache) error

// WithLogger sets the logger events are emitted to: cache faults
// (cache_fault, once per run and part of the cache that failed, see
// Run.Faults) at slog.LevelWarn; get_result, execute_node, failed_execution
// and failed_store_write at slog.LevelInfo; the rest at slog.LevelDebug.
//
// Without WithLogger, records at slog.LevelWarn and above go to
// slog.Default() (as it is when they are logged, so slog.SetDefault after
// New applies) and the rest are discarded: a cache that cannot be written,
// read or opened is said on the program's log without any setup. Pass
// slog.New(slog.DiscardHandler) to discard everything. The events are kept
// in memory either way (see Cache.Logs).
func WithLogger(l *slog.Logger) Option {
	return func(c *Cache) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalid)
		}
		c.log.logger = l
		return nil
	}
}

// WithLogFile appends every event, as one JSON object per line, to the file
// at path as it happens. The file is created if missing. Read it back with
// ReadLogFile.
func WithLogFile(path string) Option {
	return func(c *Cache) error {
		if path == "" {
			return fmt.Errorf("%w: empty log file path", ErrInvalid)
		}
		c.logFile = path
		return nil
	}
}

// WithRunLogs keeps the events of every run in the run's own log in the
// stores, appended as they happen: in the metadata store, or else the result
// store, that implements LogStore (see LogStoreOf; every backend of
// flowcache does). Unlike WithLogFile, the log then lives with the cache —
// in the cache directory, the bucket, or memory — so any process can read a
// run's events with ReadRunLog after the run's process has exited. New fails
// with an error wrapping ErrNoLogs when neither store keeps logs.
//
// A failure to write a log never fails the run: it is a warning on the
// logger, and the run's later events stay in memory only.
func WithRunLogs() Option {
	return func(c *Cache) error {
		c.runLogs = true
		return nil
	}
}

// WithKeepRuns sets how many runs' events the Cache keeps in memory for
// Logs and Events (default 64, oldest dropped first). WithLogFile keeps
// every event on disk.
func WithKeepRuns(n int) Option {
	return func(c *Cache) error {
		if n < 1 {
			return fmt.Errorf("%w: keep %d runs", ErrInvalid, n)
		}
		c.log.keep = n
		return nil
	}
}

// WithHasher sets how data versions are computed (for example a
// *fingerprint.Hasher with a deeper MaxDepth or registered types).
func WithHasher(h Hasher) Option {
	return func(c *Cache) error {
		if h == nil {
			return fmt.Errorf("%w: nil hasher", ErrInvalid)
		}
		c.hasher = h
		return nil
	}
}

// WithClock sets the clock used for timestamps (for tests).
func WithClock(now func() time.Time) Option {
	return func(c *Cache) error {
		c.now = now
		return nil
	}
}

// WithFlush sets when a run writes its pending metadata: after n node records
// or after d since the last write, whichever comes first, and always at the
// end of the run. Batching is what makes a cold node cost microseconds
// instead of a database commit; the default (256 records or 1 s) bounds
// what a crash can lose to about a second of work.
func WithFlush(n int, d time.Duration) Option {
	return func(c *Cache) error {
		if n < 1 || d <= 0 {
			return fmt.Errorf("%w: flush every %d records / %v", ErrInvalid, n, d)
		}
		c.flushEvery, c.flushAfter = n, d
		return nil
	}
}

// WithBackgroundStores sets how results are written: a result whose
// encoding fits in buffer bytes is encoded at once (so later changes to the
// value cannot reach the store) and uploaded in the background, at most n at
// a time, while the nodes that depend on it already run; a larger result is
// streamed to the store before the node returns, as is every result when n
// is 0. A result's entry is written only once the result is stored, and
// Run.End waits for every upload; an upload started before the run was
// cancelled or failed is finished, as the run's metadata is written. The default, 8 uploads of up to 4 MiB,
// takes a remote store's round trips (milliseconds per result) off the path
// of a chain of nodes.
func WithBackgroundStores(n, buffer int) Option {
	return func(c *Cache) error {
		if n < 0 || buffer < 0 {
			return fmt.Errorf("%w: %d background stores of %d bytes", ErrInvalid, n, buffer)
		}
		c.storeSlots, c.storeBuffer = nil, buffer
		if n > 0 && buffer > 0 {
			c.storeSlots = make(chan struct{}, n)
		}
		return nil
	}
}

// WithLeases makes the runs of the Cache execute each missing node once
// across every process and machine sharing the metadata store
// (single-flight), when the store keeps leases (see Leaser; every store of
// this module does): before a node executes, its run takes the lease of
// the node's cache key for ttl, renews it every third of ttl while the
// node runs, and releases it once the node's result and entry are stored
// (or the node failed). A run that finds the lease held waits, polling the
// entry with backoff (from 20 ms to a second), and retrieves the result
// the holder stored; when the holder released the lease without an entry
// (its node failed) or stopped renewing it (killed, a lost machine), the
// waiter takes the lease at its expiry and executes the node itself. ttl
// bounds how long a crashed holder keeps the others waiting.
//
// A leased node costs a lease taken and released (two statements locally,
// two requests on a bucket) and its entry written at once rather than with
// its run's next batch: worth it for a node that takes seconds, not for
// one that takes microseconds (NodeSpec.NoLease leaves a node out). 0
// turns leases off, the default.
func WithLeases(ttl time.Duration) Option {
	return func(c *Cache) error {
		if ttl < 0 {
			return fmt.Errorf("%w: lease time to live %v is negative", ErrInvalid, ttl)
		}
		c.leaseTTL = ttl
		return nil
	}
}

// New returns a Cache over a metadata store and a result store. The Cache
// does not own the stores: Close them after the Cache. It calls them
// through CheckMetadata and CheckResults, so that a call breaking the store
// contract is refused before a store sees it.
func New(meta MetadataStore, results ResultStore, opts ...Option) (*Cache, error) {
	if meta == nil || results == nil {
		return nil, fmt.Errorf("%w: flowcache: New needs a metadata store and a result store", ErrInvalid)
	}
	c := &Cache{
		meta:         CheckMetadata(meta),
		results:      CheckResults(results),
		hasher:       defaultHasher{},
		log:          newEventLog(defaultLogger),
		now:          time.Now,
		flushEvery:   256,
		flushAfter:   time.Second,
		storeSlots:   make(chan struct{}, 8),
		storeBuffer:  4 << 20,
		manifestWait: DefaultManifestWait,
	}
	if bp, ok := results.(BufferedPutter); ok {
		c.bufferedPut = bp.BufferedPutLimit()
	}
	c.bgCtx, c.stopBG = context.WithCancel(context.Background())
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if c.runLogs {
		c.log.store = LogStoreOf(meta, results)
		if c.log.store == nil {
			return nil, fmt.Errorf("flowcache: WithRunLogs: %w: neither %T nor %T implements core.LogStore", ErrNoLogs, meta, results)
		}
	}
	if c.logFile != "" {
		if err := c.log.openFile(c.logFile); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Metadata returns the metadata store, as the Cache calls it (wrapped by
// CheckMetadata: find its capabilities with As).
func (c *Cache) Metadata() MetadataStore { return c.meta }

// Results returns the result store, as the Cache calls it (wrapped by
// CheckResults: find its capabilities with As).
func (c *Cache) Results() ResultStore { return c.results }

// Hasher returns how the Cache computes data versions (see WithHasher),
// for tools that check a loaded value against its version.
func (c *Cache) Hasher() Hasher { return c.hasher }

// RunLog returns the events of a run from its log in the stores (see
// WithRunLogs and ReadRunLog): unlike Events, it holds the runs of every
// process, and every run, not only the ones kept in memory.
func (c *Cache) RunLog(ctx context.Context, run RunID) ([]Event, error) {
	return ReadRunLog(ctx, c.meta, c.results, run)
}

// Close cancels a Prefetch still reading entries and waits for it, then
// closes the log file, if any, and the logs of runs that did not end.
// It does not close the stores.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.stopBG()
	c.bg.Wait()
	return c.log.close()
}

// Logs returns the events kept in memory (the last 64 runs by default, see
// WithKeepRuns) at or above level (slog.LevelInfo: get_result and
// execute_node; slog.LevelDebug: all), keyed by run id, one entry per run of
// this Cache that has such events. NodeLogs has one run's events by node.
func (c *Cache) Logs(level slog.Level) map[RunID][]Event {
	out := map[RunID][]Event{}
	for _, id := range c.log.runs() {
		if evs := c.log.events(level, id); len(evs) > 0 {
			out[id] = evs
		}
	}
	return out
}

// NodeLogs returns the events of one run kept in memory (see Logs) at or
// above level, keyed by node name ("" for the events of the run as a whole,
// such as cache_fault), each node's in the order they happened.
func (c *Cache) NodeLogs(level slog.Level, run RunID) map[string][]Event {
	out := map[string][]Event{}
	for _, e := range c.log.events(level, run) {
		out[e.Node] = append(out[e.Node], e)
	}
	return out
}

// Events returns the events of one run at or above level, in the order they
// happened.
func (c *Cache) Events(level slog.Level, run RunID) []Event { return c.log.events(level, run) }

// RunIDs returns the ids of every run recorded in the metadata store (by any
// process), oldest first.
func (c *Cache) RunIDs(ctx context.Context) ([]RunID, error) {
	runs, err := c.meta.Runs(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]RunID, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	return ids, nil
}

// LastRunID returns the id of the last run started by this Cache or, when it
// has started none, the newest run in the metadata store. It returns an
// error wrapping ErrNotFound when there is no run at all. While several
// runs go on at once it names only one of them: take a run's id from the
// run itself (Run.ID; driver.RunResult.RunID).
func (c *Cache) LastRunID(ctx context.Context) (RunID, error) {
	c.mu.Lock()
	last := c.lastRun
	c.mu.Unlock()
	if last != "" {
		return last, nil
	}
	ids, err := c.RunIDs(ctx)
	if err != nil {
		return "", err
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("flowcache: no run recorded: %w", ErrNotFound)
	}
	return ids[len(ids)-1], nil
}

// DataVersions returns the data version of every node (and input) of a run,
// as recorded in the metadata store, keyed by node name, or node[task] for
// nodes inside fan-out branches. When a node was recorded twice (retrieved,
// then executed again because its result was unreadable), the last record
// wins.
func (c *Cache) DataVersions(ctx context.Context, run RunID) (map[string]DataVersion, error) {
	recs, err := c.meta.Run(ctx, run)
	if err != nil {
		return nil, err
	}
	out := make(map[string]DataVersion, len(recs))
	for _, r := range recs {
		out[RecordName(r.Node, r.Task)] = r.DataVersion
	}
	return out, nil
}

// RecordName returns node, or node@task for a node inside a fan-out branch;
// it is the key of DataVersions.
func RecordName(node, task string) string {
	if task == "" {
		return node
	}
	return node + "@" + task
}

// Run is one execution of a dataflow through a Cache. Its methods are safe
// for concurrent use by the executor's goroutines. End must be called when
// the execution is over, to write what is pending.
type Run struct {
	c  *Cache
	id RunID

	mu        sync.Mutex
	pending   Batch
	lastFlush time.Time
	ended     bool
	// flushMu orders the batches: each Flush, and each batch handed to the
	// background when it is due, waits for the one before it (flushTail,
	// closed once written).
	flushMu   sync.Mutex
	flushTail chan struct{}
	// spare holds the records and entries of a batch written, for a next
	// batch to reuse (see reuse): a fresh process paid for the new memory
	// of every batch.
	spare Batch
	// noWrite says the store could not record the run (read-only,
	// unavailable, failing): the run writes nothing. noRead says the stores
	// are unavailable: it does not look anything up either. Both are set by
	// BeginRun before the run is returned.
	noWrite, noRead bool
	// faulted holds the first error of each part of the cache that failed,
	// faultOrder the order they failed in (see fault).
	faulted    [numFaultKinds]faultState
	faultOrder []faultKind
	// requested holds the names given to RequestOutputs.
	requested map[string]bool
	// outcomes holds what happened to each node, in the order it was
	// said, the last word on a node winning (see Outcomes); outcomeMap
	// the same by RecordName, kept only when the run is traced (its spans
	// look nodes up).
	outcomes   []namedOutcome
	outcomeMap map[string]Outcome
	// waits holds the lease waits of nodes not recorded yet, by
	// RecordName (see noteWait).
	waits map[string]LeaseWait

	// preloaded holds the entries read by Preload, at preloadedAt, for
	// preloadNodes; refreshMu serializes refreshing them.
	preloaded   PreloadIndex
	preloadedAt time.Time
	// preloadedFirst is what the run's first preload found: 0 none done
	// yet, 1 no entry, 2 some.
	preloadedFirst int8
	preloadNodes   []string
	refreshMu      sync.Mutex

	// stores counts the results being written in the background.
	stores sync.WaitGroup
	// span is the run's span; nil when the Cache does not trace.
	span trace.Span
	// mf stores the manifests of the code versions the run executed.
	mf manifestWriter
	// ahead is the run's LookAhead, if any.
	ahead atomic.Pointer[lookAhead]
}

// preloadFresh is how long a miss in the preloaded entries is trusted
// without asking the store: another process may store a key meanwhile, so
// after this long the run preloads its nodes again (one request) before it
// trusts a miss. A miss only costs an execution, never a wrong value.
const preloadFresh = 2 * time.Second

// lastUsedResolution is how stale an entry's last-used time may get before a
// hit updates it: updating it on every hit would be one write per node per
// warm run, for an eviction policy that needs hours, not seconds (Go's build
// cache makes the same trade with file times).
const lastUsedResolution = LastUsedResolution

// Preload reads, in one request, the entries of the nodes the run may look
// up, when the metadata store implements Preloader. It is an optimisation:
// when the store cannot preload, or fails to, lookups go to the store one by
// one.
func (r *Run) Preload(ctx context.Context, nodes []string) {
	if len(nodes) == 0 {
		return
	}
	at := r.c.now()
	m, ok, err := preload(ctx, r.c.meta, nodes)
	if !ok {
		return
	}
	if err != nil {
		r.emit(ctx, "", "", ActorMetadataStore, EventGetDataVersion, MessagePreloadFailed, err.Error())
		return
	}
	r.mu.Lock()
	r.setPreloaded(m, at, nodes)
	r.mu.Unlock()
}

// setPreloaded installs preloaded entries; called with r.mu held. The first
// preload of the run says whether it began on a cache without its nodes
// (preloadedNothing): a refresh later in the run finds the entries the run
// wrote itself, and must not change that answer.
func (r *Run) setPreloaded(m PreloadIndex, at time.Time, nodes []string) {
	if r.preloadedFirst == 0 {
		r.preloadedFirst = 2
		if m == nil || m.Len() == 0 {
			r.preloadedFirst = 1
		}
	}
	r.preloaded, r.preloadedAt, r.preloadNodes = m, at, nodes
}

// refreshPreload preloads the run's nodes again once the preloaded entries
// are older than preloadFresh: one request for every node, instead of one
// Get for every node looked up later (a remote store's round trip each).
// Concurrent callers wait for one refresh. It reports whether the
// preloaded entries are fresh now.
func (r *Run) refreshPreload(ctx context.Context) bool {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	r.mu.Lock()
	at, nodes := r.preloadedAt, r.preloadNodes
	r.mu.Unlock()
	if r.c.now().Sub(at) < preloadFresh {
		return true // refreshed by another caller meanwhile
	}
	if len(nodes) == 0 {
		return false
	}
	r.Preload(ctx, nodes)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.preloadedAt != at
}

// Prefetch is a Preload started ahead of a run, so that reading the entries
// overlaps other work (the driver starts one while it computes code
// versions). Hand it to BeginRunFrom.
type Prefetch struct {
	c     *Cache
	nodes []string
	done  chan struct{}
	m     PreloadIndex
	at    time.Time
	err   error
	ahead *lookAhead // see Prefetch.LookAhead
}

// Prefetch starts reading, in the background, the entries of nodes. It
// returns nil when the metadata store cannot preload.
func (c *Cache) Prefetch(ctx context.Context, nodes []string) *Prefetch {
	if len(nodes) == 0 || !canPreload(c.meta) {
		return nil
	}
	pf := &Prefetch{c: c, nodes: nodes, done: make(chan struct{}), at: c.now()}
	c.bg.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.bgCtx, cancel)
	go func() {
		defer c.bg.Done()
		defer cancel()
		defer stop()
		defer close(pf.done)
		pf.m, _, pf.err = preload(ctx, c.meta, nodes)
	}()
	return pf
}

// BeginRunFrom starts a run like BeginRun, using the entries a Prefetch
// read when it is recent enough (preloadFresh); otherwise it preloads the
// same nodes again. A nil Prefetch is BeginRun without preloading.
func (c *Cache) BeginRunFrom(ctx context.Context, pf *Prefetch) (*Run, error) {
	if pf == nil {
		return c.BeginRun(ctx)
	}
	select {
	case <-pf.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if pf.err != nil || c.now().Sub(pf.at) >= preloadFresh {
		pf.ahead.abandon()
		return c.BeginRun(ctx, pf.nodes...)
	}
	r, err := c.BeginRun(ctx)
	if err != nil {
		pf.ahead.abandon()
		return nil, err
	}
	r.mu.Lock()
	r.setPreloaded(pf.m, pf.at, pf.nodes)
	r.mu.Unlock()
	if la := pf.ahead; la != nil {
		if r.noRead || r.span != nil {
			la.abandon()
		} else {
			r.ahead.Store(la)
		}
	}
	return r, nil
}

// lookup returns the entry of a key, from the preloaded entries when they
// answer.
func (r *Run) lookup(ctx context.Context, key CacheKey, id KeyID) (Entry, error) {
	r.mu.Lock()
	pre, at := r.preloaded, r.preloadedAt
	r.mu.Unlock()
	if pre != nil {
		if e, ok := pre.Lookup(id); ok {
			e.Key = key
			return e, nil
		}
		if r.c.now().Sub(at) >= preloadFresh {
			if !r.refreshPreload(ctx) {
				return r.c.meta.Get(ctx, id)
			}
			r.mu.Lock()
			pre = r.preloaded
			r.mu.Unlock()
			if e, ok := pre.Lookup(id); ok {
				e.Key = key
				return e, nil
			}
		}
		// ErrNotFound itself: its one caller tells a miss by it and keeps
		// nothing else of it, and formatting the key into it cost a cold
		// node about 1 µs and 110 bytes.
		return Entry{}, ErrNotFound
	}
	return r.c.meta.Get(ctx, id)
}

// BeginRun starts a run: it gets a new run id and records it in the
// metadata store.
//
// preload names the nodes the run may look up: when the metadata store is a
// Preloader, their entries are read in one request, at the same time as the
// run is recorded (see Run.Preload).
//
// A store that cannot record the run does not fail it: BeginRun returns a
// run that stores nothing (no results, entries, history, last-used times or
// log) and serves the hits it can read — none when the error wraps
// ErrUnavailable — and says why once at slog.LevelWarn (a cache_fault
// event; see Run.Faults). BeginRun returns an error only when ctx is done
// or the Cache is closed.
func (c *Cache) BeginRun(ctx context.Context, preload ...string) (*Run, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("flowcache: cache: %w", ErrClosed)
	}
	c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("flowcache: begin run: %w", err)
	}
	id := NewRunID()
	now := c.now()
	r := &Run{c: c, id: id, lastFlush: now, pending: Batch{Run: id}}
	r.startRunSpan(ctx)
	// The log is open before the run's first event (a failed preload).
	logErr := c.log.openRun(ctx, id)
	var wg sync.WaitGroup
	if len(preload) > 0 {
		wg.Go(func() { r.Preload(ctx, preload) })
	}
	err := c.meta.BeginRun(ctx, RunInfo{ID: id, Started: now})
	wg.Wait()
	if err != nil && ctx.Err() != nil {
		_ = c.log.closeRun(context.WithoutCancel(ctx), id)
		return nil, fmt.Errorf("flowcache: begin run: %w", ctx.Err())
	}
	c.mu.Lock()
	c.lastRun = id
	c.mu.Unlock()
	if err != nil {
		// The run goes on without writing, its log included.
		_ = c.log.closeRun(context.WithoutCancel(ctx), id)
		r.noWrite = true
		r.noRead = errors.Is(err, ErrUnavailable)
		r.fault(ctx, faultBegin, ActorMetadataStore, "", err)
	} else if logErr != nil {
		r.fault(ctx, faultRunLog, ActorAdapter, "", logErr)
	}
	return r, nil
}

// ID returns the run id.
func (r *Run) ID() RunID { return r.id }

// RequestOutputs says which nodes (or inputs) the run was asked for: their
// records in the run history are marked (NodeRecord.Requested), so that a
// run can be drawn with its outputs marked long after it ended. Call it
// before the run records those names (before Input, Override, Node or
// Expand for them); executors call it right after BeginRun. Final, which
// hands an output's value over, emits is_final_var but records nothing.
func (r *Run) RequestOutputs(names ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.requested == nil {
		r.requested = make(map[string]bool, len(names))
	}
	for _, n := range names {
		r.requested[n] = true
	}
}

// Cache returns the cache the run belongs to.
func (r *Run) Cache() *Cache { return r.c }

func (r *Run) emit(ctx context.Context, node, task string, actor Actor, typ EventType, msg EventMessage, value string) {
	r.emitEvent(ctx, Event{RunID: r.id, Node: node, Task: task, Actor: actor, Type: typ, Message: msg, Value: value, Time: r.c.now()})
}

// emitEvent emits ev: to the run's span, when tracing, and to the log.
func (r *Run) emitEvent(ctx context.Context, ev Event) {
	if r.span != nil {
		r.traceEvent(ctx, &ev)
	}
	r.c.log.add(ctx, ev)
}

// emitKey emits a node's first two events: its behaviour resolved, its
// cache key.
func (r *Run) emitKey(ctx context.Context, node, task string, b Behavior, id KeyID) {
	r.emit(ctx, node, task, ActorAdapter, EventResolveBehavior, "", b.String())
	r.emit(ctx, node, task, ActorAdapter, EventGetCacheKey, "", string(id))
}

// emitLookup emits the events of a lookup: those of emitKey, then
// get_data_version (metadata_store) and get_result (adapter), both hit with
// the data version, or both miss (the key is not stored). Nothing else
// wanting them (no tracing, logger, log file or run log), they are kept as
// one (see eventLog.addCompact), at one time.
func (r *Run) emitLookup(ctx context.Context, node, task string, b Behavior, id KeyID, dv DataVersion, hit bool, now time.Time) {
	r.emitCompact(ctx, lookupEvent(node, task, b, id, dv, hit, now))
}

// emitCompact emits the events of se, a lookup's or a stored result's: kept
// as one when nothing else wants them one by one (see eventLog.addCompact).
func (r *Run) emitCompact(ctx context.Context, se storedEvent) {
	if r.span == nil && r.c.log.addCompact(ctx, r.id, se) {
		return
	}
	var buf [4]Event
	for _, ev := range se.expand(r.id, &buf) {
		r.emitEvent(ctx, ev)
	}
}

// version fingerprints v. An unhashable value gets a unique version and an
// unhashable_data_version event.
func (r *Run) version(ctx context.Context, node, task string, v any) (DataVersion, bool) {
	sum, err := r.c.hasher.Sum(v)
	if err != nil {
		r.emit(ctx, node, task, ActorAdapter, EventUnhashable, MessageUnhashable, err.Error())
		return NewUniqueVersion(), false
	}
	return DataVersion(sum.String()), true
}

// CodeVersionFallback records that the code version of node was not derived
// from its source (why says why), so a change of the node's code alone will
// not be seen until the build changes.
func (r *Run) CodeVersionFallback(ctx context.Context, node, why string) {
	r.emit(ctx, node, "", ActorAdapter, EventCodeVersion, MessageFallback, why)
}

// Value is a node result, input or override as it flows through a run: its
// data version, and its value loaded only when something needs it.
type Value struct {
	name, task string

	mu      sync.Mutex
	version DataVersion
	loaded  bool
	val     any
	// load fetches the value (from the result store, or by executing the
	// node again); it is called at most once successfully.
	load func(ctx context.Context) (any, DataVersion, error)
	// hit, when not nil, is the node a hit retrieved: without load, Get
	// loads the value through it (Run.load). A hit is the common case of a
	// warm run, and these fields spare it a closure (an allocation that
	// held a copy of the whole entry).
	hit *hitSource
}

// hitSource is what loading a retrieved node's value needs.
type hitSource struct {
	r    *Run
	spec *NodeSpec
	deps []*Value
	exec ExecFunc
}

// Name returns the name of the node or input the value belongs to.
func (v *Value) Name() string { return v.name }

// Task returns the task id of the value ("" outside fan-out branches).
func (v *Value) Task() string { return v.task }

// Version returns the data version of the value.
func (v *Value) Version() DataVersion {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.version
}

// Loaded reports whether the value is in memory.
func (v *Value) Loaded() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.loaded
}

// Get returns the value, loading it from the result store on first use. When
// the stored result is missing or damaged, the node is executed again.
func (v *Value) Get(ctx context.Context) (any, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.loaded {
		return v.val, nil
	}
	var val any
	var ver DataVersion
	var err error
	if h := v.hit; h != nil {
		val, ver, err = h.r.load(ctx, h.spec, v.task, v.version, h.deps, h.exec)
	} else {
		val, ver, err = v.load(ctx)
	}
	if err != nil {
		return nil, err
	}
	v.val, v.loaded, v.load, v.hit = val, true, nil, nil
	if ver != "" {
		v.version = ver
	}
	return val, nil
}

func loadedValue(name, task string, ver DataVersion, val any) *Value {
	return &Value{name: name, task: task, version: ver, loaded: true, val: val}
}

// Input versions an input of the run.
func (r *Run) Input(ctx context.Context, name string, v any) *Value {
	ver, _ := r.version(ctx, name, "", v)
	r.emit(ctx, name, "", ActorAdapter, EventIsInput, "", string(ver))
	r.record(ctx, NodeRecord{Node: name, Key: CacheKey{Node: name}, DataVersion: ver, Outcome: OutcomeInput, Size: -1}, nil, "")
	if la := r.ahead.Load(); la != nil {
		la.give(name, ver)
	}
	return loadedValue(name, "", ver, v)
}

// Override versions an override of the run: a value given for a node, which
// is then neither executed nor stored.
func (r *Run) Override(ctx context.Context, name string, v any) *Value {
	ver, _ := r.version(ctx, name, "", v)
	r.emit(ctx, name, "", ActorAdapter, EventIsOverride, "", string(ver))
	r.record(ctx, NodeRecord{Node: name, Key: CacheKey{Node: name}, DataVersion: ver, Outcome: OutcomeOverride, Size: -1}, nil, "")
	if la := r.ahead.Load(); la != nil {
		la.give(name, ver)
	}
	return loadedValue(name, "", ver, v)
}

// Item returns the value of one item yielded by a fan-out (expanding) node,
// for the branch task task.
func (r *Run) Item(ctx context.Context, node, task string, v any) *Value {
	ver, _ := r.version(ctx, node, task, v)
	r.emit(ctx, node, task, ActorAdapter, EventSetDataVersion, MessageItem, string(ver))
	return loadedValue(node, task, ver, v)
}

// TaskID returns the task id of item i of the fan-out node expander:
// expander[i].
func TaskID(expander string, i int) string { return expander + "[" + strconv.Itoa(i) + "]" }

// Expand executes a fan-out node, which is never retrieved: exec returns the
// items, and each becomes the value of one branch task (task id
// TaskID(spec.Name, i)), versioned by its fingerprint. The branch nodes are
// then retrieved or executed per item like any other node, so a warm run
// executes only the expanding node.
func (r *Run) Expand(ctx context.Context, spec *NodeSpec, deps []*Value, exec func(ctx context.Context, args []any) ([]any, error)) ([]*Value, error) {
	if err := checkNames(spec, "", deps); err != nil {
		return nil, err
	}
	r.emit(ctx, spec.Name, "", ActorAdapter, EventResolveBehavior, MessageExpand, Recompute.String())
	var items []any
	_, dur, err := r.execute(ctx, spec, "", deps, func(ctx context.Context, args []any) (any, error) {
		var err error
		items, err = exec(ctx, args)
		return nil, err
	})
	if err != nil {
		r.record(ctx, NodeRecord{Node: spec.Name, Key: r.key(spec, deps), Behavior: Recompute, Outcome: OutcomeFailed, Duration: dur, Size: -1}, nil, "")
		return nil, err
	}
	vals := make([]*Value, len(items))
	for i, it := range items {
		vals[i] = r.Item(ctx, spec.Name, TaskID(spec.Name, i), it)
	}
	ver := fingerprintVersions(vals)
	r.emit(ctx, spec.Name, "", ActorAdapter, EventSetDataVersion, EventMessage(fmt.Sprintf("%d items", len(items))), string(ver))
	r.record(ctx, NodeRecord{Node: spec.Name, Key: r.key(spec, deps), DataVersion: ver, Behavior: Recompute, Outcome: OutcomeExecuted, Duration: dur, Size: -1}, nil, "")
	return vals, nil
}

// Join returns the value a collect node receives from a fan-out: the values
// of one branch node over every task, in order. Its data version is derived
// from theirs; its value, once loaded, is a []any.
func (r *Run) Join(name string, vals []*Value) *Value {
	h := fingerprintVersions(vals)
	return &Value{name: name, version: h, load: func(ctx context.Context) (any, DataVersion, error) {
		out := make([]any, len(vals))
		for i, v := range vals {
			x, err := v.Get(ctx)
			if err != nil {
				return nil, "", err
			}
			out[i] = x
		}
		return out, fingerprintVersions(vals), nil
	}}
}

func fingerprintVersions(vals []*Value) DataVersion {
	deps := make([]Dep, len(vals))
	for i, v := range vals {
		deps[i] = Dep{Name: fmt.Sprint(i), Version: v.Version()}
	}
	k := CacheKey{Node: "join", CodeVersion: "join", Deps: deps}
	return DataVersion(k.ID())
}

// Final marks v as a requested output and returns its value.
func (r *Run) Final(ctx context.Context, v *Value) (any, error) {
	r.emit(ctx, v.name, v.task, ActorAdapter, EventIsFinalVar, "", string(v.Version()))
	return v.Get(ctx)
}

// NodeSpec describes a node to the cache.
type NodeSpec struct {
	Name        string
	CodeVersion CodeVersion
	// Behavior is the resolved behaviour (Unset means Default).
	Behavior Behavior
	// Format stores the node's results.
	Format Format
	// Type is the Go type of the node's result, used to decode it.
	Type reflect.Type
	// Manifest, when not nil, describes CodeVersion (see CodeManifest), so
	// that `flowcache why` can name what changed in a node's code. The
	// cache calls it only when the node was executed and its result stored
	// (a miss, or Recompute) and neither this Cache nor the metadata store
	// knows a manifest for CodeVersion: at most once per code version and
	// Cache (while it returns a manifest), from a goroutine of the run's
	// own, off the nodes' path (at Run.End, until one call proved cheap).
	// What it returns is stored with the run's metadata; nil stores
	// nothing. wait is how long End waits for the call (WithManifestWait):
	// a describer that would take much longer (parse a module) should
	// return nil at once rather than start. End does not wait longer; a
	// failure to store a manifest is a failed_store_write event, never a
	// failure of the run.
	Manifest func(wait time.Duration) *CodeManifest
	// NoLease leaves the node out of single-flight (WithLeases): it
	// executes on a miss without taking a lease, as a cheap node should.
	NoLease bool
}

// ExecFunc runs a node on the values of its dependencies, in the order they
// were given to Run.Node.
type ExecFunc func(ctx context.Context, args []any) (any, error)

// NodeError is returned by Run.Node when the node's function failed.
type NodeError struct {
	Node string
	Task string
	Err  error
}

func (e *NodeError) Error() string {
	if e.Task != "" {
		return fmt.Sprintf("node %q (task %s): %v", e.Node, e.Task, e.Err)
	}
	return fmt.Sprintf("node %q: %v", e.Node, e.Err)
}

func (e *NodeError) Unwrap() error { return e.Err }

// Node retrieves or executes one node. deps are the values of its
// dependencies; a dependency value is loaded only if the node has to be
// executed. The returned Value carries the node's data version; its value is
// loaded when something calls Get.
//
// The node's name, task and dependency names must be valid UTF-8 (see
// CheckName); otherwise Node returns an error wrapping ErrInvalid without
// running the node.
//
// When the Cache traces (WithTracerProvider), the call has a span of its
// own, and ctx, as exec gets it, carries it.
func (r *Run) Node(ctx context.Context, spec *NodeSpec, task string, deps []*Value, exec ExecFunc) (*Value, error) {
	if r.span == nil {
		return r.node(ctx, spec, task, deps, exec)
	}
	return r.tracedNode(ctx, spec, task, deps, exec)
}

// node is Node, without its span.
func (r *Run) node(ctx context.Context, spec *NodeSpec, task string, deps []*Value, exec ExecFunc) (*Value, error) {
	if err := checkNames(spec, task, deps); err != nil {
		return nil, err
	}
	b := spec.Behavior
	if b == Unset {
		b = Default
	}
	if b == Disable || b == Ignore {
		r.emit(ctx, spec.Name, task, ActorAdapter, EventResolveBehavior, "", b.String())
		val, dur, err := r.execute(ctx, spec, task, deps, exec)
		// The record keeps the key's parts (nothing is looked up or stored
		// under it) so that the run's graph can be rebuilt from its history.
		if err != nil {
			r.record(ctx, NodeRecord{Node: spec.Name, Task: task, Key: r.key(spec, deps), Behavior: b, Outcome: OutcomeFailed, Duration: dur, Size: -1}, nil, "")
			return nil, err
		}
		ver := IgnoredVersion
		if b == Disable {
			ver = NewUniqueVersion()
		}
		r.emit(ctx, spec.Name, task, ActorAdapter, EventSetDataVersion, EventMessage(b.String()), string(ver))
		r.record(ctx, NodeRecord{Node: spec.Name, Task: task, Key: r.key(spec, deps), DataVersion: ver, Behavior: b, Outcome: OutcomeExecuted, Duration: dur, Size: -1}, nil, "")
		return loadedValue(spec.Name, task, ver, val), nil
	}

	// claimed is the LookAhead slot of this node when the look-ahead had
	// not reached it: it is filled below, whatever the lookup gives.
	var claimed *aheadSlot
	if b == Default && !r.noRead && task == "" {
		if la := r.ahead.Load(); la != nil {
			var s *aheadSlot
			if s, claimed = la.take(spec, deps); s != nil {
				e := Entry{Key: s.key, DataVersion: s.dv, Format: s.format, LastUsed: s.lastUsed}
				return r.retrieved(ctx, spec, task, b, s.key, s.id, e, deps, exec, s.value()), nil
			}
		}
	}
	if claimed != nil {
		// Filled below once the lookup answers; as nothing if anything
		// stops this call before (the look-ahead waits for it).
		defer func() { claimed.publish(CacheKey{}, "", nil) }()
	}
	key := r.key(spec, deps)
	id := key.ID()
	if r.span != nil {
		r.traceKey(ctx, id, b)
	}

	if b == Default && r.noRead {
		r.emitKey(ctx, spec.Name, task, b, id)
		r.emit(ctx, spec.Name, task, ActorAdapter, EventGetResult, MessageMiss, "cache unavailable")
	} else if b == Default {
		e, err := r.lookup(ctx, key, id)
		if err == nil && e.Format == spec.Format.Name() && e.DataVersion.Storable() {
			v := claimed.value()
			claimed.publish(key, id, &e)
			claimed = nil
			return r.retrieved(ctx, spec, task, b, key, id, e, deps, exec, v), nil
		}
		claimed.publish(CacheKey{}, "", nil) // a miss: before executing
		claimed = nil
		// A hit's events, and those of a key not stored, are kept together
		// (see emitLookup).
		switch {
		case errors.Is(err, ErrNotFound):
			r.emitLookup(ctx, spec.Name, task, b, id, "", false, r.c.now())
		case err == nil:
			r.emitKey(ctx, spec.Name, task, b, id)
			r.emit(ctx, spec.Name, task, ActorMetadataStore, EventGetDataVersion, MessageMiss, "stored with format "+e.Format)
			r.emit(ctx, spec.Name, task, ActorAdapter, EventGetResult, MessageMiss, "")
		case ctx.Err() != nil:
			r.emitKey(ctx, spec.Name, task, b, id)
			return nil, ctx.Err()
		default:
			r.emitKey(ctx, spec.Name, task, b, id)
			r.fault(ctx, faultMeta, ActorMetadataStore, spec.Name, fmt.Errorf("flowcache: looking up node %q: %w", spec.Name, err))
			r.emit(ctx, spec.Name, task, ActorMetadataStore, EventGetDataVersion, MessageError, err.Error())
			r.emit(ctx, spec.Name, task, ActorAdapter, EventGetResult, MessageMiss, "")
		}
		if v, done, err := r.singleFlight(ctx, spec, task, key, id, deps, exec); done {
			return v, err
		}
	} else {
		r.emitKey(ctx, spec.Name, task, b, id)
	}
	val, ver, err := r.executeAndStoreMode(ctx, spec, task, b, deps, exec, false, keyRef{key, id})
	if err != nil {
		return nil, err
	}
	return loadedValue(spec.Name, task, ver, val), nil
}

// hitValue is the Value of a hit, with what loading it needs: one
// allocation.
type hitValue struct {
	Value
	src hitSource
}

// retrieved is a hit: the value of entry e of key id, loaded when a node
// asks for it. It is made in v when v is not nil (a LookAhead slot, whose
// memory the look-ahead's core touched first), else allocated.
func (r *Run) retrieved(ctx context.Context, spec *NodeSpec, task string, b Behavior, key CacheKey, id KeyID, e Entry, deps []*Value, exec ExecFunc, v *hitValue) *Value {
	// One reading of the clock for the hit's events, its last-used time
	// and its record.
	now := r.c.now()
	r.emitLookup(ctx, spec.Name, task, b, id, e.DataVersion, true, now)
	var hit KeyID
	if now.Sub(e.LastUsed) >= lastUsedResolution {
		hit = id
	}
	r.recordAt(ctx, NodeRecord{Node: spec.Name, Task: task, Key: key, DataVersion: e.DataVersion, Format: e.Format, Behavior: b, Outcome: OutcomeRetrieved, Size: -1}, nil, hit, now)
	if v == nil {
		v = new(hitValue)
	}
	v.name, v.task, v.version = spec.Name, task, e.DataVersion
	v.src = hitSource{r: r, spec: spec, deps: deps, exec: exec}
	v.hit = &v.src
	return &v.Value
}

// checkNames checks the names a node's key is built from (see CheckName).
func checkNames(spec *NodeSpec, task string, deps []*Value) error {
	if err := CheckName("node", spec.Name); err != nil {
		return err
	}
	if err := CheckName("task", task); err != nil {
		return fmt.Errorf("node %q: %w", spec.Name, err)
	}
	for _, d := range deps {
		if err := CheckName("dependency", d.name); err != nil {
			return fmt.Errorf("node %q: %w", spec.Name, err)
		}
	}
	return nil
}

func (r *Run) key(spec *NodeSpec, deps []*Value) CacheKey {
	kd := make([]Dep, len(deps))
	for i, d := range deps {
		kd[i] = Dep{Name: d.name, Version: d.Version()}
	}
	return NewCacheKey(spec.Name, spec.CodeVersion, kd)
}

// execute loads the dependencies and runs the node.
func (r *Run) execute(ctx context.Context, spec *NodeSpec, task string, deps []*Value, exec ExecFunc) (any, time.Duration, error) {
	args := make([]any, len(deps))
	for i, d := range deps {
		v, err := d.Get(ctx)
		if err != nil {
			return nil, 0, err
		}
		args[i] = v
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	r.emit(ctx, spec.Name, task, ActorAdapter, EventExecuteNode, "", "")
	start := time.Now()
	val, err := exec(ctx, args)
	dur := time.Since(start)
	if r.span != nil {
		r.traceExec(ctx, dur)
	}
	if err != nil {
		r.emit(ctx, spec.Name, task, ActorAdapter, EventFailedExecution, "", err.Error())
		var ne *NodeError
		if errors.As(err, &ne) && ne.Node == spec.Name {
			return nil, dur, err
		}
		return nil, dur, &NodeError{Node: spec.Name, Task: task, Err: err}
	}
	return val, dur, nil
}

// executeAndStore executes a Default or Recompute node, and stores its result
// and mapping.
func (r *Run) executeAndStore(ctx context.Context, spec *NodeSpec, task string, b Behavior, deps []*Value, exec ExecFunc) (any, DataVersion, error) {
	return r.executeAndStoreMode(ctx, spec, task, b, deps, exec, false, keyRef{})
}

// keyRef is a cache key and its id, computed before a node is executed;
// the zero keyRef is none.
type keyRef struct {
	key CacheKey
	id  KeyID
}

// idOf returns key's id: k's when k is the same key, without hashing it
// again.
func (k keyRef) idOf(key CacheKey) KeyID {
	if k.id == "" || k.key.Node != key.Node || k.key.CodeVersion != key.CodeVersion || len(k.key.Deps) != len(key.Deps) {
		return key.ID()
	}
	for i, d := range key.Deps {
		if k.key.Deps[i] != d {
			return key.ID()
		}
	}
	return k.id
}

// executeAndStoreMode is executeAndStore; sync stores the result before it
// returns (no background upload), so that a Flush after it writes the
// node's entry. known is the key looked up before executing, if any.
func (r *Run) executeAndStoreMode(ctx context.Context, spec *NodeSpec, task string, b Behavior, deps []*Value, exec ExecFunc, sync bool, known keyRef) (any, DataVersion, error) {
	val, dur, err := r.execute(ctx, spec, task, deps, exec)
	if err != nil {
		r.record(ctx, NodeRecord{Node: spec.Name, Task: task, Key: r.key(spec, deps), Behavior: b, Outcome: OutcomeFailed, Duration: dur, Size: -1}, nil, "")
		return nil, "", err
	}
	// Executed, whatever happens to its result next (a store that does not
	// write, a run cancelled while storing).
	r.noteOutcome(spec.Name, task, OutcomeExecuted)
	// The dependencies are loaded now; a dependency executed again because
	// its stored result was unreadable may have a new version, so the key is
	// computed from what the node actually ran on.
	key := r.key(spec, deps)
	ver, ok := r.version(ctx, spec.Name, task, val)
	if !ok {
		r.record(ctx, NodeRecord{Node: spec.Name, Task: task, Key: key, DataVersion: ver, Behavior: b, Outcome: OutcomeExecuted, Duration: dur, Size: -1}, nil, "")
		return val, ver, nil
	}
	r.emit(ctx, spec.Name, task, ActorAdapter, EventSetDataVersion, "", string(ver))
	if r.noWrite {
		return val, ver, nil // said once, at BeginRun
	}
	rid := ResultID{Version: ver, Format: spec.Format.Name()}
	st := storeJob{spec: spec, task: task, b: b, key: key, id: known.idOf(key), ver: ver, rid: rid, dur: dur}
	if r.c.storeSlots != nil && !sync {
		buf := getStoreBuffer(r.c.storeBuffer)
		err := spec.Format.Encode(buf, val)
		if err == nil {
			// Encoded: the bytes are what is stored, whatever happens to
			// the value next. Upload them in the background.
			// The node succeeded: its result is worth keeping even if the run
			// is cancelled or fails meanwhile (as its metadata is, see
			// Flush); at most storeSlots buffers are in flight.
			bctx := context.WithoutCancel(ctx)
			if len(buf.b) <= r.c.bufferedPut {
				// A copy into the store's memory: here, no goroutine.
				r.finishStore(bctx, st, func(w io.Writer) error { _, err := w.Write(buf.b); return err })
				putStoreBuffer(buf)
				return val, ver, nil
			}
			r.c.storeSlots <- struct{}{}
			r.stores.Go(func() {
				defer func() { <-r.c.storeSlots }()
				r.finishStore(bctx, st, func(w io.Writer) error { _, err := w.Write(buf.b); return err })
				putStoreBuffer(buf)
			})
			return val, ver, nil
		}
		putStoreBuffer(buf)
		if !errors.Is(err, errBufferFull) {
			r.finishStore(ctx, st, func(io.Writer) error { return err })
			return val, ver, nil
		}
		// Too large to hold twice: stream it below.
	}
	if err := r.finishStore(ctx, st, func(w io.Writer) error { return spec.Format.Encode(w, val) }); err != nil {
		return nil, "", err
	}
	return val, ver, nil
}

// storeJob is a result to store and the node it comes from.
type storeJob struct {
	spec *NodeSpec
	task string
	b    Behavior
	key  CacheKey
	id   KeyID // key's
	ver  DataVersion
	rid  ResultID
	dur  time.Duration
}

// finishStore stores a node's result with write and records the node, with
// its entry when the result was stored. A store failure does not fail the
// run (the node's value is good; it is just not cached); only a cancelled
// context is returned.
func (r *Run) finishStore(ctx context.Context, st storeJob, write func(io.Writer) error) error {
	ctx, end := r.startStoreSpan(ctx, st)
	defer end()
	spec, task := st.spec, st.task
	var sw storeWriter
	size, err := r.c.results.Put(ctx, st.rid, func(w io.Writer) error {
		sw.w = w
		return write(&sw)
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		k := faultResultWrite
		if sw.w != nil && sw.err == nil {
			// write failed, and not because the store refused its bytes:
			// the format could not encode the value.
			k = faultEncode
		}
		r.storeFailed(ctx, k, ActorResultStore, spec.Name, task, MessageSetResult, fmt.Errorf("flowcache: storing the result of node %q: %w", spec.Name, err))
		r.record(ctx, NodeRecord{Node: spec.Name, Task: task, Key: st.key, DataVersion: st.ver, Behavior: st.b, Outcome: OutcomeExecuted, Duration: st.dur, Size: -1}, nil, "")
		return nil
	}
	msg := MessageStored
	if size == 0 {
		msg, size = MessageExists, -1
	}
	now := r.c.now()
	r.emitCompact(ctx, storedResultEvent(spec.Name, task, msg, st.id, st.ver, now))
	entry := &Entry{Key: st.key, DataVersion: st.ver, Format: st.rid.Format, Created: now, LastUsed: now}
	r.record(ctx, NodeRecord{Node: spec.Name, Task: task, Key: st.key, DataVersion: st.ver, Format: st.rid.Format, Behavior: st.b, Outcome: OutcomeExecuted, Duration: st.dur, Size: size}, entry, "")
	r.noteManifest(ctx, spec)
	return nil
}

// storeWriter is the writer a result is encoded to: it passes writes to
// the store's writer and keeps the first error the store returned, which
// tells a store that refused bytes (a full disk) from a format that could
// not encode the value.
type storeWriter struct {
	w   io.Writer
	err error
}

func (s *storeWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil && s.err == nil {
		s.err = err
	}
	return n, err
}

// errBufferFull stops an encoding that does not fit in a limitedBuffer.
var errBufferFull = errors.New("flowcache: encoded result larger than the background store buffer")

// limitedBuffer collects up to limit bytes.
type limitedBuffer struct {
	b     []byte
	limit int
}

// storeBuffers are the limitedBuffers of results stored, for the next:
// a cold node paid about 200 bytes of new memory for its own. A writer
// does not keep the bytes it is given (io.Writer), so a buffer is free
// again once its result's Put returned.
var storeBuffers = sync.Pool{New: func() any { return new(limitedBuffer) }}

// maxPooledStoreBuffer is the largest buffer kept for reuse.
const maxPooledStoreBuffer = 64 << 10

func getStoreBuffer(limit int) *limitedBuffer {
	b := storeBuffers.Get().(*limitedBuffer)
	b.b, b.limit = b.b[:0], limit
	return b
}

func putStoreBuffer(b *limitedBuffer) {
	if cap(b.b) <= maxPooledStoreBuffer {
		storeBuffers.Put(b)
	}
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if len(l.b)+len(p) > l.limit {
		return 0, errBufferFull
	}
	l.b = append(l.b, p...)
	return len(p), nil
}

// load reads a retrieved node's result. A missing or damaged result is a
// miss: the node is executed again (and its result stored again). So is a
// result that loads back as another value than the one stored: its data
// version is the fingerprint of the value the node returned, and the loaded
// value must fingerprint the same, or dependants would be keyed by one value
// and run on another.
func (r *Run) load(ctx context.Context, spec *NodeSpec, task string, ver DataVersion, deps []*Value, exec ExecFunc) (_ any, _ DataVersion, err error) {
	ctx, end := r.startLoadSpan(ctx, spec, task, ver)
	defer func() { end(err) }()
	rid := ResultID{Version: ver, Format: spec.Format.Name()}
	val, err := r.read(ctx, spec, rid)
	if err == nil {
		err = r.verify(val, rid)
	}
	if err == nil {
		r.emit(ctx, spec.Name, task, ActorResultStore, EventGetResult, MessageLoaded, string(ver))
		return val, "", nil
	}
	if ctx.Err() != nil {
		return nil, "", ctx.Err()
	}
	r.emit(ctx, spec.Name, task, ActorResultStore, EventGetResult, MessageMiss, err.Error())
	r.emit(ctx, spec.Name, task, ActorAdapter, EventMissingResult, "", err.Error())
	if errors.Is(err, ErrCorrupt) && !r.noWrite {
		// Remove the damaged result (or the result that decoded to another
		// value than its id stands for), or Put would find it there and the
		// node would be executed again in every run. A run that does not
		// write (a read-only cache) leaves it for one that does.
		if derr := r.c.results.Delete(ctx, rid); derr != nil {
			r.storeFailed(ctx, faultResultWrite, ActorResultStore, spec.Name, task, MessageDeleteDamaged, fmt.Errorf("flowcache: deleting the damaged result of node %q: %w", spec.Name, derr))
		}
	}
	val, nver, err := r.executeAndStore(ctx, spec, task, Recompute, deps, exec)
	if err != nil {
		return nil, "", err
	}
	return val, nver, nil
}

// verify checks that val, decoded from the result rid, fingerprints as
// rid's data version: results are content-addressed, and this is what ties
// a stored result to its id. A result stored under another value's id (by
// a buggy or hostile writer, with a valid checksum) fails here, as does a
// format that cannot load a value back equal (a detail it does not keep,
// like a time's zone name) and a result stored under an older fingerprint
// scheme: a miss, never a value that differs from the one its data version
// stands for. The error wraps ErrCorrupt, so load deletes the result: the
// node's next store writes what the id stands for (for a lossy format, the
// same bytes again: a write per run instead of a stale object forever).
func (r *Run) verify(val any, rid ResultID) error {
	sum, err := r.c.hasher.Sum(val)
	if err != nil {
		return fmt.Errorf("%w: %s decoded to a value that cannot be fingerprinted: %v", ErrCorrupt, rid, err)
	}
	if got := DataVersion(sum.String()); got != rid.Version {
		return fmt.Errorf("%w: %s loaded back as another value (data version %s): it was stored for another value, or format %s does not keep everything that tells it apart",
			ErrCorrupt, rid, got.Short(), rid.Format)
	}
	return nil
}

// read decodes a stored result. The decoder is given only bytes that were
// verified before it starts (GetVerified), so that no length or count it
// reads from a damaged result is trusted; the reader is still read to its
// end, where a result read twice (a local file) is checked again.
func (r *Run) read(ctx context.Context, spec *NodeSpec, rid ResultID) (val any, err error) {
	rc, err := GetVerified(ctx, r.c.results, rid)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := rc.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	defer func() {
		// A decoder must not panic on bad input; if one does, the result
		// is treated as damaged, never as a crash.
		if p := recover(); p != nil {
			val, err = nil, fmt.Errorf("%w: decoding %s with %s panicked: %v", ErrCorrupt, rid, rid.Format, p)
		}
	}()
	// The bytes were verified before Decode starts (a transport failure
	// is GetVerified's error, not ErrCorrupt): a decoding error is the
	// decoder's verdict on stored bytes.
	val, err = spec.Format.Decode(rc, spec.Type)
	if err != nil {
		return nil, fmt.Errorf("%w: decoding %s: %v", ErrCorrupt, rid, err)
	}
	// Read to the end: a file that changed since it was verified fails
	// there.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return nil, err
	}
	if spec.Type != nil {
		if err := CheckAssignable(val, spec.Type); err != nil {
			return nil, fmt.Errorf("%w: %s decoded to a wrong value: %v", ErrCorrupt, rid, err)
		}
	}
	return val, nil
}

// CheckAssignable reports whether v can stand for a value of type t: nil
// for a type that can be nil, otherwise a value whose type is assignable to
// t. Executors use it for inputs and overrides; the cache for what a format
// decoded.
func CheckAssignable(v any, t reflect.Type) error {
	if v == nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
			return nil
		}
		return fmt.Errorf("nil is not a %v", t)
	}
	if !reflect.TypeOf(v).AssignableTo(t) {
		return fmt.Errorf("value of type %T is not assignable to %v", v, t)
	}
	return nil
}

// record keeps a node's outcome (see Outcomes), queues its record (and an
// entry to write, and a hit) and writes the batch when it is due.
func (r *Run) record(ctx context.Context, rec NodeRecord, entry *Entry, hit KeyID) {
	r.recordAt(ctx, rec, entry, hit, time.Time{})
}

// recordAt is record, at now (the zero time: the clock's now, read when
// the batch may be due).
func (r *Run) recordAt(ctx context.Context, rec NodeRecord, entry *Entry, hit KeyID, now time.Time) {
	r.traceRecord(ctx, rec)
	r.mu.Lock()
	r.noteOutcomeLocked(rec.Node, rec.Task, rec.Outcome)
	if r.noWrite {
		r.mu.Unlock()
		return
	}
	if r.requested[rec.Node] {
		rec.Requested = true
	}
	r.takeWait(&rec)
	if r.pending.Records == nil {
		// The first batch, sized like the next ones (see takeBatch).
		r.pending.Records = make([]NodeRecord, 0, max(1, min(len(r.preloadNodes), r.c.flushEvery)))
	}
	r.pending.Records = append(r.pending.Records, rec)
	if entry != nil {
		if r.pending.Entries == nil {
			r.pending.Entries = make([]Entry, 0, cap(r.pending.Records))
		}
		r.pending.Entries = append(r.pending.Entries, *entry)
	}
	if hit != "" {
		r.pending.Hits = append(r.pending.Hits, hit)
	}
	due := len(r.pending.Records) >= r.c.flushEvery
	if !due {
		if now.IsZero() {
			now = r.c.now()
		}
		due = now.Sub(r.lastFlush) >= r.c.flushAfter
	}
	r.mu.Unlock()
	if due {
		r.flushBackground(ctx)
	}
}

// Flush writes the pending metadata now. Its error is the store's; it has
// been reported (once per run, see Run.Faults) and does not mean the run
// failed. A run that stores nothing (see BeginRun) writes nothing.
func (r *Run) Flush(ctx context.Context) error {
	if r.noWrite {
		return nil
	}
	b, prev, done := r.takeBatch()
	defer close(done)
	if prev != nil {
		<-prev
	}
	err := r.writeBatch(ctx, b)
	r.reuse(b)
	return err
}

// reuse keeps the slices of a batch written for the next one (a store does
// not keep them, see MetadataStore.Write).
func (r *Run) reuse(b Batch) {
	clear(b.Records)
	clear(b.Entries)
	r.mu.Lock()
	if cap(b.Records) > cap(r.spare.Records) {
		r.spare.Records = b.Records[:0]
	}
	if cap(b.Entries) > cap(r.spare.Entries) {
		r.spare.Entries = b.Entries[:0]
	}
	r.mu.Unlock()
}

// flushBackground hands the pending metadata to a goroutine that writes it
// after the batches before it: a batch falls due in the middle of a chain
// of nodes, which should not wait for the store's write (about a
// millisecond for 256 nodes on the local store, a round trip on a bucket).
// End, and any Flush, write after it.
func (r *Run) flushBackground(ctx context.Context) {
	b, prev, done := r.takeBatch()
	go func() {
		defer close(done)
		if prev != nil {
			<-prev
		}
		_ = r.writeBatch(ctx, b) // a failure is in Faults
		r.reuse(b)
	}()
}

// takeBatch takes the pending metadata as the next batch, with the channel
// closed once the batch before it is written (nil for none) and the one to
// close once it is.
func (r *Run) takeBatch() (b Batch, prev, done chan struct{}) {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	b = r.pending
	r.pending = Batch{Run: r.id, Records: r.spare.Records, Entries: r.spare.Entries}
	r.spare.Records, r.spare.Entries = nil, nil
	if r.pending.Records == nil {
		r.pending.Records = make([]NodeRecord, 0, min(len(b.Records), r.c.flushEvery))
	}
	r.lastFlush = r.c.now()
	r.mu.Unlock()
	prev, done = r.flushTail, make(chan struct{})
	r.flushTail = done
	return b, prev, done
}

// writeBatch writes a batch of the run's metadata, and its log.
func (r *Run) writeBatch(ctx context.Context, b Batch) error {
	// Metadata is written even when the run's context is cancelled: what was
	// executed is worth keeping; so is the log.
	ctx = context.WithoutCancel(ctx)
	if err := r.c.log.flushRun(ctx, r.id); err != nil {
		r.fault(ctx, faultRunLog, ActorAdapter, "", err)
	}
	if len(b.Records) == 0 && len(b.Entries) == 0 && len(b.Hits) == 0 {
		return nil
	}
	b.Now = r.c.now()
	// Buffered results go first, so that no entry points to a result that
	// is not stored yet. When they cannot be written, the batch's entries
	// are dropped (they may point to those results); its history and hits
	// are still written.
	var errs []error
	if f, ok := As[ResultFlusher](r.c.results); ok {
		if err := f.FlushResults(ctx); err != nil {
			err = fmt.Errorf("flowcache: writing results of run %s: %w", r.id, err)
			r.storeFailed(ctx, faultResultWrite, ActorResultStore, "", "", MessageFlush, err)
			errs = append(errs, err)
			b.Entries = nil
		}
	}
	if err := r.c.meta.Write(ctx, b); err != nil {
		err = fmt.Errorf("flowcache: writing metadata of run %s: %w", r.id, err)
		r.storeFailed(ctx, faultMeta, ActorMetadataStore, "", "", MessageWrite, err)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// End writes what is pending and closes the run's log (WithRunLogs). The run
// must not be used afterwards: events it emits later are kept in memory
// only. A store that fails to write is not an error of End: it was said
// once at slog.LevelWarn and is in Faults, and the run's values are right;
// End returns nil.
func (r *Run) End(ctx context.Context) error {
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return nil
	}
	r.ended = true
	r.mu.Unlock()
	r.ahead.Load().end()
	r.stores.Wait()
	_ = r.Flush(ctx) // a failure is in Faults
	// The code manifests after the nodes' metadata: describing code may
	// start parsing a module (see DefaultManifestWait), which is then left
	// to run in the background; it should not slow the run's last write.
	if !r.noWrite {
		r.waitManifests(ctx)
		_ = r.Flush(ctx)
		if e, ok := As[RunEnder](r.c.meta); ok {
			if err := e.EndRun(context.WithoutCancel(ctx), r.id); err != nil {
				err = fmt.Errorf("flowcache: ending run %s: %w", r.id, err)
				r.storeFailed(ctx, faultMeta, ActorMetadataStore, "", "", MessageWrite, err)
			}
		}
	}
	if lerr := r.c.log.closeRun(context.WithoutCancel(ctx), r.id); lerr != nil && !r.noWrite {
		r.fault(ctx, faultRunLog, ActorAdapter, "", lerr)
	}
	r.summarizeFaults(ctx)
	r.endRunSpan()
	return nil
}
