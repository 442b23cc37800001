package docstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	vkit "cloud.google.com/go/firestore/apiv1"
	dyn "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	gcds "gocloud.dev/docstore"
	"gocloud.dev/gcerrors"

	"github.com/flowcache/flowcache/core"
)

// Option configures New and OpenDynamoDB.
type Option func(*options)

type options struct {
	index         *gcds.Collection
	nodesPerQuery int
	parallelism   int
	clock         func() time.Time
	createTable   bool // OpenDynamoDB only
	allowScans    bool // OpenDynamoDB only
}

// WithIndex sets the collection Preload queries, when it is not the
// store's collection: on DynamoDB, the same table opened without
// ConsistentRead, since DynamoDB refuses strongly consistent queries of a
// global secondary index (OpenDynamoDB sets it). The store closes it with
// the other.
func WithIndex(index *gcds.Collection) Option { return func(o *options) { o.index = index } }

// WithNodesPerQuery sets how many node names one Preload query names (with
// an "in" filter); 1 makes one equality query per node, which is what a
// DynamoDB index can answer. By default it is picked by the collection's
// driver: 1 for DynamoDB, 30 for Firestore (its limit for "in"), 1000 for
// the others (MongoDB, memdocstore).
func WithNodesPerQuery(n int) Option { return func(o *options) { o.nodesPerQuery = n } }

// WithParallelism sets how many Preload queries run at once (default 32).
func WithParallelism(n int) Option { return func(o *options) { o.parallelism = n } }

// WithClock sets the time a batch without Now is written at, and a run
// without Started begins at (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithCreateTable makes OpenDynamoDB create the table, as
// CreateDynamoDBTable does, when it does not exist.
func WithCreateTable() Option { return func(o *options) { o.createTable = true } }

// WithAllowScans lets OpenDynamoDB use a table without a node_key index:
// Preload then scans the whole table (a hundred node names a scan), which
// is only reasonable for small tables.
func WithAllowScans() Option { return func(o *options) { o.allowScans = true } }

func newOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Store is a core.MetadataStore, core.Preloader, core.EntryWalker,
// core.EntryRemover and core.Leaser kept in one gocloud.dev/docstore collection, in the
// layout the package doc describes. It is safe for concurrent use by goroutines, and by processes
// on several machines sharing the collection.
type MetadataStore struct {
	coll, index   *gcds.Collection
	name          string // what errors begin with: "docstore", "docstore: dynamodb table T"
	nodesPerQuery int
	parallelism   int
	now           func() time.Time
	closers       []func() error // run by Close after the collections are closed
	closed        atomic.Bool
	// mongo is the MongoDB collection under coll, if it is one: Get reads
	// from it directly (see Get).
	mongo *mongo.Collection

	mu   sync.Mutex
	runs map[core.RunID]*runState // runs known to exist (begun or seen by this store)
}

// runState is what a MetadataStore knows of a run it has begun or written to.
type runState struct {
	// nextSeq is the sequence number the next history document of the run
	// is created with; a conflict (another writer took it) moves it past
	// the largest one stored.
	nextSeq int64
}

var (
	_ core.MetadataStore = (*MetadataStore)(nil)
	_ core.Preloader     = (*MetadataStore)(nil)
	_ core.EntryWalker   = (*MetadataStore)(nil)
)

// New returns a MetadataStore on coll, which must key documents as the
// package doc says: by the fields "pk" (partition key) and "sk" (sort key)
// on DynamoDB, by DocumentID elsewhere. The store owns coll (and the
// collection of WithIndex): Close closes them.
func New(coll *gcds.Collection, opts ...Option) *MetadataStore {
	o := newOptions(opts)
	s := &MetadataStore{
		coll: coll, index: o.index, name: "docstore",
		nodesPerQuery: o.nodesPerQuery, parallelism: o.parallelism, now: o.clock,
		runs: map[core.RunID]*runState{},
	}
	if s.index == nil {
		s.index = coll
	}
	if s.nodesPerQuery <= 0 {
		s.nodesPerQuery = defaultNodesPerQuery(s.index)
	}
	if s.parallelism <= 0 {
		s.parallelism = 32
	}
	if s.now == nil {
		s.now = time.Now
	}
	var mc *mongo.Collection
	if coll.As(&mc) {
		s.mongo = mc
	}
	return s
}

func defaultNodesPerQuery(c *gcds.Collection) int {
	var d *dyn.Client
	if c.As(&d) {
		return 1
	}
	var f *vkit.Client
	if c.As(&f) {
		return 30
	}
	return 1000
}

