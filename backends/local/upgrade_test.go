package local

import (
	"database/sql"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
)

// schemaV1 is the schema of version 1, as flowcache wrote it (versions 1
// and 2 kept these tables and the covering index entries_by_node).
const schemaV1 = `
CREATE TABLE IF NOT EXISTS entries (
	key_id       TEXT PRIMARY KEY,
	node         TEXT NOT NULL,
	code_version TEXT NOT NULL,
	deps         TEXT NOT NULL,
	data_version TEXT NOT NULL,
	format       TEXT NOT NULL,
	created      INTEGER NOT NULL,
	last_used    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	run_id  TEXT NOT NULL UNIQUE,
	started INTEGER NOT NULL
);
-- A run's history: one row per batch the run wrote, its node records in
-- core.AppendRecords' compact encoding (a row per node cost about 5 µs).
CREATE TABLE IF NOT EXISTS run_batches (
	seq     INTEGER PRIMARY KEY,
	run_id  TEXT NOT NULL,
	records BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS run_batches_run ON run_batches (run_id, seq);
-- Covers Preload: a run reads its nodes' entries from the index alone.
CREATE INDEX IF NOT EXISTS entries_by_node ON entries (node, key_id, data_version, format, last_used);
-- Results of up to the inline limit (16 KiB by default), stored here rather
-- than as files: see ResultStore. crc is the CRC-32C of version, a zero byte,
-- format, a zero byte and data.
CREATE TABLE IF NOT EXISTS results (
	version TEXT NOT NULL,
	format  TEXT NOT NULL,
	data    BLOB NOT NULL,
	crc     INTEGER NOT NULL,
	created INTEGER NOT NULL,
	PRIMARY KEY (version, format)
);
`

// genSchemaV2 is what version 2 added, as flowcache wrote it: the
// generation and its triggers, one per inserted entry among them.
const genSchemaV2 = `
CREATE TABLE IF NOT EXISTS entries_gen (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	gen INTEGER NOT NULL
);
INSERT OR IGNORE INTO entries_gen (id, gen) VALUES (1, 0);
DROP TABLE IF EXISTS preload_snapshots;
DROP TRIGGER IF EXISTS entries_gen_delete;
DROP TRIGGER IF EXISTS entries_gen_update;
DROP TRIGGER IF EXISTS results_gen_delete;
DROP TRIGGER IF EXISTS results_gen_update;
CREATE TRIGGER IF NOT EXISTS entries_gen_insert AFTER INSERT ON entries
	BEGIN UPDATE entries_gen SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER entries_gen_delete AFTER DELETE ON entries
	BEGIN SELECT flowcache_changed(); UPDATE entries_gen SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER entries_gen_update AFTER UPDATE ON entries
	BEGIN SELECT flowcache_changed(); UPDATE entries_gen SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER results_gen_delete AFTER DELETE ON results
	BEGIN SELECT flowcache_changed(); UPDATE entries_gen SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER results_gen_update AFTER UPDATE ON results
	BEGIN SELECT flowcache_changed(); UPDATE entries_gen SET gen = gen + 1 WHERE id = 1; END;
`

