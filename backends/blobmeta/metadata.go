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
	leaseMu sync.Mutex     // serializes lease calls when cond is nil (leases.go)

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

// headsName is the object holding every node's head (see updateHeads).
func (m *MetadataStore) headsName() string { return m.prefix + "heads" }

// batchName is the object of the batch called id.
func (m *MetadataStore) batchName(id string) string { return m.prefix + "batches/" + id }

// tagKey is a node's key in the heads object: its hash, 16 bytes.
func tagKey(node string) string {
	sum := sha256.Sum256([]byte("flowcache-node\x00" + node))
	return string(sum[:16])
}

// readHeads reads the heads object. A missing or damaged one is rebuilt
// from the batch objects in the bucket (a listing, then a read of each),
// every node without a tag and pending the batches that hold it: the
// tags are lost (so snapshots are read again), the pending batches are
// not.
func (m *MetadataStore) readHeads(ctx context.Context) (map[string]head, casRead, error) {
	read, err := m.readCAS(ctx, m.headsName())
	if err != nil {
		return nil, casRead{}, err
	}
	heads, err := decodeHeads(read.data)
	read.data = nil
	if err != nil || !read.exists {
		if heads, err = m.recoverHeads(ctx); err != nil {
			return nil, casRead{}, err
		}
	}
	return heads, read, nil
}

// recoverHeads rebuilds the heads from the batch objects (see readHeads).
func (m *MetadataStore) recoverHeads(ctx context.Context) (map[string]head, error) {
	names, err := m.list(ctx, m.prefix+"batches/")
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(names))
	for i, n := range names {
		ids[i] = strings.TrimPrefix(n, m.prefix+"batches/")
	}
	known := map[string]map[string][]batchEntry{}
	if err := m.readBatches(ctx, ids, known); err != nil {
		return nil, err
	}
	heads := map[string]head{}
	for _, id := range ids { // sorted: oldest first
		for node := range known[id] {
			h := heads[tagKey(node)]
			h.pending = append(h.pending, id)
			heads[tagKey(node)] = h
		}
	}
	return heads, nil
}

// foldChange is what a fold did to a node: the index change, and the
// pending batches it folded into the index.
type foldChange struct {
	indexChange
	folded []string
}

// headsChange is what updateHeads did: the heads of the nodes it
// changed before and after, and the folded nodes it tagged clean.
type headsChange struct {
	before, after map[string]head
	clean         map[string]bool
}

// updateHeads records in the heads object, in one conditional rewrite,
// that a batch object was written for nodes (add: node → batch id, added
// to the node's pending batches) and that nodes were folded (removing the
// batches folded from the pending ones, and tagging the index rewritten).
// A folded node's tag becomes the MD5 of the index it stores now ("clean")
// when its tag was the MD5 of the index the fold replaced (or "" and no
// index), and a random token ("dirty") otherwise: another writer changed
// the index in between, and only reading it tells what it holds. Batch
// objects no node names any more are deleted afterwards. See Preload for
// how heads are used.
func (m *MetadataStore) updateHeads(ctx context.Context, add map[string]string, folds map[string]foldChange) (headsChange, error) {
	if len(add) == 0 && len(folds) == 0 {
		return headsChange{}, nil
	}
	m.tagsMu.Lock()
	defer m.tagsMu.Unlock()
	for attempt := 0; ; attempt++ {
		heads, read, err := m.readHeads(ctx)
		if err != nil {
			return headsChange{}, err
		}
		hc := headsChange{before: map[string]head{}, after: map[string]head{}, clean: map[string]bool{}}
		var dropped []string
		for node, id := range add {
			k := tagKey(node)
			h := heads[k]
			// Without a heads object, readHeads found this batch too.
			h.pending = slices.DeleteFunc(slices.Clone(h.pending), func(p string) bool { return p == id })
			hc.before[node] = h
			h.pending = append(h.pending, id)
			heads[k] = h
		}
		for node, c := range folds {
			k := tagKey(node)
			h := heads[k]
			if _, ok := hc.before[node]; !ok {
				hc.before[node] = h
			}
			if c.sum != nil {
				if h.tag == string(c.base) {
					h.tag = string(c.sum)
					hc.clean[node] = true
				} else {
					var token [16]byte
					rand.Read(token[:])
					h.tag = string(token[:])
				}
			}
			h.pending = slices.DeleteFunc(slices.Clone(h.pending), func(id string) bool {
				if slices.Contains(c.folded, id) {
					dropped = append(dropped, id)
					return true
				}
				return false
			})
			heads[k] = h
		}
		for node := range hc.before {
			hc.after[node] = heads[tagKey(node)]
		}
		ok, err := m.writeCAS(ctx, m.headsName(), read, encodeHeads(heads))
		if err != nil {
			return headsChange{}, err
		}
		if ok {
			m.dropBatches(ctx, heads, dropped)
			return hc, nil
		}
		if err := retryCAS(ctx, "node heads", attempt); err != nil {
			return headsChange{}, err
		}
	}
}

