package gcs_test

import (
	"testing"

	"github.com/flowcache/flowcache/backends/gcs"
	"github.com/flowcache/flowcache/backends/internal/buckettest"
	"github.com/flowcache/flowcache/internal/servertest"
)

// TestFakeGCS runs the store suites on fake-gcs-server (started by
// scripts/servers; .ci/run starts it).
func TestFakeGCS(t *testing.T) {
	bucket := servertest.GCSBucket(t)
	buckettest.Suite(t, servertest.GCSURL(t, bucket, ""))
}

// TestOpen checks gcs.Open, on fake-gcs-server.
func TestOpen(t *testing.T) {
	buckettest.Open(t, servertest.GCSURL(t, servertest.GCSBucket(t), ""), "gcs", gcs.Open)
}
