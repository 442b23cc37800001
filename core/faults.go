package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"syscall"
	"unicode/utf8"
)

// ErrReadOnly is wrapped by the errors of a store that can be read but not
// written (a cache directory opened read-only, see backends/local). A run
// whose metadata store refuses BeginRun with it serves hits and stores
// nothing.
var ErrReadOnly = errors.New("read-only store")

// ErrUnavailable is wrapped by the errors of stores that could not be
// opened at all (see Unavailable). A run whose metadata store refuses
// BeginRun with it executes every node without looking anything up, and
// stores nothing.
var ErrUnavailable = errors.New("cache unavailable")

// Unavailable returns stores standing in for stores that could not be
// opened (a full disk, a directory that cannot be created, a bucket that
// cannot be reached): every method fails with an error wrapping
// ErrUnavailable and cause. A Cache over them still runs: each run executes
// every node, stores nothing and says why once, at slog.LevelWarn. An
// executor that opens its stores itself uses it so that a store it cannot
// open does not fail its runs (package driver does).
func Unavailable(cause error) *Stores {
	err := fmt.Errorf("%w: %w", ErrUnavailable, cause)
	return &Stores{Metadata: unavailableMeta{err}, Results: unavailableResults{err}}
}

type unavailableMeta struct{ err error }

var (
	_ MetadataStore = unavailableMeta{}
	_ LogStore      = unavailableMeta{}
)

func (u unavailableMeta) BeginRun(context.Context, RunInfo) error               { return u.err }
func (u unavailableMeta) Get(context.Context, KeyID) (Entry, error)             { return Entry{}, u.err }
func (u unavailableMeta) Write(context.Context, Batch) error                    { return u.err }
func (u unavailableMeta) Delete(context.Context, KeyID) error                   { return u.err }
func (u unavailableMeta) DeleteAll(context.Context) error                       { return u.err }
func (u unavailableMeta) Runs(context.Context) ([]RunInfo, error)               { return nil, u.err }
func (u unavailableMeta) Run(context.Context, RunID) ([]NodeRecord, error)      { return nil, u.err }
func (u unavailableMeta) Close() error                                          { return nil }
func (u unavailableMeta) OpenLog(context.Context, RunID) (LogWriter, error)     { return nil, u.err }
func (u unavailableMeta) ReadLog(context.Context, RunID) (io.ReadCloser, error) { return nil, u.err }
func (u unavailableMeta) DeleteLog(context.Context, RunID) error                { return u.err }

type unavailableResults struct{ err error }

var _ ResultStore = unavailableResults{}

func (u unavailableResults) Put(context.Context, ResultID, func(io.Writer) error) (int64, error) {
	return 0, u.err
}
func (u unavailableResults) Get(context.Context, ResultID) (io.ReadCloser, error) { return nil, u.err }
func (u unavailableResults) Exists(context.Context, ResultID) (bool, error)       { return false, u.err }
func (u unavailableResults) Delete(context.Context, ResultID) error               { return u.err }
func (u unavailableResults) DeleteAll(context.Context) error                      { return u.err }
func (u unavailableResults) Close() error                                         { return nil }

// CheckName returns an error wrapping ErrInvalid, naming name with %q, when
// name cannot name a node, a task or an input: it is not valid UTF-8. Such
// a name does not survive the stores' text encodings (JSON, SQLite text),
// so its entries could never be found again. Run.Node and Run.Expand check
// the names they are given (the node's, its task's and its dependencies');
// package driver checks every name at Build.
func CheckName(what, name string) error {
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: %s name %q is not valid UTF-8", ErrInvalid, what, name)
	}
	return nil
}

// faultKind is a part of the cache that failed during a run; each is
// reported once per run.
type faultKind uint8

const (
	faultBegin       faultKind = iota // BeginRun: the run stores nothing
	faultMeta                         // metadata lookups and writes
	faultResultWrite                  // result writes
	faultRunLog                       // the run's log in the stores
	faultEncode                       // a format that could not encode a result
	numFaultKinds
)

// faultMessage says what a fault of kind means for the run.
func faultMessage(k faultKind, err error) string {
	switch k {
	case faultBegin:
		switch {
		case errors.Is(err, ErrReadOnly):
			return "the cache is read-only: this run serves hits and stores nothing"
		case errors.Is(err, ErrUnavailable):
			return "the cache is unavailable: this run executes every node and stores nothing"
		}
		return "the cache cannot record this run: it serves the hits it can read and stores nothing"
	case faultMeta:
		return "the metadata store failed: the run goes on, executing the nodes it cannot look up, without the entries and history it cannot write"
	case faultResultWrite:
		return "writing the result store failed: the run goes on; results not stored are computed again next time"
	case faultRunLog:
		return "writing the run's log failed: its events are kept in memory only"
	case faultEncode:
		return "a result could not be encoded in its node's format: it is not stored, and the node runs again next time"
	}
	return "cache fault"
}

// faultState is what a run knows of one kind of fault: the first error,
// how many there were, and the nodes they were about.
type faultState struct {
	first error
	count int
	nodes []string // the first maxFaultNodes distinct node names
	more  int      // distinct nodes beyond those
}

// maxFaultNodes is how many node names a fault summary lists per kind.
const maxFaultNodes = 5

