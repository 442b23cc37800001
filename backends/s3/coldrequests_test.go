package s3_test

import (
	"context"
	"testing"

	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/internal/servertest"
)

// coldPerNode bounds the requests of a cold run per node (issue 13): the
// result's upload and the entry's, every other object written or read once
// per batch or per run (see the package docs of blobstore and blobmeta).
const coldPerNode = 2

// coldPerRun allows the requests a cold run sends per run and per batch
// whatever its size: the preload (snapshot, tags, listing), the run object,
// the tags and record object of each batch, the snapshot.
const coldPerRun = 100

// TestColdRequestsPerNode runs the 1001-node pipeline of BenchmarkWarm
// cold on MinIO through the counting proxy and checks that it sends at most
// coldPerNode requests per node, plus coldPerRun. Measured on 2026-12-04:
// 2042 to 2051 requests (about 2029 PUT, 16 GET, 5 LIST), 2.05 a node;
// before batch objects, 4065 to 4079 (3038 PUT, 1024 GET, 2 LIST): the
// node index's GET and PUT besides.
func TestColdRequestsPerNode(t *testing.T) {
	bucket := servertest.S3Bucket(t)
	counter := newRequestCounter(t)
	nodes, _ := wide()
	dr, err := driver.NewBuilder().WithNodes(nodes...).WithCache(driver.CacheURL(counter.url(bucket, "coldrequests"))).Build()
	if err != nil {
		t.Fatal(err)
	}
	out, err := dr.Execute(context.Background(), []string{"sum"}, driver.Inputs{"x": 1}, nil)
	if err != nil || out["sum"] != wideWant {
		t.Fatalf("%v %v", out, err)
	}
	if err := dr.Close(); err != nil {
		t.Fatal(err)
	}
	byOp, all := counter.take()
	n := len(nodes)
	t.Logf("cold run of %d nodes: %d requests %v, %.2f a node", n, all, byOp, float64(all)/float64(n))
	if limit := coldPerNode*n + coldPerRun; all > limit {
		t.Errorf("cold run of %d nodes sent %d requests %v, %.2f a node; want at most %d (%d a node + %d)",
			n, all, byOp, float64(all)/float64(n), limit, coldPerNode, coldPerRun)
	}
}
