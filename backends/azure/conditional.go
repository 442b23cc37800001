package azure

import (
	"errors"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	azblobblob "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"

	"github.com/flowcache/flowcache/backends/blobmeta"
)

func init() {
	blobmeta.RegisterConditional(func(b *blob.Bucket) blobmeta.Conditional {
		var c *container.Client
		if b.As(&c) {
			return conditional{}
		}
		return nil
	})
}

// conditional rewrites a blob only if its ETag is still the one read
// (If-Match). The metadata store writes with Bucket.Upload, which reports
// a refused condition as FailedPrecondition (the blob writer of gocloud.dev
// v0.47.0 panics instead, see blobmeta).
type conditional struct{}

func (conditional) Version(r *blob.Reader) (string, bool) {
	var resp azblobblob.DownloadStreamResponse
	if !r.As(&resp) || resp.ETag == nil || *resp.ETag == "" {
		return "", false
	}
	return string(*resp.ETag), true
}

func (conditional) IfMatch(etag string) func(func(any) bool) error {
	return func(as func(any) bool) error {
		var opts *azblob.UploadStreamOptions
		if !as(&opts) {
			return errors.New("azure: conditional write: the writer exposes no upload options")
		}
		e := azcore.ETag(etag)
		if opts.AccessConditions == nil {
			opts.AccessConditions = &azblobblob.AccessConditions{}
		}
		if opts.AccessConditions.ModifiedAccessConditions == nil {
			opts.AccessConditions.ModifiedAccessConditions = &azblobblob.ModifiedAccessConditions{}
		}
		opts.AccessConditions.ModifiedAccessConditions.IfMatch = &e
		return nil
	}
}

// Conflict: Azure answers 412 to a refused condition, which gcerrors
// codes as FailedPrecondition.
func (conditional) Conflict(error) bool { return false }
