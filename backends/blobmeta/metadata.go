package blobmeta

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	mathrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	"golang.org/x/sync/errgroup"

	"github.com/flowcache/flowcache/core"
)

// MetadataStore is a core.MetadataStore kept as small objects in a bucket, so
// that a bare bucket is a complete cache many machines can share. See the
// package doc for the objects it writes and what concurrent writers can and
// cannot do to them.
//
// It is safe for concurrent use by goroutines, processes and machines.
type MetadataStore struct {
	bucket  *blob.Bucket
	prefix  string
	name    string // what errors begin with (WithName)
	owned   bool
	workers int
	now     func() time.Time
	nonce   string
	seq     atomic.Uint64
	closed  atomic.Bool
	stripes [64]sync.Mutex // serialize a process's read-modify-writes of a node index
	tagsMu  sync.Mutex     // serializes a process's read-modify-writes of the tags
	cond    Conditional    // the service's conditional overwrite; nil: none

	mu     sync.Mutex
	begun  map[core.RunID]bool   // runs whose run object this store wrote or saw
	nodeOf map[core.KeyID]string // the node of keys seen, to update a hit's index without a read

	// The preload snapshot of the last Preload: its object name, its
	// nodes, and their indexes as this store last wrote or read them.
	// snapDirty says it changed since last written; snapSaving that a
	// goroutine (counted by snapSaves) is writing it.
	snapMu     sync.Mutex
	snapName   string
	snapNodes  map[string]bool
	snap       map[string]*snapNode
	snapDirty  bool
	snapSaving bool
	snapSaves  sync.WaitGroup
}

var (
	_ core.MetadataStore = (*MetadataStore)(nil)
	_ core.Preloader     = (*MetadataStore)(nil)
	_ core.EntryWalker   = (*MetadataStore)(nil)
)

// Option configures a MetadataStore.
type Option func(*MetadataStore)

// WithName sets the name errors begin with: the package the user opened
// the cache with ("s3", "gcs", "azure"; "blobmeta" by default).
func WithName(name string) Option { return func(m *MetadataStore) { m.name = name } }

// WithConcurrency sets how many requests the store sends at once for
// one call (default 32): a Preload of 1000 nodes is 1000 reads, a batch of
// 256 new entries about 300 writes.
func WithConcurrency(n int) Option {
	return func(m *MetadataStore) {
		if n > 0 {
			m.workers = n
		}
	}
}

// WithOwnedBucket makes Close close the bucket.
func WithOwnedBucket() Option { return func(m *MetadataStore) { m.owned = true } }

// New returns a metadata store keeping its objects under prefix in
// bucket (prepended as is: use a trailing "/", e.g. "cache/meta/").
func New(bucket *blob.Bucket, prefix string, opts ...Option) *MetadataStore {
	var nonce [6]byte
	rand.Read(nonce[:])
	m := &MetadataStore{
		bucket: bucket, prefix: prefix, name: "blobmeta", workers: 32, now: time.Now,
		nonce: hex.EncodeToString(nonce[:]),
		begun: map[core.RunID]bool{}, nodeOf: map[core.KeyID]string{},
		cond: conditionalOf(bucket),
	}
	for _, o := range opts {
		o(m)
	}
	return m
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

func (m *MetadataStore) entryName(id core.KeyID) string {
	return m.prefix + "entries/" + safeName(string(id))
}
func (m *MetadataStore) usedName(id core.KeyID) string {
	return m.prefix + "used/" + safeName(string(id))
}
func (m *MetadataStore) indexName(node string) string { return m.prefix + "nodes/" + nodeHash(node) }
func (m *MetadataStore) runName(id core.RunID) string {
	return m.prefix + "runs/" + safeName(string(id))
}
func (m *MetadataStore) historyDir(id core.RunID) string {
	return m.prefix + "history/" + safeName(string(id)) + "/"
}

func (m *MetadataStore) stripe(node string) int {
	h := fnv.New32a()
	h.Write([]byte(node))
	return int(h.Sum32() % uint32(len(m.stripes)))
}

func (m *MetadataStore) checkOpen(op string) error {
	if m.closed.Load() {
		return fmt.Errorf("%s: %s: %w", m.name, op, core.ErrClosed)
	}
	return nil
}

// read returns the object's bytes, or an error wrapping core.ErrNotFound.
func (m *MetadataStore) read(ctx context.Context, name string) ([]byte, error) {
	b, err := m.bucket.ReadAll(ctx, name)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("object %q: %w", name, core.ErrNotFound)
	}
	return b, err
}

// write stores an object whole: every driver makes a whole-object write
// atomic (readers see the old or the new bytes, never a mix).
func (m *MetadataStore) write(ctx context.Context, name string, data []byte, ifNotExist bool) error {
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

func (m *MetadataStore) remove(ctx context.Context, name string) error {
	if err := m.bucket.Delete(ctx, name); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return err
	}
	return nil
}

