package s3_test

import (
	"testing"

	"github.com/flowcache/flowcache/backends/internal/buckettest"
	"github.com/flowcache/flowcache/internal/servertest"
)

// TestSharedLeases: stores on one MinIO bucket, each with its own client,
// acquiring or taking over one lease at the same instant: one gets it
// (If-None-Match: * creates, If-Match rewrites).
func TestSharedLeases(t *testing.T) {
	buckettest.SharedLeases(t, servertest.S3URL(t, servertest.S3Bucket(t), ""))
}

// TestSharedLeasesInProcess runs the same on gofakes3, in the test process.
func TestSharedLeasesInProcess(t *testing.T) {
	buckettest.SharedLeases(t, gofakes3URL(t))
}
