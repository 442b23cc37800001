package maintain_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/flowcache/flowcache/backends/bucket"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/maintain"
)

// A cache kept whole in a bucket (package bucket: blobmeta and blobstore,
// here over memblob) has neither core.EntryRemover nor core.ResultRemover:
// eviction reads each entry again before deleting it and deletes results
// one request each; verification and GC work the same.
func TestBucketCache(t *testing.T) {
	ctx := context.Background()
	st := bucket.Open(memblob.OpenBucket(nil), "cache/").Stores()
	defer st.Close()
	clock := time.Now().Add(-48 * time.Hour)
	run := func(outputs ...string) runResult {
		dr, err := driver.NewBuilder().WithNodes(evictNodes()...).
			WithCache(driver.CacheStores(st.Metadata, st.Results), driver.CacheCoreOptions(core.WithClock(func() time.Time { return clock }), core.WithManifestWait(time.Minute))).
			Build()
		if err != nil {
			t.Fatal(err)
		}
		defer dr.Close()
		out, err := dr.Execute(ctx, outputs, nIn, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := runResult{Out: out}
		id, _ := dr.Cache().LastRunID(ctx)
		for _, e := range dr.Cache().Events(slog.LevelDebug, id) {
			switch {
			case e.Type == core.EventExecuteNode:
				r.Executed = append(r.Executed, e.Node)
			case e.Type == core.EventGetResult && e.Actor == core.ActorAdapter && e.Message == "hit":
				r.Retrieved = append(r.Retrieved, e.Node)
			}
		}
		return r
	}
	run("old1", "old2")
	clock = clock.Add(24 * time.Hour)
	run("mid", "new1")

	// The results were stored at the real time: evict from a clock two
	// hours ahead, past the grace period.
	ic := maintain.New(st.Metadata, st.Results, maintain.WithClock(func() time.Time { return time.Now().Add(2 * time.Hour) }))
	u, err := ic.Usage(ctx)
	if err != nil || u.Entries != 4+4 || u.Results != 4+2 || u.CodeManifests != 4 || u.DiskBytes != -1 {
		t.Fatalf("usage %+v, %v", u, err)
	}
	rep, err := ic.Evict(ctx, maintain.Policy{MaxEntries: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := evictedNodes(rep); !slices.Equal(got, []string{"old1", "old2"}) || len(rep.Results) != 2+1 {
		t.Fatalf("evicted %v and %d results, want old1 and old2 and their results", got, len(rep.Results))
	}
	r := run("old1", "old2", "mid", "new1")
	slices.Sort(r.Executed)
	if !slices.Equal(r.Executed, []string{"old1", "old2"}) || len(r.Retrieved) != 2 {
		t.Errorf("after eviction: executed %v, retrieved %v", r.Executed, r.Retrieved)
	}
	if vr, err := ic.Verify(ctx, nil); err != nil || !vr.OK() || vr.Results != 4+2 {
		t.Errorf("verify: %+v, %v", vr, err)
	}
}