func (m *MetadataStore) group(ctx context.Context) (*errgroup.Group, context.Context) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.workers)
	return g, gctx
}

func (m *MetadataStore) learn(id core.KeyID, node string) {
	m.mu.Lock()
	if len(m.nodeOf) > 1<<17 {
		clear(m.nodeOf)
	}
	m.nodeOf[id] = node
	m.mu.Unlock()
}

// BeginRun records the start of a run; a known run is left as it is.
func (m *MetadataStore) BeginRun(ctx context.Context, run core.RunInfo) error {
	if err := run.ID.Validate(); err != nil {
		return fmt.Errorf("%s: begin run: %w", m.name, err)
	}
	if err := m.checkOpen("begin run " + string(run.ID)); err != nil {
		return err
	}
	return m.begin(ctx, run.ID, run.StartTime(m.now))
}

func (m *MetadataStore) begin(ctx context.Context, id core.RunID, started time.Time) error {
	m.mu.Lock()
	done := m.begun[id]
	m.mu.Unlock()
	if done {
		return nil
	}
	// IfNotExist: the first BeginRun of a run wins, as with a database.
	if err := m.write(ctx, m.runName(id), encodeRun(core.RunInfo{ID: id, Started: started}), true); err != nil {
		return fmt.Errorf("%s: begin run %s: %w", m.name, id, err)
	}
	m.mu.Lock()
	m.begun[id] = true
	m.mu.Unlock()
	return nil
}

// Get returns the entry of a cache key. A damaged entry object reads as
// missing (a miss), with the damage in the error text.
func (m *MetadataStore) Get(ctx context.Context, id core.KeyID) (core.Entry, error) {
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
		return core.Entry{}, fmt.Errorf("%s: get key %s: %w", m.name, id, err)
	}
	if usedErr != nil {
		return core.Entry{}, fmt.Errorf("%s: get key %s: last-used time: %w", m.name, id, usedErr)
	}
	if used.After(e.LastUsed) {
		e.LastUsed = used
	}
	m.learn(id, e.Key.Node)
	return e, nil
}

