package local

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
)

func snapKey(i int) core.CacheKey {
	return core.NewCacheKey(fmt.Sprintf("n%d", i), "code", []core.Dep{{Name: "x", Version: core.DataVersion(fmt.Sprintf("%064x", i))}})
}

func snapBatch(from, n int, dv string) core.Batch {
	b := core.Batch{Run: core.NewRunID(), Now: time.Now()}
	for i := from; i < from+n; i++ {
		b.Entries = append(b.Entries, core.Entry{Key: snapKey(i), DataVersion: core.DataVersion(fmt.Sprintf("%s%062x", dv, i)), Format: "gob"})
	}
	return b
}

func snapNodes(n int) []string {
	var nodes []string
	for i := range n {
		nodes = append(nodes, fmt.Sprintf("n%d", i))
	}
	return nodes
}

// fromSnapshot reports whether s holds a current snapshot of nodes that
// decodes to want.
func fromSnapshot(t *testing.T, s *MetadataStore, nodes []string, want map[core.KeyID]core.Entry) bool {
	t.Helper()
	names, _ := json.Marshal(nodes)
	m, ok := s.readSnapshot(snapshotKey(names))
	if !ok {
		return false
	}
	// Through the index's lookups, as a run reads it, and as a map.
	if m.Len() != len(want) {
		t.Fatalf("snapshot holds %d entries, want %d", m.Len(), len(want))
	}
	for id, w := range want {
		got, ok := m.Lookup(id)
		if !ok || !sameEntries(map[core.KeyID]core.Entry{id: got}, map[core.KeyID]core.Entry{id: w}) {
			t.Fatalf("snapshot lookup of %s: %v, %v; want %v", id, got, ok, w)
		}
	}
	if _, ok := m.Lookup("no such key"); ok {
		t.Fatal("snapshot lookup of a key it does not hold found one")
	}
	if p := m.preloaded(); !sameEntries(p.entries, want) {
		t.Fatalf("snapshot holds %v, want %v", p.entries, want)
	}
	return true
}

func sameEntries(a, b map[core.KeyID]core.Entry) bool {
	return maps.EqualFunc(a, b, func(x, y core.Entry) bool {
		return x.DataVersion == y.DataVersion && x.Format == y.Format && x.LastUsed.Equal(y.LastUsed)
	})
}

// preloadRows is what Preload must return: the rows, read without a
// snapshot.
func preloadRows(t *testing.T, s *MetadataStore, nodes []string) map[core.KeyID]core.Entry {
	t.Helper()
	names, _ := json.Marshal(nodes)
	m, err := s.lookups.preload(t.Context(), string(names))
	if err != nil {
		t.Fatal(err)
	}
	return m.entries
}

