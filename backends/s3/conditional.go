package s3

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"gocloud.dev/blob"

	"github.com/flowcache/flowcache/backends/blobmeta"
)

func init() {
	blobmeta.RegisterConditional(func(b *blob.Bucket) blobmeta.Conditional {
		var c *awss3.Client
		if b.As(&c) {
			return conditional{}
		}
		return nil
	})
}

// conditional rewrites an object only if its ETag is still the one read
// (PutObject with If-Match: S3 since November 2024, MinIO).
type conditional struct{}

func (conditional) Version(r *blob.Reader) (string, bool) {
	var out awss3.GetObjectOutput
	if !r.As(&out) || out.ETag == nil || *out.ETag == "" {
		return "", false
	}
	return *out.ETag, true
}

func (conditional) IfMatch(etag string) func(func(any) bool) error {
	return func(as func(any) bool) error {
		var in *transfermanager.UploadObjectInput
		if !as(&in) {
			return errors.New("s3: conditional write: the writer exposes no upload input")
		}
		in.IfMatch = aws.String(etag)
		return nil
	}
}

// Conflict: S3 answers 409 ConditionalRequestConflict to a conditional
// write racing another one on the same key.
func (conditional) Conflict(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ConditionalRequestConflict"
}
