package core_test

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
)

// countingStore is a decorator that counts lookups: it implements the base
// interface by embedding it, and exposes the store it wraps with Unwrap so
// that the store's optional capabilities are still found (core.As).
type countingStore struct {
	core.MetadataStore
	gets atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, id core.KeyID) (core.Entry, error) {
	c.gets.Add(1)
	return c.MetadataStore.Get(ctx, id)
}

func (c *countingStore) Unwrap() core.MetadataStore { return c.MetadataStore }

// A store wrapped for metrics keeps its capabilities, found with As through
// Unwrap, and core refuses calls that break the store contract before any
// store sees them.
func ExampleAs() {
	st := mem.Open()
	defer st.Close()
	counted := &countingStore{MetadataStore: st.Metadata()}
	meta := core.CheckMetadata(counted) // what core.New does with its stores

	_, isWalker := meta.(core.EntryWalker)
	walker, found := core.As[core.EntryWalker](meta)
	fmt.Println("the wrapper is an EntryWalker:", isWalker)
	fmt.Println("As finds the store's EntryWalker:", found && walker == core.EntryWalker(st.Metadata()))

	ctx := context.Background()
	_, err := meta.Get(ctx, "not a key id")
	fmt.Println(err)
	_, err = meta.Get(ctx, core.NewCacheKey("node", "v1", nil).ID())
	fmt.Println("lookups that reached the store:", counted.gets.Load(), err != nil)
	// Output:
	// the wrapper is an EntryWalker: false
	// As finds the store's EntryWalker: true
	// flowcache: metadata store: get: invalid argument: key id "not a key id" has 12 bytes, want 64 hex digits
	// lookups that reached the store: 1 true
}
