package blobmeta

import (
	"context"
	"fmt"
	"testing"
	"time"

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
	if err := w.recordFolds(ctx, map[string]foldChange{"n": {indexChange: c0}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Preload(ctx, nodes); err != nil {
		t.Fatal(err)
	}

	cw := put(w, kw, "vw")
	cx := put(x, kx, "vx")
	hc, err := x.updateHeads(ctx, nil, map[string]foldChange{"n": {indexChange: cx}})
	if err != nil || hc.clean["n"] {
		t.Fatalf("the later writer's tag, landing first: clean=%v, %v; want dirty", hc.clean, err)
	}
	if err := w.recordFolds(ctx, map[string]foldChange{"n": {indexChange: cw}}); err != nil {
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
	if err := fresh.recordFolds(ctx, map[string]foldChange{"n": {indexChange: c}}); err != nil {
		t.Fatal(err)
	}
	fresh.snapMu.Lock()
	s := fresh.snap["n"]
	fresh.snapMu.Unlock()
	if s == nil || string(s.tag) != string(c.sum) || len(s.entries) != 4 {
		t.Errorf("after a retagging Preload, a write in order is not clean: snapshot node %+v", s)
	}
}

// TestFold: a node written by more than foldAfter batches is folded into
// its index, the batches folded are deleted, and every entry stays
// preloaded, through a snapshot or without one; a key deleted while still
// in a pending batch is not preloaded again.
func TestFold(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	m := New(bucket, "m/")
	if _, err := m.Preload(ctx, []string{"n", "o"}); err != nil {
		t.Fatal(err)
	}
	var keys []core.CacheKey
	for i := range 3 * foldAfter {
		k := core.NewCacheKey("n", core.CodeVersion(fmt.Sprint("c", i)), nil)
		keys = append(keys, k)
		o := core.NewCacheKey("o", core.CodeVersion(fmt.Sprint("c", i)), nil)
		if err := m.Write(ctx, core.Batch{Entries: []core.Entry{{Key: k, DataVersion: "v", Format: "gob"}, {Key: o, DataVersion: "v", Format: "gob"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := bucket.Exists(ctx, m.indexName("n")); !ok {
		t.Error("no index written after 3×foldAfter batches")
	}
	batches, err := m.list(ctx, "m/batches/")
	if err != nil || len(batches) > foldAfter+1 {
		t.Errorf("%d batch objects left after folds (%v), want at most %d", len(batches), err, foldAfter+1)
	}
	heads, _, err := m.readHeads(ctx)
	if err != nil || len(heads[tagKey("n")].pending) > foldAfter {
		t.Errorf("node pending %d batches after folds (%v)", len(heads[tagKey("n")].pending), err)
	}
	check := func(what string, s *MetadataStore, deleted map[core.KeyID]bool) {
		t.Helper()
		got, err := s.Preload(ctx, []string{"n", "o"})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if _, ok := got[k.ID()]; ok == deleted[k.ID()] {
				t.Errorf("%s: key %s preloaded: %v, deleted: %v", what, k.CodeVersion, ok, deleted[k.ID()])
			}
		}
		if len(got) != 2*len(keys)-len(deleted) {
			t.Errorf("%s: %d entries preloaded, want %d", what, len(got), 2*len(keys)-len(deleted))
		}
	}
	check("the writer", m, nil)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	fresh := New(bucket, "m/")
	check("through the snapshot", fresh, nil)
	other := New(bucket, "m/")
	check("another set first", other, nil)

	// The last key is in a pending batch, the first in the index.
	deleted := map[core.KeyID]bool{keys[0].ID(): true, keys[len(keys)-1].ID(): true}
	for id := range deleted {
		if err := other.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	check("after Delete, the deleter", other, deleted)
	check("after Delete, through a snapshot", fresh, deleted)
	fresh.Close()
	other.Close()
}

// TestOldLayout: an index written by the layout before batch objects (no
// heads object, a tags object) is preloaded, and kept when the node is
// written and folded.
func TestOldLayout(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	old := core.NewCacheKey("n", "old", nil)
	t0 := time.Unix(1000, 0)
	m := New(bucket, "m/")
	if err := bucket.WriteAll(ctx, m.indexName("n"), encodeIndex(map[core.KeyID]indexEntry{
		old.ID(): {DataVersion: "v", Format: "gob", Created: t0, LastUsed: t0}}), nil); err != nil {
		t.Fatal(err)
	}
	if err := bucket.WriteAll(ctx, "m/tags", []byte("FCMD\x01t\x00\x00\x00\x00\x00"), nil); err != nil {
		t.Fatal(err)
	}
	got, err := m.Preload(ctx, []string{"n"})
	if err != nil || got[old.ID()].DataVersion != "v" {
		t.Fatalf("Preload of an old index = %v, %v", got, err)
	}
	for i := range 2 * foldAfter {
		k := core.NewCacheKey("n", core.CodeVersion(fmt.Sprint("c", i)), nil)
		if err := m.Write(ctx, core.Batch{Entries: []core.Entry{{Key: k, DataVersion: "v", Format: "gob"}}}); err != nil {
			t.Fatal(err)
		}
	}
	m.Close()
	for _, s := range []*MetadataStore{New(bucket, "m/"), New(bucket, "m/")} {
		got, err := s.Preload(ctx, []string{"n"})
		if err != nil || len(got) != 2*foldAfter+1 || got[old.ID()].DataVersion != "v" {
			t.Errorf("Preload after folds = %d entries, %v; want %d with the old one", len(got), err, 2*foldAfter+1)
		}
		s.Close()
	}
}