func (s *MetadataStore) fail(op string, err error) error {
	return fmt.Errorf("%s: %s: %w", s.name, op, err)
}

func (s *MetadataStore) checkOpen(op string) error {
	if s.closed.Load() {
		return s.fail(op, core.ErrClosed)
	}
	return nil
}

// isCode reports whether err, or one of the errors an ActionListError
// holds, has the docstore error code c.
func isCode(err error, c gcerrors.ErrorCode) bool {
	var ale gcds.ActionListError
	if errors.As(err, &ale) {
		for _, e := range ale {
			if gcerrors.Code(e.Err) == c {
				return true
			}
		}
		return false
	}
	return gcerrors.Code(err) == c
}

// BeginRun records the start of a run; a known run is left as it is.
func (s *MetadataStore) BeginRun(ctx context.Context, run core.RunInfo) error {
	op := "begin run " + string(run.ID)
	if err := s.checkOpen(op); err != nil {
		return err
	}
	if err := run.ID.Validate(); err != nil {
		return s.fail(op, err)
	}
	if err := s.ensureRun(ctx, run.ID, run.StartTime(s.now).UnixNano()); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// ensureRun creates the document of run, started at started, unless this
// Store knows it exists. A run another process created is left as it is.
func (s *MetadataStore) ensureRun(ctx context.Context, run core.RunID, started int64) error {
	s.mu.Lock()
	_, known := s.runs[run]
	s.mu.Unlock()
	if known {
		return nil
	}
	d := runDocKey(run)
	d.Kind, d.Run, d.Started = kindRun, string(run), started
	if err := s.coll.Create(ctx, d); err != nil && !isCode(err, gcerrors.AlreadyExists) {
		return err
	}
	s.mu.Lock()
	if s.runs[run] == nil {
		s.runs[run] = &runState{nextSeq: 1}
	}
	s.mu.Unlock()
	return nil
}

// Get returns the entry of a cache key.
func (s *MetadataStore) Get(ctx context.Context, id core.KeyID) (core.Entry, error) {
	op := "get key " + string(id)
	if err := s.checkOpen(op); err != nil {
		return core.Entry{}, err
	}
	if id.Validate() != nil { // never stored, and maybe no document id ("/")
		return core.Entry{}, s.fail(op, core.ErrNotFound)
	}
	d := entryKey(id)
	if err := s.get(ctx, d); err != nil {
		return core.Entry{}, s.fail(op, err)
	}
	e, err := d.entry(id)
	if err != nil {
		return core.Entry{}, s.fail(op, err)
	}
	return e, nil
}

// get reads the document with the key of d into d. It returns an error
// wrapping core.ErrNotFound for a missing document and core.ErrCorrupt for
// one that does not decode.
//
// On MongoDB it is a FindOne by _id with the driver: mongodocstore reads
// even one document with a Find of {_id: {$in: [...]}}, which FerretDB's
// SQLite handler answers by scanning the whole collection (150 ms for 2000
// documents here), while it looks an _id equality up in its index (1 ms).
func (s *MetadataStore) get(ctx context.Context, d *document) error {
	var err error
	if s.mongo == nil {
		err = s.coll.Get(ctx, d)
	} else {
		var raw bson.Raw
		raw, err = s.mongo.FindOne(ctx, bson.D{{Key: "_id", Value: DocumentID(d)}}).Raw()
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			return core.ErrNotFound
		case err == nil:
			if uerr := bson.Unmarshal(raw, d); uerr != nil {
				return fmt.Errorf("%w: document %s: %v", core.ErrCorrupt, DocumentID(d), uerr)
			}
			return nil
		}
	}
	switch gcerrors.Code(err) {
	case gcerrors.OK:
		return nil
	case gcerrors.NotFound:
		return core.ErrNotFound
	case gcerrors.InvalidArgument: // the document does not decode
		return fmt.Errorf("%w: document %s: %v", core.ErrCorrupt, DocumentID(d), err)
	}
	return err
}

// Delete removes the entry of a cache key.
func (s *MetadataStore) Delete(ctx context.Context, id core.KeyID) error {
	op := "delete key " + string(id)
	if err := s.checkOpen(op); err != nil {
		return err
	}
	if id.Validate() != nil {
		return nil
	}
	if err := s.coll.Delete(ctx, entryKey(id)); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return s.fail(op, err)
	}
	return nil
}

// deleteChunk is how many documents DeleteAll deletes in one action list:
// Firestore commits at most 500 writes at once.
const deleteChunk = 250

