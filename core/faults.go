package core

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	}
	return "cache fault"
}

// fault reports a failure of a part of the cache: the first of each kind
// in a run becomes a cache_fault event (slog.LevelWarn: the default logger
// prints it, see WithLogger) whose message says what the run does without
// that part and whose value is the error; later ones only count. A fault
// never fails the run.
func (r *Run) fault(ctx context.Context, k faultKind, actor Actor, err error) {
	r.mu.Lock()
	first := r.faulted[k] == nil
	if first {
		r.faulted[k] = err
		r.faultOrder = append(r.faultOrder, k)
	}
	r.mu.Unlock()
	if first {
		r.emit(ctx, "", "", actor, EventCacheFault, EventMessage(faultMessage(k, err)), err.Error())
	}
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
		out = append(out, r.faulted[k])
	}
	return out
}

// Stores reports whether the run writes to the stores: false when the
// store could not record it (read-only, unavailable, or failing), then it
// stores nothing (see Faults).
func (r *Run) Stores() bool {
	return !r.noWrite
}
