package blobstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	"golang.org/x/sync/errgroup"

	"github.com/flowcache/flowcache/backends/internal/metacheck"
	"github.com/flowcache/flowcache/core"
)

// Metadata is a core.MetadataStore kept as small objects in a bucket, so
// that a bare bucket is a complete cache many machines can share. See the
// package doc for the objects it writes and what concurrent writers can and
// cannot do to them.
//
// It is safe for concurrent use by goroutines, processes and machines.
type Metadata struct {
	bucket  *blob.Bucket
	prefix  string
	owned   bool
	workers int
	now     func() time.Time
	nonce   string
	seq     atomic.Uint64
	closed  atomic.Bool
	stripes [64]sync.Mutex // serialize a process's read-modify-writes of a node index

	mu     sync.Mutex
	begun  map[core.RunID]bool   // runs whose run object this store wrote or saw
	nodeOf map[core.KeyID]string // the node of keys seen, to update a hit's index without a read

	// The preload snapshot of the last Preload: its object name, its
	// nodes, and its entries as this store last wrote or read them.
	snapMu    sync.Mutex
	snapName  string
	snapNodes map[string]bool
	snap      map[core.KeyID]snapEntry
}

var (
	_ core.MetadataStore = (*Metadata)(nil)
	_ core.Preloader     = (*Metadata)(nil)
	_ core.EntryWalker   = (*Metadata)(nil)
)

// MetadataOption configures a Metadata store.
type MetadataOption func(*Metadata)

// WithConcurrency sets how many requests a Metadata store sends at once for
// one call (default 32): a Preload of 1000 nodes is 1000 reads, a batch of
// 256 new entries about 300 writes.
func WithConcurrency(n int) MetadataOption {
	return func(m *Metadata) {
		if n > 0 {
			m.workers = n
		}
	}
}

// WithMetadataOwnedBucket makes Close close the bucket.
func WithMetadataOwnedBucket() MetadataOption { return func(m *Metadata) { m.owned = true } }

// NewMetadata returns a metadata store keeping its objects under prefix in
// bucket (prepended as is: use a trailing "/", e.g. "cache/meta/").
func NewMetadata(bucket *blob.Bucket, prefix string, opts ...MetadataOption) *Metadata {
	var nonce [6]byte
	rand.Read(nonce[:])
	m := &Metadata{
		bucket: bucket, prefix: prefix, workers: 32, now: time.Now,
		nonce: hex.EncodeToString(nonce[:]),
		begun: map[core.RunID]bool{}, nodeOf: map[core.KeyID]string{},
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// NewStores returns a complete cache in bucket: results under
// prefix+"results/" (a Store) and metadata under prefix+"meta/" (a
// Metadata). Closing the Stores closes both and the bucket.
func NewStores(bucket *blob.Bucket, prefix string, opts ...Option) *core.Stores {
	res := New(bucket, append(slices.Clone(opts), WithPrefix(prefix+"results/"))...)
	meta := NewMetadata(bucket, prefix+"meta/")
	return &core.Stores{Metadata: meta, Results: res, Close: func() error {
		return errors.Join(meta.Close(), res.Close(), bucket.Close())
	}}
}

// safeName returns s when it can be an object name part as is, else "~"
// and the hex SHA-256 of s (the objects keep the original inside).
func safeName(s string) string {
	ok := s != "" && len(s) <= 128 && !strings.HasPrefix(s, "~")
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
	}
	if ok {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "~" + hex.EncodeToString(sum[:])
}

func nodeHash(node string) string {
	sum := sha256.Sum256([]byte("flowcache-node\x00" + node))
	return hex.EncodeToString(sum[:16])
}

func (m *Metadata) entryName(id core.KeyID) string {
	return m.prefix + "entries/" + safeName(string(id))
}
func (m *Metadata) usedName(id core.KeyID) string { return m.prefix + "used/" + safeName(string(id)) }
func (m *Metadata) indexName(node string) string  { return m.prefix + "nodes/" + nodeHash(node) }
func (m *Metadata) runName(id core.RunID) string  { return m.prefix + "runs/" + safeName(string(id)) }
func (m *Metadata) historyDir(id core.RunID) string {
	return m.prefix + "history/" + safeName(string(id)) + "/"
}

func (m *Metadata) stripe(node string) int {
	h := fnv.New32a()
	h.Write([]byte(node))
	return int(h.Sum32() % uint32(len(m.stripes)))
}

func (m *Metadata) checkOpen(op string) error {
	if m.closed.Load() {
		return fmt.Errorf("bucket metadata: %s: %w", op, core.ErrClosed)
	}
	return nil
}

// read returns the object's bytes, or an error wrapping core.ErrNotFound.
func (m *Metadata) read(ctx context.Context, name string) ([]byte, error) {
	b, err := m.bucket.ReadAll(ctx, name)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("object %q: %w", name, core.ErrNotFound)
	}
	return b, err
}

// write stores an object whole: every driver makes a whole-object write
// atomic (readers see the old or the new bytes, never a mix).
func (m *Metadata) write(ctx context.Context, name string, data []byte, ifNotExist bool) error {
	// Upload, not NewWriter: azureblob's writer panics when a conditional
	// write is refused, its Upload reports FailedPrecondition.
	err := m.bucket.Upload(ctx, name, bytes.NewReader(data), &blob.WriterOptions{
		ContentType: "application/octet-stream", IfNotExist: ifNotExist,
	})
	if ifNotExist && gcerrors.Code(err) == gcerrors.FailedPrecondition {
		return nil
	}
	return err
}

func (m *Metadata) remove(ctx context.Context, name string) error {
	if err := m.bucket.Delete(ctx, name); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return err
	}
	return nil
}