// DeleteAll removes every document of the store (entries, runs and their
// history), in chunks: it is not atomic, and documents written while it
// runs may survive it.
func (s *MetadataStore) DeleteAll(ctx context.Context) error {
	if err := s.checkOpen("delete all"); err != nil {
		return err
	}
	var keys []*document
	it := s.coll.Query().Get(ctx, PartitionKey, SortKey)
	defer it.Stop()
	for {
		var d document
		err := it.Next(ctx, &d)
		if err == io.EOF {
			break
		}
		if err != nil {
			return s.fail("delete all", err)
		}
		keys = append(keys, &document{PK: d.PK, SK: d.SK})
	}
	for chunk := range slices.Chunk(keys, deleteChunk) {
		al := s.coll.Actions()
		for _, k := range chunk {
			al.Delete(k)
		}
		if err := al.Do(ctx); err != nil {
			return s.fail("delete all", err)
		}
	}
	s.mu.Lock()
	clear(s.runs)
	s.mu.Unlock()
	return nil
}

// Runs returns every run, oldest first (by Started, then by run id).
func (s *MetadataStore) Runs(ctx context.Context) ([]core.RunInfo, error) {
	if err := s.checkOpen("runs"); err != nil {
		return nil, err
	}
	var runs []core.RunInfo
	it := s.coll.Query().Where(PartitionKey, "=", runsPK).Get(ctx)
	defer it.Stop()
	for {
		var d document
		err := it.Next(ctx, &d)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, s.fail("runs", err)
		}
		if d.Kind != kindRun || d.Run == "" {
			continue
		}
		runs = append(runs, core.RunInfo{ID: core.RunID(d.Run), Started: time.Unix(0, d.Started)})
	}
	slices.SortStableFunc(runs, func(a, b core.RunInfo) int {
		return cmp.Or(a.Started.Compare(b.Started), cmp.Compare(a.ID, b.ID))
	})
	return runs, nil
}

// Run returns the history of a run in the order it was written: its run
// document and its history documents are read at once, the latter sorted
// by sequence number.
func (s *MetadataStore) Run(ctx context.Context, run core.RunID) ([]core.NodeRecord, error) {
	op := "run " + string(run)
	if err := s.checkOpen(op); err != nil {
		return nil, err
	}
	if run.Validate() != nil {
		return nil, s.fail(op, core.ErrNotFound)
	}
	var (
		wg     sync.WaitGroup
		getErr error
		rd     = runDocKey(run)
	)
	wg.Go(func() { getErr = s.get(ctx, rd) })
	batches, err := s.batches(ctx, run)
	wg.Wait()
	if getErr != nil {
		return nil, s.fail(op, getErr)
	}
	if rd.Run != string(run) {
		return nil, s.fail(op, core.ErrNotFound)
	}
	if err != nil {
		return nil, s.fail(op, err)
	}
	recs := []core.NodeRecord{}
	for _, b := range batches {
		got, err := core.DecodeRecords(b.Records)
		if err != nil {
			return nil, s.fail(op, fmt.Errorf("history document %s: %w", DocumentID(b), err))
		}
		recs = append(recs, got...)
	}
	return recs, nil
}

// batches returns the history documents of run, in sequence order.
func (s *MetadataStore) batches(ctx context.Context, run core.RunID) ([]*document, error) {
	var out []*document
	it := s.coll.Query().Where(PartitionKey, "=", batchPK(run)).Get(ctx)
	defer it.Stop()
	for {
		d := &document{}
		err := it.Next(ctx, d)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if d.Kind == kindBatch && d.Run == string(run) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b *document) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// lastSeq returns the largest sequence number of run's history documents
// (0 when it has none).
func (s *MetadataStore) lastSeq(ctx context.Context, run core.RunID) (int64, error) {
	var last int64
	it := s.coll.Query().Where(PartitionKey, "=", batchPK(run)).Get(ctx, PartitionKey, SortKey, "seq")
	defer it.Stop()
	for {
		var d document
		err := it.Next(ctx, &d)
		if err == io.EOF {
			return last, nil
		}
		if err != nil {
			return 0, err
		}
		last = max(last, d.Seq)
	}
}

// Close closes the collections and the clients the store opened. Later
// calls fail with core.ErrClosed; closing twice is not an error.
func (s *MetadataStore) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	errs := []error{s.coll.Close()}
	if s.index != s.coll {
		errs = append(errs, s.index.Close())
	}
	for _, c := range s.closers {
		errs = append(errs, c())
	}
	if err := errors.Join(errs...); err != nil {
		return s.fail("close", err)
	}
	return nil
}

