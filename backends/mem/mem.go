// Package mem provides in-memory flowcache stores for tests and short-lived
// programs: a core.MetadataStore of maps under a mutex, and a
// core.ResultStore that is package blobstore over a memblob bucket, so
// results go through the same layout and verification as on disk. Both
// follow the contract of package conformance, like every other backend;
// nothing survives the process.
package mem

import (
	"errors"

	"gocloud.dev/blob/memblob"

	"github.com/flowcache/flowcache/backends/blobstore"
)

// Store holds an in-memory metadata store and result store, mirroring the
// shape of local.Store.
type Store struct {
	meta    *MetadataStore
	results *blobstore.Store
}

// New returns an empty in-memory metadata store and result store.
func New() *Store {
	return &Store{meta: NewMetadataStore(), results: NewResultStore()}
}

// Metadata returns the metadata store.
func (s *Store) Metadata() *MetadataStore { return s.meta }

// Results returns the result store.
func (s *Store) Results() *blobstore.Store { return s.results }

// Close closes both stores.
func (s *Store) Close() error {
	return errors.Join(s.meta.Close(), s.results.Close())
}

// NewResultStore returns an empty in-memory result store: a blobstore.Store
// over a memblob bucket it owns. Its Bucket method gives tests access to the
// stored objects (to damage one, say).
func NewResultStore(opts ...blobstore.Option) *blobstore.Store {
	// MD5 sums are for blob attributes flowcache does not use; the layout
	// carries its own checksum.
	b := memblob.OpenBucket(&memblob.Options{NoMD5: true})
	return blobstore.New(b, append([]blobstore.Option{blobstore.WithOwnedBucket()}, opts...)...)
}
