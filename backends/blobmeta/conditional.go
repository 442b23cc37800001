package blobmeta

import (
	"sync"

	"gocloud.dev/blob"
)

// Conditional is a bucket service's conditional overwrite, reached through
// the As hooks of gocloud.dev/blob: the metadata store rewrites a node
// index (and the heads object) only if it is still the version it read, and
// otherwise reads it again and reapplies its change, so that two machines
// adding keys to one index at the same instant both keep theirs. Packages s3, gcs and azure
// register theirs with RegisterConditional; a bucket without one (memblob,
// fileblob) has its indexes rewritten blind, which is safe within one
// process only.
type Conditional interface {
	// Version returns the version of the object r reads (an ETag, a
	// generation), false when r does not say.
	Version(r *blob.Reader) (string, bool)
	// IfMatch returns a blob.WriterOptions.BeforeWrite hook that makes a
	// write fail with gcerrors.FailedPrecondition unless the object is
	// still at version.
	IfMatch(version string) func(asFunc func(any) bool) error
	// Conflict reports whether err is a conditional write refused because
	// of a concurrent one in a way gcerrors does not code as
	// FailedPrecondition (S3's 409 ConditionalRequestConflict).
	Conflict(err error) bool
}

var conditionals struct {
	sync.Mutex
	probes []func(*blob.Bucket) Conditional
}

// RegisterConditional registers probe, which returns the Conditional of
// the buckets of one service and nil for the others. New asks every
// registered probe; packages s3, gcs and azure register theirs in init.
func RegisterConditional(probe func(*blob.Bucket) Conditional) {
	conditionals.Lock()
	defer conditionals.Unlock()
	conditionals.probes = append(conditionals.probes, probe)
}

func conditionalOf(b *blob.Bucket) Conditional {
	conditionals.Lock()
	defer conditionals.Unlock()
	for _, probe := range conditionals.probes {
		if c := probe(b); c != nil {
			return c
		}
	}
	return nil
}

// WithConditional sets the conditional overwrite the store uses, instead of
// the one registered for the bucket's service (nil: none, blind rewrites).
func WithConditional(c Conditional) Option { return func(m *MetadataStore) { m.cond = c } }
