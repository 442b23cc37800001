// Package gcs keeps a flowcache cache in a Google Cloud Storage bucket.
// Importing it registers the store URL scheme "gs":
//
//	import _ "github.com/flowcache/flowcache/backends/gcs"
//
//	driver.WithCache(driver.CacheURL("gs://my-bucket/team/cache"))
//
// or FLOWCACHE_URL=gs://my-bucket/team/cache.
//
// The bucket must exist. Everything flowcache writes goes under the URL's
// path: results under results/, metadata under meta/ (see package blobstore
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

	"github.com/flowcache/flowcache/backends/internal/bucketurl"
	"github.com/flowcache/flowcache/core"
)

func init() { core.RegisterScheme("gs", Open) }

// Params are the URL parameters the gs scheme accepts.
var Params = []string{"access_id", "private_key_path", "anonymous", "universe_domain", "grpc", "zonal"}

// Open opens the stores of a gs:// URL (see the package doc).
func Open(ctx context.Context, u *url.URL) (*core.Stores, error) {
	return bucketurl.Open(ctx, u, "bucket", Params...)
}
