package gcs_test

import (
	"testing"

	"github.com/flowcache/flowcache/backends/internal/buckettest"
	"github.com/flowcache/flowcache/internal/servertest"
)

// TestSharedLeases: stores on one fake-gcs-server bucket, each with its
// own client, acquiring or taking over one lease at the same instant: one
// gets it (ifGenerationMatch=0 creates, ifGenerationMatch rewrites).
func TestSharedLeases(t *testing.T) {
	buckettest.SharedLeases(t, servertest.GCSURL(t, servertest.GCSBucket(t), ""))
}
