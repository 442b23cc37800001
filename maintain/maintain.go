package maintain

import (
	"context"
	"runtime"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats"
	"github.com/flowcache/flowcache/inspect"
)

// Cache maintains a pair of stores: it counts what they hold (Usage),
// checks every stored result (Verify) and deletes (Evict). Usage and Verify
// only read. A Cache is safe for concurrent use.
type Cache struct {
	meta        core.MetadataStore
	results     core.ResultStore
	now         func() time.Time
	dir         string
	parallelism int
	formats     func(name string) (core.Format, error)
	trimMarker  string
	close       func() error
}

// Option configures a Cache.
type Option func(*Cache)

// WithClock sets the clock eviction measures ages with (time.Now by
// default), for tests.
func WithClock(now func() time.Time) Option { return func(c *Cache) { c.now = now } }

// WithParallelism sets how many results Verify reads at once (default
// GOMAXPROCS, at least 2).
func WithParallelism(n int) Option { return func(c *Cache) { c.parallelism = n } }

// WithFormats sets how Verify (and Evict with Policy.Damaged) finds a
// result's format by its name, to validate the result's bytes: by default
// formats.Lookup, which knows the formats registered in this program
// (importing formats/csv, formats/arrow or formats/parquet registers
// theirs). A result whose format it does not find is ProblemUnverifiable.
func WithFormats(lookup func(name string) (core.Format, error)) Option {
	return func(c *Cache) { c.formats = lookup }
}

// WithDir names the local cache directory the stores keep their files in,
// so that Usage reports its size on disk (Usage.DiskBytes). Open sets it
// for a path or a file:// URL.
func WithDir(dir string) Option { return func(c *Cache) { c.dir = dir } }

// New returns a Cache over a metadata store and a result store. It does not
// own them: Close does not close them. It calls them through
// core.CheckMetadata and core.CheckResults.
func New(meta core.MetadataStore, results core.ResultStore, opts ...Option) *Cache {
	c := &Cache{meta: core.CheckMetadata(meta), results: core.CheckResults(results), now: time.Now, parallelism: max(2, runtime.GOMAXPROCS(0)), formats: formats.Lookup}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Open opens the cache rawURL names as inspect.Open does (a path or a store
// URL; "" for $FLOWCACHE_URL, else ./.flowcache; a local directory must
// already be a cache) and returns a Cache that owns its stores.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Cache, error) {
	ic, err := inspect.Open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	c := New(ic.Metadata(), ic.Results(), append([]Option{WithDir(ic.Dir())}, opts...)...)
	c.close = ic.Close
	return c, nil
}

// Close releases the stores when Open opened them.
func (c *Cache) Close() error {
	if c.close == nil {
		return nil
	}
	f := c.close
	c.close = nil
	return f()
}

// Metadata returns the metadata store.
func (c *Cache) Metadata() core.MetadataStore { return c.meta }

// Results returns the result store.
func (c *Cache) Results() core.ResultStore { return c.results }
