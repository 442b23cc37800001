package gcs

import (
	"errors"
	"strconv"

	"cloud.google.com/go/storage"
	"gocloud.dev/blob"

	"github.com/flowcache/flowcache/backends/blobmeta"
)

func init() {
	blobmeta.RegisterConditional(func(b *blob.Bucket) blobmeta.Conditional {
		var c *storage.Client
		if b.As(&c) {
			return conditional{}
		}
		return nil
	})
}

// conditional rewrites an object only if its generation is still the one
// read (ifGenerationMatch).
type conditional struct{}

func (conditional) Version(r *blob.Reader) (string, bool) {
	var sr *storage.Reader
	if !r.As(&sr) || sr.Attrs.Generation == 0 {
		return "", false
	}
	return strconv.FormatInt(sr.Attrs.Generation, 10), true
}

func (conditional) IfMatch(generation string) func(func(any) bool) error {
	return func(as func(any) bool) error {
		gen, err := strconv.ParseInt(generation, 10, 64)
		if err != nil {
			return errors.New("gcs: conditional write: bad generation " + strconv.Quote(generation))
		}
		var obj **storage.ObjectHandle
		if !as(&obj) {
			return errors.New("gcs: conditional write: the writer exposes no object handle")
		}
		*obj = (*obj).If(storage.Conditions{GenerationMatch: gen})
		return nil
	}
}

// Conflict: GCS answers 412 to a refused condition, which gcerrors codes
// as FailedPrecondition.
func (conditional) Conflict(error) bool { return false }
