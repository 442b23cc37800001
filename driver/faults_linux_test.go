package driver_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/internal/tmpfs"
)

// noTempFiles fails when a write that did not fit left a temporary file.
func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".tmp") {
			t.Errorf("temporary file left: %s", path)
		}
		return nil
	})
}

// A full disk (a real tmpfs, filled) never fails a run: before the first
// run, between runs, and mid-run (a result that does not fit). Each run
// computes what it cannot retrieve, serves the hits it can read, and says
// why once.
func TestFullFilesystem(t *testing.T) {
	t.Run("before the first run", func(t *testing.T) {
		mnt := tmpfs.Mount(t, 1<<20)
		filler := tmpfs.Fill(t, mnt)
		p := &faultPipeline{cache: filepath.Join(mnt, "cache"), bigSize: 10}
		execs, warns := p.run(t, 1)
		if execs != 3 {
			t.Errorf("%d executions, want 3", execs)
		}
		wantWarning(t, warns, "stores nothing", "disk is full")
		t.Logf("the warning: %s", warns[0])
		// Room again: the next driver stores, and the one after hits.
		os.Remove(filler)
		if execs, warns := p.run(t, 1); execs != 3 || len(warns) != 0 {
			t.Errorf("after freeing the disk: %d executions, warnings %q", execs, warns)
		}
		if execs, warns := p.run(t, 1); execs != 0 || len(warns) != 0 {
			t.Errorf("warm run: %d executions, warnings %q", execs, warns)
		}
	})
	t.Run("between runs", func(t *testing.T) {
		mnt := tmpfs.Mount(t, 1<<20)
		dir := filepath.Join(mnt, "cache")
		p := &faultPipeline{cache: dir, bigSize: 64 << 10}
		// A long-lived process: its driver has the cache open when the
		// disk fills.
		dr := p.build(t)
		defer dr.Close()
		if execs, _ := p.runOn(t, dr, 2); execs != 3 {
			t.Fatalf("cold run: %d executions", execs)
		}
		filler := tmpfs.Fill(t, mnt)
		before, _ := tmpfs.TreeHash(t, dir)
		execs, warns := p.runOn(t, dr, 2)
		if execs != 0 {
			t.Errorf("%d executions on a full disk, want 0: the hits are still readable", execs)
		}
		wantWarning(t, warns, "stores nothing", "disk is full")
		t.Logf("the warning: %s", warns[0])
		if execs, _ := p.runOn(t, dr, 3); execs != 3 {
			t.Errorf("a new input on a full disk: %d executions, want 3", execs)
		}
		// Another process opening the cache now reads through the -shm
		// file the first one keeps: it serves the hits too.
		execs, warns = p.run(t, 2)
		if execs != 0 {
			t.Errorf("a new driver on a full disk: %d executions, want 0", execs)
		}
		wantWarning(t, warns, "stores nothing", "disk is full", dir)
		if after, _ := tmpfs.TreeHash(t, dir); after != before {
			t.Error("the cache changed on a full disk")
		}
		// Room again: the next run stores, the one after hits.
		dr.Close()
		os.Remove(filler)
		if execs, warns := p.run(t, 7); execs != 3 || len(warns) != 0 {
			t.Errorf("after freeing the disk: %d executions, warnings %q", execs, warns)
		}
		if execs, _ := p.run(t, 7); execs != 0 {
			t.Errorf("warm run after freeing the disk: %d executions", execs)
		}
	})
	t.Run("between runs, nobody holding the cache", func(t *testing.T) {
		mnt := tmpfs.Mount(t, 1<<20)
		dir := filepath.Join(mnt, "cache")
		p := &faultPipeline{cache: dir, bigSize: 64 << 10}
		if execs, _ := p.run(t, 2); execs != 3 {
			t.Fatalf("cold run: %d executions", execs)
		}
		if _, err := os.Stat(filepath.Join(dir, "metadata.db-shm")); err == nil {
			t.Fatal("metadata.db-shm left by a closed driver")
		}
		filler := tmpfs.Fill(t, mnt)
		// SQLite cannot create the -shm file it reads through: the run
		// executes everything rather than read the database without
		// locks, which could race a writer that starts meanwhile (a false
		// miss costs seconds; a torn read could cost a wrong value).
		execs, warns := p.run(t, 2)
		if execs != 3 {
			t.Errorf("%d executions, want 3", execs)
		}
		wantWarning(t, warns, "unavailable", "no space left", dir)
		t.Logf("the warning: %s", warns[0])
		os.Remove(filler)
		if execs, warns := p.run(t, 2); execs != 0 || len(warns) != 0 {
			t.Errorf("after freeing the disk: %d executions, warnings %q", execs, warns)
		}
	})
	t.Run("mid-run", func(t *testing.T) {
		mnt := tmpfs.Mount(t, 2<<20)
		dir := filepath.Join(mnt, "cache")
		p := &faultPipeline{cache: dir, bigSize: 4 << 20} // does not fit
		execs, warns := p.run(t, 4)
		if execs != 3 {
			t.Fatalf("%d executions", execs)
		}
		wantWarning(t, warns, "writing the result store failed", "no space left on device")
		t.Logf("the warning: %s", warns[0])
		noTempFiles(t, dir)
		// small and sum are stored; big is computed again, and sum is
		// still retrieved (big's data version has not changed).
		execs, warns = p.run(t, 4)
		if execs != 1 {
			t.Errorf("%d executions after a run whose big result did not fit, want 1 (big)", execs)
		}
		if len(warns) != 1 {
			t.Errorf("second run: warnings %q, want one (big does not fit again)", warns)
		}
		noTempFiles(t, dir)
	})
}

// A cache on a read-only file system serves its hits: opened by path (read
// only by itself) or with mode=ro, each run says once, naming the
// directory, that it stores nothing.
func TestReadOnlyFilesystemRun(t *testing.T) {
	mnt := tmpfs.Mount(t, 4<<20)
	dir := filepath.Join(mnt, "cache")
	p := &faultPipeline{cache: dir, bigSize: 64 << 10}
	if execs, _ := p.run(t, 5); execs != 3 {
		t.Fatalf("cold run: %d executions", execs)
	}
	tmpfs.ReadOnly(t, mnt, true)
	defer tmpfs.ReadOnly(t, mnt, false)
	for _, u := range []string{dir, dir + "?mode=ro", "file://" + dir + "?mode=ro"} {
		p.cache = u
		execs, warns := p.run(t, 5)
		if execs != 0 {
			t.Errorf("%s: %d executions, want 0", u, execs)
		}
		wantWarning(t, warns, "read-only", "stores nothing", dir)
		t.Logf("%s: %s", u, warns[0])
		if execs, _ := p.run(t, 6); execs != 3 {
			t.Errorf("%s: a new input: %d executions", u, execs)
		}
	}
}