// readEntry reads an entry object; a damaged one is not found.
func (m *MetadataStore) readEntry(ctx context.Context, id core.KeyID) (core.Entry, error) {
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

// casRead is an object read for a conditional rewrite: its bytes, whether
// it exists, and its version ("" when the service has no Conditional or
// did not say).
type casRead struct {
	data    []byte
	exists  bool
	version string
}

// readCAS reads an object for a conditional rewrite.
func (m *MetadataStore) readCAS(ctx context.Context, name string) (casRead, error) {
	r, err := m.bucket.NewReader(ctx, name, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return casRead{}, nil
	}
	if err != nil {
		return casRead{}, err
	}
	defer r.Close()
	read := casRead{exists: true}
	if m.cond != nil {
		read.version, _ = m.cond.Version(r)
	}
	if read.data, err = io.ReadAll(r); err != nil {
		return casRead{}, err
	}
	return read, nil
}

// writeCAS writes data in place of the object read: where the service has
// a Conditional, only if the object is still as read (or still missing).
// It reports false when a concurrent writer changed it in between.
func (m *MetadataStore) writeCAS(ctx context.Context, name string, read casRead, data []byte) (bool, error) {
	opts := &blob.WriterOptions{ContentType: "application/octet-stream"}
	if m.cond != nil {
		if !read.exists {
			opts.IfNotExist = true
		} else if read.version != "" {
			opts.BeforeWrite = m.cond.IfMatch(read.version)
		}
	}
	// Upload, not NewWriter: azureblob's writer panics when a conditional
	// write is refused, its Upload reports FailedPrecondition.
	err := m.bucket.Upload(ctx, name, bytes.NewReader(data), opts)
	if err != nil && m.cond != nil && (gcerrors.Code(err) == gcerrors.FailedPrecondition || m.cond.Conflict(err)) {
		return false, nil
	}
	return err == nil, err
}

// maxCASAttempts bounds the conditional rewrites of one object that
// concurrent writers refuse before the rewrite gives up; between attempts
// the writer waits a random time of up to casBackoff·2^attempt, at most
// maxCASBackoff.
const (
	maxCASAttempts = 64
	casBackoff     = time.Millisecond
	maxCASBackoff  = 100 * time.Millisecond
)

// retryCAS waits before attempt+1 of a refused conditional rewrite of
// what, or fails when the attempts are spent.
func retryCAS(ctx context.Context, what string, attempt int) error {
	if attempt+1 >= maxCASAttempts {
		return fmt.Errorf("%s: %d conditional writes refused, each time changed by another writer", what, maxCASAttempts)
	}
	select {
	case <-time.After(mathrand.N(min(casBackoff<<attempt, maxCASBackoff)) + 1):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// nodeIndex is a node's index as read: its entries, the object as read,
// and the MD5 of its bytes (nil when it does not exist).
type nodeIndex struct {
	entries map[core.KeyID]indexEntry
	read    casRead
	md5     []byte
}

// readIndex reads a node's index; a missing or damaged index is empty (its
// entries are then found by Get, and the next write rebuilds it).
func (m *MetadataStore) readIndex(ctx context.Context, node string) (nodeIndex, error) {
	read, err := m.readCAS(ctx, m.indexName(node))
	if err != nil {
		return nodeIndex{}, err
	}
	ix := nodeIndex{entries: map[core.KeyID]indexEntry{}, read: read}
	if read.exists {
		sum := md5.Sum(read.data)
		ix.md5 = sum[:]
		if e, err := decodeIndex(read.data); err == nil {
			ix.entries = e
		}
		ix.read.data = nil
	}
	return ix, nil
}

// indexChange is what updateIndex did to a node's index: its entries now,
// and the MD5 of the bytes it replaced (nil: none) and of those it wrote
// (nil: nothing written, the change changed nothing).
type indexChange struct {
	entries   map[core.KeyID]indexEntry
	base, sum []byte
}

// updateIndex applies change to node's index, starting from ix (which it
// changes) when it was read already, and stores the result: where the
// service has conditional writes, only if the index is still the version
// read, else it reads the index again, reapplies change, and tries again.
// change reports whether it changed anything; when it did not, nothing is
// written.
func (m *MetadataStore) updateIndex(ctx context.Context, node string, ix *nodeIndex, change func(map[core.KeyID]indexEntry) bool) (indexChange, error) {
	for attempt := 0; ; attempt++ {
		if ix == nil {
			read, err := m.readIndex(ctx, node)
			if err != nil {
				return indexChange{}, err
			}
			ix = &read
		}
		if !change(ix.entries) {
			return indexChange{entries: ix.entries}, nil
		}
		data := encodeIndex(ix.entries)
		ok, err := m.writeCAS(ctx, m.indexName(node), ix.read, data)
		if err != nil {
			return indexChange{}, err
		}
		if ok {
			sum := md5.Sum(data)
			return indexChange{entries: ix.entries, base: ix.md5, sum: sum[:]}, nil
		}
		if err := retryCAS(ctx, fmt.Sprintf("index of node %q", node), attempt); err != nil {
			return indexChange{}, err
		}
		ix = nil
	}
}

// tagsName is the object holding every node index's tag (see updateTags).
func (m *MetadataStore) tagsName() string { return m.prefix + "tags" }

// tagKey is a node's key in the tags object: its hash, 16 bytes.
func tagKey(node string) string {
	sum := sha256.Sum256([]byte("flowcache-node\x00" + node))
	return string(sum[:16])
}

// readTags reads the tags object; a missing or damaged one is empty.
func (m *MetadataStore) readTags(ctx context.Context) (map[string]string, casRead, error) {
	read, err := m.readCAS(ctx, m.tagsName())
	if err != nil {
		return nil, casRead{}, err
	}
	tags, err := decodeTags(read.data)
	if err != nil || !read.exists {
		tags = map[string]string{}
	}
	read.data = nil
	return tags, read, nil
}

// updateTags records in the tags object that node indexes changed: a
// node's tag becomes the MD5 of the index it stores now ("clean") when its
// tag was the MD5 of the index this writer replaced (or the node had no tag
// and no index), and a random token ("dirty") otherwise: another writer
// changed the index in between, and only reading it tells what it holds.
// It returns the nodes tagged clean. See Preload for how tags are used.
func (m *MetadataStore) updateTags(ctx context.Context, changes map[string]indexChange) (map[string]bool, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	m.tagsMu.Lock()
	defer m.tagsMu.Unlock()
	for attempt := 0; ; attempt++ {
		tags, read, err := m.readTags(ctx)
		if err != nil {
			return nil, err
		}
		clean := map[string]bool{}
		for node, c := range changes {
			k := tagKey(node)
			if cur, ok := tags[k]; ok && cur == string(c.base) || !ok && c.base == nil {
				tags[k] = string(c.sum)
				clean[node] = true
			} else {
				var token [16]byte
				rand.Read(token[:])
				tags[k] = string(token[:])
			}
		}
		ok, err := m.writeCAS(ctx, m.tagsName(), read, encodeTags(tags))
		if err != nil {
			return nil, err
		}
		if ok {
			return clean, nil
		}
		if err := retryCAS(ctx, "node tags", attempt); err != nil {
			return nil, err
		}
	}
}

// nodeWrite is what a batch changes in one node's index.
type nodeWrite struct {
	node    string
	entries []core.Entry
	hits    []core.KeyID
	healed  map[core.KeyID]core.Entry // hit entries read from their objects

	// What the batch puts into the index (new entries) and the hits'
	// entries with their new last-used time; an index rewritten by another
	// writer meanwhile gets them again (apply).
	puts, touches map[core.KeyID]indexEntry
}

// apply makes the node's changes to ix: a new entry replaces the key's
// (keeping its created time if it maps to the same result), a hit moves
// the key's last-used time forward, or puts the entry back if ix lost it.
func (w *nodeWrite) apply(ix map[core.KeyID]indexEntry) bool {
	changed := false
	for id, e := range w.puts {
		if old, ok := ix[id]; ok && old.DataVersion == e.DataVersion && old.Format == e.Format && !old.Created.IsZero() {
			e.Created = old.Created
		}
		if ix[id] != e {
			ix[id], changed = e, true
		}
	}
	for id, e := range w.touches {
		cur, ok := ix[id]
		if !ok {
			ix[id], changed = e, true
		} else if cur.LastUsed.Before(e.LastUsed) {
			cur.LastUsed = e.LastUsed
			ix[id], changed = cur, true
		}
	}
	return changed
}

// Write applies a batch: the entries and last-used times first, then the
// node indexes that point to them, then the run's records as one object.
// An invalid batch writes nothing. A failure part way (a lost connection)
// can leave part of a batch written; every object written is valid on its
// own, and a missing part is a cache miss.
func (m *MetadataStore) Write(ctx context.Context, b core.Batch) error {
	if err := b.Validate(); err != nil {
		return fmt.Errorf("%s: write: %w", m.name, err)
	}
	if err := m.checkOpen("write"); err != nil {
		return err
	}
	now := b.Time(m.now)
	if err := m.writeEntries(ctx, b, now); err != nil {
		return fmt.Errorf("%s: write: %w", m.name, err)
	}
	if len(b.Records) > 0 {
		if err := m.begin(ctx, b.Run, now); err != nil {
			return err
		}
		name := fmt.Sprintf("%s%020d-%08d-%s", m.historyDir(b.Run), time.Now().UnixNano(), m.seq.Add(1), m.nonce)
		if err := m.write(ctx, name, seal(kindHistory, core.AppendRecords(nil, b.Records)), false); err != nil {
			return fmt.Errorf("%s: write records of run %s: %w", m.name, b.Run, err)
		}
	}
	return nil
}

// writeEntries writes the entries and hits of a batch: it groups them by
// node, locks those nodes' stripes for the whole read-modify-write of
// their indexes, reads the indexes, writes the entry and last-used objects,
// then the indexes that point to them, and last their tags and the
// snapshot.
func (m *MetadataStore) writeEntries(ctx context.Context, b core.Batch, now time.Time) error {
	if len(b.Entries) == 0 && len(b.Hits) == 0 {
		return nil
	}
	nodes, err := m.groupByNode(ctx, b)
	if err != nil {
		return err
	}
	unlock := m.lockStripes(nodes)
	defer unlock()
	indexes, err := m.readIndexes(ctx, nodes)
	if err != nil {
		return err
	}
	if err := m.writeEntryObjects(ctx, nodes, indexes, now); err != nil {
		return err
	}
	written, err := m.updateIndexes(ctx, nodes, indexes)
	if err != nil {
		return err
	}
	return m.recordChanges(ctx, written)
}

// groupByNode sorts the entries and hits of a batch by node. A hit names a
// key only: its node comes from what this store has seen, or else from the
// entry object (then kept in healed). A hit on a missing key is dropped.
func (m *MetadataStore) groupByNode(ctx context.Context, b core.Batch) ([]*nodeWrite, error) {
	byNode := map[string]*nodeWrite{}
	at := func(node string) *nodeWrite {
		w := byNode[node]
		if w == nil {
			w = &nodeWrite{node: node, healed: map[core.KeyID]core.Entry{},
				puts: map[core.KeyID]indexEntry{}, touches: map[core.KeyID]indexEntry{}}
			byNode[node] = w
		}
		return w
	}
	for _, e := range b.Entries {
		at(e.Key.Node).entries = append(at(e.Key.Node).entries, e)
	}
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
		return nil, err
	}
	for i, e := range found {
		if e.Key.Node != "" {
			w := at(e.Key.Node)
			w.hits = append(w.hits, unknown[i])
			w.healed[unknown[i]] = e
		}
	}
	nodes := make([]*nodeWrite, 0, len(byNode))
	for _, w := range byNode {
		nodes = append(nodes, w)
	}
	return nodes, nil
}

// lockStripes locks the stripes of every node of nodes, in order, and
// returns the function that unlocks them.
func (m *MetadataStore) lockStripes(nodes []*nodeWrite) (unlock func()) {
	var stripes []int
	for _, w := range nodes {
		stripes = append(stripes, m.stripe(w.node))
	}
	slices.Sort(stripes)
	stripes = slices.Compact(stripes)
	for _, s := range stripes {
		m.stripes[s].Lock()
	}
	return func() {
		for _, s := range slices.Backward(stripes) {
			m.stripes[s].Unlock()
		}
	}
}

// readIndexes reads the index of every node of nodes, many at once.
func (m *MetadataStore) readIndexes(ctx context.Context, nodes []*nodeWrite) ([]nodeIndex, error) {
	indexes := make([]nodeIndex, len(nodes))
	g, gctx := m.group(ctx)
	for i, w := range nodes {
		g.Go(func() (err error) {
			indexes[i], err = m.readIndex(gctx, w.node)
			return err
		})
	}
	return indexes, g.Wait()
}

// writeEntryObjects writes the objects of the new entries and the
// last-used times of the hits, many at once, and notes in each nodeWrite
// what its index must get (puts and touches).
func (m *MetadataStore) writeEntryObjects(ctx context.Context, nodes []*nodeWrite, indexes []nodeIndex, now time.Time) error {
	g, gctx := m.group(ctx)
	for i, w := range nodes {
		ix := indexes[i].entries
		m.putEntries(gctx, g, w, ix, now)
		m.touchHits(gctx, g, w, ix, now)
	}
	return g.Wait()
}

// putEntries has g write the entry object of every new entry of w and
// notes it in w.puts. An entry that maps its key to the result the index
// has keeps the index's created time.
func (m *MetadataStore) putEntries(gctx context.Context, g *errgroup.Group, w *nodeWrite, ix map[core.KeyID]indexEntry, now time.Time) {
	for _, e := range w.entries {
		id := e.Key.ID()
		created, lastUsed := e.TimesAt(now)
		if old, ok := ix[id]; ok && old.DataVersion == e.DataVersion && old.Format == e.Format && !old.Created.IsZero() {
			created = old.Created
		}
		stored := core.Entry{Key: e.Key, DataVersion: e.DataVersion, Format: e.Format, Created: created, LastUsed: lastUsed}
		w.puts[id] = indexEntry{DataVersion: stored.DataVersion, Format: stored.Format, Created: stored.Created, LastUsed: stored.LastUsed}
		g.Go(func() error { return m.write(gctx, m.entryName(id), encodeEntry(stored), false) })
		m.learn(id, w.node)
	}
}

// touchHits has g write the last-used time of every hit of w that is
// older than now, and notes in w.touches the hits the index must get: those
// whose time moved, and those the index lost (read back from their entry
// objects; a hit whose entry is gone is dropped).
func (m *MetadataStore) touchHits(gctx context.Context, g *errgroup.Group, w *nodeWrite, ix map[core.KeyID]indexEntry, now time.Time) {
	for _, id := range w.hits {
		if _, put := w.puts[id]; put {
			continue
		}
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
		} else if ok {
			continue // the index has it as it is
		}
		w.touches[id] = cur
	}
}

// updateIndexes applies every nodeWrite to its node's index (see
// updateIndex), once what the indexes point to is written, and returns the
// indexes it rewrote.
func (m *MetadataStore) updateIndexes(ctx context.Context, nodes []*nodeWrite, indexes []nodeIndex) (map[string]indexChange, error) {
	changes := make([]indexChange, len(nodes))
	g, gctx := m.group(ctx)
	for i, w := range nodes {
		g.Go(func() (err error) {
			changes[i], err = m.updateIndex(gctx, w.node, &indexes[i], w.apply)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	written := map[string]indexChange{}
	for i, w := range nodes {
		if changes[i].sum != nil {
			written[w.node] = changes[i]
		}
	}
	return written, nil
}

// recordChanges tags the node indexes written (updateTags) and puts those
// tagged clean into this store's preload snapshot, which it has written
// (saveSnapshot), so that the next Preload of the set reads the snapshot
// and the tags, nothing else.
func (m *MetadataStore) recordChanges(ctx context.Context, written map[string]indexChange) error {
	clean, err := m.updateTags(ctx, written)
	if err != nil {
		return err
	}
	m.snapMu.Lock()
	defer m.snapMu.Unlock()
	if m.snap == nil {
		return nil
	}
	changed := false
	for node, c := range written {
		if !m.snapNodes[node] {
			continue
		}
		if clean[node] {
			m.snap[node] = &snapNode{tag: c.sum, entries: c.entries}
		} else {
			delete(m.snap, node) // the next Preload reads it
		}
		changed = true
	}
	if changed {
		m.saveSnapshot()
	}
	return nil
}

// Preload returns the entries of nodes: every entry whose Write returned
// before Preload was called, whichever process, machine or set of nodes
// wrote it (see the package doc for the exceptions after a crash). It
// reads, at the same time, two objects: the preload snapshot of that set
// of nodes, which holds their indexes as last read or written, each with
// the tag it had then, and the tags object, which holds every node
// index's current tag. A node whose tag is unchanged is taken from the
// snapshot; any other node's index is read (up to the store's concurrency
// at once), and the snapshot is rewritten in the background. Without a
// snapshot (a new set of nodes), the node indexes are listed, and those
// of the set that exist are read.
func (m *MetadataStore) Preload(ctx context.Context, nodes []string) (map[core.KeyID]core.Entry, error) {
	if err := m.checkOpen("preload"); err != nil {
		return nil, err
	}
	nodes = slices.Compact(slices.Sorted(slices.Values(nodes)))
	name := m.snapshotName(nodes)
	snap, tags, tread, err := m.readSnapshotAndTags(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%s: preload: %w", m.name, err)
	}
	var exists map[string]bool
	if snap == nil {
		if exists, err = m.existingIndexes(ctx, len(nodes)); err != nil {
			return nil, fmt.Errorf("%s: preload: %w", m.name, err)
		}
	}
	next, toRead := m.reusable(nodes, snap, tags, exists)
	read, sums, err := m.readTagged(ctx, toRead, tags)
	if err != nil {
		return nil, fmt.Errorf("%s: preload: %w", m.name, err)
	}
	for i, s := range read {
		next[toRead[i]] = s
	}
	m.retag(ctx, tags, tread, toRead, read, sums)
	out := m.learnSnapshot(next)
	set := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		set[n] = true
	}
	m.snapMu.Lock()
	m.snapName, m.snapNodes, m.snap = name, set, next
	if len(toRead) > 0 || snap == nil || len(snap) != len(next) {
		m.saveSnapshot()
	}
	m.snapMu.Unlock()
	return out, nil
}

// readSnapshotAndTags reads, at once, the preload snapshot called name
// (nil when missing or damaged) and the tags object.
func (m *MetadataStore) readSnapshotAndTags(ctx context.Context, name string) (snap map[string]*snapNode, tags map[string]string, tread casRead, err error) {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		snap, err = m.readSnapshot(gctx, name)
		return err
	})
	g.Go(func() (err error) {
		// Read before any index: an index read after its tag is at least
		// as new as the tag says.
		tags, tread, err = m.readTags(gctx)
		return err
	})
	err = g.Wait()
	return snap, tags, tread, err
}

// reusable sorts nodes into those whose index Preload knows without
// reading it, returned in next (a snapshot node whose tag is current, a
// node without an index when exists lists the indexes), and those whose
// index it must read (toRead).
func (m *MetadataStore) reusable(nodes []string, snap map[string]*snapNode, tags map[string]string, exists map[string]bool) (next map[string]*snapNode, toRead []string) {
	next = make(map[string]*snapNode, len(nodes))
	for _, node := range nodes {
		tag := tags[tagKey(node)]
		switch s := snap[node]; {
		case s != nil && string(s.tag) == tag:
			next[node] = s
		case exists != nil && !exists[m.indexName(node)]:
			next[node] = &snapNode{tag: []byte(tag), entries: map[core.KeyID]indexEntry{}}
		default:
			toRead = append(toRead, node)
		}
	}
	return next, toRead
}

// readTagged reads the indexes of nodes, up to the store's concurrency at
// once, each as a snapshot node with the tag it had in tags, and the MD5
// of each index's bytes (nil for a missing index).
func (m *MetadataStore) readTagged(ctx context.Context, nodes []string, tags map[string]string) ([]*snapNode, [][]byte, error) {
	read := make([]*snapNode, len(nodes))
	sums := make([][]byte, len(nodes))
	g, gctx := m.group(ctx)
	for i, node := range nodes {
		g.Go(func() error {
			ix, err := m.readIndex(gctx, node)
			read[i] = &snapNode{tag: []byte(tags[tagKey(node)]), entries: ix.entries}
			sums[i] = ix.md5
			return err
		})
	}
	return read, sums, g.Wait()
}

// learnSnapshot returns the entries of the snapshot nodes of next, by key
// id, and notes the node of each key (for the hits of later batches).
func (m *MetadataStore) learnSnapshot(next map[string]*snapNode) map[core.KeyID]core.Entry {
	out := map[core.KeyID]core.Entry{}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.nodeOf) > 1<<17 {
		clear(m.nodeOf)
	}
	for node, s := range next {
		for id, e := range s.entries {
			out[id] = core.Entry{DataVersion: e.DataVersion, Format: e.Format, Created: e.Created, LastUsed: e.LastUsed}
			m.nodeOf[id] = node
		}
	}
	return out
}

