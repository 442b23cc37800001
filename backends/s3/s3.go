// Package s3 keeps a flowcache cache in an Amazon S3 bucket, or in any
// S3-compatible service (MinIO, Ceph, R2, …). Importing it registers the
// store URL scheme "s3":
//
//	import _ "github.com/flowcache/flowcache/backends/s3"
//
//	driver.WithCache(driver.CacheURL("s3://my-bucket/team/cache?region=eu-west-1"))
//
// or FLOWCACHE_URL=s3://my-bucket/team/cache?region=eu-west-1 with any
// driver that sets no store itself.
//
// A program that wants the stores themselves calls Open, which returns the
// cache as a Store: its MetadataStore (package blobmeta) and its
// ResultStore (package blobstore). Errors begin with "s3:".
//
// The bucket must exist. Everything flowcache writes goes under the URL's
// path ("team/cache/" above): results under results/, metadata under meta/
// (see package blobmeta for the objects and what concurrent writers do),
// so one bucket can hold several caches, and many machines can share one.
// With the metadata parameter (see core.MetadataParam) the metadata goes to
// a document database instead.
//
// # Credentials
//
// The AWS SDK's default chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
// (and AWS_SESSION_TOKEN), the shared config and credentials files
// (AWS_PROFILE, or the profile parameter), web identity (EKS, CI OIDC), and
// the EC2/ECS instance role. Never put keys in the URL.
//
// # URL parameters
//
// The parameters of gocloud.dev/blob/s3blob (v0.47.0); any other is
// rejected with an error naming it.
//
//	region                 the bucket's region (else AWS_REGION / the profile's)
//	endpoint               an S3-compatible endpoint, e.g. http://127.0.0.1:9000
//	use_path_style=true    path-style addressing (MinIO and most S3-compatible servers)
//	disable_https=true     plain HTTP to the endpoint (local servers only)
//	profile                a shared-config profile
//	role                   an IAM role ARN to assume
//	anonymous=true         no credentials (public buckets, read only)
//	dualstack, fips        AWS endpoint variants (true/false)
//	accelerate=true        S3 Transfer Acceleration
//	ssetype, kmskeyid      server-side encryption (AES256, aws:kms, aws:kms:dsse) and its KMS key
//	hostname_immutable     use the endpoint as given
//	rate_limiter_capacity  the SDK's retry rate limiter capacity
//	request_checksum_calculation, response_checksum_validation
//	                       when_supported (default) or when_required; some
//	                       S3-compatible servers need when_required
//	awssdk                 v2 (the only SDK flowcache builds with)
//
// For MinIO on this machine, as `scripts/servers start` runs it:
//
//	AWS_ACCESS_KEY_ID=minioadmin AWS_SECRET_ACCESS_KEY=minioadmin \
//	FLOWCACHE_URL='s3://flowcache?endpoint=http://127.0.0.1:9000&use_path_style=true&disable_https=true&region=us-east-1'
//
// Conditional writes (If-None-Match: *) keep concurrent writers of one
// result from uploading it twice; S3 has supported them since 2024, MinIO
// and most compatible servers do too. Results larger than the SDK's part
// size are uploaded in parts, streamed: a large result is never held in
// memory whole.
package s3

import (
	"context"
	"net/url"

	_ "gocloud.dev/blob/s3blob" // registers s3:// with gocloud.dev/blob

	"github.com/flowcache/flowcache/backends/blobmeta"
	"github.com/flowcache/flowcache/backends/blobstore"
	"github.com/flowcache/flowcache/backends/bucket"
	"github.com/flowcache/flowcache/backends/internal/bucketurl"
	"github.com/flowcache/flowcache/core"
)

func init() { core.RegisterScheme("s3", openURL) }

// Params are the URL parameters the s3 scheme accepts.
var Params = []string{
	"region", "endpoint", "use_path_style", "s3ForcePathStyle", "disable_https", "profile", "role", "anonymous",
	"dualstack", "fips", "accelerate", "ssetype", "kmskeyid", "hostname_immutable", "rate_limiter_capacity",
	"request_checksum_calculation", "response_checksum_validation", "awssdk",
}

// MetadataStore is the metadata store of a cache in an S3 bucket:
// small objects under meta/ (package blobmeta).
type MetadataStore = blobmeta.MetadataStore

// ResultStore is the result store of a cache in an S3 bucket:
// verified objects under results/ (package blobstore).
type ResultStore = blobstore.ResultStore

// Store is a cache in an S3 bucket: its metadata store and its result
// store (package bucket).
type Store = bucket.Store

// Open opens the cache an s3:// URL names (see the package doc); Close
// closes it. Most users pass the URL to driver.CacheURL or core.OpenURL
// instead, which also take the metadata parameter (core.MetadataParam).
func Open(ctx context.Context, rawURL string) (*Store, error) {
	return bucketurl.OpenString(ctx, rawURL, "s3", "s3", "bucket", Params...)
}

// openURL is the URL opener registered for s3://.
func openURL(ctx context.Context, u *url.URL) (*core.Stores, error) {
	st, err := bucketurl.Open(ctx, u, "s3", "bucket", Params...)
	if err != nil {
		return nil, err
	}
	return st.Stores(), nil
}