// WalkEntries calls fn for every entry, in no particular order, and stops at
// the first error fn returns. It reads the whole collection (on DynamoDB, a
// scan) and skips the run documents.
func (s *MetadataStore) WalkEntries(ctx context.Context, fn func(core.Entry) error) error {
	if err := s.checkOpen("walk entries"); err != nil {
		return err
	}
	it := s.coll.Query().Get(ctx)
	defer it.Stop()
	for {
		var d document
		err := it.Next(ctx, &d)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return s.fail("walk entries", err)
		}
		if d.Kind != kindEntry {
			continue
		}
		id, _ := keyIDOf(d.PK)
		e, err := d.entry(id)
		if err != nil {
			return s.fail("walk entries", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// Preload returns the entries of the given nodes, by lookup key: queries on
// the node_key field, NodesPerQuery names each, Parallelism at once. Only
// the data version, format and last-used time are read.
func (s *MetadataStore) Preload(ctx context.Context, nodes []string) (map[core.KeyID]core.Entry, error) {
	if err := s.checkOpen("preload"); err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(nodes))
	keys := make([]string, 0, len(nodes))
	for _, n := range nodes {
		k := nodeKey(n)
		if n == "" || !utf8.ValidString(n) || seen[k] {
			continue // such a node has no entries
		}
		seen[k] = true
		keys = append(keys, k)
	}
	chunks := slices.Collect(slices.Chunk(keys, s.nodesPerQuery))
	var mu sync.Mutex
	out := make(map[core.KeyID]core.Entry, len(keys))
	err := parallel(ctx, len(chunks), s.parallelism, func(ctx context.Context, i int) error {
		q := s.index.Query()
		if c := chunks[i]; len(c) == 1 {
			q = q.Where(NodeKeyField, "=", c[0])
		} else {
			q = q.Where(NodeKeyField, "in", c)
		}
		it := q.Get(ctx, PartitionKey, "data_version", "format", "last_used")
		defer it.Stop()
		for {
			var d document
			err := it.Next(ctx, &d)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			id, ok := keyIDOf(d.PK)
			if !ok || d.DataVersion == "" || d.Format == "" {
				continue
			}
			mu.Lock()
			out[id] = core.Entry{DataVersion: core.DataVersion(d.DataVersion), Format: d.Format, LastUsed: time.Unix(0, d.LastUsed)}
			mu.Unlock()
		}
	})
	if err != nil {
		return nil, s.fail("preload", err)
	}
	return out, nil
}

// parallel calls fn(ctx, i) for i in [0, n), at most limit at once, and
// returns the first error; the context fn gets is cancelled after one.
func parallel(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	if n == 1 {
		return fn(ctx, 0)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

var _ core.EntryRemover = (*MetadataStore)(nil)

// RemoveEntries implements core.EntryRemover: it reads the entries of
// entries at once, and deletes, under its revision, each one that still
// maps to the same data version and format and was neither created nor used
// after the entry's times. A deletion refused because the entry changed
// meanwhile (a run stored or used it) leaves it in place. It returns the ids
// deleted.
func (s *MetadataStore) RemoveEntries(ctx context.Context, entries []core.Entry) ([]core.KeyID, error) {
	if err := s.checkOpen("remove entries"); err != nil {
		return nil, err
	}
	var (
		want []core.Entry
		keys []*document
		seen = map[core.KeyID]bool{}
	)
	for _, e := range entries {
		if id := e.ID(); id.Validate() == nil && !seen[id] {
			seen[id] = true
			want = append(want, e)
			keys = append(keys, entryKey(id))
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	cur, err := s.current(ctx, keys)
	if err != nil {
		return nil, s.fail("remove entries", err)
	}
	al := s.coll.Actions()
	var sent []core.KeyID
	for i, c := range cur {
		e := want[i]
		if c == nil || c.Kind != kindEntry || c.DataVersion != string(e.DataVersion) || c.Format != e.Format ||
			c.Created > e.Created.UnixNano() || c.LastUsed > e.LastUsed.UnixNano() {
			continue
		}
		al.Delete(&document{PK: c.PK, SK: c.SK, DocstoreRevision: c.DocstoreRevision})
		sent = append(sent, e.ID())
	}
	if len(sent) == 0 {
		return nil, nil
	}
	ok, err := do(ctx, al, len(sent))
	if err != nil {
		return nil, s.fail("remove entries", err)
	}
	var done []core.KeyID
	for i, id := range sent {
		if ok[i] {
			done = append(done, id)
		}
	}
	return done, nil
}
