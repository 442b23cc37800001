// Package bucket keeps a whole flowcache cache in one gocloud.dev/blob
// bucket: the metadata store of package blobmeta under "<prefix>meta/" and
// the result store of package blobstore under "<prefix>results/", so that
// a bare bucket is a complete cache that many machines can share. Packages
// s3, gcs and azure open one from a store URL; a program that opened a
// bucket itself (memblob in a test, a bucket with options of its own)
// calls Open.
package bucket

import (
	"errors"
	"slices"

	"gocloud.dev/blob"

	"github.com/flowcache/flowcache/backends/blobmeta"
	"github.com/flowcache/flowcache/backends/blobstore"
	"github.com/flowcache/flowcache/core"
)

// MetadataStore is the metadata store of a bucket cache (package blobmeta).
type MetadataStore = blobmeta.MetadataStore

// ResultStore is the result store of a bucket cache (package blobstore).
type ResultStore = blobstore.ResultStore

// Store is a cache in a bucket: its metadata store and its result store.
type Store struct {
	meta    *MetadataStore
	results *ResultStore
	bucket  *blob.Bucket
}

// Option configures Open.
type Option func(*options)

type options struct {
	name    string
	meta    []blobmeta.Option
	results []blobstore.Option
}

// WithName sets the name errors of both stores begin with: the package
// the user opened the cache with ("s3", "gcs", "azure"; "bucket" by
// default).
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithMetadataOptions passes options to the metadata store (package
// blobmeta: WithConcurrency, WithConditional).
func WithMetadataOptions(opts ...blobmeta.Option) Option {
	return func(o *options) { o.meta = append(o.meta, opts...) }
}

// WithResultOptions passes options to the result store (package
// blobstore: WithChecksum, WithSpoolDir).
func WithResultOptions(opts ...blobstore.Option) Option {
	return func(o *options) { o.results = append(o.results, opts...) }
}

// Open returns the cache kept under prefix in b (prepended as is: use a
// trailing "/", e.g. "team/cache/"; "" for the whole bucket): metadata
// under prefix+"meta/", results under prefix+"results/". The Store owns
// b: Close closes both stores and b.
func Open(b *blob.Bucket, prefix string, opts ...Option) *Store {
	o := options{name: "bucket"}
	for _, opt := range opts {
		opt(&o)
	}
	// The caller's options come last, so that they win.
	res := blobstore.New(b, slices.Concat([]blobstore.Option{
		blobstore.WithName(o.name), blobstore.WithPrefix(prefix + "results/"),
	}, o.results)...)
	meta := blobmeta.New(b, prefix+"meta/", slices.Concat([]blobmeta.Option{blobmeta.WithName(o.name)}, o.meta)...)
	return &Store{meta: meta, results: res, bucket: b}
}

// Metadata returns the metadata store.
func (s *Store) Metadata() *MetadataStore { return s.meta }

// Results returns the result store.
func (s *Store) Results() *ResultStore { return s.results }

// Bucket returns the bucket the cache is kept in.
func (s *Store) Bucket() *blob.Bucket { return s.bucket }

// Stores returns both stores as core.Stores, whose Close closes the Store.
func (s *Store) Stores() *core.Stores {
	return &core.Stores{Metadata: s.meta, Results: s.results, Close: s.Close}
}

// Close closes both stores and the bucket.
func (s *Store) Close() error {
	return errors.Join(s.meta.Close(), s.results.Close(), s.bucket.Close())
}
