package s3_test

import (
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

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
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	defer srv.Close()
	if err := backend.CreateBucket("fc"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	buckettest.SharedWriters(t, "s3://fc?endpoint="+srv.URL+"&use_path_style=true&disable_https=true&region=us-east-1")
}
