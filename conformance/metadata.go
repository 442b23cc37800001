package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
)

// base is the time the suites' batches start at: nanoseconds included, so
// stores that round times fail.
var base = time.Unix(1_700_000_000, 123_456_789)

func at(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }

// dataVersion returns a content-like data version (64 hex digits) derived from
// seed.
func dataVersion(seed string) core.DataVersion {
	s := sha256.Sum256([]byte(seed))
	return core.DataVersion(hex.EncodeToString(s[:]))
}

func testKey(node string, deps ...string) core.CacheKey {
	ds := make([]core.Dep, len(deps))
	for i, d := range deps {
		ds[i] = core.Dep{Name: d, Version: dataVersion(node + "/" + d)}
	}
	return core.NewCacheKey(node, core.CodeVersion(dataVersion("code:"+node)), ds)
}

// TestMetadataStore runs the metadata store contract against the stores
// open returns. open must return a new, empty store; the suite closes it.
func TestMetadataStore(t *testing.T, open func(t *testing.T) core.MetadataStore) {
	newStore := func(t *testing.T) core.MetadataStore {
		t.Helper()
		s := timeMetadata(t, open(t))
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	ctx := context.Background()

	t.Run("GetMissing", func(t *testing.T) {
		s := newStore(t)
		id := testKey("missing").ID()
		_, err := s.Get(ctx, id)
		if !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("Get(missing) = %v, want an error wrapping ErrNotFound", err)
		}
		if !strings.Contains(err.Error(), id.Short()) {
			t.Errorf("Get(missing) error %q does not name the key %s", err, id)
		}
	})

	t.Run("WriteGet", func(t *testing.T) {
		s := newStore(t)
		k := core.NewCacheKey("train", "code-v1", []core.Dep{
			{Name: "zeta", Version: dataVersion("z")}, {Name: "alpha", Version: dataVersion("a")}, {Name: "mid", Version: core.IgnoredVersion},
		})
		k0 := core.NewCacheKey("source", "code-v0", nil)
		b := core.Batch{Run: "run-1", Now: at(1), Entries: []core.Entry{
			{Key: k, DataVersion: dataVersion("train-out"), Format: "gob"},
			{Key: k0, DataVersion: dataVersion("source-out"), Format: "json"},
		}}
		mustWrite(t, s, b)
		e := mustGet(t, s, k.ID())
		checkEntry(t, e, k, dataVersion("train-out"), "gob", at(1), at(1))
		e0 := mustGet(t, s, k0.ID())
		checkEntry(t, e0, k0, dataVersion("source-out"), "json", at(1), at(1))
	})

	t.Run("ExplicitTimes", func(t *testing.T) {
		s := newStore(t)
		k := testKey("copied", "a")
		mustWrite(t, s, core.Batch{Now: at(50), Entries: []core.Entry{
			{Key: k, DataVersion: dataVersion("x"), Format: "gob", Created: at(3), LastUsed: at(7)},
		}})
		checkEntry(t, mustGet(t, s, k.ID()), k, dataVersion("x"), "gob", at(3), at(7))
	})

	t.Run("ReplaceMapping", func(t *testing.T) {
		s := newStore(t)
		k := testKey("node", "a", "b")
		mustWrite(t, s, core.Batch{Run: "r1", Now: at(1), Entries: []core.Entry{{Key: k, DataVersion: dataVersion("v1"), Format: "gob"}}})
		// A recomputed node replaces the mapping: a new mapping, new Created.
		mustWrite(t, s, core.Batch{Run: "r2", Now: at(2), Entries: []core.Entry{{Key: k, DataVersion: dataVersion("v2"), Format: "json"}}})
		checkEntry(t, mustGet(t, s, k.ID()), k, dataVersion("v2"), "json", at(2), at(2))
		// Storing the same mapping again keeps when it was created.
		mustWrite(t, s, core.Batch{Run: "r3", Now: at(3), Entries: []core.Entry{{Key: k, DataVersion: dataVersion("v2"), Format: "json"}}})
		checkEntry(t, mustGet(t, s, k.ID()), k, dataVersion("v2"), "json", at(2), at(3))
		// The same version in another format is another mapping.
		mustWrite(t, s, core.Batch{Run: "r4", Now: at(4), Entries: []core.Entry{{Key: k, DataVersion: dataVersion("v2"), Format: "gob"}}})
		checkEntry(t, mustGet(t, s, k.ID()), k, dataVersion("v2"), "gob", at(4), at(4))
	})

	t.Run("HitsUpdateLastUsed", func(t *testing.T) {
		s := newStore(t)
		k1, k2 := testKey("hit"), testKey("nohit")
		mustWrite(t, s, core.Batch{Run: "r1", Now: at(1), Entries: []core.Entry{
			{Key: k1, DataVersion: dataVersion("1"), Format: "gob"},
			{Key: k2, DataVersion: dataVersion("2"), Format: "gob"},
		}})
		missing := testKey("never-stored").ID()
		mustWrite(t, s, core.Batch{Run: "r2", Now: at(10), Hits: []core.KeyID{k1.ID(), missing}})
		checkEntry(t, mustGet(t, s, k1.ID()), k1, dataVersion("1"), "gob", at(1), at(10))
		checkEntry(t, mustGet(t, s, k2.ID()), k2, dataVersion("2"), "gob", at(1), at(1))
		if _, err := s.Get(ctx, missing); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("a hit on a missing key created an entry: Get = %v", err)
		}
		// An older hit (a slow concurrent run) does not move LastUsed back.
		mustWrite(t, s, core.Batch{Run: "r0", Now: at(5), Hits: []core.KeyID{k1.ID()}})
		checkEntry(t, mustGet(t, s, k1.ID()), k1, dataVersion("1"), "gob", at(1), at(10))
	})

	t.Run("RemoveEntries", func(t *testing.T) {
		s := newStore(t)
		r, ok := core.As[core.EntryRemover](s)
		if !ok {
			t.Skip("the store is not a core.EntryRemover")
		}
		var keys []core.CacheKey
		var b core.Batch
		for i := range 4 {
			k := testKey(fmt.Sprint("rm", i), "x")
			keys = append(keys, k)
			b.Entries = append(b.Entries, core.Entry{Key: k, DataVersion: dataVersion(fmt.Sprint("rm", i)), Format: "gob"})
		}
		b.Now = at(1)
		mustWrite(t, s, b)
		listed := make([]core.Entry, len(keys))
		for i, k := range keys {
			listed[i] = mustGet(t, s, k.ID())
		}
		// After the listing: rm1 is used, rm2 maps to a new result, rm3 is
		// deleted. Only rm0 is as listed.
		n2 := b.Entries[2]
		n2.DataVersion = dataVersion("new")
		mustWrite(t, s, core.Batch{Hits: []core.KeyID{keys[1].ID()}, Entries: []core.Entry{n2}, Now: at(7200)})
		if err := s.Delete(ctx, keys[3].ID()); err != nil {
			t.Fatal(err)
		}
		removed, err := r.RemoveEntries(ctx, listed)
		if err != nil {
			t.Fatalf("RemoveEntries: %v", err)
		}
		if len(removed) != 1 || removed[0] != keys[0].ID() {
			t.Fatalf("RemoveEntries removed %v, want only rm0 (%s)", removed, keys[0].ID().Short())
		}
		for i, present := range []bool{false, true, true, false} {
			if _, err := s.Get(ctx, keys[i].ID()); (err == nil) != present {
				t.Errorf("entry rm%d after RemoveEntries: Get = %v, want present %v", i, err, present)
			}
		}
	})

	t.Run("Optional", func(t *testing.T) {
		s := newStore(t)
		ka, ka2, kb, kc := testKey("pa"), testKey("pa", "x"), testKey("pb"), testKey("pc")
		mustWrite(t, s, core.Batch{Run: "r1", Now: at(1), Entries: []core.Entry{
			{Key: ka, DataVersion: dataVersion("a"), Format: "gob"},
			{Key: ka2, DataVersion: dataVersion("a2"), Format: "json"},
			{Key: kb, DataVersion: dataVersion("b"), Format: "gob"},
			{Key: kc, DataVersion: dataVersion("c"), Format: "gob"},
		}})
		if p, ok := core.As[core.Preloader](s); ok {
			m, err := p.Preload(ctx, []string{"pa", "pb", "nothing"})
			if err != nil {
				t.Fatalf("Preload: %v", err)
			}
			want := map[core.KeyID]core.DataVersion{ka.ID(): dataVersion("a"), ka2.ID(): dataVersion("a2"), kb.ID(): dataVersion("b")}
			if len(m) != len(want) {
				t.Fatalf("Preload returned %d entries, want %d", len(m), len(want))
			}
			for id, v := range want {
				if m[id].DataVersion != v {
					t.Errorf("Preload[%s] = %q, want %q", id.Short(), m[id].DataVersion, v)
				}
			}
			if m[ka2.ID()].Format != "json" || !m[ka.ID()].LastUsed.Equal(at(1)) {
				t.Errorf("Preload entry %+v: want format json / last used %v", m[ka2.ID()], at(1))
			}
		}
		if p, ok := core.As[core.IndexPreloader](s); ok {
			// Twice: the second may be answered from what the first kept.
			for i := range 2 {
				idx, err := p.PreloadIndex(ctx, []string{"pa", "pb", "nothing"})
				if err != nil {
					t.Fatalf("PreloadIndex %d: %v", i, err)
				}
				want := map[core.KeyID]core.Entry{
					ka.ID():  {DataVersion: dataVersion("a"), Format: "gob"},
					ka2.ID(): {DataVersion: dataVersion("a2"), Format: "json"},
					kb.ID():  {DataVersion: dataVersion("b"), Format: "gob"},
				}
				if idx.Len() != len(want) {
					t.Fatalf("PreloadIndex %d holds %d entries, want %d", i, idx.Len(), len(want))
				}
				for id, w := range want {
					e, ok := idx.Lookup(id)
					if !ok || e.DataVersion != w.DataVersion || e.Format != w.Format || !e.LastUsed.Equal(at(1)) {
						t.Errorf("PreloadIndex %d: Lookup(%s) = %+v, %v; want %+v last used %v", i, id.Short(), e, ok, w, at(1))
					}
				}
				if _, ok := idx.Lookup(kc.ID()); ok {
					t.Errorf("PreloadIndex %d: Lookup found an entry of a node not preloaded", i)
				}
			}
		}
		if w, ok := core.As[core.EntryWalker](s); ok {
			got := map[core.KeyID]core.Entry{}
			if err := w.WalkEntries(ctx, func(e core.Entry) error { got[e.ID()] = e; return nil }); err != nil {
				t.Fatalf("WalkEntries: %v", err)
			}
			if len(got) != 4 || got[kc.ID()].DataVersion != dataVersion("c") || got[ka2.ID()].Key.ID() != ka2.ID() {
				t.Fatalf("WalkEntries saw %d entries, want the 4 written with their keys", len(got))
			}
			stop := errors.New("stop")
			n := 0
			if err := w.WalkEntries(ctx, func(core.Entry) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
				t.Errorf("WalkEntries did not stop at fn's error: %v after %d", err, n)
			}
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := newStore(t)
		k1, k2 := testKey("del1"), testKey("del2")
		mustWrite(t, s, core.Batch{Now: at(1), Entries: []core.Entry{
			{Key: k1, DataVersion: dataVersion("1"), Format: "gob"},
			{Key: k2, DataVersion: dataVersion("2"), Format: "gob"},
		}})
		if err := s.Delete(ctx, k1.ID()); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := s.Get(ctx, k1.ID()); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("Get after Delete = %v, want ErrNotFound", err)
		}
		mustGet(t, s, k2.ID())
		if err := s.Delete(ctx, k1.ID()); err != nil {
			t.Errorf("Delete of a missing entry = %v, want nil", err)
		}
	})

	t.Run("DeleteAll", func(t *testing.T) {
		s := newStore(t)
		k := testKey("all")
		mustBegin(t, s, "run-da", at(0))
		mustWrite(t, s, core.Batch{Run: "run-da", Now: at(1),
			Entries: []core.Entry{{Key: k, DataVersion: dataVersion("1"), Format: "gob"}},
			Records: []core.NodeRecord{{Node: "all", Key: k, DataVersion: dataVersion("1"), Outcome: core.OutcomeExecuted, Size: 3}}})
		if err := s.DeleteAll(ctx); err != nil {
			t.Fatalf("DeleteAll: %v", err)
		}
		if _, err := s.Get(ctx, k.ID()); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("Get after DeleteAll = %v, want ErrNotFound", err)
		}
		if runs := mustRuns(t, s); len(runs) != 0 {
			t.Errorf("Runs after DeleteAll = %v, want none", runs)
		}
		if _, err := s.Run(ctx, "run-da"); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("Run after DeleteAll = %v, want ErrNotFound", err)
		}
		// The store is usable afterwards.
		mustBegin(t, s, "run-after", at(2))
		mustWrite(t, s, core.Batch{Run: "run-after", Now: at(3), Entries: []core.Entry{{Key: k, DataVersion: dataVersion("2"), Format: "gob"}}})
		checkEntry(t, mustGet(t, s, k.ID()), k, dataVersion("2"), "gob", at(3), at(3))
		if runs := mustRuns(t, s); len(runs) != 1 || runs[0].ID != "run-after" {
			t.Errorf("Runs = %v, want [run-after]", runs)
		}
	})

	t.Run("RunsOldestFirst", func(t *testing.T) {
		s := newStore(t)
		// Ids that do not sort in the order the runs began.
		want := []core.RunInfo{{ID: "run-c", Started: at(1)}, {ID: "run-a", Started: at(2)}, {ID: "run-b", Started: at(3)}}
		for _, r := range want {
			mustBegin(t, s, r.ID, r.Started)
		}
		// Beginning a known run again changes nothing.
		mustBegin(t, s, "run-c", at(9))
		checkRuns(t, mustRuns(t, s), want)
	})

	t.Run("RunUnknown", func(t *testing.T) {
		s := newStore(t)
		mustBegin(t, s, "known", at(1))
		_, err := s.Run(ctx, "no-such-run")
		if !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("Run(unknown) = %v, want an error wrapping ErrNotFound", err)
		}
		if !strings.Contains(err.Error(), "no-such-run") {
			t.Errorf("Run(unknown) error %q does not name the run", err)
		}
		recs, err := s.Run(ctx, "known")
		if err != nil || len(recs) != 0 {
			t.Errorf("Run(run without records) = %v, %v; want no records, nil", recs, err)
		}
	})

	t.Run("RunRecords", func(t *testing.T) {
		s := newStore(t)
		mustBegin(t, s, "run-1", at(1))
		mustBegin(t, s, "run-2", at(2))
		kA := testKey("a")
		kB := testKey("b", "a", "x")
		recs1 := []core.NodeRecord{
			{Node: "x", Behavior: core.Default, Outcome: core.OutcomeInput, DataVersion: dataVersion("input"), Size: -1},
			{Node: "a", Key: kA, DataVersion: dataVersion("a-out"), Format: "gob", Behavior: core.Default, Outcome: core.OutcomeExecuted, Duration: 1500 * time.Microsecond, Size: 1234},
		}
		recs2 := []core.NodeRecord{
			{Node: "b", Task: "task-7", Key: kB, DataVersion: dataVersion("b-out"), Format: "parquet", Behavior: core.Recompute, Outcome: core.OutcomeExecuted, Duration: 3 * time.Second, Size: 1 << 40},
			{Node: "c", Key: core.CacheKey{Node: "c", CodeVersion: "cv"}, DataVersion: core.NewUniqueVersion(), Behavior: core.Disable, Outcome: core.OutcomeFailed, Duration: time.Nanosecond, Size: -1},
			{Node: "d", Key: core.CacheKey{Node: "d", CodeVersion: "cv"}, DataVersion: core.IgnoredVersion, Behavior: core.Ignore, Outcome: core.OutcomeSkipped, Size: 0},
			{Node: "a", Key: kA, DataVersion: dataVersion("a-out"), Format: "gob", Behavior: core.Unset, Outcome: core.OutcomeRetrieved, Size: -1},
			{Node: "o", DataVersion: dataVersion("override"), Behavior: core.Default, Outcome: core.OutcomeOverride, Size: -1},
		}
		mustWrite(t, s, core.Batch{Run: "run-1", Now: at(3), Records: recs1})
		mustWrite(t, s, core.Batch{Run: "run-2", Now: at(4), Records: []core.NodeRecord{{Node: "other", Outcome: core.OutcomeExecuted, Size: -1}}})
		mustWrite(t, s, core.Batch{Run: "run-1", Now: at(5), Records: recs2})
		got, err := s.Run(ctx, "run-1")
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		checkRecords(t, got, slices.Concat(recs1, recs2))
		got2, err := s.Run(ctx, "run-2")
		if err != nil || len(got2) != 1 || got2[0].Node != "other" {
			t.Errorf("Run(run-2) = %v, %v; want its one record", got2, err)
		}
	})

	t.Run("RecordsBeginRun", func(t *testing.T) {
		s := newStore(t)
		mustBegin(t, s, "first", at(1))
		mustWrite(t, s, core.Batch{Run: "implicit", Now: at(2), Records: []core.NodeRecord{{Node: "n", Outcome: core.OutcomeExecuted, Size: -1}}})
		checkRuns(t, mustRuns(t, s), []core.RunInfo{{ID: "first", Started: at(1)}, {ID: "implicit", Started: at(2)}})
		if recs, err := s.Run(ctx, "implicit"); err != nil || len(recs) != 1 {
			t.Errorf("Run(implicit) = %v, %v; want 1 record", recs, err)
		}
	})

	t.Run("IdempotentWrite", func(t *testing.T) {
		s := newStore(t)
		k1, k2 := testKey("i1", "d"), testKey("i2")
		mustWrite(t, s, core.Batch{Now: at(1), Entries: []core.Entry{{Key: k2, DataVersion: dataVersion("old"), Format: "gob"}}})
		b := core.Batch{Run: "r", Now: at(2),
			Entries: []core.Entry{{Key: k1, DataVersion: dataVersion("1"), Format: "gob"}},
			Hits:    []core.KeyID{k2.ID()},
			Records: []core.NodeRecord{{Node: "i1", Key: k1, DataVersion: dataVersion("1"), Format: "gob", Outcome: core.OutcomeExecuted, Size: 5}}}
		mustWrite(t, s, b)
		e1, e2 := mustGet(t, s, k1.ID()), mustGet(t, s, k2.ID())
		mustWrite(t, s, b)
		if g := mustGet(t, s, k1.ID()); !entriesEqual(g, e1) {
			t.Errorf("after writing a batch twice Get = %+v, after once %+v", g, e1)
		}
		if g := mustGet(t, s, k2.ID()); !entriesEqual(g, e2) {
			t.Errorf("after writing a batch twice Get = %+v, after once %+v", g, e2)
		}
		if runs := mustRuns(t, s); len(runs) != 1 {
			t.Errorf("Runs = %v, want one run", runs)
		}
	})

	t.Run("AtomicBatch", func(t *testing.T) {
		s := newStore(t)
		good := testKey("good")
		bad := []core.Batch{
			{Run: "r", Now: at(1), Entries: []core.Entry{{Key: good, DataVersion: dataVersion("g"), Format: "gob"}, {Key: testKey("bad"), Format: "gob"}}},
			{Run: "r", Now: at(1), Entries: []core.Entry{{Key: good, DataVersion: dataVersion("g"), Format: "gob"}, {Key: core.CacheKey{CodeVersion: "c"}, DataVersion: dataVersion("n"), Format: "gob"}}},
			{Now: at(1), Entries: []core.Entry{{Key: good, DataVersion: dataVersion("g"), Format: "gob"}}, Records: []core.NodeRecord{{Node: "good"}}},
		}
		for i, b := range bad {
			err := s.Write(ctx, b)
			if !errors.Is(err, core.ErrInvalid) {
				t.Errorf("invalid batch %d: Write = %v, want an error wrapping ErrInvalid", i, err)
			}
			if _, err := s.Get(ctx, good.ID()); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("invalid batch %d was partly applied: Get(valid entry) = %v, want ErrNotFound", i, err)
			}
		}
		if runs := mustRuns(t, s); len(runs) != 0 {
			t.Errorf("invalid batches began runs: %v", runs)
		}
	})

	t.Run("OddNames", func(t *testing.T) {
		s := newStore(t)
		names := []string{
			"naïve_名前_🙂", "with space", "a/b/c", `quote"s'and\back\slash`, "semi;colon -- DROP TABLE entries;",
			"tab\tnew\nline", "nul\x00byte", "%_like*?", strings.Repeat("long", 2500),
		}
		run := core.RunID("run/with odd 'chars' 名前")
		mustBegin(t, s, run, at(1))
		var b core.Batch
		b.Run, b.Now = run, at(2)
		var keys []core.CacheKey
		for i, n := range names {
			k := core.NewCacheKey(n, core.CodeVersion("code "+n), []core.Dep{{Name: n + "-dep", Version: dataVersion(n)}, {Name: names[(i+1)%len(names)], Version: core.IgnoredVersion}})
			keys = append(keys, k)
			b.Entries = append(b.Entries, core.Entry{Key: k, DataVersion: dataVersion("out" + n), Format: "fmt " + n})
			b.Records = append(b.Records, core.NodeRecord{Node: n, Task: n, Key: k, DataVersion: dataVersion("out" + n), Format: "fmt " + n, Outcome: core.OutcomeExecuted, Size: int64(i)})
		}
		mustWrite(t, s, b)
		for i, k := range keys {
			checkEntry(t, mustGet(t, s, k.ID()), k, dataVersion("out"+names[i]), "fmt "+names[i], at(2), at(2))
		}
		got, err := s.Run(ctx, run)
		if err != nil {
			t.Fatalf("Run(%q): %v", run, err)
		}
		checkRecords(t, got, b.Records)
		checkRuns(t, mustRuns(t, s), []core.RunInfo{{ID: run, Started: at(1)}})
	})

	t.Run("ConcurrentWriters", func(t *testing.T) {
		s := newStore(t)
		const writers, perWriter = 8, 25
		shared := testKey("shared")
		var wg sync.WaitGroup
		errs := make(chan error, writers*perWriter*3)
		for w := range writers {
			wg.Go(func() {
				run := core.RunID(fmt.Sprintf("run-%d", w))
				if err := s.BeginRun(ctx, core.RunInfo{ID: run, Started: at(w)}); err != nil {
					errs <- err
					return
				}
				for i := range perWriter {
					own := testKey(fmt.Sprintf("own-%d-%d", w, i))
					b := core.Batch{Run: run, Now: at(100 + i), Entries: []core.Entry{
						{Key: own, DataVersion: dataVersion(fmt.Sprint(w, i)), Format: "gob"},
						{Key: shared, DataVersion: dataVersion(fmt.Sprint("shared", w, i)), Format: "gob"},
					}, Hits: []core.KeyID{shared.ID()}, Records: []core.NodeRecord{{Node: own.Node, Key: own, Outcome: core.OutcomeExecuted, Size: int64(i)}}}
					if err := s.Write(ctx, b); err != nil {
						errs <- err
					}
					if e, err := s.Get(ctx, own.ID()); err != nil || e.DataVersion != dataVersion(fmt.Sprint(w, i)) {
						errs <- fmt.Errorf("Get(own key %d/%d) = %v, %v", w, i, e.DataVersion, err)
					}
					if _, err := s.Get(ctx, shared.ID()); err != nil {
						errs <- fmt.Errorf("Get(shared key): %v", err)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		e := mustGet(t, s, shared.ID())
		var possible []core.DataVersion
		for w := range writers {
			for i := range perWriter {
				possible = append(possible, dataVersion(fmt.Sprint("shared", w, i)))
			}
		}
		if !slices.Contains(possible, e.DataVersion) {
			t.Errorf("shared key maps to %s, which no writer wrote", e.DataVersion)
		}
		runs := mustRuns(t, s)
		if len(runs) != writers {
			t.Errorf("got %d runs, want %d", len(runs), writers)
		}
		for _, r := range runs {
			recs, err := s.Run(ctx, r.ID)
			if err != nil || len(recs) != perWriter {
				t.Errorf("Run(%s) = %d records, %v; want %d", r.ID, len(recs), err, perWriter)
				continue
			}
			for i, rec := range recs {
				if rec.Size != int64(i) {
					t.Errorf("Run(%s) record %d has size %d: records out of order", r.ID, i, rec.Size)
					break
				}
			}
		}
	})

	t.Run("Closed", func(t *testing.T) {
		s := timeMetadata(t, open(t))
		k := testKey("c")
		mustWrite(t, s, core.Batch{Now: at(1), Entries: []core.Entry{{Key: k, DataVersion: dataVersion("c"), Format: "gob"}}})
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, err := s.Get(ctx, k.ID()); !errors.Is(err, core.ErrClosed) {
			t.Errorf("Get after Close = %v, want ErrClosed", err)
		}
		if err := s.Write(ctx, core.Batch{Now: at(2), Hits: []core.KeyID{k.ID()}}); !errors.Is(err, core.ErrClosed) {
			t.Errorf("Write after Close = %v, want ErrClosed", err)
		}
	})

	t.Run("Leases", func(t *testing.T) { TestLeaser(t, open) })
}

func mustWrite(t *testing.T, s core.MetadataStore, b core.Batch) {
	t.Helper()
	if err := s.Write(context.Background(), b); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func mustGet(t *testing.T, s core.MetadataStore, id core.KeyID) core.Entry {
	t.Helper()
	e, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id.Short(), err)
	}
	return e
}

func mustBegin(t *testing.T, s core.MetadataStore, id core.RunID, started time.Time) {
	t.Helper()
	if err := s.BeginRun(context.Background(), core.RunInfo{ID: id, Started: started}); err != nil {
		t.Fatalf("BeginRun(%s): %v", id, err)
	}
}

func mustRuns(t *testing.T, s core.MetadataStore) []core.RunInfo {
	t.Helper()
	runs, err := s.Runs(context.Background())
	if err != nil {
		t.Fatalf("Runs: %v", err)
	}
	return runs
}

func checkRuns(t *testing.T, got, want []core.RunInfo) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("Runs = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].ID != want[i].ID || !got[i].Started.Equal(want[i].Started) {
			t.Errorf("Runs[%d] = %s started %v, want %s started %v", i, got[i].ID, got[i].Started, want[i].ID, want[i].Started)
		}
	}
}

func keysEqual(a, b core.CacheKey) bool {
	return a.Node == b.Node && a.CodeVersion == b.CodeVersion && len(a.Deps) == len(b.Deps) &&
		(len(a.Deps) == 0 || reflect.DeepEqual(a.Deps, b.Deps))
}

func entriesEqual(a, b core.Entry) bool {
	return keysEqual(a.Key, b.Key) && a.DataVersion == b.DataVersion && a.Format == b.Format &&
		a.Created.Equal(b.Created) && a.LastUsed.Equal(b.LastUsed)
}

func checkEntry(t *testing.T, e core.Entry, k core.CacheKey, v core.DataVersion, format string, created, lastUsed time.Time) {
	t.Helper()
	if !keysEqual(e.Key, k) {
		t.Errorf("entry key = %+v, want %+v", e.Key, k)
	}
	if e.ID() != k.ID() {
		t.Errorf("entry ID = %s, want %s", e.ID(), k.ID())
	}
	if e.DataVersion != v || e.Format != format {
		t.Errorf("entry of %s maps to %s.%s, want %s.%s", k.Node, e.DataVersion.Short(), e.Format, v.Short(), format)
	}
	if !e.Created.Equal(created) || !e.LastUsed.Equal(lastUsed) {
		t.Errorf("entry of %.20q: created %v, last used %v; want %v, %v", k.Node, e.Created, e.LastUsed, created, lastUsed)
	}
}

func checkRecords(t *testing.T, got, want []core.NodeRecord) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("run has %d records, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if !keysEqual(g.Key, w.Key) || g.Node != w.Node || g.Task != w.Task || g.DataVersion != w.DataVersion ||
			g.Format != w.Format || g.Behavior != w.Behavior || g.Outcome != w.Outcome || g.Duration != w.Duration || g.Size != w.Size {
			t.Errorf("record %d = %+v\nwant %+v", i, g, w)
		}
	}
}
