package local_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/internal/tmpfs"
)

// A cache on a read-only file system (a tmpfs remounted read-only: root
// ignores permissions) opens read-only by itself, serves everything, and
// says why, naming the directory; mode=rw refuses it.
func TestReadOnlyFilesystem(t *testing.T) {
	ctx := context.Background()
	mnt := tmpfs.Mount(t, 8<<20)
	dir := filepath.Join(mnt, "cache")
	f := newROFixture(t, dir)
	before, _ := tmpfs.TreeHash(t, dir)
	tmpfs.ReadOnly(t, mnt, true)
	defer tmpfs.ReadOnly(t, mnt, false)

	s, err := local.Open(ctx, dir)
	if err != nil {
		t.Fatalf("Open on a read-only file system: %v", err)
	}
	f.check(t, s.Metadata(), s.Results(), "read-only file system")
	s.Close()

	s, err = local.Open(ctx, dir, local.WithMode(local.ModeReadOnly))
	if err != nil {
		t.Fatalf("mode=ro on a read-only file system: %v", err)
	}
	f.check(t, s.Metadata(), s.Results(), "mode=ro")
	s.Close()

	if _, err := local.Open(ctx, dir, local.WithMode(local.ModeReadWrite)); !errors.Is(err, core.ErrReadOnly) || !strings.Contains(err.Error(), dir) {
		t.Errorf("mode=rw on a read-only file system = %v, want ErrReadOnly naming %s", err, dir)
	}
	if _, err := core.OpenURL(ctx, dir+"?mode=rw"); !errors.Is(err, core.ErrReadOnly) {
		t.Errorf("?mode=rw on a read-only file system = %v, want ErrReadOnly", err)
	}
	// A missing cache on a read-only file system is an error, not an
	// empty read-only cache.
	if _, err := local.Open(ctx, filepath.Join(mnt, "none")); err == nil {
		t.Error("Open of a directory that cannot be created succeeded")
	}
	if after, _ := tmpfs.TreeHash(t, dir); after != before {
		t.Error("the cache changed on a read-only file system")
	}
}

// A read-only file system holding a database with its -wal and -shm files
// (copied while a writer had it open, as a crash leaves it): the store
// reads what the WAL holds.
func TestReadOnlyFilesystemWithWAL(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "src")
	f := newROFixture(t, src)
	// A writer holds the database open with a commit in the WAL.
	w, err := local.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	key := core.NewCacheKey("late", "c1", nil)
	if err := w.Metadata().Write(ctx, core.Batch{Entries: []core.Entry{{Key: key, DataVersion: f.small.Version, Format: "raw"}}}); err != nil {
		t.Fatal(err)
	}
	mnt := tmpfs.Mount(t, 8<<20)
	dir := filepath.Join(mnt, "cache")
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "metadata.db-wal")); err != nil || fi.Size() == 0 {
		t.Fatalf("no WAL in the copy: %v", err)
	}
	f.dir = dir
	tmpfs.ReadOnly(t, mnt, true)
	defer tmpfs.ReadOnly(t, mnt, false)
	s, err := local.Open(ctx, dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	f.check(t, s.Metadata(), s.Results(), "read-only file system")
	if e, err := s.Metadata().Get(ctx, key.ID()); err != nil || e.DataVersion != f.small.Version {
		t.Errorf("the entry committed to the WAL: %+v, %v", e, err)
	}
}
