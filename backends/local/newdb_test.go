package local

import (
	"bytes"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var updateNewDB = flag.Bool("update-newdb", false, "make newdb.db again from the schema (TestNewDBImage)")

// makeNewDB makes a new database at path with SQLite, from the schema, as
// newDB must hold it: an empty file, in rollback-journal mode, given the
// schema, the generation, the version and WAL mode.
func makeNewDB(t *testing.T, path string) {
	t.Helper()
	u := fileURL(path)
	u.RawQuery = "_pragma=synchronous(OFF)&_pragma=journal_mode(MEMORY)"
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	script := schema + genSchema + fmt.Sprintf("PRAGMA user_version = %d; PRAGMA journal_mode = WAL;", schemaVersion)
	_, err = db.ExecContext(t.Context(), script)
	if cerr := db.Close(); err == nil {
		err = cerr // the close checkpoints the WAL and removes it
	}
	if err != nil {
		t.Fatal(err)
	}
}

// describeDB is what a database is to flowcache: its schema (every table,
// index and trigger as SQLite keeps its text), the rows of entries_gen,
// its version, page size and journal mode, and whether SQLite finds it
// whole.
func describeDB(t *testing.T, path string) string {
	t.Helper()
	u := fileURL(path)
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var lines []string
	add := func(q string) {
		rows, err := db.QueryContext(t.Context(), q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprintf("%s: %v", q, vals))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	add("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
	add("SELECT * FROM entries_gen")
	add("PRAGMA user_version")
	add("PRAGMA page_size")
	add("PRAGMA page_count")
	add("PRAGMA freelist_count")
	add("PRAGMA journal_mode")
	add("PRAGMA integrity_check")
	return strings.Join(lines, "\n")
}

// TestNewDBImage checks that newDB, the file createDatabase writes, is the
// database SQLite makes of this version's schema: the same tables, indexes
// and triggers, with the same text, generation, version, page size and
// journal mode (WAL), and whole. With -update-newdb it writes newdb.db
// again first: after a change of the schema (or of genSchema), and only
// then.
func TestNewDBImage(t *testing.T) {
	dir := t.TempDir()
	want := filepath.Join(dir, "want.db")
	makeNewDB(t, want)
	if *updateNewDB {
		b, err := os.ReadFile(want)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("newdb.db", b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote newdb.db (%d bytes): rebuild to embed it", len(b))
		return
	}
	got := filepath.Join(dir, "got.db")
	if err := os.WriteFile(got, newDB, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(newDB) < 100 || !bytes.HasPrefix(newDB, []byte("SQLite format 3\x00")) || newDB[18] != 2 || newDB[19] != 2 {
		t.Fatalf("newdb.db is not an SQLite database in WAL mode (%d bytes)", len(newDB))
	}
	g, w := describeDB(t, got), describeDB(t, want)
	if g != w {
		gl, wl := strings.Split(g, "\n"), strings.Split(w, "\n")
		for _, l := range gl {
			if !slices.Contains(wl, l) {
				t.Errorf("newdb.db has: %s", l)
			}
		}
		for _, l := range wl {
			if !slices.Contains(gl, l) {
				t.Errorf("the schema makes: %s", l)
			}
		}
		t.Fatal("newdb.db is not the database of this schema: go test -run TestNewDBImage -update-newdb")
	}
	if !strings.Contains(g, fmt.Sprintf("PRAGMA user_version: [%d]", schemaVersion)) || !strings.Contains(g, "PRAGMA journal_mode: [wal]") {
		t.Fatalf("newdb.db:\n%s", g)
	}
}

// TestCreateDatabase checks that a new database is made whole beside its
// path and linked into place, with the schema and in WAL mode, leaving no
// temporary file; that an existing file is left alone; and that only
// temporary files older than StaleTempAge are removed.
func TestCreateDatabase(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, MetadataFile)
	made, err := createDatabase(ctx, path)
	if err != nil || !made {
		t.Fatalf("createDatabase = %v, %v", made, err)
	}
	if made, err := createDatabase(ctx, path); err != nil || made {
		t.Fatalf("createDatabase of an existing file = %v, %v", made, err)
	}
	names, _ := os.ReadDir(dir)
	if len(names) != 1 {
		t.Fatalf("files beside the new database: %v", names)
	}
	s, err := OpenMetadata(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v int
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("user_version %d, %v", v, err)
	}
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q, %v", mode, err)
	}
	if err := s.Write(ctx, snapBatch(0, 3, "aa")); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Preload(ctx, snapNodes(3)); err != nil || len(m) != 3 {
		t.Fatalf("Preload: %d, %v", len(m), err)
	}

	stale, fresh := path+".new-0123", path+".new-4567"
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("half a database"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-StaleTempAge - time.Minute)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	removeStaleNew(path)
	if _, err := os.Stat(stale); err == nil {
		t.Error("a stale temporary database was left")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a young temporary database (another process's) was removed: %v", err)
	}
}

// TestCreateDatabasePermissions checks that a new database gets the
// permissions SQLite gives the files it creates (0644 less the umask), not
// those of a temporary file (0600).
func TestCreateDatabasePermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), MetadataFile)
	if _, err := createDatabase(t.Context(), path); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "plain.db")
	f, err := os.OpenFile(other, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	a, _ := os.Stat(path)
	b, _ := os.Stat(other)
	if a == nil || b == nil || a.Mode().Perm() != b.Mode().Perm() {
		t.Errorf("new database's mode %v, want %v", a.Mode(), b.Mode())
	}
}

// TestNewDBPreload checks that a preload of a database its store just made
// answers without SQLite (no entry, no snapshot file) only while no
// process has committed to it: entries another store wrote, still in the
// -wal file or checkpointed into the database and the -wal file gone, are
// read.
func TestNewDBPreload(t *testing.T) {
	ctx := t.Context()
	nodes := snapNodes(3)
	snaps := func(s *MetadataStore) int {
		names, _ := os.ReadDir(s.snapDir)
		return len(names)
	}

	s, err := OpenMetadata(ctx, filepath.Join(t.TempDir(), MetadataFile))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.madeNew.Load() {
		t.Fatal("the store that made the database does not know it")
	}
	if m, err := s.Preload(ctx, nodes); err != nil || len(m) != 0 {
		t.Fatalf("Preload of a new database: %d, %v", len(m), err)
	}
	if n := snaps(s); n != 0 || s.madeNew.Load() {
		t.Fatalf("after the first preload: %d snapshot files, madeNew %v", n, s.madeNew.Load())
	}
	// The next preload reads the rows, and keeps the snapshot.
	if err := s.Write(ctx, snapBatch(0, 3, "aa")); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Preload(ctx, nodes); err != nil || len(m) != 3 || snaps(s) != 1 {
		t.Fatalf("Preload after a write: %d, %v, %d snapshot files", len(m), err, snaps(s))
	}

	for _, closeOther := range []bool{false, true} {
		t.Run(fmt.Sprint("checkpointed=", closeOther), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), MetadataFile)
			s, err := OpenMetadata(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			other, err := OpenMetadata(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			if other.madeNew.Load() {
				t.Fatal("a store that found the database thinks it made it")
			}
			if err := other.Write(ctx, snapBatch(0, 3, "aa")); err != nil {
				t.Fatal(err)
			}
			if closeOther {
				// Checkpointed into the database, and the -wal file
				// emptied, as the last connection's close leaves it
				// (removed).
				if _, err := other.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
					t.Fatal(err)
				}
				if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() != 0 {
					t.Fatalf("the -wal file after a checkpoint: %v", err)
				}
			}
			if m, err := s.Preload(ctx, nodes); err != nil || len(m) != 3 {
				t.Fatalf("Preload after another store wrote: %d entries, %v", len(m), err)
			}
		})
	}
}