func (m *Metadata) group(ctx context.Context) (*errgroup.Group, context.Context) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.workers)
	return g, gctx
}

func (m *Metadata) learn(id core.KeyID, node string) {
	m.mu.Lock()
	if len(m.nodeOf) > 1<<17 {
		clear(m.nodeOf)
	}
	m.nodeOf[id] = node
	m.mu.Unlock()
}

// BeginRun records the start of a run; a known run is left as it is.
func (m *Metadata) BeginRun(ctx context.Context, run core.RunInfo) error {
	if run.ID == "" {
		return fmt.Errorf("bucket metadata: begin run: %w: empty run id", core.ErrInvalid)
	}
	if err := m.checkOpen("begin run " + string(run.ID)); err != nil {
		return err
	}
	return m.begin(ctx, run.ID, metacheck.Or(run.Started, m.now()))
}

func (m *Metadata) begin(ctx context.Context, id core.RunID, started time.Time) error {
	m.mu.Lock()
	done := m.begun[id]
	m.mu.Unlock()
	if done {
		return nil
	}
	// IfNotExist: the first BeginRun of a run wins, as with a database.
	if err := m.write(ctx, m.runName(id), encodeRun(core.RunInfo{ID: id, Started: started}), true); err != nil {
		return fmt.Errorf("bucket metadata: begin run %s: %w", id, err)
	}
	m.mu.Lock()
	m.begun[id] = true
	m.mu.Unlock()
	return nil
}

// Get returns the entry of a cache key. A damaged entry object reads as
// missing (a miss), with the damage in the error text.
func (m *Metadata) Get(ctx context.Context, id core.KeyID) (core.Entry, error) {
	if err := m.checkOpen("get key " + string(id)); err != nil {
		return core.Entry{}, err
	}
	// The entry and its last-used time are separate objects (see the
	// package doc); read both at once.
	var used time.Time
	var usedErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		b, err := m.read(ctx, m.usedName(id))
		if err == nil {
			used, err = decodeTime(kindUsed, b)
		}
		if err != nil && !errors.Is(err, core.ErrNotFound) && !errors.Is(err, core.ErrCorrupt) {
			usedErr = err
		}
	}()
	e, err := m.readEntry(ctx, id)
	<-done
	if err != nil {
		return core.Entry{}, fmt.Errorf("bucket metadata: get key %s: %w", id, err)
	}
	if usedErr != nil {
		return core.Entry{}, fmt.Errorf("bucket metadata: get key %s: last-used time: %w", id, usedErr)
	}
	if used.After(e.LastUsed) {
		e.LastUsed = used
	}
	m.learn(id, e.Key.Node)
	return e, nil
}

// readEntry reads an entry object; a damaged one is not found.
func (m *Metadata) readEntry(ctx context.Context, id core.KeyID) (core.Entry, error) {
	b, err := m.read(ctx, m.entryName(id))
	if err != nil {
		return core.Entry{}, err
	}
	e, err := decodeEntry(b)
	if err != nil {
		return core.Entry{}, fmt.Errorf("%w (entry object damaged: %v)", core.ErrNotFound, err)
	}
	if e.Key.ID() != id {
		return core.Entry{}, fmt.Errorf("%w (entry object holds the key %s)", core.ErrNotFound, e.Key.ID().Short())
	}
	return e, nil
}

