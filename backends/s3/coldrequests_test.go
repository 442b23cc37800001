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

// coldPerRun allows the requests a cold run sends once whatever its size:
// the preload (snapshot, heads, listing), the run object, the snapshot.
const coldPerRun = 100

// coldPerBatch allows the requests of each batch of metadata: its batch
// object, the conditional rewrite of the heads (a GET and a PUT, and a retry
// now and then), its history record, and the reads of a run that refreshes
// its preload while it goes on (the heads and the batch objects written
// since: up to 8 GETs a batch measured under -race). How many batches a run
// writes depends on how fast it runs (a batch is written at least every
// second): 10 on a quiet machine, 15 to 19 under -race on a busy one, where
// a batch cost 8.6 GETs.
const coldPerBatch = 12

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
	batches, lookups := int(counter.batches.Load()), int(counter.lookups.Load())
	n := len(nodes)
	t.Logf("cold run of %d nodes: %d requests %v in %d batches, %d entries looked up one by one, %.2f a node",
		n, all, byOp, batches, lookups, float64(all)/float64(n))
	if batches == 0 {
		t.Fatal("no batch object was written")
	}
	// A node looked up before the preload of the run's first Build has
	// answered reads its entry by itself: none on a quiet machine, some
	// under -race on a busy one. Those are the preload's lateness, not
	// what a node costs, and at most one a node.
	if lookups > n {
		t.Errorf("%d entries looked up one by one for %d nodes", lookups, n)
	}
	if limit := coldPerNode*n + coldPerRun + coldPerBatch*batches; all-lookups > limit {
		t.Errorf("cold run of %d nodes sent %d requests %v in %d batches (and %d lookups), %.2f a node; want at most %d (%d a node + %d + %d a batch)",
			n, all-lookups, byOp, batches, lookups, float64(all-lookups)/float64(n), limit, coldPerNode, coldPerRun, coldPerBatch)
	}
}