// oldDatabase makes a database of schema version v (1 or 2) at path, as
// flowcache of that version left it: the entries of snapBatch(0, n, "aa")
// and the inline result of the first; for version 2 also a generation file
// clean at its generation, in that version's format.
func oldDatabase(t *testing.T, path string, v, n int) (core.Batch, core.ResultID) {
	t.Helper()
	ctx := t.Context()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	script := "PRAGMA journal_mode=WAL;" + schemaV1
	if v >= 2 {
		script += genSchemaV2
	}
	script += fmt.Sprintf("PRAGMA user_version = %d;", v)
	if _, err := db.ExecContext(ctx, script); err != nil {
		t.Fatal(err)
	}
	b := snapBatch(0, n, "aa")
	for _, e := range b.Entries {
		deps, err := appendDeps(nil, e.Key.Deps)
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.ExecContext(ctx, `INSERT INTO entries (key_id, node, code_version, deps, data_version, format, created, last_used) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			string(e.ID()), e.Key.Node, string(e.Key.CodeVersion), string(deps), string(e.DataVersion), e.Format, b.Now.UnixNano(), b.Now.UnixNano())
		if err != nil {
			t.Fatal(err)
		}
	}
	id := core.ResultID{Version: b.Entries[0].DataVersion, Format: "gob"}
	data := []byte("old value")
	if _, err := db.ExecContext(ctx, `INSERT INTO results (version, format, data, crc, created) VALUES (?, ?, ?, ?, ?)`,
		string(id.Version), id.Format, data, int64(inlineCRC(id, data)), b.Now.UnixNano()); err != nil {
		t.Fatal(err)
	}
	if v >= 2 {
		var gen uint64
		if err := db.QueryRowContext(ctx, `SELECT gen FROM entries_gen`).Scan(&gen); err != nil {
			t.Fatal(err)
		}
		if gen != uint64(n) {
			t.Fatalf("version 2's trigger bumped the generation to %d for %d entries", gen, n)
		}
		dbid, ok := dbID(path)
		if !ok {
			t.Fatal("no identity of the database file")
		}
		g := append([]byte("fcgen2\n\x01"), binary.LittleEndian.AppendUint64(nil, gen)...)
		g = binary.LittleEndian.AppendUint64(g, dbid)
		g = binary.LittleEndian.AppendUint32(g, crc32.Checksum(g, castagnoli))
		if err := os.WriteFile(genPath(path), g, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	return b, id
}

// TestSchemaUpgrade opens databases of schema versions 1 and 2 (the
// latter with a generation file that version 2 left clean) and checks that
// they are upgraded in place to version 3: their entries and results are
// served, the per-row insert trigger and the covering index are gone, a
// write that inserts entries bumps the generation once and one that
// rewrites entries through their triggers, and other programs are still
// refused.
func TestSchemaUpgrade(t *testing.T) {
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprintf("from%d", v), func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), MetadataFile)
			old, rid := oldDatabase(t, path, v, 5)
			s, err := OpenMetadata(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var uv int
			if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&uv); err != nil || uv != schemaVersion {
				t.Fatalf("user_version = %d, %v; want %d", uv, err, schemaVersion)
			}
			var names []string
			rows, err := s.w.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger') AND tbl_name IN ('entries', 'results') AND name NOT LIKE 'sqlite_%' ORDER BY name`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var n string
				rows.Scan(&n)
				names = append(names, n)
			}
			rows.Close()
			want := []string{"entries_gen_delete", "entries_gen_update", "entries_node", "results_gen_delete", "results_gen_update"}
			if !slices.Equal(names, want) {
				t.Errorf("indexes and triggers after the upgrade: %v, want %v", names, want)
			}
			for _, e := range old.Entries {
				got, err := s.Get(ctx, e.ID())
				if err != nil || got.DataVersion != e.DataVersion || !got.Created.Equal(time.Unix(0, old.Now.UnixNano())) {
					t.Fatalf("Get(%s) after the upgrade = %v, %v", e.Key.Node, got, err)
				}
			}
			nodes := snapNodes(5)
			m, err := s.Preload(ctx, nodes)
			if err != nil || len(m) != 5 {
				t.Fatalf("Preload after the upgrade: %d entries, %v", len(m), err)
			}
			r, err := newResults(ctx, s, nil, "", DefaultInlineLimit)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := r.Get(ctx, rid)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(rc)
			rc.Close()
			if string(data) != "old value" {
				t.Fatalf("inline result after the upgrade: %q", data)
			}

			gen := func() int64 {
				var g int64
				if err := s.w.QueryRowContext(ctx, `SELECT gen FROM entries_gen`).Scan(&g); err != nil {
					t.Fatal(err)
				}
				return g
			}
			g0 := gen()
			if err := s.Write(ctx, snapBatch(5, 40, "bb")); err != nil {
				t.Fatal(err)
			}
			if g := gen(); g != g0+1 {
				t.Errorf("40 new entries took the generation from %d to %d, want one bump", g0, g)
			}
			// Two stored keys remapped among new ones: the upsert's
			// triggers bump it for each, the writer once for the new.
			b := snapBatch(3, 2, "cc")
			b.Entries = append(b.Entries, snapBatch(45, 40, "dd").Entries...)
			if err := s.Write(ctx, b); err != nil {
				t.Fatal(err)
			}
			if g := gen(); g <= g0+1 {
				t.Errorf("remapping stored keys left the generation at %d", g)
			}
			m, err = s.Preload(ctx, snapNodes(85))
			if err != nil || len(m) != 85 {
				t.Fatalf("Preload of 85 nodes: %d entries, %v", len(m), err)
			}
			if dv := m[snapKey(4).ID()].DataVersion; !strings.HasPrefix(string(dv), "cc") {
				t.Errorf("a remapped key is served as %s", dv)
			}
			if dv := m[snapKey(2).ID()].DataVersion; !strings.HasPrefix(string(dv), "aa") {
				t.Errorf("a key left as it was is served as %s", dv)
			}

			shell, err := exec.LookPath("sqlite3")
			if err != nil {
				if os.Getenv("CI") != "" {
					t.Fatal("no sqlite3 shell on PATH under CI")
				}
				return
			}
			for _, q := range []string{`UPDATE entries SET data_version = 'x'`, `DELETE FROM results`} {
				out, err := exec.Command(shell, path, q).CombinedOutput()
				if err == nil || !strings.Contains(string(out), "flowcache_changed") {
					t.Errorf("%s by the sqlite3 shell after the upgrade: %v: %s; want it refused", q, err, out)
				}
			}
		})
	}
}

