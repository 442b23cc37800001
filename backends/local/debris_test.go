package local_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/core"
)

func openFiles(t *testing.T, dir string) *local.Store {
	t.Helper()
	st, err := local.Open(context.Background(), dir, local.WithInlineLimit(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func putData(t *testing.T, r *local.ResultStore, id core.ResultID, data []byte) int64 {
	t.Helper()
	n, err := r.Put(context.Background(), id, func(w io.Writer) error { _, err := w.Write(data); return err })
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func resultPath(st *local.Store, id core.ResultID) string {
	return filepath.Join(st.Dir(), local.ResultsDir, filepath.FromSlash(st.Files().Key(id)))
}

// Something other than a regular file at a result's path — a directory
// with files and a symbolic link to outside the cache in it, a symbolic
// link, a named pipe — is damage: Get and GetVerified say ErrCorrupt (and
// do not block on a pipe), Exists says false, Delete removes it (a link,
// never what it points to), and Put replaces it.
func TestNotAFileAtResultPath(t *testing.T) {
	ctx := context.Background()
	outside := t.TempDir()
	victim := filepath.Join(outside, "precious")
	if err := os.WriteFile(victim, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	makers := map[string]func(path string) error{
		"directory": func(path string) error {
			if err := os.MkdirAll(filepath.Join(path, "sub"), 0o777); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(path, "sub", "f"), []byte("x"), 0o644); err != nil {
				return err
			}
			return os.Symlink(outside, filepath.Join(path, "link"))
		},
		"empty directory": func(path string) error { return os.Mkdir(path, 0o777) },
		"symbolic link":   func(path string) error { return os.Symlink(victim, path) },
		"named pipe":      mkfifo,
	}
	for what, create := range makers {
		t.Run(what, func(t *testing.T) {
			st := openFiles(t, t.TempDir())
			r := st.Results()
			id := core.ResultID{Version: version(what), Format: "gob"}
			path := resultPath(st, id)
			if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
				t.Fatal(err)
			}
			if err := create(path); err != nil {
				if what == "named pipe" {
					t.Skipf("no named pipes here: %v", err)
				}
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for _, get := range []func(context.Context, core.ResultID) (io.ReadCloser, error){r.Get, r.GetVerified} {
					rc, err := get(ctx, id)
					if !errors.Is(err, core.ErrCorrupt) {
						t.Errorf("Get of a %s: %v, want ErrCorrupt", what, err)
					}
					if rc != nil {
						rc.Close()
					}
				}
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("Get of a %s blocks", what)
			}
			if ok, err := r.Exists(ctx, id); ok || err != nil {
				t.Errorf("Exists = %v, %v; want false", ok, err)
			}
			debris, err := r.FindDebris(ctx, local.StaleTempAge)
			if err != nil || len(debris) != 1 || debris[0].Kind != core.DebrisNotAFile || debris[0].Result != id {
				t.Errorf("FindDebris = %+v, %v; want the %s", debris, err, what)
			}

			// Put replaces it.
			data := []byte("the result")
			if n := putData(t, r, id, data); n != int64(len(data)) {
				t.Errorf("Put over a %s stored %d bytes", what, n)
			}
			got, err := readResult(r, id)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("after Put: %q, %v", got, err)
			}
			if b, err := os.ReadFile(victim); err != nil || string(b) != "keep me" {
				t.Errorf("the file outside the cache: %q, %v", b, err)
			}

			// Delete removes it (made again after the Put).
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := create(path); err != nil {
				t.Fatal(err)
			}
			if err := r.Delete(ctx, id); err != nil {
				t.Fatalf("Delete of a %s: %v", what, err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("after Delete: %v, want nothing at the path", err)
			}
			if b, err := os.ReadFile(victim); err != nil || string(b) != "keep me" {
				t.Errorf("the file outside the cache after Delete: %q, %v", b, err)
			}
			if ents, err := os.ReadDir(outside); err != nil || len(ents) != 1 {
				t.Errorf("the directory outside the cache: %v, %v", ents, err)
			}
		})
	}
}

// A shard directory that is a symbolic link to elsewhere is never removed
// from: Delete of a directory found through it fails, and leaves it.
func TestNotAFileThroughLinkedShard(t *testing.T) {
	ctx := context.Background()
	st := openFiles(t, t.TempDir())
	r := st.Results()
	id := core.ResultID{Version: version("linked shard"), Format: "gob"}
	path := resultPath(st, id)
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(outside, filepath.Base(path), "inner"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(filepath.Dir(path)), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, id); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("Get = %v, want ErrCorrupt", err)
	}
	if err := r.Delete(ctx, id); err == nil {
		t.Errorf("Delete through a linked shard directory succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, filepath.Base(path), "inner")); err != nil {
		t.Errorf("the directory outside the cache: %v", err)
	}
}

// Temporary files of killed writers older than StaleTempAge are removed
// when a store opens; fresh ones (a live writer's) and files that are not
// a result's temporary file are left alone. FindDebris lists what is left
// when the store cannot remove it, and RemoveDebris removes it.
func TestStaleTempFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openFiles(t, dir)
	id := core.ResultID{Version: version("temp"), Format: "gob"}
	putData(t, st.Results(), id, []byte("x"))
	path := resultPath(st, id)
	st.Close()

	old := time.Now().Add(-2 * local.StaleTempAge)
	files := map[string]bool{ // name next to the result → removed
		filepath.Base(path) + ".17d2f0a1b2c3d4e5.tmp": true,
		filepath.Base(path) + ".1.tmp":                true,
		filepath.Base(path) + ".zz.tmp":               false, // not fileblob's naming
		"notaresult.17d2f0a1b2c3d4e5.tmp":             false,
	}
	for name := range files {
		p := filepath.Join(filepath.Dir(path), name)
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	fresh := filepath.Join(filepath.Dir(path), filepath.Base(path)+".18000000000000aa.tmp")
	if err := os.WriteFile(fresh, []byte("being written"), 0o644); err != nil {
		t.Fatal(err)
	}

	st = openFiles(t, dir)
	debris, err := st.Results().FindDebris(ctx, local.StaleTempAge) // waits for the sweep
	if err != nil || len(debris) != 0 {
		t.Errorf("FindDebris after the sweep = %+v, %v; want nothing", debris, err)
	}
	for name, removed := range files {
		_, err := os.Stat(filepath.Join(filepath.Dir(path), name))
		if gone := errors.Is(err, os.ErrNotExist); gone != removed {
			t.Errorf("%s: removed %v, want %v", name, gone, removed)
		}
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a live writer's temporary file was removed: %v", err)
	}
	if got, err := readResult(st.Results(), id); err != nil || string(got) != "x" {
		t.Errorf("the result: %q, %v", got, err)
	}

	// FindDebris with a shorter age lists the fresh one; RemoveDebris
	// removes it.
	time.Sleep(20 * time.Millisecond)
	debris, err = st.Results().FindDebris(ctx, 10*time.Millisecond)
	if err != nil || len(debris) != 1 || debris[0].Kind != core.DebrisStaleTemp || debris[0].Result != id || debris[0].Size != int64(len("being written")) {
		t.Fatalf("FindDebris(10ms) = %+v, %v; want the fresh temporary file", debris, err)
	}
	removed, err := st.Results().RemoveDebris(ctx, debris, 10*time.Millisecond)
	if err != nil || !slices.Equal(removed, debris) {
		t.Errorf("RemoveDebris = %+v, %v", removed, err)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after RemoveDebris: %v", err)
	}
	// RemoveDebris refuses paths that are not debris.
	for _, d := range []core.Debris{
		{Kind: core.DebrisStaleTemp, Path: "../metadata.db"},
		{Kind: core.DebrisStaleTemp, Path: st.Files().Key(id)},
		{Kind: core.DebrisNotAFile, Path: st.Files().Key(id), Result: core.ResultID{Version: version("other"), Format: "gob"}},
	} {
		if _, err := st.Results().RemoveDebris(ctx, []core.Debris{d}, 0); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("RemoveDebris(%+v) = %v, want ErrInvalid", d, err)
		}
	}
	if got, err := readResult(st.Results(), id); err != nil || string(got) != "x" {
		t.Errorf("the result after RemoveDebris: %q, %v", got, err)
	}
}

func readResult(r core.ResultStore, id core.ResultID) ([]byte, error) {
	rc, err := core.GetVerified(context.Background(), r, id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// A store opened read-only leaves stale temporary files where they are:
// FindDebris lists them, RemoveDebris refuses with core.ErrReadOnly.
func TestStaleTempFilesReadOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openFiles(t, dir)
	id := core.ResultID{Version: version("temp-ro"), Format: "gob"}
	putData(t, st.Results(), id, []byte("x"))
	path := resultPath(st, id)
	st.Close()

	stale := path + ".17d2f0a1b2c3d4e5.tmp"
	if err := os.WriteFile(stale, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * local.StaleTempAge)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	ro, err := local.Open(ctx, dir, local.WithMode(local.ModeReadOnly), local.WithInlineLimit(0))
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	debris, err := ro.Results().FindDebris(ctx, local.StaleTempAge)
	if err != nil || len(debris) != 1 || debris[0].Kind != core.DebrisStaleTemp {
		t.Fatalf("FindDebris on a read-only store = %+v, %v; want the stale temporary file", debris, err)
	}
	if _, err := ro.Results().RemoveDebris(ctx, debris, local.StaleTempAge); !errors.Is(err, core.ErrReadOnly) {
		t.Errorf("RemoveDebris on a read-only store = %v, want core.ErrReadOnly", err)
	}
	if _, err := os.Stat(stale); err != nil {
		t.Errorf("a read-only store removed a temporary file: %v", err)
	}
}

// A store that inlines small results still replaces what sits at the file
// path of a result too large to inline: Put looks at the path when the
// result outgrows the limit, and a directory there is removed, not written
// into nor left in place.
func TestNotAFileReplacedBySpilledPut(t *testing.T) {
	ctx := context.Background()
	st, err := local.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := st.Results()
	id := core.ResultID{Version: version("spilled over a directory"), Format: "gob"}
	path := resultPath(st, id)
	if err := os.MkdirAll(filepath.Join(path, "sub"), 0o777); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("large "), 10_000) // 60 KB: past the 16 KiB inline limit
	if n := putData(t, r, id, data); n != int64(len(data)) {
		t.Fatalf("Put over a directory stored %d bytes, want %d", n, len(data))
	}
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("at the result's path after Put: %v, %v; want a regular file", fi, err)
	}
	if got, err := readResult(r, id); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
	if debris, err := r.FindDebris(ctx, local.StaleTempAge); err != nil || len(debris) != 0 {
		t.Fatalf("debris after Put: %+v, %v", debris, err)
	}
}
