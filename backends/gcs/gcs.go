// Package gcs keeps a flowcache cache in a Google Cloud Storage bucket.
// Importing it registers the store URL scheme "gs":
//
//	import _ "github.com/flowcache/flowcache/backends/gcs"
//
//	driver.WithCache(driver.CacheURL("gs://my-bucket/team/cache"))
//
// or FLOWCACHE_URL=gs://my-bucket/team/cache.
//
// A program that wants the stores themselves calls Open, which returns the
// cache as a Store: its MetadataStore (package blobmeta) and its
// ResultStore (package blobstore). Errors begin with "gcs:".
//
// The bucket must exist. Everything flowcache writes goes under the URL's
// path: results under results/, metadata under meta/ (see package blobmeta
// for the objects and what concurrent writers do). With the metadata
// parameter (see core.MetadataParam) the metadata goes to a document
// database instead.
//
// # Credentials
//
// Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS, the
// gcloud user credentials, workload identity, or the metadata server on GCE
// and GKE. STORAGE_EMULATOR_HOST=host:port points the client at an
// emulator (fake-gcs-server, as `scripts/servers start` runs it).
//
// # URL parameters
//
// The parameters of gocloud.dev/blob/gcsblob (v0.47.0); any other is
// rejected with an error naming it.
//
//	access_id         the service account e-mail used to sign URLs
//	private_key_path  the service account key used to sign URLs
//	anonymous=true    no credentials (public buckets, read only)
//	universe_domain   a non-default universe (sovereign clouds)
//	grpc=true         the gRPC API instead of JSON over HTTP
//	zonal=true        a zonal (rapid) bucket (needs grpc)
//
// Conditional writes (ifGenerationMatch=0) keep concurrent writers of one
// result from uploading it twice; large results are uploaded in chunks,
// streamed.
package gcs

import (
	"context"
	"net/url"

	_ "gocloud.dev/blob/gcsblob" // registers gs:// with gocloud.dev/blob

	"github.com/flowcache/flowcache/backends/blobmeta"
	"github.com/flowcache/flowcache/backends/blobstore"
	"github.com/flowcache/flowcache/backends/bucket"
	"github.com/flowcache/flowcache/backends/internal/bucketurl"
	"github.com/flowcache/flowcache/core"
)

func init() { core.RegisterScheme("gs", openURL) }

// Params are the URL parameters the gs scheme accepts.
var Params = []string{"access_id", "private_key_path", "anonymous", "universe_domain", "grpc", "zonal"}

// MetadataStore is the metadata store of a cache in an Google Cloud Storage bucket:
// small objects under meta/ (package blobmeta).
type MetadataStore = blobmeta.MetadataStore

// ResultStore is the result store of a cache in an Google Cloud Storage bucket:
// verified objects under results/ (package blobstore).
type ResultStore = blobstore.ResultStore

// Store is a cache in an Google Cloud Storage bucket: its metadata store and its result
// store (package bucket).
type Store = bucket.Store

// Open opens the cache a gs:// URL names (see the package doc); Close
// closes it. Most users pass the URL to driver.CacheURL or core.OpenURL
// instead, which also take the metadata parameter (core.MetadataParam).
func Open(ctx context.Context, rawURL string) (*Store, error) {
	return bucketurl.OpenString(ctx, rawURL, "gs", "gcs", "bucket", Params...)
}

// openURL is the URL opener registered for gs://.
func openURL(ctx context.Context, u *url.URL) (*core.Stores, error) {
	st, err := bucketurl.Open(ctx, u, "gcs", "bucket", Params...)
	if err != nil {
		return nil, err
	}
	return st.Stores(), nil
}