// TestWriteNewAndStoredKeys writes batches of 32-row statements that mix
// new keys and stored ones (the insert leaves the stored, the upsert then
// writes them), and checks every entry's mapping and created time: a
// remapped key takes the new time, a key stored again with its mapping
// keeps its own, a new key the batch's.
func TestWriteNewAndStoredKeys(t *testing.T) {
	ctx := t.Context()
	s, err := OpenMetadata(ctx, filepath.Join(t.TempDir(), MetadataFile))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t1, t2 := time.Unix(1000, 0), time.Unix(2000, 0)
	first := snapBatch(0, 40, "aa")
	first.Now = t1
	if err := s.Write(ctx, first); err != nil {
		t.Fatal(err)
	}
	second := snapBatch(20, 70, "aa") // 20..39 stored with the same mapping, 40..89 new
	second.Now = t2
	for i := range second.Entries {
		if i%3 == 0 { // remapped
			second.Entries[i].DataVersion = core.DataVersion(fmt.Sprintf("bb%062x", i))
		}
	}
	if err := s.Write(ctx, second); err != nil {
		t.Fatal(err)
	}
	want := map[core.KeyID]core.Entry{}
	for _, e := range first.Entries {
		e.Created, e.LastUsed = t1, t1
		want[e.ID()] = e
	}
	for i, e := range second.Entries {
		e.Created, e.LastUsed = t2, t2
		if old, ok := want[e.ID()]; ok && i%3 != 0 {
			e.Created = old.Created // stored again as it was
		}
		want[e.ID()] = e
	}
	if len(want) != 90 {
		t.Fatalf("%d keys", len(want))
	}
	for id, w := range want {
		got, err := s.Get(ctx, id)
		if err != nil || got.DataVersion != w.DataVersion || !got.Created.Equal(w.Created) || !got.LastUsed.Equal(w.LastUsed) {
			t.Errorf("Get(%s) = %s created %v last used %v, %v; want %s created %v last used %v",
				w.Key.Node, got.DataVersion, got.Created, got.LastUsed, err, w.DataVersion, w.Created, w.LastUsed)
		}
	}
}
