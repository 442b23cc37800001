// Package remotetest runs inspect's lineage scenario (package
// internal/lineagetest) on a cache in a bucket of the test S3 server
// (MinIO, started by scripts/servers; skipped without it, a failure in
// CI). It holds only tests: they link the AWS SDK, which inspect's own
// tests do not, so that scripts/test runs those and leaves this one out.
package remotetest

import (
	"context"
	"testing"

	_ "github.com/flowcache/flowcache/backends/s3"
	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/internal/lineagetest"
	"github.com/flowcache/flowcache/internal/servertest"
)

// The lineage of a pipeline run six times with changes in between, on a
// bucket: runs write through one store handle each, and the lineage is
// read from the metadata alone through another.
func TestLineageS3(t *testing.T) {
	url := servertest.S3URL(t, servertest.S3Bucket(t), "cache/")
	lineagetest.Check(t, url, func(t *testing.T) *inspect.Cache {
		ic, err := inspect.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ic.Close() })
		return ic
	})
}