// retag makes clean again the tags of the indexes Preload read whose tag
// was not the MD5 of the bytes read (dirty after writers interleaved, or
// absent for an index written before tags existed), so that writers can
// keep the snapshot up to date again (see updateTags). It rewrites the
// tags only if they are still the version Preload read before reading the
// indexes: then each index read is at least as new as its tag, and a
// writer that changes it later retags it. The snapshot's nodes then carry
// the new tags. When the tags changed meanwhile, it leaves them: the
// next Preload tries again.
func (m *MetadataStore) retag(ctx context.Context, tags map[string]string, tread casRead, nodes []string, read []*snapNode, sums [][]byte) {
	var fix []int
	for i, node := range nodes {
		if sums[i] != nil && tags[tagKey(node)] != string(sums[i]) {
			fix = append(fix, i)
		}
	}
	if len(fix) == 0 {
		return
	}
	m.tagsMu.Lock()
	defer m.tagsMu.Unlock()
	retagged := maps.Clone(tags)
	for _, i := range fix {
		retagged[tagKey(nodes[i])] = string(sums[i])
	}
	if ok, err := m.writeCAS(ctx, m.tagsName(), tread, encodeTags(retagged)); !ok || err != nil {
		return
	}
	for _, i := range fix {
		read[i].tag = sums[i]
	}
}