// dropBatches deletes the batch objects of ids that no head of heads (as
// written) names any more. A failure leaves garbage, never a lost entry:
// the indexes hold what the batches held.
func (m *MetadataStore) dropBatches(ctx context.Context, heads map[string]head, ids []string) {
	if len(ids) == 0 {
		return
	}
	named := map[string]bool{}
	for _, h := range heads {
		for _, id := range h.pending {
			named[id] = true
		}
	}
	g, gctx := m.group(ctx)
	for _, id := range slices.Compact(slices.Sorted(slices.Values(ids))) {
		if !named[id] {
			g.Go(func() error {
				_ = m.remove(gctx, m.batchName(id))
				return nil
			})
		}
	}
	_ = g.Wait()
}

// foldAfter is the number of pending batches past which a writer folds
// a node's batches into its index.
const foldAfter = 8

// readBatches reads the batch objects of ids not in known, many at once,
// into known (by node); a missing or damaged one is absent from it.
func (m *MetadataStore) readBatches(ctx context.Context, ids []string, known map[string]map[string][]batchEntry) error {
	var need []string
	for _, id := range ids {
		if _, ok := known[id]; !ok && !slices.Contains(need, id) {
			need = append(need, id)
		}
	}
	got := make([]map[string][]batchEntry, len(need))
	g, gctx := m.group(ctx)
	for i, id := range need {
		g.Go(func() error {
			b, err := m.read(gctx, m.batchName(id))
			if errors.Is(err, core.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			entries, err := decodeBatch(b)
			if err != nil {
				return nil
			}
			got[i] = byNodeOf(entries)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, id := range need {
		if got[i] != nil {
			known[id] = got[i]
		}
	}
	return nil
}

// byNodeOf sorts a batch's entries by node.
func byNodeOf(entries []batchEntry) map[string][]batchEntry {
	out := map[string][]batchEntry{}
	for _, be := range entries {
		out[be.node] = append(out[be.node], be)
	}
	return out
}

// applyBatches applies to ix the entries of node in the batches ids, in
// order, and reports whether ix changed and whether every batch was known.
func applyBatches(ix map[core.KeyID]indexEntry, node string, ids []string, known map[string]map[string][]batchEntry) (changed, complete bool) {
	complete = true
	for _, id := range ids {
		b, ok := known[id]
		if !ok {
			complete = false
			continue
		}
		for _, be := range b[node] {
			if putEntry(ix, be.id, be.e) {
				changed = true
			}
		}
	}
	return changed, complete
}

// fold folds the pending batches of node into its index: with the
// batches read (readBatches, before: a batch deleted before it was read
// is in any index read after, since the fold that removed it rewrote the
// index before the heads, and deleted it after), it reads the index,
// applies them and extra (nil: none), and rewrites the index
// conditionally (updateIndex). known is only read.
func (m *MetadataStore) fold(ctx context.Context, node string, pending []string, known map[string]map[string][]batchEntry, extra func(map[core.KeyID]indexEntry) bool) (foldChange, error) {
	c, err := m.updateIndex(ctx, node, nil, func(ix map[core.KeyID]indexEntry) bool {
		changed, _ := applyBatches(ix, node, pending, known)
		if extra != nil && extra(ix) {
			changed = true
		}
		return changed
	})
	return foldChange{indexChange: c, folded: pending}, err
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
// node and locks those nodes' stripes; it reads the indexes of the nodes
// with hits, writes the entry and last-used objects and the batch object
// (the new entries of every node), then adds the batch to the heads of
// its nodes, folds the nodes with moved last-used times or too many
// pending batches, and last updates the snapshot.
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
	id := fmt.Sprintf("%020d-%08d-%s", time.Now().UnixNano(), m.seq.Add(1), m.nonce)
	batch, err := m.writeEntryObjects(ctx, nodes, indexes, now, id)
	if err != nil {
		return err
	}
	add := map[string]string{}
	for _, w := range nodes {
		if len(w.puts) > 0 {
			add[w.node] = id
		}
	}
	hc, err := m.updateHeads(ctx, add, nil)
	if err != nil {
		return err
	}
	m.recordBatch(hc, nodes)
	return m.foldNodes(ctx, nodes, hc, map[string]map[string][]batchEntry{id: byNodeOf(batch)})
}

// foldNodes folds the nodes of a batch whose hits moved a last-used time
// (the index gets it) or whose pending batches are more than foldAfter,
// and records the folds in the heads and the snapshot.
func (m *MetadataStore) foldNodes(ctx context.Context, nodes []*nodeWrite, hc headsChange, known map[string]map[string][]batchEntry) error {
	var todo []*nodeWrite
	var ids []string
	for _, w := range nodes {
		pending := hc.after[w.node].pending
		if len(w.touches) > 0 || len(pending) > foldAfter {
			todo = append(todo, w)
			ids = append(ids, pending...)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	if err := m.readBatches(ctx, ids, known); err != nil {
		return err
	}
	changes := make([]foldChange, len(todo))
	g, gctx := m.group(ctx)
	for i, w := range todo {
		g.Go(func() (err error) {
			changes[i], err = m.fold(gctx, w.node, hc.after[w.node].pending, known, w.apply)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	folds := map[string]foldChange{}
	for i, w := range todo {
		folds[w.node] = changes[i]
	}
	return m.recordFolds(ctx, folds)
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

// readIndexes reads the index of every node of nodes with hits, many at
// once (the others are empty: a new entry does not need its index), and
// adds the keys this store's snapshot has that the index does not (still
// in pending batches), so that a hit on them needs no read of its entry.
func (m *MetadataStore) readIndexes(ctx context.Context, nodes []*nodeWrite) ([]nodeIndex, error) {
	indexes := make([]nodeIndex, len(nodes))
	g, gctx := m.group(ctx)
	for i, w := range nodes {
		if len(w.hits) == 0 {
			indexes[i] = nodeIndex{entries: map[core.KeyID]indexEntry{}}
			continue
		}
		g.Go(func() (err error) {
			indexes[i], err = m.readIndex(gctx, w.node)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	m.snapMu.Lock()
	defer m.snapMu.Unlock()
	for i, w := range nodes {
		if s := m.snap[w.node]; s != nil && len(w.hits) > 0 {
			for _, id := range w.hits {
				if _, ok := indexes[i].entries[id]; !ok {
					if e, ok := s.entries[id]; ok {
						indexes[i].entries[id] = e
					}
				}
			}
		}
	}
	return indexes, nil
}

// writeEntryObjects writes the objects of the new entries, the last-used
// times of the hits and the batch object called id holding the new
// entries, many at once, and notes in each nodeWrite what its index must
// get (puts and touches). It returns the batch's entries.
func (m *MetadataStore) writeEntryObjects(ctx context.Context, nodes []*nodeWrite, indexes []nodeIndex, now time.Time, id string) ([]batchEntry, error) {
	g, gctx := m.group(ctx)
	var batch []batchEntry
	for i, w := range nodes {
		ix := indexes[i].entries
		m.putEntries(gctx, g, w, ix, now)
		m.touchHits(gctx, g, w, ix, now)
		for k, e := range w.puts {
			batch = append(batch, batchEntry{node: w.node, id: k, e: e})
		}
	}
	if len(batch) > 0 {
		g.Go(func() error { return m.write(gctx, m.batchName(id), encodeBatch(batch), false) })
	}
	return batch, g.Wait()
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
		g.Go(func() error { return m.writeEntry(gctx, stored) })
		m.learn(id, w.node)
	}
}

// writeEntry writes a new entry's object: created if missing, in one
// request (a cold node's entry), else read and rewritten, keeping the
// created time of the object it replaces when both map the key to the
// same result (Get, without the index, then sees when the result was
// first stored).
func (m *MetadataStore) writeEntry(ctx context.Context, e core.Entry) error {
	name := m.entryName(e.Key.ID())
	err := m.bucket.Upload(ctx, name, bytes.NewReader(encodeEntry(e)), &blob.WriterOptions{
		ContentType: "application/octet-stream", IfNotExist: true,
	})
	if err == nil || gcerrors.Code(err) != gcerrors.FailedPrecondition && (m.cond == nil || !m.cond.Conflict(err)) {
		return err
	}
	if old, err := m.readEntry(ctx, e.Key.ID()); err == nil && old.DataVersion == e.DataVersion && old.Format == e.Format && !old.Created.IsZero() {
		e.Created = old.Created
	}
	return m.write(ctx, name, encodeEntry(e), false)
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

// recordBatch puts the new entries of a batch into this store's preload
// snapshot, for the nodes whose head the snapshot had before the batch
// (the others are read by the next Preload), and has it written.
func (m *MetadataStore) recordBatch(hc headsChange, nodes []*nodeWrite) {
	m.snapMu.Lock()
	defer m.snapMu.Unlock()
	if m.snap == nil {
		return
	}
	changed := false
	for _, w := range nodes {
		before, ok := hc.before[w.node]
		s := m.snap[w.node]
		if !ok || !m.snapNodes[w.node] || s == nil {
			continue
		}
		changed = true
		if string(s.tag) != before.tag || !slices.Equal(s.pending, before.pending) {
			delete(m.snap, w.node) // the next Preload reads it
			continue
		}
		next := &snapNode{tag: s.tag, pending: hc.after[w.node].pending, entries: maps.Clone(s.entries)}
		for id, e := range w.puts {
			putEntry(next.entries, id, e)
		}
		m.snap[w.node] = next
	}
	if changed {
		m.saveSnapshot()
	}
}

// recordFolds records folds in the heads (updateHeads) and puts the nodes
// tagged clean into this store's preload snapshot, which it has written
// (saveSnapshot), so that the next Preload of the set reads the snapshot
// and the heads, and at most the batches added since.
func (m *MetadataStore) recordFolds(ctx context.Context, folds map[string]foldChange) error {
	hc, err := m.updateHeads(ctx, nil, folds)
	if err != nil {
		return err
	}
	m.snapMu.Lock()
	defer m.snapMu.Unlock()
	if m.snap == nil {
		return nil
	}
	changed := false
	for node, c := range folds {
		if !m.snapNodes[node] {
			continue
		}
		if h := hc.after[node]; hc.clean[node] || c.sum == nil && m.snap[node] != nil && string(m.snap[node].tag) == h.tag {
			// The index as written (or as read, unchanged: it holds the
			// batches folded), without the batches added meanwhile: the
			// next Preload reads those.
			m.snap[node] = &snapNode{tag: []byte(h.tag), entries: c.entries}
		} else {
			delete(m.snap, node)
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
// the head it had then, and the heads object, which holds every node's
// current head. A node whose head is unchanged is taken from the
// snapshot; one whose tag is unchanged gets the entries of the batches
// added since; any other node's index is read with its pending batches
// (up to the store's concurrency at once), and the snapshot is rewritten
// in the background. Without a snapshot (a new set of nodes), the node
// indexes are listed, and those of the set that exist are read.
func (m *MetadataStore) Preload(ctx context.Context, nodes []string) (map[core.KeyID]core.Entry, error) {
	if err := m.checkOpen("preload"); err != nil {
		return nil, err
	}
	wrap := func(err error) error { return fmt.Errorf("%s: preload: %w", m.name, err) }
	nodes = slices.Compact(slices.Sorted(slices.Values(nodes)))
	name := m.snapshotName(nodes)
	snap, heads, hread, err := m.readSnapshotAndHeads(ctx, name)
	if err != nil {
		return nil, wrap(err)
	}
	var exists map[string]bool
	if snap == nil {
		if exists, err = m.existingIndexes(ctx, len(nodes)); err != nil {
			return nil, wrap(err)
		}
	}
	next, plans := m.reusable(nodes, snap, heads, exists)
	if err := m.readPlans(ctx, plans); err != nil {
		return nil, wrap(err)
	}
	for _, p := range plans {
		next[p.node] = p.snap
	}
	m.retag(ctx, heads, hread, plans)
	out := m.learnSnapshot(next)
	set := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		set[n] = true
	}
	m.snapMu.Lock()
	m.snapName, m.snapNodes, m.snap = name, set, next
	if len(plans) > 0 || snap == nil || len(snap) != len(next) {
		m.saveSnapshot()
	}
	m.snapMu.Unlock()
	return out, nil
}

// readSnapshotAndHeads reads, at once, the preload snapshot called name
// (nil when missing or damaged) and the heads object.
func (m *MetadataStore) readSnapshotAndHeads(ctx context.Context, name string) (snap map[string]*snapNode, heads map[string]head, hread casRead, err error) {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		snap, err = m.readSnapshot(gctx, name)
		return err
	})
	g.Go(func() (err error) {
		// Read before any index or batch: an index read after its tag is
		// at least as new as the tag says.
		heads, hread, err = m.readHeads(gctx)
		return err
	})
	err = g.Wait()
	return snap, heads, hread, err
}

// preloadPlan is what Preload reads for a node it cannot take from the
// snapshot as it is: its index (readIndex) or a base of entries known,
// and batches to apply to it.
type preloadPlan struct {
	node      string
	readIndex bool
	base      map[core.KeyID]indexEntry
	batches   []string
	head      head

	snap *snapNode // the result
	md5  []byte    // of the index read (nil: none)
}

// staleTag marks a snapshot node whose head is unknown: no head has it,
// so the next Preload reads the node again.
var staleTag = []byte{0}

// reusable sorts nodes into those Preload knows without a read, returned
// in next (a snapshot node whose head is current, a node without an index
// or batches when exists lists the indexes), and plans for the others: a
// snapshot node whose tag is current and whose pending batches are the
// first of the head's gets the head's later batches; any other node's
// index is read with all its pending batches.
func (m *MetadataStore) reusable(nodes []string, snap map[string]*snapNode, heads map[string]head, exists map[string]bool) (next map[string]*snapNode, plans []*preloadPlan) {
	next = make(map[string]*snapNode, len(nodes))
	for _, node := range nodes {
		h := heads[tagKey(node)]
		s := snap[node]
		switch {
		case s != nil && string(s.tag) == h.tag && len(s.pending) <= len(h.pending) && slices.Equal(s.pending, h.pending[:len(s.pending)]):
			if len(s.pending) == len(h.pending) {
				next[node] = s
			} else {
				plans = append(plans, &preloadPlan{node: node, base: s.entries, batches: h.pending[len(s.pending):], head: h})
			}
		case exists != nil && !exists[m.indexName(node)]:
			if len(h.pending) == 0 {
				next[node] = &snapNode{tag: []byte(h.tag), entries: map[core.KeyID]indexEntry{}}
			} else {
				plans = append(plans, &preloadPlan{node: node, base: map[core.KeyID]indexEntry{}, batches: h.pending, head: h})
			}
		default:
			plans = append(plans, &preloadPlan{node: node, readIndex: true, batches: h.pending, head: h})
		}
	}
	return next, plans
}

// readPlans reads what plans need: every batch named once, and the
// indexes, up to the store's concurrency at once. A node one of whose
// batches is gone (folded and deleted meanwhile) has its index read again
// after: it holds the batch.
func (m *MetadataStore) readPlans(ctx context.Context, plans []*preloadPlan) error {
	var ids []string
	for _, p := range plans {
		ids = append(ids, p.batches...)
	}
	known := map[string]map[string][]batchEntry{}
	if err := m.readBatches(ctx, ids, known); err != nil {
		return err
	}
	var again []*preloadPlan
	g, gctx := m.group(ctx)
	for _, p := range plans {
		if !p.readIndex {
			continue
		}
		g.Go(func() error {
			ix, err := m.readIndex(gctx, p.node)
			p.base, p.md5 = ix.entries, ix.md5
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, p := range plans {
		entries := maps.Clone(p.base)
		if entries == nil {
			entries = map[core.KeyID]indexEntry{}
		}
		_, complete := applyBatches(entries, p.node, p.batches, known)
		p.snap = &snapNode{tag: []byte(p.head.tag), pending: p.head.pending, entries: entries}
		if !complete {
			again = append(again, p)
		}
	}
	g, gctx = m.group(ctx)
	for _, p := range again {
		g.Go(func() error {
			ix, err := m.readIndex(gctx, p.node)
			applyBatches(ix.entries, p.node, p.batches, known)
			p.snap.entries = ix.entries
			p.snap.tag, p.md5 = staleTag, nil
			return err
		})
	}
	return g.Wait()
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
// absent for an index written before heads existed), so that writers can
// keep the snapshot up to date again (see updateHeads). It rewrites the
// heads only if they are still the version Preload read before reading
// the indexes: then each index read is at least as new as its tag, and a
// writer that changes it later retags it. The snapshot's nodes then carry
// the new tags. When the heads changed meanwhile, it leaves them: the
// next Preload tries again.
func (m *MetadataStore) retag(ctx context.Context, heads map[string]head, hread casRead, plans []*preloadPlan) {
	var fix []*preloadPlan
	for _, p := range plans {
		if p.readIndex && p.md5 != nil && p.head.tag != string(p.md5) {
			fix = append(fix, p)
		}
	}
	if len(fix) == 0 {
		return
	}
	m.tagsMu.Lock()
	defer m.tagsMu.Unlock()
	retagged := maps.Clone(heads)
	for _, p := range fix {
		h := retagged[tagKey(p.node)]
		h.tag = string(p.md5)
		retagged[tagKey(p.node)] = h
	}
	if ok, err := m.writeCAS(ctx, m.headsName(), hread, encodeHeads(retagged)); !ok || err != nil {
		return
	}
	for _, p := range fix {
		p.snap.tag = p.md5
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

// removeFromIndexes removes keys from their nodes' indexes: it folds each
// node (see fold) removing the keys in the same rewrite, many nodes at
// once, and records the folds (recordFolds), so that neither the index
// nor a pending batch has them any more.
func (m *MetadataStore) removeFromIndexes(ctx context.Context, byNode map[string][]core.KeyID) error {
	heads, _, err := m.readHeads(ctx)
	if err != nil {
		return err
	}
	var ids []string
	for node := range byNode {
		ids = append(ids, heads[tagKey(node)].pending...)
	}
	known := map[string]map[string][]batchEntry{}
	if err := m.readBatches(ctx, ids, known); err != nil {
		return err
	}
	var mu sync.Mutex
	folds := map[string]foldChange{}
	g, gctx := m.group(ctx)
	for node, ids := range byNode {
		g.Go(func() error {
			s := m.stripe(node)
			m.stripes[s].Lock()
			c, err := m.fold(gctx, node, heads[tagKey(node)].pending, known, func(ix map[core.KeyID]indexEntry) bool {
				n := len(ix)
				for _, id := range ids {
					delete(ix, id)
				}
				return len(ix) != n
			})
			m.stripes[s].Unlock()
			if err == nil {
				mu.Lock()
				folds[node] = c
				mu.Unlock()
			}
			return err
		})
	}
	err = g.Wait()
	// The nodes folded are recorded even when another failed.
	return errors.Join(err, m.recordFolds(ctx, folds))
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
