package s3_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/internal/servertest"
)

// The pipeline every process runs: a fan-out over n items, a slow branch
// per item, a chain after the collect, so that processes overlap.
func items(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func square(x int) int {
	time.Sleep(5 * time.Millisecond)
	return x * x
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

func plusOne(x int) int {
	time.Sleep(5 * time.Millisecond)
	return x + 1
}

func double(x int) int { return 2 * x }

func nodes() []*driver.NodeDef {
	return []*driver.NodeDef{
		driver.Node("items", items, "n", driver.Expand()),
		driver.Node("square", square, "items"),
		driver.Node("total", sum, "square", driver.Collect()),
		driver.Node("plus", plusOne, "total"),
		driver.Node("final", double, "plus"),
	}
}

const itemCount = 30

func want() int {
	s := 0
	for i := 1; i <= itemCount; i++ {
		s += i * i
	}
	return 2 * (s + 1)
}

const childURLEnv = "FLOWCACHE_TEST_CHILD_URL"

// TestManyProcesses: several OS processes (machines, as far as the bucket
// can tell) run the same pipeline against one MinIO bucket at the same
// time. All succeed with the right value, every result object is written
// exactly once (the bucket is versioned: a second write would be a second
// version), and the metadata is consistent: every entry points at a stored
// result, every run is recorded, and a run afterwards retrieves everything.
func TestManyProcesses(t *testing.T) {
	if os.Getenv(childURLEnv) != "" {
		t.Skip("child")
	}
	bucket := servertest.S3Bucket(t)
	client := servertest.S3Client(t)
	ctx := context.Background()
	if _, err := client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled},
	}); err != nil {
		t.Fatalf("enable versioning: %v", err)
	}
	t.Cleanup(func() { deleteVersions(t, client, bucket) })
	url := servertest.S3URL(t, bucket, "shared")

	const procs = 4
	cmds := make([]*exec.Cmd, procs)
	outs := make([]strings.Builder, procs)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^TestChildRun$", "-test.v")
		cmds[i].Env = append(os.Environ(), childURLEnv+"="+url)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
	}
	for i := range cmds {
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, outs[i].String())
		}
		if !strings.Contains(outs[i].String(), fmt.Sprintf("child ok final=%d", want())) {
			t.Fatalf("process %d did not finish right:\n%s", i, outs[i].String())
		}
	}

	// Every result object was written once.
	versions := map[string]int{}
	p := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String("shared/results/")}
	for {
		out, err := client.ListObjectVersions(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range out.Versions {
			versions[aws.ToString(v.Key)]++
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		p.KeyMarker, p.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
	// 30 squares, total, plus, final (the expanding node is not stored: a
	// warm run executes it again), and the code manifests the processes
	// stored (JSON results; how many depends on which process described
	// which code version first).
	results := 0
	for key := range versions {
		if !strings.HasSuffix(key, ".json") {
			results++
		}
	}
	if results != itemCount+3 {
		t.Errorf("%d result objects besides code manifests, want %d", results, itemCount+3)
	}
	for key, n := range versions {
		if n != 1 {
			t.Errorf("result %s was written %d times", key, n)
		}
	}

	// The metadata is consistent, and a later run retrieves everything.
	dr, err := driver.NewBuilder().WithNodes(nodes()...).WithCache(driver.CacheURL(url)).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	out, err := dr.Execute(ctx, []string{"final"}, driver.Inputs{"n": itemCount}, nil)
	if err != nil || out["final"] != want() {
		t.Fatalf("run after the processes: %v, %v", out, err)
	}
	c := dr.Cache()
	last, _ := c.LastRunID(ctx)
	for _, e := range c.Events(0, last) {
		if e.Type == core.EventExecuteNode && e.Node != "items" {
			t.Errorf("the run after the processes executed %s (%s)", e.Node, e.Task)
		}
	}
	runs, err := c.Metadata().Runs(ctx)
	if err != nil || len(runs) != procs+1 {
		t.Fatalf("runs = %d, %v; want %d", len(runs), err, procs+1)
	}
	for _, r := range runs {
		recs, err := c.Metadata().Run(ctx, r.ID)
		if err != nil || len(recs) < itemCount {
			t.Errorf("run %s has %d records (%v)", r.ID, len(recs), err)
		}
	}
	n := 0
	walker, _ := core.As[core.EntryWalker](c.Metadata())
	err = walker.WalkEntries(ctx, func(e core.Entry) error {
		if !core.IsCodeManifestKey(e.Key) {
			n++
		}
		ok, err := c.Results().Exists(ctx, core.ResultID{Version: e.DataVersion, Format: e.Format})
		if err != nil || !ok {
			return fmt.Errorf("entry %s points at a missing result (%v)", e.Key, err)
		}
		return nil
	})
	if err != nil || n != itemCount+3 {
		t.Fatalf("walked %d entries (%v), want %d", n, err, itemCount+3)
	}
}

// TestChildRun is one process of TestManyProcesses.
func TestChildRun(t *testing.T) {
	url := os.Getenv(childURLEnv)
	if url == "" {
		t.Skip("run by TestManyProcesses")
	}
	dr, err := driver.NewBuilder().WithNodes(nodes()...).WithCache(driver.CacheURL(url)).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	out, err := dr.Execute(context.Background(), []string{"final"}, driver.Inputs{"n": itemCount}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("child ok final=%d\n", out["final"])
}

func deleteVersions(t *testing.T, client *s3.Client, bucket string) {
	ctx := context.Background()
	p := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)}
	for {
		out, err := client.ListObjectVersions(ctx, p)
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		for _, v := range out.Versions {
			client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: v.Key, VersionId: v.VersionId})
		}
		for _, v := range out.DeleteMarkers {
			client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: v.Key, VersionId: v.VersionId})
		}
		if !aws.ToBool(out.IsTruncated) {
			return
		}
		p.KeyMarker, p.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
}