// fault reports a failure of a part of the cache: the first of each kind
// in a run becomes a cache_fault event (slog.LevelWarn: the default logger
// prints it, see WithLogger) whose message says what the run does without
// that part and how to fix the cause where it is known, and whose value is
// the error; later ones only count, and End sums them up once, in a
// cache_fault_summary event. node names the node
// the failure was about ("" for none). A fault never fails the run.
func (r *Run) fault(ctx context.Context, k faultKind, actor Actor, node string, err error) {
	r.mu.Lock()
	f := &r.faulted[k]
	first := f.first == nil
	if first {
		f.first = err
		r.faultOrder = append(r.faultOrder, k)
	}
	f.count++
	if node != "" && !slices.Contains(f.nodes, node) {
		if len(f.nodes) < maxFaultNodes {
			f.nodes = append(f.nodes, node)
		} else {
			f.more++ // a node counted twice here only makes "more" larger
		}
	}
	r.mu.Unlock()
	if first {
		msg := faultMessage(k, err)
		if fix := faultFix(k, err); fix != "" {
			msg += " (fix: " + fix + ")"
		}
		r.emit(ctx, "", "", actor, EventCacheFault, EventMessage(msg), err.Error())
	}
}

// storeFailed reports a write to a store that failed: a
// failed_store_write event for node (msg names the write) and a fault.
func (r *Run) storeFailed(ctx context.Context, k faultKind, actor Actor, node, task string, msg EventMessage, err error) {
	r.fault(ctx, k, actor, node, err)
	r.emit(ctx, node, task, actor, EventFailedStoreWrite, msg, err.Error())
}

// summarizeFaults emits the run's cache_fault_summary event when a part
// of the cache failed more than once, so that the cache_fault events did
// not say it all: one line that counts the failures of each part, names
// the nodes they were about, and says how to fix the cause where it is
// known (see faultFix). A run whose parts failed once each has said
// everything already.
func (r *Run) summarizeFaults(ctx context.Context) {
	r.mu.Lock()
	var parts []string
	total := 0
	for _, k := range r.faultOrder {
		f := r.faulted[k]
		total += f.count
		parts = append(parts, describeFault(k, f))
	}
	said := len(r.faultOrder)
	r.mu.Unlock()
	if total == said {
		return
	}
	msg := fmt.Sprintf("%d cache %s in run %s; its values are right, what was not stored runs again next time: %s",
		total, plural(total, "fault", "faults"), r.id, strings.Join(parts, "; "))
	r.emit(ctx, "", "", ActorAdapter, EventCacheFaultSummary, EventMessage(msg), "")
}

// describeFault says what one kind of fault did in a run, with the first
// error and, where known, the fix.
func describeFault(k faultKind, f faultState) string {
	var b strings.Builder
	switch k {
	case faultBegin:
		b.WriteString("the run was not recorded and stored nothing")
	case faultMeta:
		fmt.Fprintf(&b, "%d metadata %s failed", f.count, plural(f.count, "operation", "operations"))
	case faultResultWrite:
		fmt.Fprintf(&b, "%d %s not stored", f.count, plural(f.count, "result", "results"))
	case faultRunLog:
		fmt.Fprintf(&b, "the run's log was not written (%d %s)", f.count, plural(f.count, "failure", "failures"))
	case faultEncode:
		fmt.Fprintf(&b, "%d %s could not be encoded", f.count, plural(f.count, "result", "results"))
	}
	if len(f.nodes) > 0 {
		fmt.Fprintf(&b, " (%s %s", plural(len(f.nodes)+f.more, "node", "nodes"), strings.Join(quoteAll(slices.Sorted(slices.Values(f.nodes))), ", "))
		if f.more > 0 {
			fmt.Fprintf(&b, " and %d more", f.more)
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, ", first: %v", f.first)
	if fix := faultFix(k, f.first); fix != "" {
		b.WriteString("; fix: ")
		b.WriteString(fix)
	}
	return b.String()
}

// faultFix says how to fix the cause of err, a fault of kind k, where it
// is known; "" otherwise.
func faultFix(k faultKind, err error) string {
	switch {
	case k == faultEncode:
		return "give the node a format that can store the value (driver.WithFormat), change the value as the error says, or mark the node Ignore (or Disable) if it need not be cached"
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return "free space where the cache is, or bound its size (flowcache evict --max-size SIZE, package maintain's Trim)"
	case errors.Is(err, ErrReadOnly), errors.Is(err, syscall.EROFS):
		return "open the cache where it can be written, or say it is read-only (?mode=ro) to serve its hits without this warning"
	case errors.Is(err, fs.ErrPermission):
		return "give this process write permission on the cache (its directory, or the bucket's credentials)"
	case errors.Is(err, ErrUnavailable):
		return "check the cache URL and that its store is reachable (flowcache size --cache URL tries it)"
	case errors.Is(err, context.DeadlineExceeded):
		return "the store did not answer in time: check the network to it, or its load"
	}
	return ""
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Faults returns the first error of each part of the cache that failed
// during the run (the store that could not record the run, the metadata
// store, result writes, the run's log), in the order they
// happened; nil when the cache worked. Each was reported once as a
// cache_fault event at slog.LevelWarn. None of them failed the run: its
// values are right, and only what was not stored is computed again later.
func (r *Run) Faults() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []error
	for _, k := range r.faultOrder {
		out = append(out, r.faulted[k].first)
	}
	return out
}

// Stores reports whether the run writes to the stores: false when the
// store could not record it (read-only, unavailable, or failing), then it
// stores nothing (see Faults).
func (r *Run) Stores() bool {
	return !r.noWrite
}