func openTwo(t *testing.T) (a, b *MetadataStore) {
	t.Helper()
	path := filepath.Join(t.TempDir(), MetadataFile)
	var err error
	if a, err = OpenMetadata(t.Context(), path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if b, err = OpenMetadata(t.Context(), path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

// openFive opens two stores on one database, in which b wrote the entries
// of five nodes, which it returns.
func openFive(t *testing.T) (a, b *MetadataStore, nodes []string) {
	t.Helper()
	a, b = openTwo(t)
	nodes = snapNodes(5)
	if err := b.Write(t.Context(), snapBatch(0, 5, "aa")); err != nil {
		t.Fatal(err)
	}
	return a, b, nodes
}

// TestPreloadSnapshot checks that a preload keeps a snapshot that the next
// one serves, and that every change of the entries made through another
// handle (another process) ends it: a recomputed mapping, a new entry, a
// deleted one, a hit's last-used update. After each change, Preload
// returns exactly the rows.
func TestPreloadSnapshot(t *testing.T) {
	ctx := t.Context()
	a, b := openTwo(t)
	const n = 50
	nodes := snapNodes(n)
	if err := b.Write(ctx, snapBatch(0, n, "aa")); err != nil {
		t.Fatal(err)
	}
	check := func(step string, wantSnapshot bool) {
		t.Helper()
		got, err := a.Preload(ctx, nodes)
		if err != nil {
			t.Fatal(err)
		}
		want := preloadRows(t, b, nodes)
		if !sameEntries(got, want) {
			t.Fatalf("%s: Preload gave %d entries, not the %d rows", step, len(got), len(want))
		}
		if has := fromSnapshot(t, a, nodes, want); has != wantSnapshot {
			t.Fatalf("%s: snapshot kept: %v, want %v", step, has, wantSnapshot)
		}
	}
	check("first preload", true)
	check("from the snapshot", true)

	// A recomputed node: same key, a new data version.
	if err := b.Write(ctx, snapBatch(7, 1, "bb")); err != nil {
		t.Fatal(err)
	}
	if fromSnapshot(t, a, nodes, nil) {
		t.Fatal("a snapshot survived a new mapping")
	}
	check("after a recompute", true)
	if got, _ := a.Preload(ctx, nodes); got[snapKey(7).ID()].DataVersion[:2] != "bb" {
		t.Fatalf("the recomputed mapping is not served: %v", got[snapKey(7).ID()])
	}

	// A deleted (evicted) entry.
	if err := b.Delete(ctx, snapKey(3).ID()); err != nil {
		t.Fatal(err)
	}
	if fromSnapshot(t, a, nodes, nil) {
		t.Fatal("a snapshot survived a deleted entry")
	}
	check("after a delete", true)
	if got, _ := a.Preload(ctx, nodes); len(got) != n-1 {
		t.Fatalf("%d entries after a delete, want %d", len(got), n-1)
	}

	// A new entry of a node in the list (a new key for n3).
	if err := b.Write(ctx, snapBatch(3, 1, "cc")); err != nil {
		t.Fatal(err)
	}
	if fromSnapshot(t, a, nodes, nil) {
		t.Fatal("a snapshot survived a new entry")
	}
	check("after an insert", true)

	// A hit's last-used update.
	if err := b.Write(ctx, core.Batch{Run: core.NewRunID(), Now: time.Now().Add(2 * time.Hour), Hits: []core.KeyID{snapKey(1).ID()}}); err != nil {
		t.Fatal(err)
	}
	if fromSnapshot(t, a, nodes, nil) {
		t.Fatal("a snapshot survived a last-used update")
	}
	check("after a hit", true)

	// DeleteAll.
	if err := b.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	if fromSnapshot(t, a, nodes, nil) {
		t.Fatal("a snapshot survived DeleteAll")
	}
	if got, err := a.Preload(ctx, nodes); err != nil || len(got) != 0 {
		t.Fatalf("after DeleteAll: %d entries, %v", len(got), err)
	}

	// Another list of nodes has a snapshot of its own.
	if err := b.Write(ctx, snapBatch(0, n, "dd")); err != nil {
		t.Fatal(err)
	}
	check("refilled", true)
	check("again", true)
	few := nodes[:10]
	if _, err := a.Preload(ctx, few); err != nil {
		t.Fatal(err)
	}
	if !fromSnapshot(t, a, few, preloadRows(t, a, few)) || !fromSnapshot(t, a, nodes, preloadRows(t, a, nodes)) {
		t.Fatal("two lists of nodes do not have a snapshot each")
	}
}

// TestPreloadSnapshotDamaged damages the snapshot file in every byte (and
// truncates and extends it): each time, Preload returns the rows and the
// damaged snapshot is not served.
func TestPreloadSnapshotDamaged(t *testing.T) {
	ctx := t.Context()
	a, b, nodes := openFive(t)
	want := preloadRows(t, b, nodes)
	if _, err := a.Preload(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	names, _ := json.Marshal(nodes)
	path := filepath.Join(a.snapDir, snapshotKey(names))
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var damaged [][]byte
	for i := range good {
		d := append([]byte(nil), good...)
		d[i] ^= 0x5a
		damaged = append(damaged, d)
	}
	damaged = append(damaged, good[:len(good)/2], append(append([]byte(nil), good...), 0), []byte{}, []byte("x"))
	for i, d := range damaged {
		// Writing the file leaves the generation as it is: the snapshot
		// stays current, as a damaged block would.
		if err := os.WriteFile(path, d, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, ok := a.readSnapshot(snapshotKey(names)); ok {
			t.Fatalf("damage %d: the snapshot is served", i)
		}
		got, err := a.Preload(ctx, nodes)
		if err != nil {
			t.Fatalf("damage %d: %v", i, err)
		}
		if !sameEntries(got, want) {
			t.Fatalf("damage %d: Preload gave %v, want %v", i, got, want)
		}
	}
}

// TestPreloadSnapshotOlderGeneration checks that a snapshot made before a
// write is not served once another list of nodes made the generation file
// clean again, at the new generation.
func TestPreloadSnapshotOlderGeneration(t *testing.T) {
	ctx := t.Context()
	a, b, nodes := openFive(t)
	if _, err := a.Preload(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(ctx, snapBatch(2, 1, "bb")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Preload(ctx, nodes[:1]); err != nil { // clean again
		t.Fatal(err)
	}
	if _, clean := readGen(a.genPath); !clean {
		t.Fatal("the generation file is not clean after a preload")
	}
	if fromSnapshot(t, a, nodes, nil) {
		t.Fatal("a snapshot of an older generation is served")
	}
	got, err := a.Preload(ctx, nodes)
	if err != nil {
		t.Fatal(err)
	}
	if got[snapKey(2).ID()].DataVersion[:2] != "bb" {
		t.Fatalf("a snapshot read before a write was served: %v", got[snapKey(2).ID()])
	}
}

// TestPreloadSnapshotGenFile removes and damages the generation file: no
// snapshot is served without a clean one, and the next writer's preload
// makes it again.
func TestPreloadSnapshotGenFile(t *testing.T) {
	ctx := t.Context()
	a, b, nodes := openFive(t)
	want := preloadRows(t, b, nodes)
	for i, damage := range []func() error{
		func() error { return os.Remove(a.genPath) },
		func() error { return os.WriteFile(a.genPath, []byte("fcgen2\n\x00garbage, not a generation"), 0o644) },
		func() error { return os.WriteFile(a.genPath, encodeGen(genDirty, 0), 0o644) },
	} {
		if _, err := a.Preload(ctx, nodes); err != nil {
			t.Fatal(err)
		}
		if !fromSnapshot(t, a, nodes, want) {
			t.Fatalf("damage %d: no snapshot after a preload", i)
		}
		if err := damage(); err != nil {
			t.Fatal(err)
		}
		if fromSnapshot(t, a, nodes, nil) {
			t.Fatalf("damage %d: a snapshot is served without a clean generation file", i)
		}
		if got, err := a.Preload(ctx, nodes); err != nil || !sameEntries(got, want) {
			t.Fatalf("damage %d: Preload: %v, %v", i, got, err)
		}
	}
}

// TestPreloadSnapshotLazyOpen checks that a store opened on a directory
// whose generation file is clean opens no database connection to serve a
// preload from its snapshot, and opens one when it needs the database.
func TestPreloadSnapshotLazyOpen(t *testing.T) {
	ctx := t.Context()
	a, _ := openTwo(t)
	nodes := snapNodes(5)
	if err := a.Write(ctx, snapBatch(0, 5, "aa")); err != nil {
		t.Fatal(err)
	}
	want := preloadRows(t, a, nodes)
	if _, err := a.Preload(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	c, err := OpenMetadata(ctx, a.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.Preload(ctx, nodes)
	if err != nil || !sameEntries(got, want) {
		t.Fatalf("Preload: %v, %v", got, err)
	}
	if n := c.w.Stats().OpenConnections + c.r.Stats().OpenConnections + len(c.lookups.idle); n != 0 {
		t.Fatalf("%d connections open after a preload from the snapshot", n)
	}
	if e, err := c.Get(ctx, snapKey(1).ID()); err != nil || e.DataVersion != want[snapKey(1).ID()].DataVersion {
		t.Fatalf("Get: %v, %v", e, err)
	}
}

// TestForeignWriterRefused changes entries and results with the sqlite3
// shell, which cannot mark the generation file: SQLite refuses it
// (flowcache_changed is defined only by this package). Reading is allowed.
func TestForeignWriterRefused(t *testing.T) {
	shell, err := exec.LookPath("sqlite3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no sqlite3 shell on PATH under CI: .ci/run installs Debian's sqlite3 package")
		}
		t.Skip("no sqlite3 shell on PATH (Debian's sqlite3 package)")
	}
	ctx := t.Context()
	a, _ := openTwo(t)
	if err := a.Write(ctx, snapBatch(0, 3, "aa")); err != nil {
		t.Fatal(err)
	}
	r, err := newResults(ctx, a, nil, "", DefaultInlineLimit)
	if err != nil {
		t.Fatal(err)
	}
	id := core.ResultID{Version: core.DataVersion(fmt.Sprintf("%064x", 1)), Format: "gob"}
	if _, err := r.Put(ctx, id, func(w io.Writer) error { _, err := w.Write([]byte("v")); return err }); err != nil {
		t.Fatal(err)
	}
	if err := r.FlushResults(ctx); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DELETE FROM entries`, `UPDATE entries SET data_version = 'x'`, `DELETE FROM results`, `UPDATE results SET crc = 0`} {
		out, err := exec.Command(shell, a.path, q).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "flowcache_changed") {
			t.Errorf("%s by the sqlite3 shell: %v: %s; want it refused for want of flowcache_changed", q, err, out)
		}
	}
	out, err := exec.Command(shell, a.path, `SELECT count(*) FROM entries; SELECT count(*) FROM results`).CombinedOutput()
	if err != nil || strings.Fields(string(out))[0] != "3" || strings.Fields(string(out))[1] != "1" {
		t.Errorf("reading with the sqlite3 shell: %v: %s", err, out)
	}
}

// TestPreloadSnapshotOldWriter checks that a writer that knows nothing of
// snapshots (plain SQL on the entries table, as an older flowcache
// writes) ends them too: the triggers are in the database.
func TestPreloadSnapshotOldWriter(t *testing.T) {
	ctx := t.Context()
	a, _ := openTwo(t)
	nodes := snapNodes(5)
	if err := a.Write(ctx, snapBatch(0, 5, "aa")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Preload(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(a.path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `UPDATE entries SET data_version = 'ee' WHERE node = 'n4'`); err != nil {
		t.Fatal(err)
	}
	got, err := a.Preload(ctx, nodes)
	if err != nil {
		t.Fatal(err)
	}
	if got[snapKey(4).ID()].DataVersion != "ee" {
		t.Fatalf("an older writer's mapping is not served: %v", got[snapKey(4).ID()])
	}
}

// TestSnapshotCodec round-trips entries and inline results through the
// snapshot encoding, and checks that every truncation of an encoding is
// refused.
func TestSnapshotCodec(t *testing.T) {
	for _, n := range []int{0, 1, 300} {
		p := &preloaded{entries: map[core.KeyID]core.Entry{}, results: map[core.ResultID]warmResult{}}
		for i := range n {
			f := []string{"gob", "json", "parquet"}[i%3]
			e := core.Entry{DataVersion: core.DataVersion(fmt.Sprint("v", i)), Format: f, LastUsed: time.Unix(0, int64(i)*1e9+7)}
			p.entries[snapKey(i).ID()] = e
			if i%2 == 0 { // every other entry has its result inline
				id := core.ResultID{Version: e.DataVersion, Format: f}
				data := []byte(strings.Repeat("x", i%7))
				p.results[id] = warmResult{data: data, crc: inlineCRC(id, data)}
			}
		}
		enc := encodeSnapshot(uint64(n)+7, p)
		gen, idx, err := decodeIndex(enc)
		if err != nil {
			t.Fatalf("%d entries: %v", n, err)
		}
		got := idx.preloaded()
		if gen != uint64(n)+7 || !sameEntries(got.entries, p.entries) {
			t.Fatalf("%d entries: generation %d, entries differ", n, gen)
		}
		if len(got.results) != len(p.results) {
			t.Fatalf("%d entries: %d results decoded, want %d", n, len(got.results), len(p.results))
		}
		for id, r := range p.results {
			if g := got.results[id]; !bytes.Equal(g.data, r.data) || g.crc != r.crc {
				t.Fatalf("%d entries: result %v decoded as %q %#x, want %q %#x", n, id, g.data, g.crc, r.data, r.crc)
			}
		}
		// The index finds every entry and result by binary search.
		_, x, err := decodeIndex(enc)
		if err != nil {
			t.Fatal(err)
		}
		for id, e := range p.entries {
			if got, ok := x.Lookup(id); !ok || got.DataVersion != e.DataVersion || got.Format != e.Format || !got.LastUsed.Equal(e.LastUsed) {
				t.Fatalf("%d entries: Lookup(%s) = %v, %v; want %v", n, id, got, ok, e)
			}
			if _, ok := x.Lookup(id + "x"); ok {
				t.Fatalf("%d entries: Lookup found a key the snapshot does not hold", n)
			}
		}
		for id, r := range p.results {
			if got, ok := x.result(id); !ok || !bytes.Equal(got.data, r.data) || got.crc != r.crc {
				t.Fatalf("%d entries: result(%v) = %q, %v", n, id, got.data, ok)
			}
		}
		for cut := range len(enc) {
			if _, _, err := decodeIndex(enc[:cut]); err == nil {
				t.Fatalf("%d entries: the first %d of %d bytes decoded", n, cut, len(enc))
			}
		}
	}
}

// TestPreloadSnapshotResults checks that a snapshot holds the inline
// results of its entries, read by another store, and that a result deleted
// or changed in the table ends it.
func TestPreloadSnapshotResults(t *testing.T) {
	ctx := t.Context()
	a, b := openTwo(t)
	r, err := newResults(ctx, a, nil, "", DefaultInlineLimit)
	if err != nil {
		t.Fatal(err)
	}
	batch := snapBatch(0, 3, "aa")
	for _, e := range batch.Entries {
		id := core.ResultID{Version: e.DataVersion, Format: e.Format}
		if _, err := r.Put(ctx, id, func(w io.Writer) error { _, err := w.Write([]byte(e.Key.Node)); return err }); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.FlushResults(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	nodes := snapNodes(3)
	if _, err := a.Preload(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	names, _ := json.Marshal(nodes)
	snap, ok := b.readSnapshot(snapshotKey(names))
	if !ok {
		t.Fatal("no snapshot")
	}
	// The first results asked for are found by a scan, the later ones
	// through a map (snapScans): both find each, and nothing else.
	for round := range 2 * snapScans / len(batch.Entries) {
		for _, e := range batch.Entries {
			got, ok := snap.result(core.ResultID{Version: e.DataVersion, Format: e.Format})
			if !ok || string(got.data) != e.Key.Node {
				t.Fatalf("round %d: snapshot holds %q (%v) for %s's result", round, got.data, ok, e.Key.Node)
			}
			if got, ok := snap.result(core.ResultID{Version: e.DataVersion, Format: "json"}); ok {
				t.Fatalf("round %d: %s's result found as json: %q", round, e.Key.Node, got.data)
			}
			if got, ok := snap.result(core.ResultID{Version: e.DataVersion + "0", Format: e.Format}); ok {
				t.Fatalf("round %d: a version not stored found: %q", round, got.data)
			}
		}
	}
	for _, q := range []string{`UPDATE results SET created = created + 1`, `DELETE FROM results WHERE rowid IN (SELECT rowid FROM results LIMIT 1)`} {
		if _, err := a.Preload(ctx, nodes); err != nil {
			t.Fatal(err)
		}
		if !fromSnapshot(t, b, nodes, preloadRows(t, b, nodes)) {
			t.Fatalf("no snapshot before %s", q)
		}
		if _, err := b.w.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
		if fromSnapshot(t, b, nodes, nil) {
			t.Fatalf("a snapshot survived %s", q)
		}
	}
}

// TestPreloadSnapshotNeverStale recomputes five nodes over and over through
// one store while another preloads them (through a long-lived handle and
// fresh ones, which serve snapshots without opening the database): a
// preload never returns a mapping older than the last one committed before
// it began.
func TestPreloadSnapshotNeverStale(t *testing.T) {
	ctx := t.Context()
	a, b := openTwo(t)
	nodes := snapNodes(5)
	if err := a.Write(ctx, snapBatch(0, 5, "00")); err != nil {
		t.Fatal(err)
	}
	var committed atomic.Int64
	done := make(chan error, 1)
	go func() {
		for i := 1; i < 200; i++ {
			if err := a.Write(ctx, snapBatch(0, 5, fmt.Sprintf("%02x", i))); err != nil {
				done <- err
				return
			}
			committed.Store(int64(i))
			time.Sleep(time.Millisecond) // room for preloads between writes
		}
		done <- nil
	}()
	for i := 0; ; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if i < 20 {
				t.Logf("only %d preloads while writing", i)
			}
			return
		default:
		}
		s := b
		if i%5 == 0 {
			var err error
			if s, err = OpenMetadata(ctx, a.path); err != nil {
				t.Fatal(err)
			}
		}
		before := committed.Load()
		got, err := s.Preload(ctx, nodes)
		if s != b {
			s.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		for n := range 5 {
			var v int64
			fmt.Sscanf(string(got[snapKey(n).ID()].DataVersion[:2]), "%x", &v)
			if v < before {
				t.Fatalf("preload %d: node %d maps to version %d, but %d was committed before it began", i, n, v, before)
			}
		}
	}
}

// TestPreloadSnapshotDatabaseRemoved removes the database file (and its
// WAL) of a cache whose snapshots are current, as someone resetting it by
// hand does: the generation file is not clean for the new database, so no
// snapshot of the old one is served, and the new database gets its schema
// when it is opened.
func TestPreloadSnapshotDatabaseRemoved(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), MetadataFile)
	a, err := OpenMetadata(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	nodes := snapNodes(5)
	if err := a.Write(ctx, snapBatch(0, 5, "aa")); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Preload(ctx, nodes); err != nil || len(got) != 5 {
		t.Fatalf("Preload: %d entries, %v", len(got), err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, clean := readGen(genPath(path)); !clean {
		t.Fatal("the generation file is not clean before the database is removed")
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if _, clean := readGen(genPath(path)); clean {
		t.Fatal("the generation file is clean for a database that is gone")
	}
	b, err := OpenMetadata(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, err := b.Preload(ctx, nodes); err != nil || len(got) != 0 {
		t.Fatalf("Preload of the new database: %d entries, %v; want none", len(got), err)
	}
	if err := b.Write(ctx, snapBatch(0, 1, "bb")); err != nil {
		t.Fatalf("writing the new database: %v", err)
	}
}

// TestSnapshotsBounded preloads more lists of nodes than maxSnapshots:
// the directory keeps at most maxSnapshots files, the oldest go first, and
// the last list's snapshot is served.
func TestSnapshotsBounded(t *testing.T) {
	ctx := t.Context()
	a, _, nodes := openFive(t)
	var lists [][]string
	for i := range maxSnapshots + 6 {
		list := append([]string{fmt.Sprint("other", i)}, nodes...)
		lists = append(lists, list)
		if _, err := a.Preload(ctx, list); err != nil {
			t.Fatal(err)
		}
		// File times a second apart, whatever the file system's resolution.
		names, _ := json.Marshal(list)
		at := time.Now().Add(time.Duration(i-1000) * time.Second)
		os.Chtimes(filepath.Join(a.snapDir, snapshotKey(names)), at, at)
	}
	ents, err := os.ReadDir(a.snapDir)
	if err != nil || len(ents) > maxSnapshots {
		t.Fatalf("%d snapshot files, %v; want at most %d", len(ents), err, maxSnapshots)
	}
	want := preloadRows(t, a, nodes)
	if !fromSnapshot(t, a, lists[len(lists)-1], want) {
		t.Fatal("the last list's snapshot is not served")
	}
	if fromSnapshot(t, a, lists[0], want) {
		t.Fatal("the oldest list's snapshot was kept")
	}
}

// nodeList writes what json.Marshal writes, for every name: the snapshot's
// key is the hash of those bytes.
func TestNodeList(t *testing.T) {
	cases := [][]string{
		nil, {}, {"a"}, {"node_1", "node_2", "x y", "~!@#$%^*()_+-=[]{}|;:',./?`"},
		{"quote\"d"}, {"back\\slash"}, {"<html>"}, {"a&b"}, {"tab\t"}, {"\x00"}, {"é"}, {"\u2028"}, {"\xff"},
		{"plain", "then <one>", "plain again"},
	}
	for c := range 256 {
		cases = append(cases, []string{"n" + string(rune(c)), string([]byte{byte(c)})})
	}
	for _, nodes := range cases {
		want, err := json.Marshal(nodes)
		if err != nil {
			t.Fatal(err)
		}
		got, err := nodeList(nodes)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%q: %s (%v), json.Marshal writes %s", nodes, got, err, want)
		}
	}
}

// A lookup searches the first 8 bytes of the ids, then the ids that share
// them: ids that differ only after their eighth byte (and ids shorter than
// 8 bytes) are each found, and an id between them is not.
func TestSnapshotLookupSharedHeads(t *testing.T) {
	p := &preloaded{entries: map[core.KeyID]core.Entry{}, results: map[core.ResultID]warmResult{}}
	var ids []core.KeyID
	for _, head := range []string{"0000aaaa", "0000aaab", "ffffffff"} {
		for i := range 5 {
			ids = append(ids, core.KeyID(fmt.Sprintf("%s%02d", head, 2*i)))
		}
	}
	ids = append(ids, "0", "00", "0000aaa", "zz")
	for i, id := range ids {
		p.entries[id] = core.Entry{DataVersion: core.DataVersion(fmt.Sprint("v", i)), Format: "gob", LastUsed: time.Unix(int64(i), 0)}
	}
	_, x, err := decodeIndex(encodeSnapshot(1, p))
	if err != nil {
		t.Fatal(err)
	}
	for id, e := range p.entries {
		if got, ok := x.Lookup(id); !ok || got.DataVersion != e.DataVersion {
			t.Errorf("Lookup(%q) = %v, %v; want %v", id, got.DataVersion, ok, e.DataVersion)
		}
	}
	for _, id := range []core.KeyID{"0000aaaa01", "0000aaaa", "0000aaab99", "000", "", "ffffffff0", "zzz"} {
		if got, ok := x.Lookup(id); ok {
			t.Errorf("Lookup(%q) found %v, which the snapshot does not hold", id, got)
		}
	}
}
