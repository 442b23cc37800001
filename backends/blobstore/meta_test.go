package blobstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"

	"github.com/flowcache/flowcache/backends/blobstore"
	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/core"
)

func TestMetadataConformance(t *testing.T) {
	t.Run("memblob", func(t *testing.T) {
		conformance.TestMetadataStore(t, func(t *testing.T) core.MetadataStore {
			return blobstore.NewMetadata(memblob.OpenBucket(nil), "cache/meta/", blobstore.WithMetadataOwnedBucket())
		})
	})
	t.Run("fileblob", func(t *testing.T) {
		conformance.TestMetadataStore(t, func(t *testing.T) core.MetadataStore {
			b, err := fileblob.OpenBucket(t.TempDir(), &fileblob.Options{NoTempDir: true, Metadata: fileblob.MetadataDontWrite})
			if err != nil {
				t.Fatal(err)
			}
			return blobstore.NewMetadata(b, "meta/", blobstore.WithMetadataOwnedBucket())
		})
	})
}

func TestBucketScenarios(t *testing.T) {
	conformance.TestScenarios(t, func(t *testing.T) (core.MetadataStore, core.ResultStore) {
		st := blobstore.NewStores(memblob.OpenBucket(nil), "team/")
		return st.Metadata, st.Results
	})
}

