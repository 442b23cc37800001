package s3_test

import (
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/flowcache/flowcache/backends/internal/buckettest"
	"github.com/flowcache/flowcache/backends/s3"
	"github.com/flowcache/flowcache/internal/servertest"
)

// TestMinIO runs the store suites on a real MinIO server (started by
// scripts/servers; .ci/run starts it).
func TestMinIO(t *testing.T) {
	bucket := servertest.S3Bucket(t)
	buckettest.Suite(t, servertest.S3URL(t, bucket, ""))
}

// TestInProcess runs them on gofakes3, an S3 server in the test process
// (no setup needed; it honours If-None-Match and multipart uploads).
func TestInProcess(t *testing.T) {
	buckettest.Suite(t, gofakes3URL(t))
}

// TestOpen checks s3.Open, on gofakes3.
func TestOpen(t *testing.T) {
	buckettest.Open(t, gofakes3URL(t), "s3", s3.Open)
}

// gofakes3URL starts gofakes3 with an empty bucket for the test and returns
// its URL.
func gofakes3URL(t *testing.T) string {
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	if err := backend.CreateBucket("fc"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	return "s3://fc?endpoint=" + srv.URL + "&use_path_style=true&disable_https=true&region=us-east-1"
}
