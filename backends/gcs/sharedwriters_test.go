package gcs_test

import (
	"testing"

	"github.com/flowcache/flowcache/backends/internal/buckettest"
	"github.com/flowcache/flowcache/internal/servertest"
)

// TestSharedWriters: stores on one fake-gcs-server bucket adding keys to
// the same node indexes at the same instant lose none (generation-match
// rewrites), and no preload snapshot hides them.
func TestSharedWriters(t *testing.T) {
	buckettest.SharedWriters(t, servertest.GCSURL(t, servertest.GCSBucket(t), ""))
}