// TestMetadataDamage: a damaged entry or index object is a miss, never a
// wrong value or a failed run; a damaged history batch is reported as
// corrupt.
func TestMetadataDamage(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	m := blobstore.NewMetadata(bucket, "m/")
	k := core.NewCacheKey("node", "code", []core.Dep{{Name: "a", Version: "v1"}})
	if err := m.Write(ctx, core.Batch{Run: "r1", Entries: []core.Entry{{Key: k, DataVersion: "dv", Format: "gob"}},
		Records: []core.NodeRecord{{Node: "node", Key: k, DataVersion: "dv", Outcome: core.OutcomeExecuted}}}); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	it := bucket.List(&blob.ListOptions{Prefix: "m/"})
	for {
		obj, err := it.Next(ctx)
		if err != nil {
			break
		}
		names[strings.Split(strings.TrimPrefix(obj.Key, "m/"), "/")[0]] = obj.Key
	}
	for _, kind := range []string{"entries", "nodes", "runs", "history"} {
		if names[kind] == "" {
			t.Fatalf("no %s object written: %v", kind, names)
		}
	}
	flip := func(name string) {
		b, err := bucket.ReadAll(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0x40
		if err := bucket.WriteAll(ctx, name, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	flip(names["entries"])
	if _, err := m.Get(ctx, k.ID()); !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("Get of a damaged entry = %v, want a not-found error saying it is damaged", err)
	}
	flip(names["nodes"])
	pre, err := m.Preload(ctx, []string{"node"})
	if err != nil || len(pre) != 0 {
		t.Errorf("Preload with a damaged index = %v, %v; want no entries and no error", pre, err)
	}
	flip(names["history"])
	if _, err := m.Run(ctx, "r1"); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("Run with a damaged batch = %v, want ErrCorrupt", err)
	}
	// Rewriting the entry heals both the entry and the index.
	if err := m.Write(ctx, core.Batch{Entries: []core.Entry{{Key: k, DataVersion: "dv2", Format: "gob"}}}); err != nil {
		t.Fatal(err)
	}
	if e, err := m.Get(ctx, k.ID()); err != nil || e.DataVersion != "dv2" {
		t.Errorf("Get after rewrite = %v, %v", e, err)
	}
	if pre, _ := m.Preload(ctx, []string{"node"}); pre[k.ID()].DataVersion != "dv2" {
		t.Errorf("Preload after rewrite = %v", pre)
	}
}

// TestMetadataSharedBucket: two stores on one bucket (two machines) see
// each other's entries, runs and deletions.
func TestMetadataSharedBucket(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	a, b := blobstore.NewMetadata(bucket, "m/"), blobstore.NewMetadata(bucket, "m/")
	k := core.NewCacheKey("n", "c", nil)
	t0 := time.Unix(1000, 0)
	if err := a.Write(ctx, core.Batch{Run: "ra", Now: t0, Entries: []core.Entry{{Key: k, DataVersion: "v", Format: "gob"}}}); err != nil {
		t.Fatal(err)
	}
	if pre, err := b.Preload(ctx, []string{"n"}); err != nil || pre[k.ID()].DataVersion != "v" {
		t.Fatalf("other store's Preload = %v, %v", pre, err)
	}
	// A hit through b is seen by a's Get.
	if err := b.Write(ctx, core.Batch{Run: "rb", Now: t0.Add(time.Hour), Hits: []core.KeyID{k.ID()}}); err != nil {
		t.Fatal(err)
	}
	if e, err := a.Get(ctx, k.ID()); err != nil || !e.LastUsed.Equal(t0.Add(time.Hour)) {
		t.Errorf("Get after the other store's hit = %+v, %v", e, err)
	}
	if err := a.Delete(ctx, k.ID()); err != nil {
		t.Fatal(err)
	}
	if pre, _ := b.Preload(ctx, []string{"n"}); len(pre) != 0 {
		t.Errorf("a deleted entry is still preloaded by the other store: %v", pre)
	}
}

// TestRemoveEntries: only entries unchanged since they were read go, and
// neither Get nor Preload finds them afterwards.
func TestRemoveEntries(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	m := blobstore.NewMetadata(bucket, "m/")
	t0 := time.Unix(1000, 0)
	ka, kb, kc := core.NewCacheKey("a", "c", nil), core.NewCacheKey("b", "c", nil), core.NewCacheKey("a", "c2", nil)
	if err := m.Write(ctx, core.Batch{Run: "r", Now: t0, Entries: []core.Entry{
		{Key: ka, DataVersion: "va", Format: "gob"}, {Key: kb, DataVersion: "vb", Format: "gob"}, {Key: kc, DataVersion: "vc", Format: "gob"},
	}}); err != nil {
		t.Fatal(err)
	}
	listed := map[core.KeyID]core.Entry{}
	m.WalkEntries(ctx, func(e core.Entry) error { listed[e.ID()] = e; return nil })
	if _, err := m.Preload(ctx, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	// b is used after the listing: it must stay.
	if err := m.Write(ctx, core.Batch{Run: "r2", Now: t0.Add(2 * time.Hour), Hits: []core.KeyID{kb.ID()}}); err != nil {
		t.Fatal(err)
	}
	removed, err := m.RemoveEntries(ctx, []core.Entry{listed[ka.ID()], listed[kb.ID()]})
	if err != nil || len(removed) != 1 || removed[0] != ka.ID() {
		t.Fatalf("RemoveEntries = %v, %v; want only a's key", removed, err)
	}
	if _, err := m.Get(ctx, ka.ID()); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("removed entry still found: %v", err)
	}
	pre, err := m.Preload(ctx, []string{"a", "b"})
	if err != nil || len(pre) != 2 || pre[kb.ID()].DataVersion != "vb" || pre[kc.ID()].DataVersion != "vc" {
		t.Errorf("Preload after removal = %v, %v; want b and a's other key", pre, err)
	}
}

// TestPreloadManyIndexes: a Preload without a snapshot lists the node
// indexes to skip the missing ones, and reads them one by one when the
// bucket holds too many to list; both give the same entries.
func TestPreloadManyIndexes(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	m := blobstore.NewMetadata(bucket, "m/")
	var b core.Batch
	for i := range 1100 {
		b.Entries = append(b.Entries, core.Entry{Key: core.NewCacheKey(fmt.Sprint("n", i), "c", nil), DataVersion: core.DataVersion(fmt.Sprint("v", i)), Format: "gob"})
	}
	if err := m.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	// 61 nodes: the 1100 indexes are listed (limit 20 per node); 4 nodes:
	// too many to list (limit 1000), each read.
	listed := []string{"absent"}
	for i := range 60 {
		listed = append(listed, fmt.Sprint("n", 1040+i))
	}
	for _, nodes := range [][]string{listed, {"n3", "absent", "n5", "n1099"}} {
		fresh := blobstore.NewMetadata(bucket, "m/")
		pre, err := fresh.Preload(ctx, nodes)
		if err != nil {
			t.Fatal(err)
		}
		if len(pre) != len(nodes)-1 {
			t.Errorf("Preload(%v) = %d entries, want %d", nodes, len(pre), len(nodes)-1)
		}
		for _, n := range nodes {
			if n == "absent" {
				continue
			}
			if e, ok := pre[core.NewCacheKey(n, "c", nil).ID()]; !ok || string(e.DataVersion) != "v"+n[1:] {
				t.Errorf("Preload(%v): %s = %+v", nodes, n, e)
			}
		}
	}
}