// readIndex reads a node's index; a missing or damaged index is empty (its
// entries are then found by Get, and the next write rebuilds it).
func (m *Metadata) readIndex(ctx context.Context, node string) (map[core.KeyID]indexEntry, error) {
	b, err := m.read(ctx, m.indexName(node))
	if errors.Is(err, core.ErrNotFound) {
		return map[core.KeyID]indexEntry{}, nil
	}
	if err != nil {
		return nil, err
	}
	ix, err := decodeIndex(b)
	if err != nil {
		return map[core.KeyID]indexEntry{}, nil
	}
	return ix, nil
}

// nodeWrite is what a batch changes in one node's index.
type nodeWrite struct {
	node    string
	entries []core.Entry
	hits    []core.KeyID
	healed  map[core.KeyID]core.Entry // hit entries read from their objects
}

// Write applies a batch: the entries and last-used times first, then the
// node indexes that point to them, then the run's records as one object.
// An invalid batch writes nothing. A failure part way (a lost connection)
// can leave part of a batch written; every object written is valid on its
// own, and a missing part is a cache miss.
func (m *Metadata) Write(ctx context.Context, b core.Batch) error {
	if err := metacheck.Validate(b); err != nil {
		return fmt.Errorf("bucket metadata: write: %w", err)
	}
	if err := m.checkOpen("write"); err != nil {
		return err
	}
	now := metacheck.Time(metacheck.Now(b, m.now))
	if err := m.writeEntries(ctx, b, now); err != nil {
		return fmt.Errorf("bucket metadata: write: %w", err)
	}
	if len(b.Records) > 0 {
		if err := m.begin(ctx, b.Run, now); err != nil {
			return err
		}
		name := fmt.Sprintf("%s%020d-%08d-%s", m.historyDir(b.Run), time.Now().UnixNano(), m.seq.Add(1), m.nonce)
		if err := m.write(ctx, name, seal(kindHistory, core.AppendRecords(nil, b.Records)), false); err != nil {
			return fmt.Errorf("bucket metadata: write records of run %s: %w", b.Run, err)
		}
	}
	return nil
}

