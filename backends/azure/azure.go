// Package azure keeps a flowcache cache in an Azure Blob Storage container.
// Importing it registers the store URL scheme "azblob":
//
//	import _ "github.com/flowcache/flowcache/backends/azure"
//
//	driver.WithCache(driver.CacheURL("azblob://my-container/team/cache?storage_account=myaccount"))
//
// or FLOWCACHE_URL=azblob://my-container/team/cache.
//
// A program that wants the stores themselves calls Open, which returns the
// cache as a Store: its MetadataStore (package blobmeta) and its
// ResultStore (package blobstore). Errors begin with "azure:".
//
// The container must exist. Everything flowcache writes goes under the
// URL's path: results under results/, metadata under meta/ (see package
// blobmeta for the objects and what concurrent writers do). With the
// metadata parameter (see core.MetadataParam) the metadata goes to a
// document database instead.
//
// # Credentials
//
// As gocloud.dev/blob/azureblob finds them: AZURE_STORAGE_CONNECTION_STRING;
// AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY (shared key) or
// AZURE_STORAGE_SAS_TOKEN; otherwise the Azure SDK's default credential
// chain (environment service principal, workload identity, managed
// identity, Azure CLI). Azurite, as `scripts/servers start` runs it, is
// reached through its connection string (see `scripts/servers env`).
//
// # URL parameters
//
// The parameters of gocloud.dev/blob/azureblob (v0.47.0); any other is
// rejected with an error naming it.
//
//	storage_account  the account (else AZURE_STORAGE_ACCOUNT)
//	domain           the storage domain (default blob.core.windows.net)
//	protocol         https (default) or http
//	cdn=true         the domain is a CDN
//	localemu=true    a local emulator: the account is in the path
//
// Conditional writes (If-None-Match: *) keep concurrent writers of one
// result from uploading it twice; large results are uploaded in blocks,
// streamed. gocloud.dev v0.47.0's azureblob writer panics when the service
// refuses an upload (a conditional write that lost, a missing container);
// flowcache recovers that panic and reports an error (or success, for a lost
// conditional write whose object exists).
package azure

import (
	"context"
	"net/url"

	_ "gocloud.dev/blob/azureblob" // registers azblob:// with gocloud.dev/blob

	"github.com/flowcache/flowcache/backends/blobmeta"
	"github.com/flowcache/flowcache/backends/blobstore"
	"github.com/flowcache/flowcache/backends/bucket"
	"github.com/flowcache/flowcache/backends/internal/bucketurl"
	"github.com/flowcache/flowcache/core"
)

func init() { core.RegisterScheme("azblob", openURL) }

// Params are the URL parameters the azblob scheme accepts.
var Params = []string{"storage_account", "domain", "protocol", "cdn", "localemu"}

// MetadataStore is the metadata store of a cache in an Azure Blob Storage container:
// small objects under meta/ (package blobmeta).
type MetadataStore = blobmeta.MetadataStore

// ResultStore is the result store of a cache in an Azure Blob Storage container:
// verified objects under results/ (package blobstore).
type ResultStore = blobstore.ResultStore

// Store is a cache in an Azure Blob Storage container: its metadata store and its result
// store (package bucket).
type Store = bucket.Store

// Open opens the cache an azblob:// URL names (see the package doc); Close
// closes it. Most users pass the URL to driver.CacheURL or core.OpenURL
// instead, which also take the metadata parameter (core.MetadataParam).
func Open(ctx context.Context, rawURL string) (*Store, error) {
	return bucketurl.OpenString(ctx, rawURL, "azblob", "azure", "container", Params...)
}

// openURL is the URL opener registered for azblob://.
func openURL(ctx context.Context, u *url.URL) (*core.Stores, error) {
	st, err := bucketurl.Open(ctx, u, "azure", "container", Params...)
	if err != nil {
		return nil, err
	}
	return st.Stores(), nil
}
