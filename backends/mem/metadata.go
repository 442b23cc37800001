package mem

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/flowcache/flowcache/core"
)

// MetadataStore is an in-memory core.MetadataStore: maps under a mutex, with
// the semantics of package conformance (the same as local's SQLite store).
// It is safe for concurrent use.
type MetadataStore struct {
	mu      sync.RWMutex
	entries map[core.KeyID]core.Entry
	runs    []core.RunInfo
	records map[core.RunID][]core.NodeRecord // one key per run, records or not
	closed  bool
	now     func() time.Time

	leases leaseTable // see leases.go
}

var _ core.MetadataStore = (*MetadataStore)(nil)

// NewMetadataStore returns an empty in-memory metadata store.
func NewMetadataStore() *MetadataStore {
	return &MetadataStore{entries: map[core.KeyID]core.Entry{}, records: map[core.RunID][]core.NodeRecord{}, now: time.Now}
}

func errClosed(op string) error { return fmt.Errorf("mem: %s: %w", op, core.ErrClosed) }

// BeginRun records the start of a run; a known run is left as it is.
func (s *MetadataStore) BeginRun(ctx context.Context, run core.RunInfo) error {
	if err := run.ID.Validate(); err != nil {
		return fmt.Errorf("mem: begin run: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed("begin run " + string(run.ID))
	}
	s.beginLocked(run.ID, run.StartTime(s.now))
	return nil
}

func (s *MetadataStore) beginLocked(id core.RunID, started time.Time) {
	if _, ok := s.records[id]; ok {
		return
	}
	s.runs = append(s.runs, core.RunInfo{ID: id, Started: core.StoredTime(started)})
	s.records[id] = nil
}

// Get returns the entry of a cache key.
func (s *MetadataStore) Get(ctx context.Context, id core.KeyID) (core.Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return core.Entry{}, errClosed("get key " + string(id))
	}
	e, ok := s.entries[id]
	if !ok {
		return core.Entry{}, fmt.Errorf("mem: get key %s: %w", id, core.ErrNotFound)
	}
	e.Key.Deps = slices.Clone(e.Key.Deps)
	return e, nil
}

// Write applies a batch atomically.
func (s *MetadataStore) Write(ctx context.Context, b core.Batch) error {
	if err := b.Validate(); err != nil {
		return fmt.Errorf("mem: write: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed("write")
	}
	now := b.Time(s.now)
	for _, e := range b.Entries {
		id := e.Key.ID()
		created, lastUsed := e.TimesAt(now)
		if old, ok := s.entries[id]; ok && old.DataVersion == e.DataVersion && old.Format == e.Format {
			created = old.Created
		}
		key := e.Key
		key.Deps = slices.Clone(key.Deps)
		if len(key.Deps) == 0 {
			key.Deps = nil
		}
		s.entries[id] = core.Entry{Key: key, DataVersion: e.DataVersion, Format: e.Format, Created: created, LastUsed: lastUsed}
	}
	for _, h := range b.Hits {
		if e, ok := s.entries[h]; ok && e.LastUsed.Before(now) {
			e.LastUsed = now
			s.entries[h] = e
		}
	}
	if len(b.Records) > 0 {
		s.beginLocked(b.Run, now)
		recs := s.records[b.Run]
		for _, r := range b.Records {
			k := r.StoredKey()
			k.Deps = slices.Clone(k.Deps)
			if len(k.Deps) == 0 {
				k.Deps = nil
			}
			r.Key = k
			recs = append(recs, r)
		}
		s.records[b.Run] = recs
	}
	return nil
}

// Delete removes the entry of a cache key.
func (s *MetadataStore) Delete(ctx context.Context, id core.KeyID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed("delete key " + string(id))
	}
	delete(s.entries, id)
	return nil
}

// DeleteAll removes every entry and all run history.
func (s *MetadataStore) DeleteAll(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed("delete all")
	}
	clear(s.entries)
	clear(s.records)
	s.runs = nil
	return nil
}

// Runs returns every run, oldest first.
func (s *MetadataStore) Runs(ctx context.Context) ([]core.RunInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errClosed("runs")
	}
	return slices.Clone(s.runs), nil
}

// Run returns the history of a run in the order it was written.
func (s *MetadataStore) Run(ctx context.Context, run core.RunID) ([]core.NodeRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errClosed("run " + string(run))
	}
	recs, ok := s.records[run]
	if !ok {
		return nil, fmt.Errorf("mem: run %s: %w", run, core.ErrNotFound)
	}
	out := make([]core.NodeRecord, len(recs))
	for i, r := range recs {
		r.Key.Deps = slices.Clone(r.Key.Deps)
		out[i] = r
	}
	return out, nil
}

// Close marks the store closed; later calls fail with core.ErrClosed.
func (s *MetadataStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

var _ core.EntryWalker = (*MetadataStore)(nil)

// WalkEntries calls fn for every entry, in key order, on a snapshot taken
// when it is called, and stops at the first error fn returns.
func (s *MetadataStore) WalkEntries(ctx context.Context, fn func(core.Entry) error) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed("walk entries")
	}
	ids := make([]core.KeyID, 0, len(s.entries))
	for id := range s.entries {
		ids = append(ids, id)
	}
	snap := make(map[core.KeyID]core.Entry, len(s.entries))
	for id, e := range s.entries {
		snap[id] = e
	}
	s.mu.RUnlock()
	slices.Sort(ids)
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(snap[id]); err != nil {
			return err
		}
	}
	return nil
}
