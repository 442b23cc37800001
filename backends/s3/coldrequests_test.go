package s3_test

import (
	"context"
	"testing"
	"time"

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
// now and then), its history record. How many batches a run writes depends
// on how fast it runs (a batch is written at least every second): 5 to 10
// on a quiet machine, 15 to 19 under -race on a busy one.
const coldPerBatch = 12

// coldIndexReadsPerSecond bounds the reads of a run that refreshes its
// preload while it goes on (every preloadFresh, 2 s, a miss reads the heads,
// the snapshot and the batch objects written since), which grow with how
// long the run takes, not with its nodes: 10 to 13 in a 3–4 s run on a
// quiet machine. CI once saw 247 GETs in a 13 s run under -race while other
// packages' tests loaded the machine (2026-12-04, before GETs were broken
// down by object); so they are counted apart, against the run's wall time,
// and the log says which objects they were.
const coldIndexReadsPerSecond = 40

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
	start := time.Now()
	out, err := dr.Execute(context.Background(), []string{"sum"}, driver.Inputs{"x": 1}, nil)
	if err != nil || out["sum"] != wideWant {
		t.Fatalf("%v %v", out, err)
	}
	if err := dr.Close(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	byOp, all := counter.take()
	batches, lookups, index := int(counter.batches.Load()), int(counter.lookups.Load()), int(counter.indexReads.Load())
	n := len(nodes)
	t.Logf("cold run of %d nodes in %v: %d requests %v in %d batches, %d entries looked up one by one, %d reads of the index (heads, snapshots, batches), %.2f a node",
		n, took.Round(time.Millisecond), all, byOp, batches, lookups, index, float64(all)/float64(n))
	if limit := 20 + int(coldIndexReadsPerSecond*took.Seconds()); index > limit {
		t.Errorf("%d reads of the index in a run of %v, want at most %d", index, took, limit)
	}
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
	if limit := coldPerNode*n + coldPerRun + coldPerBatch*batches; all-lookups-index > limit {
		t.Errorf("cold run of %d nodes sent %d requests %v in %d batches (besides %d lookups and %d reads of the index), %.2f a node; want at most %d (%d a node + %d + %d a batch)",
			n, all-lookups-index, byOp, batches, lookups, index, float64(all-lookups-index)/float64(n), limit, coldPerNode, coldPerRun, coldPerBatch)
	}
}
