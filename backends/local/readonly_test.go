package local_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/internal/tmpfs"
)

// roFixture is a cache directory holding one run, two entries, an inline
// result, a file result and a run log.
type roFixture struct {
	dir          string
	small, large core.ResultID
	key          core.KeyID
}

func newROFixture(t *testing.T, dir string) *roFixture {
	t.Helper()
	ctx := context.Background()
	s, err := local.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	f := &roFixture{dir: dir, small: core.ResultID{Version: version("small"), Format: "raw"}, large: core.ResultID{Version: version("large"), Format: "raw"}}
	for id, n := range map[core.ResultID]int{f.small: 100, f.large: 100 << 10} {
		if _, err := s.Results().Put(ctx, id, func(w io.Writer) error { _, err := w.Write(bytes.Repeat([]byte{'x'}, n)); return err }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Results().FlushResults(ctx); err != nil {
		t.Fatal(err)
	}
	key := core.NewCacheKey("n", "c1", []core.Dep{{Name: "in", Version: version("in")}})
	f.key = key.ID()
	if err := s.Metadata().BeginRun(ctx, core.RunInfo{ID: "run1"}); err != nil {
		t.Fatal(err)
	}
	err = s.Metadata().Write(ctx, core.Batch{Run: "run1",
		Entries: []core.Entry{{Key: key, DataVersion: f.small.Version, Format: "raw"}},
		Records: []core.NodeRecord{{Node: "n", Key: key, DataVersion: f.small.Version, Format: "raw", Outcome: core.OutcomeExecuted, Size: 100}}})
	if err != nil {
		t.Fatal(err)
	}
	lw, err := s.Metadata().OpenLog(ctx, "run1")
	if err != nil {
		t.Fatal(err)
	}
	lw.Write([]byte(`{"run_id":"run1"}` + "\n"))
	lw.Close(ctx)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return f
}

// check reads everything back through s and checks that every write fails
// with core.ErrReadOnly and changes nothing.
func (f *roFixture) check(t *testing.T, meta *local.MetadataStore, res *local.ResultStore, why string) {
	t.Helper()
	ctx := context.Background()
	if err := meta.Writable(); !errors.Is(err, core.ErrReadOnly) || !strings.Contains(err.Error(), f.dir) || !strings.Contains(err.Error(), why) {
		t.Errorf("Writable() = %v, want ErrReadOnly naming %s and %q", err, f.dir, why)
	}
	e, err := meta.Get(ctx, f.key)
	if err != nil || e.DataVersion != f.small.Version {
		t.Fatalf("Get = %+v, %v", e, err)
	}
	for _, id := range []core.ResultID{f.small, f.large} {
		rc, err := res.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get %s: %v", id, err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("read %s: %v", id, err)
		}
		rc.Close()
	}
	if runs, err := meta.Runs(ctx); err != nil || len(runs) != 1 {
		t.Errorf("Runs = %v, %v", runs, err)
	}
	if rc, err := meta.ReadLog(ctx, "run1"); err != nil {
		t.Errorf("ReadLog: %v", err)
	} else {
		rc.Close()
	}
	other := core.ResultID{Version: version("other"), Format: "raw"}
	big := func(w io.Writer) error { _, err := w.Write(make([]byte, 200<<10)); return err }
	for name, err := range map[string]error{
		"BeginRun":  meta.BeginRun(ctx, core.RunInfo{ID: "run2"}),
		"Write":     meta.Write(ctx, core.Batch{Run: "run2", Hits: []core.KeyID{f.key}}),
		"Delete":    meta.Delete(ctx, f.key),
		"DeleteAll": meta.DeleteAll(ctx),
		"DeleteLog": meta.DeleteLog(ctx, "run1"),
		"OpenLog":   func() error { _, err := meta.OpenLog(ctx, "run2"); return err }(),
		"Put small": func() error {
			_, err := res.Put(ctx, other, func(w io.Writer) error { _, err := w.Write([]byte("x")); return err })
			return err
		}(),
		"Put large":     func() error { _, err := res.Put(ctx, other, big); return err }(),
		"Delete result": res.Delete(ctx, f.large),
	} {
		if !errors.Is(err, core.ErrReadOnly) {
			t.Errorf("%s on a read-only store = %v, want an error wrapping core.ErrReadOnly", name, err)
		}
	}
	// These go to SQLite first, which refuses (mode=ro), before any file.
	if err := res.DeleteAll(ctx); err == nil {
		t.Error("Results.DeleteAll on a read-only store succeeded")
	}
	if err := res.RemoveResults(ctx, []core.ResultID{f.large}); err == nil {
		t.Error("RemoveResults on a read-only store succeeded")
	}
	if _, err := meta.RemoveEntries(ctx, []core.Entry{e}); err == nil {
		t.Error("RemoveEntries on a read-only store succeeded")
	}
}

// mode=ro on a writable directory serves everything and changes no byte
// of the cache.
func TestReadOnlyModeWritableDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	f := newROFixture(t, dir)
	before, sqliteBefore := tmpfs.TreeHash(t, dir)
	if len(sqliteBefore) != 0 {
		t.Fatalf("SQLite files left by a closed writer: %v", sqliteBefore)
	}
	s, err := local.Open(context.Background(), dir, local.WithMode(local.ModeReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	f.check(t, s.Metadata(), s.Results(), "mode=ro")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{dir + "?mode=ro", "file://" + filepath.ToSlash(dir) + "?mode=ro&inline_limit=0"} {
		st, err := core.OpenURL(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		f.check(t, st.Metadata.(*local.MetadataStore), st.Results.(*local.ResultStore), "mode=ro")
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	after, sqliteAfter := tmpfs.TreeHash(t, dir)
	if after != before {
		t.Errorf("the cache directory changed under mode=ro")
	}
	for name, size := range sqliteAfter {
		if size != 0 && strings.HasSuffix(name, "-wal") {
			t.Errorf("%s holds %d bytes after a read-only open", name, size)
		}
	}
}

// mode=ro on a directory without a cache is ErrNotFound, and creates
// nothing; an unknown mode is ErrInvalid naming it.
func TestReadOnlyModeErrors(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "none")
	if _, err := local.Open(ctx, dir, local.WithMode(local.ModeReadOnly)); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("mode=ro on a missing directory = %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("mode=ro created %s", dir)
	}
	os.Mkdir(dir, 0o777)
	if _, err := local.Open(ctx, dir, local.WithMode(local.ModeReadOnly)); !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), "metadata.db") {
		t.Errorf("mode=ro on an empty directory = %v, want ErrNotFound naming metadata.db", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("mode=ro wrote %d files into an empty directory", len(ents))
	}
	for _, u := range []string{dir + "?mode=readonly", "file://" + filepath.ToSlash(dir) + "?mode="} {
		if _, err := core.OpenURL(ctx, u); !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "mode=") {
			t.Errorf("OpenURL(%s) = %v, want ErrInvalid naming mode", u, err)
		}
	}
	if _, err := local.Open(ctx, dir, local.WithMode(local.Mode(7))); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("Mode(7) = %v", err)
	}
	// A read-write store says it writes.
	s, err := local.Open(ctx, dir, local.WithMode(local.ModeReadWrite))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Writable(); err != nil {
		t.Errorf("Writable() of a read-write store = %v", err)
	}
}
