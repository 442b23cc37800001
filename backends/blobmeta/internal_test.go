package blobmeta

import (
	"context"
	"testing"

	"gocloud.dev/blob/memblob"

	"github.com/flowcache/flowcache/core"
)

// TestTagsInterleaved: two writers change one node index one after the
// other but tag it in the opposite order (the second's tag lands first).
// Neither tag may then claim the index holds what its writer wrote: both
// are dirty, the first writer's snapshot forgets the node, and a Preload
// through that snapshot reads the index and returns both keys. That
// Preload retags the node clean, so later writers keep snapshots up to
// date again.
func TestTagsInterleaved(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	w, x := New(bucket, "m/"), New(bucket, "m/")
	nodes := []string{"n"}
	put := func(m *MetadataStore, k core.CacheKey, v core.DataVersion) indexChange {
		t.Helper()
		e := indexEntry{DataVersion: v, Format: "gob"}
		c, err := m.updateIndex(ctx, "n", nil, func(ix map[core.KeyID]indexEntry) bool {
			ix[k.ID()] = e
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	k0, kw, kx := core.NewCacheKey("n", "c", nil), core.NewCacheKey("n", "w", nil), core.NewCacheKey("n", "x", nil)
	c0 := put(w, k0, "v0")
	if err := w.recordChanges(ctx, map[string]indexChange{"n": c0}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Preload(ctx, nodes); err != nil {
		t.Fatal(err)
	}

	cw := put(w, kw, "vw")
	cx := put(x, kx, "vx")
	clean, err := x.updateTags(ctx, map[string]indexChange{"n": cx})
	if err != nil || clean["n"] {
		t.Fatalf("the later writer's tag, landing first: clean=%v, %v; want dirty", clean, err)
	}
	if err := w.recordChanges(ctx, map[string]indexChange{"n": cw}); err != nil {
		t.Fatal(err)
	}
	w.snapMu.Lock()
	_, kept := w.snap["n"]
	w.snapMu.Unlock()
	if kept {
		t.Error("the first writer's snapshot keeps a node whose tag it could not make clean")
	}
	if err := w.Close(); err != nil { // writes the snapshot
		t.Fatal(err)
	}
	fresh := New(bucket, "m/")
	defer fresh.Close()
	got, err := fresh.Preload(ctx, nodes)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []core.CacheKey{k0, kw, kx} {
		if _, ok := got[k.ID()]; !ok {
			t.Errorf("Preload lost %s", k.CodeVersion)
		}
	}

	// Retagged by that Preload: a write in order is clean again, and the
	// writer's snapshot keeps the node.
	c := put(fresh, core.NewCacheKey("n", "y", nil), "vy")
	if err := fresh.recordChanges(ctx, map[string]indexChange{"n": c}); err != nil {
		t.Fatal(err)
	}
	fresh.snapMu.Lock()
	s := fresh.snap["n"]
	fresh.snapMu.Unlock()
	if s == nil || string(s.tag) != string(c.sum) || len(s.entries) != 4 {
		t.Errorf("after a retagging Preload, a write in order is not clean: snapshot node %+v", s)
	}
}