func (m *Metadata) writeEntries(ctx context.Context, b core.Batch, now time.Time) error {
	if len(b.Entries) == 0 && len(b.Hits) == 0 {
		return nil
	}
	byNode := map[string]*nodeWrite{}
	at := func(node string) *nodeWrite {
		w := byNode[node]
		if w == nil {
			w = &nodeWrite{node: node, healed: map[core.KeyID]core.Entry{}}
			byNode[node] = w
		}
		return w
	}
	for _, e := range b.Entries {
		at(e.Key.Node).entries = append(at(e.Key.Node).entries, e)
	}
	// A hit names a key only: find its node, from what this store has seen
	// or else from the entry object. A hit on a missing key is dropped.
	var unknown []core.KeyID
	m.mu.Lock()
	for _, id := range b.Hits {
		if node, ok := m.nodeOf[id]; ok {
			at(node).hits = append(at(node).hits, id)
		} else {
			unknown = append(unknown, id)
		}
	}
	m.mu.Unlock()
	found := make([]core.Entry, len(unknown))
	g, gctx := m.group(ctx)
	for i, id := range unknown {
		g.Go(func() error {
			e, err := m.readEntry(gctx, id)
			if errors.Is(err, core.ErrNotFound) {
				return nil
			}
			found[i] = e
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, e := range found {
		if e.Key.Node != "" {
			w := at(e.Key.Node)
			w.hits = append(w.hits, unknown[i])
			w.healed[unknown[i]] = e
		}
	}

	// Lock the stripes of every node involved, in order, for the whole
	// read-modify-write of their indexes.
	var stripes []int
	for node := range byNode {
		stripes = append(stripes, m.stripe(node))
	}
	slices.Sort(stripes)
	stripes = slices.Compact(stripes)
	for _, s := range stripes {
		m.stripes[s].Lock()
		defer m.stripes[s].Unlock()
	}

	nodes := make([]*nodeWrite, 0, len(byNode))
	for _, w := range byNode {
		nodes = append(nodes, w)
	}
	indexes := make([]map[core.KeyID]indexEntry, len(nodes))
	g, gctx = m.group(ctx)
	for i, w := range nodes {
		g.Go(func() (err error) {
			indexes[i], err = m.readIndex(gctx, w.node)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}

	// Entries and last-used times.
	g, gctx = m.group(ctx)
	for i, w := range nodes {
		ix := indexes[i]
		for _, e := range w.entries {
			id := e.Key.ID()
			created := metacheck.Time(metacheck.Or(e.Created, now))
			if old, ok := ix[id]; ok && old.DataVersion == e.DataVersion && old.Format == e.Format && !old.Created.IsZero() {
				created = old.Created
			}
			stored := core.Entry{Key: e.Key, DataVersion: e.DataVersion, Format: e.Format, Created: created, LastUsed: metacheck.Time(metacheck.Or(e.LastUsed, now))}
			ix[id] = indexEntry{DataVersion: stored.DataVersion, Format: stored.Format, Created: stored.Created, LastUsed: stored.LastUsed}
			g.Go(func() error { return m.write(gctx, m.entryName(id), encodeEntry(stored), false) })
			m.learn(id, w.node)
		}
		for _, id := range w.hits {
			cur, ok := ix[id]
			if !ok {
				e, healed := w.healed[id]
				if !healed {
					// Seen before but not in the index (a lost index update,
					// or deleted since): read the entry to be sure.
					var err error
					if e, err = m.readEntry(gctx, id); err != nil {
						continue
					}
				}
				cur = indexEntry{DataVersion: e.DataVersion, Format: e.Format, Created: e.Created, LastUsed: e.LastUsed}
				if b, err := m.read(gctx, m.usedName(id)); err == nil {
					if t, err := decodeTime(kindUsed, b); err == nil && t.After(cur.LastUsed) {
						cur.LastUsed = t
					}
				}
			}
			if cur.LastUsed.Before(now) {
				cur.LastUsed = now
				g.Go(func() error { return m.write(gctx, m.usedName(id), encodeTime(kindUsed, now), false) })
			}
			ix[id] = cur
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}

	// The indexes, once what they point to is written, and the snapshot.
	g, gctx = m.group(ctx)
	for i, w := range nodes {
		g.Go(func() error { return m.write(gctx, m.indexName(w.node), encodeIndex(indexes[i]), false) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return m.updateSnapshot(ctx, nodes, indexes)
}

// Preload returns the entries of nodes. It reads the preload snapshot of
// that set of nodes, one object; when there is none (or it is damaged) it
// reads each node's index (one request a node, sent at once up to the
// store's concurrency) and writes the snapshot for the next run.
func (m *Metadata) Preload(ctx context.Context, nodes []string) (map[core.KeyID]core.Entry, error) {
	if err := m.checkOpen("preload"); err != nil {
		return nil, err
	}
	nodes = slices.Compact(slices.Sorted(slices.Values(nodes)))
	name := m.snapshotName(nodes)
	snap, err := m.readSnapshot(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("bucket metadata: preload: %w", err)
	}
	if snap == nil {
		exists, err := m.existingIndexes(ctx, len(nodes))
		if err != nil {
			return nil, fmt.Errorf("bucket metadata: preload: %w", err)
		}
		indexes := make([]map[core.KeyID]indexEntry, len(nodes))
		g, gctx := m.group(ctx)
		for i, node := range nodes {
			if exists != nil && !exists[m.indexName(node)] {
				indexes[i] = map[core.KeyID]indexEntry{}
				continue
			}
			g.Go(func() (err error) {
				indexes[i], err = m.readIndex(gctx, node)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, fmt.Errorf("bucket metadata: preload: %w", err)
		}
		snap = map[core.KeyID]snapEntry{}
		for i, ix := range indexes {
			for id, e := range ix {
				snap[id] = snapEntry{Node: nodes[i], indexEntry: e}
			}
		}
		if err := m.write(ctx, name, encodeSnapshot(snap), false); err != nil {
			return nil, fmt.Errorf("bucket metadata: preload: writing the snapshot: %w", err)
		}
	}
	set := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		set[n] = true
	}
	out := make(map[core.KeyID]core.Entry, len(snap))
	m.mu.Lock()
	if len(m.nodeOf) > 1<<17 {
		clear(m.nodeOf)
	}
	for id, e := range snap {
		out[id] = core.Entry{DataVersion: e.DataVersion, Format: e.Format, Created: e.Created, LastUsed: e.LastUsed}
		m.nodeOf[id] = e.Node
	}
	m.mu.Unlock()
	m.snapMu.Lock()
	m.snapName, m.snapNodes, m.snap = name, set, snap
	m.snapMu.Unlock()
	return out, nil
}

// existingIndexes lists the node indexes in the bucket (a thousand names a
// request), so that a Preload without a snapshot reads only the indexes
// that exist: the first run of a new pipeline would otherwise send a read
// per node to learn that there is nothing. It gives up, returning nil (read
// every index), when the bucket holds more than 20 indexes per node asked
// for: listing them all would cost more than reading the few needed.
func (m *Metadata) existingIndexes(ctx context.Context, nodes int) (map[string]bool, error) {
	limit := 20 * max(nodes, 50)
	exists := map[string]bool{}
	it := m.bucket.List(&blob.ListOptions{Prefix: m.prefix + "nodes/"})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return exists, nil
		}
		if err != nil {
			return nil, err
		}
		if exists[obj.Key] = true; len(exists) > limit {
			return nil, nil
		}
	}
}

// snapshotName names the preload snapshot of a sorted set of nodes.
func (m *Metadata) snapshotName(nodes []string) string {
	h := sha256.New()
	for _, n := range nodes {
		h.Write([]byte(n))
		h.Write([]byte{0})
	}
	return m.prefix + "preload/" + hex.EncodeToString(h.Sum(nil)[:16])
}

// readSnapshot reads a preload snapshot; a missing or damaged one is nil.
func (m *Metadata) readSnapshot(ctx context.Context, name string) (map[core.KeyID]snapEntry, error) {
	b, err := m.read(ctx, name)
	if errors.Is(err, core.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	snap, err := decodeSnapshot(b)
	if err != nil {
		return nil, nil
	}
	return snap, nil
}

// updateSnapshot brings the last Preload's snapshot up to date with what a
// batch wrote, and rewrites it when that changed it.
func (m *Metadata) updateSnapshot(ctx context.Context, nodes []*nodeWrite, indexes []map[core.KeyID]indexEntry) error {
	m.snapMu.Lock()
	defer m.snapMu.Unlock()
	if m.snap == nil {
		return nil
	}
	changed := false
	for i, w := range nodes {
		if !m.snapNodes[w.node] {
			continue
		}
		ids := make([]core.KeyID, 0, len(w.entries)+len(w.hits))
		for _, e := range w.entries {
			ids = append(ids, e.Key.ID())
		}
		ids = append(ids, w.hits...)
		for _, id := range ids {
			if e, ok := indexes[i][id]; ok && m.snap[id].indexEntry != e {
				m.snap[id] = snapEntry{Node: w.node, indexEntry: e}
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	return m.write(ctx, m.snapName, encodeSnapshot(m.snap), false)
}

// dropSnapshots deletes every preload snapshot, so that no Preload returns
// an entry deleted since it was written.
func (m *Metadata) dropSnapshots(ctx context.Context) error {
	m.snapMu.Lock()
	m.snap, m.snapNodes, m.snapName = nil, nil, ""
	m.snapMu.Unlock()
	names, err := m.list(ctx, m.prefix+"preload/")
	if err != nil {
		return err
	}
	g, gctx := m.group(ctx)
	for _, name := range names {
		g.Go(func() error { return m.remove(gctx, name) })
	}
	return g.Wait()
}

// Delete removes the entry of a cache key: from its node's index first, so
// that no Preload finds it, then its objects.
func (m *Metadata) Delete(ctx context.Context, id core.KeyID) error {
	if err := m.checkOpen("delete key " + string(id)); err != nil {
		return err
	}
	wrap := func(err error) error { return fmt.Errorf("bucket metadata: delete key %s: %w", id, err) }
	e, err := m.readEntry(ctx, id)
	if err == nil {
		if err := m.dropSnapshots(ctx); err != nil {
			return wrap(err)
		}
	}
	switch {
	case err == nil:
		s := m.stripe(e.Key.Node)
		m.stripes[s].Lock()
		ix, err := m.readIndex(ctx, e.Key.Node)
		if err == nil {
			if _, ok := ix[id]; ok {
				delete(ix, id)
				if len(ix) == 0 {
					err = m.remove(ctx, m.indexName(e.Key.Node))
				} else {
					err = m.write(ctx, m.indexName(e.Key.Node), encodeIndex(ix), false)
				}
			}
		}
		m.stripes[s].Unlock()
		if err != nil {
			return wrap(err)
		}
	case !errors.Is(err, core.ErrNotFound):
		return wrap(err)
	}
	if err := errors.Join(m.remove(ctx, m.entryName(id)), m.remove(ctx, m.usedName(id))); err != nil {
		return wrap(err)
	}
	m.mu.Lock()
	delete(m.nodeOf, id)
	m.mu.Unlock()
	return nil
}

// list returns the names of the objects under prefix, sorted.
func (m *Metadata) list(ctx context.Context, prefix string) ([]string, error) {
	var names []string
	it := m.bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			slices.Sort(names)
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		if !obj.IsDir {
			names = append(names, obj.Key)
		}
	}
}

// readAll reads the named objects at once; a missing one reads as nil.
func (m *Metadata) readAll(ctx context.Context, names []string) ([][]byte, error) {
	out := make([][]byte, len(names))
	g, gctx := m.group(ctx)
	for i, name := range names {
		g.Go(func() error {
			b, err := m.read(gctx, name)
			if errors.Is(err, core.ErrNotFound) {
				return nil
			}
			out[i] = b
			return err
		})
	}
	return out, g.Wait()
}

// DeleteAll removes every metadata object under the store's prefix.
func (m *Metadata) DeleteAll(ctx context.Context) error {
	if err := m.checkOpen("delete all"); err != nil {
		return err
	}
	names, err := m.list(ctx, m.prefix)
	if err != nil {
		return fmt.Errorf("bucket metadata: delete all: %w", err)
	}
	g, gctx := m.group(ctx)
	for _, name := range names {
		g.Go(func() error { return m.remove(gctx, name) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("bucket metadata: delete all: %w", err)
	}
	m.mu.Lock()
	clear(m.begun)
	clear(m.nodeOf)
	m.mu.Unlock()
	m.snapMu.Lock()
	m.snap, m.snapNodes, m.snapName = nil, nil, ""
	m.snapMu.Unlock()
	return nil
}

// Runs returns every run, oldest first (by start time, then id).
func (m *Metadata) Runs(ctx context.Context) ([]core.RunInfo, error) {
	if err := m.checkOpen("runs"); err != nil {
		return nil, err
	}
	names, err := m.list(ctx, m.prefix+"runs/")
	if err != nil {
		return nil, fmt.Errorf("bucket metadata: runs: %w", err)
	}
	objs, err := m.readAll(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("bucket metadata: runs: %w", err)
	}
	runs := make([]core.RunInfo, 0, len(objs))
	for i, b := range objs {
		if b == nil {
			continue
		}
		r, err := decodeRun(b)
		if err != nil {
			return nil, fmt.Errorf("bucket metadata: runs: object %q: %w", names[i], err)
		}
		runs = append(runs, r)
	}
	slices.SortFunc(runs, func(a, b core.RunInfo) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return strings.Compare(string(a.ID), string(b.ID))
	})
	return runs, nil
}

// Run returns the records of a run in the order their batches were written.
func (m *Metadata) Run(ctx context.Context, run core.RunID) ([]core.NodeRecord, error) {
	if err := m.checkOpen("run " + string(run)); err != nil {
		return nil, err
	}
	wrap := func(err error) error { return fmt.Errorf("bucket metadata: run %s: %w", run, err) }
	names, err := m.list(ctx, m.historyDir(run))
	if err != nil {
		return nil, wrap(err)
	}
	if len(names) == 0 {
		b, err := m.read(ctx, m.runName(run))
		if err != nil {
			return nil, wrap(err)
		}
		if r, err := decodeRun(b); err != nil || r.ID != run {
			return nil, wrap(fmt.Errorf("%w (run object damaged or of another run)", core.ErrNotFound))
		}
		return []core.NodeRecord{}, nil
	}
	objs, err := m.readAll(ctx, names)
	if err != nil {
		return nil, wrap(err)
	}
	var recs []core.NodeRecord
	for i, b := range objs {
		if b == nil {
			continue
		}
		p, err := unseal(kindHistory, b)
		if err != nil {
			return nil, wrap(fmt.Errorf("object %q: %w", names[i], err))
		}
		rs, err := core.DecodeRecords(p)
		if err != nil {
			return nil, wrap(fmt.Errorf("object %q: %w", names[i], err))
		}
		recs = append(recs, rs...)
	}
	return recs, nil
}

// WalkEntries calls fn for every entry, in key id order, reading them a
// chunk at a time, and stops at the first error fn returns. Entries
// written or deleted during the walk may or may not be seen.
func (m *Metadata) WalkEntries(ctx context.Context, fn func(core.Entry) error) error {
	if err := m.checkOpen("walk entries"); err != nil {
		return err
	}
	names, err := m.list(ctx, m.prefix+"entries/")
	if err != nil {
		return fmt.Errorf("bucket metadata: walk entries: %w", err)
	}
	const chunk = 256
	for len(names) > 0 {
		n := min(chunk, len(names))
		part := names[:n]
		names = names[n:]
		objs, err := m.readAll(ctx, part)
		if err != nil {
			return fmt.Errorf("bucket metadata: walk entries: %w", err)
		}
		entries := make([]core.Entry, 0, n)
		for _, b := range objs {
			if e, err := decodeEntry(b); err == nil && b != nil {
				entries = append(entries, e)
			}
		}
		used := make([]string, len(entries))
		for i, e := range entries {
			used[i] = m.usedName(e.ID())
		}
		times, err := m.readAll(ctx, used)
		if err != nil {
			return fmt.Errorf("bucket metadata: walk entries: %w", err)
		}
		for i, e := range entries {
			if t, err := decodeTime(kindUsed, times[i]); err == nil && t.After(e.LastUsed) {
				e.LastUsed = t
			}
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close marks the store closed and closes the bucket if the store owns it.
func (m *Metadata) Close() error {
	if m.closed.Swap(true) || !m.owned {
		return nil
	}
	return m.bucket.Close()
}

var _ core.EntryRemover = (*Metadata)(nil)

// RemoveEntries deletes the entries that are still as they were read (same
// data version and format, not stored or used since): the preload
// snapshots first, then, node by node, the entries from the node's index
// and their objects, many requests at once. A bucket has no conditional
// delete, so a run that stores or uses an entry between the check and the
// delete can lose it; that costs that run's successor an execution, never
// a wrong value.
func (m *Metadata) RemoveEntries(ctx context.Context, entries []core.Entry) ([]core.KeyID, error) {
	if err := m.checkOpen("remove entries"); err != nil {
		return nil, err
	}
	wrap := func(err error) error { return fmt.Errorf("bucket metadata: remove entries: %w", err) }
	if len(entries) == 0 {
		return nil, nil
	}
	if err := m.dropSnapshots(ctx); err != nil {
		return nil, wrap(err)
	}
	// Read what is stored now.
	current := make([]core.Entry, len(entries))
	g, gctx := m.group(ctx)
	for i, want := range entries {
		g.Go(func() error {
			e, err := m.Get(gctx, want.ID())
			if errors.Is(err, core.ErrNotFound) {
				return nil
			}
			current[i] = e
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, wrap(err)
	}
	byNode := map[string][]core.KeyID{}
	for i, want := range entries {
		cur := current[i]
		if cur.Key.Node == "" || cur.DataVersion != want.DataVersion || cur.Format != want.Format ||
			cur.Created.After(want.Created) || cur.LastUsed.After(want.LastUsed) {
			continue
		}
		byNode[cur.Key.Node] = append(byNode[cur.Key.Node], want.ID())
	}
	var (
		mu      sync.Mutex
		removed []core.KeyID
	)
	g, gctx = m.group(ctx)
	for node, ids := range byNode {
		g.Go(func() error {
			s := m.stripe(node)
			m.stripes[s].Lock()
			ix, err := m.readIndex(gctx, node)
			if err == nil {
				for _, id := range ids {
					delete(ix, id)
				}
				if len(ix) == 0 {
					err = m.remove(gctx, m.indexName(node))
				} else {
					err = m.write(gctx, m.indexName(node), encodeIndex(ix), false)
				}
			}
			m.stripes[s].Unlock()
			if err != nil {
				return err
			}
			for _, id := range ids {
				if err := errors.Join(m.remove(gctx, m.entryName(id)), m.remove(gctx, m.usedName(id))); err != nil {
					return err
				}
			}
			mu.Lock()
			removed = append(removed, ids...)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return removed, wrap(err)
	}
	m.mu.Lock()
	for _, id := range removed {
		delete(m.nodeOf, id)
	}
	m.mu.Unlock()
	return removed, nil
}
