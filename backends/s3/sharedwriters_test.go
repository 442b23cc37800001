package s3_test

import (
	"testing"

	"github.com/flowcache/flowcache/backends/internal/buckettest"
	"github.com/flowcache/flowcache/internal/servertest"
)

// TestSharedWriters: stores on one MinIO bucket adding keys to the same
// node indexes at the same instant lose none (If-Match rewrites), and no
// preload snapshot hides them.
func TestSharedWriters(t *testing.T) {
	buckettest.SharedWriters(t, servertest.S3URL(t, servertest.S3Bucket(t), ""))
}

// TestSharedWritersInProcess runs the same on gofakes3, which honours
// If-Match, in the test process (no server needed).
func TestSharedWritersInProcess(t *testing.T) {
	buckettest.SharedWriters(t, gofakes3URL(t))
}
