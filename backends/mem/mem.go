// Package mem provides in-memory flowcache stores for tests and short-lived
// programs: a core.MetadataStore of maps under a mutex (MetadataStore), and
// a core.ResultStore that is package blobstore over a memblob bucket
// (ResultStore), so results go through the same layout and verification as
// on disk. Open returns the pair (Store). Both follow the contract of
// package conformance, like every other backend; nothing survives the
// process.
package mem

import (
	"errors"

	"gocloud.dev/blob/memblob"

	"github.com/flowcache/flowcache/backends/blobstore"
	"github.com/flowcache/flowcache/core"
)

// ResultStore is the in-memory result store: a blobstore.ResultStore over
// a memblob bucket it owns (see NewResultStore).
type ResultStore = blobstore.ResultStore

// Store holds an in-memory metadata store and result store, mirroring the
// shape of local.Store.
type Store struct {
	meta    *MetadataStore
	results *ResultStore
}

// Open returns an empty in-memory cache: a metadata store and a result
// store.
func Open() *Store {
	return &Store{meta: NewMetadataStore(), results: NewResultStore()}
}

// Metadata returns the metadata store.
func (s *Store) Metadata() *MetadataStore { return s.meta }

// Results returns the result store.
func (s *Store) Results() *ResultStore { return s.results }

// Stores returns both stores as core.Stores, whose Close closes the Store.
func (s *Store) Stores() *core.Stores {
	return &core.Stores{Metadata: s.meta, Results: s.results, Close: s.Close}
}

// Close closes both stores.
func (s *Store) Close() error {
	return errors.Join(s.meta.Close(), s.results.Close())
}

// NewResultStore returns an empty in-memory result store over a memblob
// bucket it owns; opts are those of package blobstore. Its Bucket method
// gives tests access to the stored objects (to damage one, say).
func NewResultStore(opts ...blobstore.Option) *ResultStore {
	// MD5 sums are for blob attributes flowcache does not use; the layout
	// carries its own checksum.
	b := memblob.OpenBucket(&memblob.Options{NoMD5: true})
	return blobstore.New(b, append([]blobstore.Option{blobstore.WithOwnedBucket(), blobstore.WithName("mem")}, opts...)...)
}