// existingIndexes lists the node indexes in the bucket (a thousand names a
// request), so that a Preload without a snapshot reads only the indexes
// that exist: the first run of a new pipeline would otherwise send a read
// per node to learn that there is nothing. It gives up, returning nil (read
// every index), when the bucket holds more than 20 indexes per node asked
// for: listing them all would cost more than reading the few needed.
func (m *MetadataStore) existingIndexes(ctx context.Context, nodes int) (map[string]bool, error) {
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
func (m *MetadataStore) snapshotName(nodes []string) string {
	h := sha256.New()
	for _, n := range nodes {
		h.Write([]byte(n))
		h.Write([]byte{0})
	}
	return m.prefix + "snapshots/" + hex.EncodeToString(h.Sum(nil)[:16])
}

// readSnapshot reads a preload snapshot; a missing or damaged one is nil.
func (m *MetadataStore) readSnapshot(ctx context.Context, name string) (map[string]*snapNode, error) {
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

// snapshotWriteTimeout bounds one write of a preload snapshot.
const snapshotWriteTimeout = time.Minute

// saveSnapshot has the snapshot written, off the run's path: by a
// goroutine that writes it until no change is left (so a burst of batches
// is one or two writes, in the order they were made), and that Close
// waits for. It is called with snapMu held. The snapshot is only a cache
// of the indexes: a failed write (a read-only bucket) costs the next
// Preload some reads, never an entry.
func (m *MetadataStore) saveSnapshot() {
	m.snapDirty = true
	if m.snapSaving {
		return
	}
	m.snapSaving = true
	m.snapSaves.Go(func() {
		for {
			m.snapMu.Lock()
			if !m.snapDirty || m.snap == nil {
				m.snapDirty, m.snapSaving = false, false
				m.snapMu.Unlock()
				return
			}
			m.snapDirty = false
			name, data := m.snapName, encodeSnapshot(m.snap)
			m.snapMu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), snapshotWriteTimeout)
			_ = m.write(ctx, name, data, false)
			cancel()
		}
	})
}

