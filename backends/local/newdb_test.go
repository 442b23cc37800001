package local

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

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
