package bucket_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"gocloud.dev/blob/memblob"

	"github.com/flowcache/flowcache/backends/blobstore"
	"github.com/flowcache/flowcache/backends/bucket"
	"github.com/flowcache/flowcache/conformance/scenarios"
	"github.com/flowcache/flowcache/core"
)

func TestBucketScenarios(t *testing.T) {
	scenarios.TestScenarios(t, func(t *testing.T) (core.MetadataStore, core.ResultStore) {
		st := bucket.Open(memblob.OpenBucket(nil), "team/")
		return st.Metadata(), st.Results()
	})
}

// TestLayoutAndNames: the two stores share the bucket under one prefix,
// errors begin with the name given, and Close closes the bucket.
func TestLayoutAndNames(t *testing.T) {
	ctx := context.Background()
	b := memblob.OpenBucket(nil)
	st := bucket.Open(b, "team/", bucket.WithName("s3"), bucket.WithResultOptions(blobstore.WithChecksum(blobstore.SHA256)))
	id := core.ResultID{Version: "v1", Format: "gob"}
	if got, want := st.Results().Key(id), "team/results/v1/v1.gob"; got != want {
		t.Errorf("Key = %q, want %q", got, want)
	}
	k := core.NewCacheKey("n", "c", nil)
	if err := st.Metadata().Write(ctx, core.Batch{Entries: []core.Entry{{Key: k, DataVersion: "v1", Format: "gob"}}}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.Exists(ctx, "team/meta/entries/"+string(k.ID())); !ok {
		t.Errorf("no entry object under team/meta/")
	}
	_, err := st.Results().Get(ctx, id)
	if !errors.Is(err, core.ErrNotFound) || !strings.HasPrefix(err.Error(), "s3: ") {
		t.Errorf("Get of a missing result = %v, want not found, beginning with s3:", err)
	}
	_, err = st.Metadata().Get(ctx, core.NewCacheKey("other", "c", nil).ID())
	if !errors.Is(err, core.ErrNotFound) || !strings.HasPrefix(err.Error(), "s3: ") {
		t.Errorf("Get of a missing key = %v, want not found, beginning with s3:", err)
	}
	if err := st.Stores().Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Exists(ctx, "x"); err == nil {
		t.Error("the bucket is still open after Close")
	}
}
