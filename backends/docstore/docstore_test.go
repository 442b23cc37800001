package docstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	gcds "gocloud.dev/docstore"
	"gocloud.dev/docstore/memdocstore"

	"github.com/flowcache/flowcache/backends/docstore"
	"github.com/flowcache/flowcache/backends/local"
	_ "github.com/flowcache/flowcache/backends/mem" // mem:// in TestMetadataSchemes
	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/conformance/scenarios"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
)

func memCollection(t testing.TB) *gcds.Collection {
	t.Helper()
	coll, err := memdocstore.OpenCollectionWithKeyFunc(func(d gcds.Document) any { return docstore.DocumentID(d) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	return coll
}

func newMem(t testing.TB, opts ...docstore.Option) *docstore.MetadataStore {
	t.Helper()
	return docstore.New(memCollection(t), opts...)
}

func TestMetadataStoreMem(t *testing.T) {
	conformance.TestMetadataStore(t, func(t *testing.T) core.MetadataStore { return newMem(t) })
}

// TestMetadataStoreMemOneNodePerQuery runs the contract with the Preload
// strategy of DynamoDB: one equality query per node.
func TestMetadataStoreMemOneNodePerQuery(t *testing.T) {
	conformance.TestMetadataStore(t, func(t *testing.T) core.MetadataStore {
		return newMem(t, docstore.WithNodesPerQuery(1), docstore.WithParallelism(2))
	})
}

// localResults returns the result store of a fresh local cache directory.
func localResults(t *testing.T) core.ResultStore {
	t.Helper()
	st, err := local.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st.Results()
}

func TestScenariosMem(t *testing.T) {
	scenarios.TestScenarios(t, func(t *testing.T) (core.MetadataStore, core.ResultStore) {
		s := newMem(t)
		t.Cleanup(func() { s.Close() })
		return s, localResults(t)
	})
}

func key(node string, deps ...string) core.CacheKey {
	ds := make([]core.Dep, len(deps))
	for i, d := range deps {
		ds[i] = core.Dep{Name: d, Version: core.DataVersion(strings.Repeat("d", 64))}
	}
	return core.NewCacheKey(node, "code", ds)
}

// TestHistoryChunks checks that a batch whose records do not fit one
// document is split, in order.
func TestHistoryChunks(t *testing.T) {
	ctx := context.Background()
	s := newMem(t)
	defer s.Close()
	var recs []core.NodeRecord
	for i := range 3000 {
		// About 700 bytes a record: 3000 of them take 9 documents.
		k := key(fmt.Sprintf("node-%04d", i), "a", "b", "c", "d", "e", "f", "g", "h", "i")
		recs = append(recs, core.NodeRecord{Node: k.Node, Key: k, DataVersion: core.DataVersion(strings.Repeat("v", 64)), Outcome: core.OutcomeExecuted, Size: int64(i)})
	}
	if err := s.Write(ctx, core.Batch{Run: "big", Records: recs}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, core.Batch{Run: "big", Records: []core.NodeRecord{{Node: "last", Outcome: core.OutcomeExecuted, Size: 3000}}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Run(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3001 {
		t.Fatalf("Run has %d records, want 3001", len(got))
	}
	for i, r := range got {
		if r.Size != int64(i) {
			t.Fatalf("record %d has size %d: out of order", i, r.Size)
		}
	}
}

// TestSequenceConflict checks that two stores writing the history of one
// run (as two processes would) do not lose records: the second finds its
// sequence numbers taken and skips past them.
func TestSequenceConflict(t *testing.T) {
	ctx := context.Background()
	coll := memCollection(t)
	a, b := docstore.New(coll), docstore.New(coll)
	for i := range 6 {
		s := a
		if i%2 == 1 {
			s = b
		}
		if err := s.Write(ctx, core.Batch{Run: "shared", Records: []core.NodeRecord{{Node: "n", Outcome: core.OutcomeExecuted, Size: int64(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := a.Run(ctx, "shared")
	if err != nil || len(got) != 6 {
		t.Fatalf("Run = %d records, %v; want 6", len(got), err)
	}
	for i, r := range got {
		if r.Size != int64(i) {
			t.Errorf("record %d has size %d: out of order", i, r.Size)
		}
	}
}

// TestDamagedEntry checks that an entry document that is not one the store
// wrote (edited by hand, or its key parts changed) is a miss (ErrCorrupt),
// and that a new write replaces it.
func TestDamagedEntry(t *testing.T) {
	ctx := context.Background()
	coll := memCollection(t)
	s := docstore.New(coll)
	k := key("n", "a")
	e := core.Entry{Key: k, DataVersion: core.DataVersion(strings.Repeat("1", 64)), Format: "gob"}
	if err := s.Write(ctx, core.Batch{Entries: []core.Entry{e}}); err != nil {
		t.Fatal(err)
	}
	id := "entry:" + string(k.ID()) + "|entry"
	for _, damage := range []map[string]any{
		{"pk": "entry:" + string(k.ID()), "sk": "entry", "kind": "entry", "node": "other", "data_version": "x", "format": "gob"},
		{"pk": "entry:" + string(k.ID()), "sk": "entry", "kind": "entry", "node": "n", "format": "gob"},
		{"pk": "entry:" + string(k.ID()), "sk": "entry", "kind": "entry", "node": "n", "data_version": 7, "format": "gob"},
		{"pk": "entry:" + string(k.ID()), "sk": "entry", "unknown_field": true},
	} {
		if err := coll.Put(ctx, damage); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, k.ID()); !errors.Is(err, core.ErrCorrupt) {
			t.Errorf("Get of damaged %s (%v) = %v, want ErrCorrupt", id, damage, err)
		}
		if err := s.Write(ctx, core.Batch{Entries: []core.Entry{e}}); err != nil {
			t.Fatalf("Write over damaged %s: %v", id, err)
		}
		if got, err := s.Get(ctx, k.ID()); err != nil || got.DataVersion != e.DataVersion {
			t.Errorf("Get after rewriting = %v, %v", got.DataVersion, err)
		}
	}
}

// TestInvalidUTF8 checks that strings the store keeps as strings must be
// UTF-8, and that the whole batch is refused.
func TestInvalidUTF8(t *testing.T) {
	ctx := context.Background()
	s := newMem(t)
	defer s.Close()
	good := core.Entry{Key: key("good"), DataVersion: "v", Format: "gob"}
	bad := core.Entry{Key: key("bad\xff"), DataVersion: "v", Format: "gob"}
	if err := s.Write(ctx, core.Batch{Entries: []core.Entry{good, bad}}); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("Write = %v, want ErrInvalid", err)
	}
	if _, err := s.Get(ctx, good.ID()); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("part of an invalid batch was written: Get = %v", err)
	}
	if err := s.BeginRun(ctx, core.RunInfo{ID: "run\xff"}); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("BeginRun(bad id) = %v, want ErrInvalid", err)
	}
	// Records are kept as bytes: any node name will do.
	if err := s.Write(ctx, core.Batch{Run: "r", Records: []core.NodeRecord{{Node: "bad\xff", Outcome: core.OutcomeExecuted}}}); err != nil {
		t.Errorf("Write(record of an odd node) = %v", err)
	}
}

// TestClock checks that batches without Now take the store's clock.
func TestClock(t *testing.T) {
	ctx := context.Background()
	at := time.Unix(1_800_000_000, 42)
	s := newMem(t, docstore.WithClock(func() time.Time { return at }))
	defer s.Close()
	e := core.Entry{Key: key("n"), DataVersion: "v", Format: "gob"}
	if err := s.Write(ctx, core.Batch{Entries: []core.Entry{e}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, e.ID())
	if err != nil || !got.Created.Equal(at) || !got.LastUsed.Equal(at) {
		t.Errorf("Get = %+v, %v; want created and last used %v", got, err, at)
	}
	if err := s.BeginRun(ctx, core.RunInfo{ID: "r"}); err != nil {
		t.Fatal(err)
	}
	if runs, err := s.Runs(ctx); err != nil || len(runs) != 1 || !runs[0].Started.Equal(at) {
		t.Errorf("Runs = %v, %v; want r started %v", runs, err, at)
	}
}

func TestURLErrors(t *testing.T) {
	ctx := context.Background()
	t.Setenv("MONGO_SERVER_URL", "")
	for _, tc := range []struct{ url, want string }{
		{"dynamodb://t?partition_key=id&region=x", `"partition_key"`},
		{"dynamodb://t?create_table=maybe", "create_table"},
		{"dynamodb://t/path", "no path"},
		{"firestore://projects/p/databases/(default)/documents/c?name_field=id", `"name_field"`},
		{"firestore://projects/p/c", "firestore://projects/PROJECT"},
		{"mongo://db/coll?id_field=id&token=s3cret", `"id_field", "token"`},
		{"mongo://db", "mongo://DATABASE/COLLECTION"},
		{"mongo://db/coll", "MONGO_SERVER_URL is not set"},
	} {
		_, err := docstore.Open(ctx, tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%s) = %v, want an error containing %s", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%s) error shows a secret: %v", tc.url, err)
		}
	}
	if _, err := docstore.Open(ctx, "dynamodb://t?partition_key=id"); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("unknown parameter: %v, want ErrInvalid", err)
	}
}

// TestMongoSecretScrubbed checks that a password in MONGO_SERVER_URL does
// not show in errors.
func TestMongoSecretScrubbed(t *testing.T) {
	t.Setenv("MONGO_SERVER_URL", "mongodb://user:hunter2@127.0.0.1:1/?connectTimeoutMS=bad")
	_, err := docstore.Open(context.Background(), "mongo://db/coll?create_indexes=false")
	if err == nil {
		t.Fatal("Open succeeded with a bad MONGO_SERVER_URL")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the password: %v", err)
	}
}

func TestMetadataSchemes(t *testing.T) {
	got := strings.Join(core.MetadataSchemes(), ",")
	for _, s := range []string{"dynamodb", "firestore", "mongo"} {
		if !strings.Contains(got, s) {
			t.Errorf("MetadataSchemes() = %s, missing %s", got, s)
		}
	}
	// A store URL's metadata parameter reaches these schemes.
	u := "mem://x?metadata=" + url.QueryEscape("mongo://db/coll?bogus=1")
	if _, err := core.OpenURL(context.Background(), u); err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf("OpenURL(%s) = %v, want the unknown parameter named", u, err)
	}
}

func double(x int) int    { return 2 * x }
func increment(x int) int { return x + 1 }

// runPipeline runs a two-node pipeline on st and returns how many nodes it
// executed.
func runPipeline(t *testing.T, st *core.Stores) int {
	t.Helper()
	ctx := context.Background()
	dr, err := driver.NewBuilder().
		WithNodes(driver.Node("doubled", double, "x"), driver.Node("result", increment, "doubled")).
		WithCache(driver.CacheStores(st.Metadata, st.Results)).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	out, err := dr.Execute(ctx, []string{"result"}, driver.Inputs{"x": 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out["result"] != 41 {
		t.Errorf("result = %v, want 41", out["result"])
	}
	id, err := dr.Cache().LastRunID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range dr.Cache().Events(slog.LevelDebug, id) {
		if e.Type == core.EventExecuteNode {
			n++
		}
	}
	return n
}

// testRemoveEntries checks RemoveEntries: only entries unchanged since they
// were listed are deleted.
func testRemoveEntries(t *testing.T, s *docstore.MetadataStore) {
	ctx := context.Background()
	at := func(sec int64) time.Time { return time.Unix(1_700_000_000+sec, 0) }
	v := func(s string) core.DataVersion { return core.DataVersion(strings.Repeat(s, 64)) }
	kept, used, replaced, gone, missing := key("kept"), key("used"), key("replaced"), key("gone"), key("missing")
	if err := s.Write(ctx, core.Batch{Now: at(1), Entries: []core.Entry{
		{Key: kept, DataVersion: v("1"), Format: "gob"}, {Key: used, DataVersion: v("2"), Format: "gob"},
		{Key: replaced, DataVersion: v("3"), Format: "gob"}, {Key: gone, DataVersion: v("4"), Format: "gob"},
	}}); err != nil {
		t.Fatal(err)
	}
	var listed []core.Entry
	for _, k := range []core.CacheKey{kept, used, replaced, gone} {
		e, err := s.Get(ctx, k.ID())
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, e)
	}
	listed = append(listed, core.Entry{Key: missing, DataVersion: v("5"), Format: "gob", Created: at(1), LastUsed: at(1)})
	// Between the listing and the removal, runs use one entry and replace another.
	if err := s.Write(ctx, core.Batch{Now: at(2), Hits: []core.KeyID{used.ID()},
		Entries: []core.Entry{{Key: replaced, DataVersion: v("6"), Format: "gob"}}}); err != nil {
		t.Fatal(err)
	}
	removed, err := s.RemoveEntries(ctx, listed)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	want := []core.KeyID{kept.ID(), gone.ID()}
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Errorf("RemoveEntries removed %v, want %v", removed, want)
	}
	for _, k := range []core.CacheKey{used, replaced} {
		if _, err := s.Get(ctx, k.ID()); err != nil {
			t.Errorf("entry %s changed after the listing was removed: %v", k.Node, err)
		}
	}
	for _, k := range []core.CacheKey{kept, gone} {
		if _, err := s.Get(ctx, k.ID()); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("entry %s was not removed: %v", k.Node, err)
		}
	}
}

func TestRemoveEntriesMem(t *testing.T) {
	s := newMem(t)
	defer s.Close()
	testRemoveEntries(t, s)
}
