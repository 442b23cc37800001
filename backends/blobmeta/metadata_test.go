package blobmeta_test

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

	"github.com/flowcache/flowcache/backends/blobmeta"
	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/core"
)

func TestMetadataConformance(t *testing.T) {
	t.Run("memblob", func(t *testing.T) {
		conformance.TestMetadataStore(t, func(t *testing.T) core.MetadataStore {
			return blobmeta.New(memblob.OpenBucket(nil), "cache/meta/", blobmeta.WithOwnedBucket())
		})
	})
	t.Run("fileblob", func(t *testing.T) {
		conformance.TestMetadataStore(t, func(t *testing.T) core.MetadataStore {
			b, err := fileblob.OpenBucket(t.TempDir(), &fileblob.Options{NoTempDir: true, Metadata: fileblob.MetadataDontWrite})
			if err != nil {
				t.Fatal(err)
			}
			return blobmeta.New(b, "meta/", blobmeta.WithOwnedBucket())
		})
	})
}

// TestMetadataDamage: a damaged entry or batch object is a miss, never a
// wrong value or a failed run; a damaged history batch is reported as
// corrupt.
func TestMetadataDamage(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	m := blobmeta.New(bucket, "m/")
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
	for _, kind := range []string{"entries", "batches", "runs", "history"} {
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
	flip(names["batches"])
	pre, err := m.Preload(ctx, []string{"node"})
	if err != nil || len(pre) != 0 {
		t.Errorf("Preload with a damaged batch = %v, %v; want no entries and no error", pre, err)
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
	a, b := blobmeta.New(bucket, "m/"), blobmeta.New(bucket, "m/")
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
	m := blobmeta.New(bucket, "m/")
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
	m := blobmeta.New(bucket, "m/")
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
		fresh := blobmeta.New(bucket, "m/")
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

// TestPreloadSeesOtherStores: stores on one bucket (processes on several
// machines) that preloaded the same set of nodes each keep the set's
// snapshot up to date with their own view, and another set sharing a node
// has a snapshot of its own; a Preload must still return every entry any
// of them stored (once, the last writer's snapshot hid the others'
// entries).
func TestPreloadSeesOtherStores(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	set, other := []string{"a", "b"}, []string{"b", "c"}
	key := func(node, x string) core.CacheKey {
		return core.NewCacheKey(node, "code", []core.Dep{{Name: "x", Version: core.DataVersion(x)}})
	}
	write := func(m *blobmeta.MetadataStore, k core.CacheKey) {
		t.Helper()
		if err := m.Write(ctx, core.Batch{Entries: []core.Entry{{Key: k, DataVersion: core.DataVersion("v-" + k.Node), Format: "gob"}}}); err != nil {
			t.Fatal(err)
		}
	}
	p1, p2, p3 := blobmeta.New(bucket, "m/"), blobmeta.New(bucket, "m/"), blobmeta.New(bucket, "m/")
	for _, m := range []*blobmeta.MetadataStore{p1, p2} {
		if _, err := m.Preload(ctx, set); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p3.Preload(ctx, other); err != nil {
		t.Fatal(err)
	}
	k1, k2, k3, k4 := key("a", "1"), key("b", "2"), key("b", "3"), key("c", "4")
	write(p1, k1) // p1's snapshot: k1
	write(p2, k2) // p2's snapshot, written last: k2 only
	write(p3, k3) // the other set's snapshot: k3
	write(p3, k4)
	for _, m := range []*blobmeta.MetadataStore{p1, p2, p3} {
		if err := m.Close(); err != nil { // waits for the snapshot writes
			t.Fatal(err)
		}
	}
	check := func(nodes []string, want ...core.CacheKey) {
		t.Helper()
		for round := range 2 { // the second through the snapshot the first wrote
			m := blobmeta.New(bucket, "m/")
			got, err := m.Preload(ctx, nodes)
			if err != nil {
				t.Fatal(err)
			}
			m.Close()
			for _, k := range want {
				if got[k.ID()].DataVersion != core.DataVersion("v-"+k.Node) {
					t.Errorf("round %d: Preload(%v) lost the entry of node %s, x=%s", round, nodes, k.Node, k.Deps[0].Version)
				}
			}
			if len(got) != len(want) {
				t.Errorf("round %d: Preload(%v) = %d entries, want %d", round, nodes, len(got), len(want))
			}
		}
	}
	check(set, k1, k2, k3)
	check(other, k2, k3, k4)
}

// TestPreloadSnapshotDamage: a damaged or truncated snapshot, one of an
// older layout, or one older than the indexes, is never trusted over the
// indexes.
func TestPreloadSnapshotDamage(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	m := blobmeta.New(bucket, "m/")
	k := core.NewCacheKey("n", "c", nil)
	if _, err := m.Preload(ctx, []string{"n"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Write(ctx, core.Batch{Entries: []core.Entry{{Key: k, DataVersion: "v", Format: "gob"}}}); err != nil {
		t.Fatal(err)
	}
	m.Close()
	var snap string
	it := bucket.List(&blob.ListOptions{Prefix: "m/snapshots/"})
	for {
		obj, err := it.Next(ctx)
		if err != nil {
			break
		}
		snap = obj.Key
	}
	if snap == "" {
		t.Fatal("no snapshot written")
	}
	good, err := bucket.ReadAll(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	for i, bad := range [][]byte{good[:len(good)/2], append(good[:len(good):len(good)], 0), {}, []byte("FCMD\x01p\x00\x00\x00\x00\x00")} {
		if err := bucket.WriteAll(ctx, snap, bad, nil); err != nil {
			t.Fatal(err)
		}
		fresh := blobmeta.New(bucket, "m/")
		got, err := fresh.Preload(ctx, []string{"n"})
		fresh.Close()
		if err != nil || got[k.ID()].DataVersion != "v" || len(got) != 1 {
			t.Errorf("damaged snapshot %d: Preload = %v, %v; want the entry from the index", i, got, err)
		}
	}
	// The index changes behind the snapshot: rewrite it with a key the
	// snapshot does not have (another writer without a snapshot).
	if err := bucket.WriteAll(ctx, snap, good, nil); err != nil {
		t.Fatal(err)
	}
	k2 := core.NewCacheKey("n", "c2", nil)
	w := blobmeta.New(bucket, "m/")
	if err := w.Write(ctx, core.Batch{Entries: []core.Entry{{Key: k2, DataVersion: "v2", Format: "gob"}}}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	fresh := blobmeta.New(bucket, "m/")
	got, err := fresh.Preload(ctx, []string{"n"})
	fresh.Close()
	if err != nil || got[k.ID()].DataVersion != "v" || got[k2.ID()].DataVersion != "v2" {
		t.Errorf("Preload with a snapshot older than the index = %v, %v; want both entries", got, err)
	}
	// A damaged or missing heads object: every tag reads as absent, so the
	// snapshot's nodes are read again, and the pending batches are found
	// by listing the batch objects.
	tags, err := bucket.ReadAll(ctx, "m/heads")
	if err != nil {
		t.Fatal(err)
	}
	tags[len(tags)/2] ^= 1
	if err := bucket.WriteAll(ctx, "m/heads", tags, nil); err != nil {
		t.Fatal(err)
	}
	k3 := core.NewCacheKey("n", "c3", nil)
	for i, damage := range []func(){
		func() {},
		func() { bucket.Delete(ctx, "m/heads") },
	} {
		damage()
		w := blobmeta.New(bucket, "m/")
		if err := w.Write(ctx, core.Batch{Entries: []core.Entry{{Key: k3, DataVersion: core.DataVersion(fmt.Sprint("v3-", i)), Format: "gob"}}}); err != nil {
			t.Fatal(err)
		}
		w.Close()
		fresh := blobmeta.New(bucket, "m/")
		got, err := fresh.Preload(ctx, []string{"n"})
		fresh.Close()
		if err != nil || len(got) != 3 || got[k3.ID()].DataVersion != core.DataVersion(fmt.Sprint("v3-", i)) {
			t.Errorf("tags damaged (%d): Preload = %v, %v; want 3 entries with the last write", i, got, err)
		}
	}
}