// removeFromIndexes removes keys from their nodes' indexes (see
// updateIndex), many nodes at once, and records the changes
// (recordChanges).
func (m *MetadataStore) removeFromIndexes(ctx context.Context, byNode map[string][]core.KeyID) error {
	var mu sync.Mutex
	written := map[string]indexChange{}
	g, gctx := m.group(ctx)
	for node, ids := range byNode {
		g.Go(func() error {
			s := m.stripe(node)
			m.stripes[s].Lock()
			c, err := m.updateIndex(gctx, node, nil, func(ix map[core.KeyID]indexEntry) bool {
				n := len(ix)
				for _, id := range ids {
					delete(ix, id)
				}
				return len(ix) != n
			})
			m.stripes[s].Unlock()
			if err == nil && c.sum != nil {
				mu.Lock()
				written[node] = c
				mu.Unlock()
			}
			return err
		})
	}
	err := g.Wait()
	// The indexes changed are tagged even when another failed.
	return errors.Join(err, m.recordChanges(ctx, written))
}

// Delete removes the entry of a cache key: from its node's index first, so
// that no Preload finds it, then its objects.
func (m *MetadataStore) Delete(ctx context.Context, id core.KeyID) error {
	if err := m.checkOpen("delete key " + string(id)); err != nil {
		return err
	}
	wrap := func(err error) error { return fmt.Errorf("%s: delete key %s: %w", m.name, id, err) }
	e, err := m.readEntry(ctx, id)
	switch {
	case err == nil:
		if err := m.removeFromIndexes(ctx, map[string][]core.KeyID{e.Key.Node: {id}}); err != nil {
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
func (m *MetadataStore) list(ctx context.Context, prefix string) ([]string, error) {
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
func (m *MetadataStore) readAll(ctx context.Context, names []string) ([][]byte, error) {
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
func (m *MetadataStore) DeleteAll(ctx context.Context) error {
	if err := m.checkOpen("delete all"); err != nil {
		return err
	}
	// No snapshot write may land after the deletion.
	m.snapMu.Lock()
	m.snap, m.snapNodes, m.snapName = nil, nil, ""
	m.snapMu.Unlock()
	m.snapSaves.Wait()
	names, err := m.list(ctx, m.prefix)
	if err != nil {
		return fmt.Errorf("%s: delete all: %w", m.name, err)
	}
	g, gctx := m.group(ctx)
	for _, name := range names {
		g.Go(func() error { return m.remove(gctx, name) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("%s: delete all: %w", m.name, err)
	}
	m.mu.Lock()
	clear(m.begun)
	clear(m.nodeOf)
	m.mu.Unlock()
	return nil
}

// Runs returns every run, oldest first (by start time, then id).
func (m *MetadataStore) Runs(ctx context.Context) ([]core.RunInfo, error) {
	if err := m.checkOpen("runs"); err != nil {
		return nil, err
	}
	names, err := m.list(ctx, m.prefix+"runs/")
	if err != nil {
		return nil, fmt.Errorf("%s: runs: %w", m.name, err)
	}
	objs, err := m.readAll(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("%s: runs: %w", m.name, err)
	}
	runs := make([]core.RunInfo, 0, len(objs))
	for i, b := range objs {
		if b == nil {
			continue
		}
		r, err := decodeRun(b)
		if err != nil {
			return nil, fmt.Errorf("%s: runs: object %q: %w", m.name, names[i], err)
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
func (m *MetadataStore) Run(ctx context.Context, run core.RunID) ([]core.NodeRecord, error) {
	if err := m.checkOpen("run " + string(run)); err != nil {
		return nil, err
	}
	wrap := func(err error) error { return fmt.Errorf("%s: run %s: %w", m.name, run, err) }
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
func (m *MetadataStore) WalkEntries(ctx context.Context, fn func(core.Entry) error) error {
	if err := m.checkOpen("walk entries"); err != nil {
		return err
	}
	names, err := m.list(ctx, m.prefix+"entries/")
	if err != nil {
		return fmt.Errorf("%s: walk entries: %w", m.name, err)
	}
	const chunk = 256
	for len(names) > 0 {
		n := min(chunk, len(names))
		part := names[:n]
		names = names[n:]
		objs, err := m.readAll(ctx, part)
		if err != nil {
			return fmt.Errorf("%s: walk entries: %w", m.name, err)
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
			return fmt.Errorf("%s: walk entries: %w", m.name, err)
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

// Close marks the store closed, waits for the preload snapshot being
// written, if one is, and closes the bucket if the store owns it.
func (m *MetadataStore) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	m.snapSaves.Wait()
	if !m.owned {
		return nil
	}
	return m.bucket.Close()
}

var _ core.EntryRemover = (*MetadataStore)(nil)

// RemoveEntries deletes the entries that are still as they were read (same
// data version and format, not stored or used since): node by node, the
// entries from the node's index (conditionally, like a Write) and then
// their objects, many requests at once. A bucket has no conditional
// delete, so a run that stores or uses an entry between the check and the
// delete can lose it; that costs that run's successor an execution, never
// a wrong value.
func (m *MetadataStore) RemoveEntries(ctx context.Context, entries []core.Entry) ([]core.KeyID, error) {
	if err := m.checkOpen("remove entries"); err != nil {
		return nil, err
	}
	wrap := func(err error) error { return fmt.Errorf("%s: remove entries: %w", m.name, err) }
	if len(entries) == 0 {
		return nil, nil
	}
	byNode, err := m.unchanged(ctx, entries)
	if err != nil {
		return nil, wrap(err)
	}
	if err := m.removeFromIndexes(ctx, byNode); err != nil {
		return nil, wrap(err)
	}
	removed, err := m.removeEntryObjects(ctx, byNode)
	if err != nil {
		return removed, wrap(err)
	}
	m.mu.Lock()
	for _, id := range removed {
		delete(m.nodeOf, id)
	}
	m.mu.Unlock()
	return removed, nil
}

// unchanged reads what is stored now for entries and returns, by node, the
// keys of those still as they were read: same data version and format, not
// stored or used since.
func (m *MetadataStore) unchanged(ctx context.Context, entries []core.Entry) (map[string][]core.KeyID, error) {
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
		return nil, err
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
	return byNode, nil
}

// removeEntryObjects deletes the entry and last-used objects of the keys
// of byNode, node by node, many nodes at once, and returns the keys of the
// nodes whose objects are all deleted.
func (m *MetadataStore) removeEntryObjects(ctx context.Context, byNode map[string][]core.KeyID) ([]core.KeyID, error) {
	var (
		mu      sync.Mutex
		removed []core.KeyID
	)
	g, gctx := m.group(ctx)
	for _, ids := range byNode {
		g.Go(func() error {
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
	err := g.Wait()
	return removed, err
}
