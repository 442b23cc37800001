package local_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/backends/local/localtest"
	"github.com/flowcache/flowcache/core"
)

// inlineRows counts the rows of the results table of the database at path.
func inlineRows(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM results`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// resultFiles lists the files under the results directory of dir.
func resultFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(dir, local.ResultsDir), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

func openStore(t *testing.T, dir string, opts ...local.Option) *local.Store {
	t.Helper()
	s, err := local.Open(t.Context(), dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func put(t *testing.T, r core.ResultStore, id core.ResultID, data []byte) {
	t.Helper()
	n, err := r.Put(t.Context(), id, func(w io.Writer) error { _, err := w.Write(data); return err })
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Put(%s, %d bytes) = %d, %v", id, len(data), n, err)
	}
}

func read(t *testing.T, r core.ResultStore, id core.ResultID) []byte {
	t.Helper()
	rc, err := r.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", id, err)
	}
	return b
}

func payload(n int, seed string) []byte {
	b := bytes.Repeat([]byte(seed+";"), n/(len(seed)+1)+1)
	return b[:n]
}

// A result of exactly the limit is inline, one byte more is a file; both
// read back the same before and after a flush, and from a reopened
// directory.
func TestInlineLimit(t *testing.T) {
	for _, limit := range []int{4 << 10, local.DefaultInlineLimit} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, local.WithInlineLimit(limit))
			if got := s.Results().InlineLimit(); got != limit {
				t.Fatalf("InlineLimit = %d, want %d", got, limit)
			}
			under := core.ResultID{Version: version("under"), Format: "gob"}
			over := core.ResultID{Version: version("over"), Format: "gob"}
			du, do := payload(limit, "under"), payload(limit+1, "over")
			// Written in small pieces, so the spill happens in the middle
			// of a write sequence.
			for _, c := range []struct {
				id   core.ResultID
				data []byte
			}{{under, du}, {over, do}} {
				n, err := s.Results().Put(t.Context(), c.id, func(w io.Writer) error {
					for off := 0; off < len(c.data); off += 1000 {
						if _, err := w.Write(c.data[off:min(off+1000, len(c.data))]); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil || n != int64(len(c.data)) {
					t.Fatalf("Put(%d bytes) = %d, %v", len(c.data), n, err)
				}
			}
			if files := resultFiles(t, dir); len(files) != 1 || !strings.HasSuffix(files[0], over.String()) {
				t.Fatalf("result files = %v, want only %s", files, over)
			}
			for _, flushed := range []bool{false, true} {
				if !bytes.Equal(read(t, s.Results(), under), du) || !bytes.Equal(read(t, s.Results(), over), do) {
					t.Fatalf("results read back different (flushed: %v)", flushed)
				}
				if err := s.Results().FlushResults(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			if n := inlineRows(t, filepath.Join(dir, local.MetadataFile)); n != 1 {
				t.Fatalf("%d inline rows, want 1", n)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openStore(t, dir, local.WithInlineLimit(limit))
			if !bytes.Equal(read(t, s.Results(), under), du) || !bytes.Equal(read(t, s.Results(), over), do) {
				t.Fatal("results read back different after reopening")
			}
		})
	}
}

// Flushed results are seen by another store on the directory (another
// process), and after reopening it; empty results included.
func TestFlushReopen(t *testing.T) {
	dir := t.TempDir()
	a, b := openStore(t, dir), openStore(t, dir)
	ids := map[core.ResultID][]byte{}
	for i, size := range []int{0, 1, 100, 1000, 10_000} {
		id := core.ResultID{Version: version(fmt.Sprint("flush", i)), Format: []string{"gob", "json"}[i%2]}
		ids[id] = payload(size, fmt.Sprint(i))
		put(t, a.Results(), id, ids[id])
		if ok, err := b.Results().Exists(t.Context(), id); ok || err != nil {
			t.Fatalf("another store sees a pending result: %v, %v", ok, err)
		}
	}
	if err := a.Results().FlushResults(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := a.Results().FlushResults(t.Context()); err != nil { // nothing pending
		t.Fatal(err)
	}
	for id, data := range ids {
		if got := read(t, b.Results(), id); !bytes.Equal(got, data) {
			t.Fatalf("another store reads %s as %d different bytes", id, len(got))
		}
		// Stored: a Put of it again is not looked up in the table (that
		// query was most of a cold node's cost); the flush keeps the row
		// already there, one per result.
		for _, s := range []*local.Store{a, b} {
			n, err := s.Results().Put(t.Context(), id, func(w io.Writer) error { _, err := w.Write(data); return err })
			if n != int64(len(data)) || err != nil {
				t.Fatalf("Put of a stored result = %d, %v; want %d (written again, kept once)", n, err, len(data))
			}
			if err := s.Results().FlushResults(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := inlineRows(t, filepath.Join(dir, local.MetadataFile)); n != len(ids) {
		t.Fatalf("%d rows for %d results stored twice by two stores", n, len(ids))
	}
	a.Close()
	b.Close()
	c := openStore(t, dir)
	for id, data := range ids {
		if got := read(t, c.Results(), id); !bytes.Equal(got, data) {
			t.Fatalf("after reopening, %s reads as %d different bytes", id, len(got))
		}
	}
	if files := resultFiles(t, dir); len(files) != 0 {
		t.Errorf("small results left files: %v", files)
	}
}

// A pending result is served by Get, Exists, Walk and Delete before it is
// flushed, and a Put of it does not call write again.
func TestPendingResult(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	id := core.ResultID{Version: version("pending"), Format: "gob"}
	put(t, s.Results(), id, []byte("pending bytes"))
	if n := inlineRows(t, filepath.Join(dir, local.MetadataFile)); n != 0 {
		t.Fatalf("%d rows before any flush", n)
	}
	if got := read(t, s.Results(), id); string(got) != "pending bytes" {
		t.Fatalf("pending result reads %q", got)
	}
	if ok, err := s.Results().Exists(t.Context(), id); !ok || err != nil {
		t.Fatalf("Exists(pending) = %v, %v", ok, err)
	}
	n, err := s.Results().Put(t.Context(), id, func(io.Writer) error { t.Error("write called"); return nil })
	if n != 0 || err != nil {
		t.Fatalf("Put of a pending result = %d, %v", n, err)
	}
	var walked []core.ResultID
	if err := s.Results().Walk(t.Context(), func(id core.ResultID, size int64) error {
		walked = append(walked, id)
		if size != int64(len("pending bytes")) {
			t.Errorf("Walk size %d", size)
		}
		return nil
	}); err != nil || len(walked) != 1 || walked[0] != id {
		t.Fatalf("Walk = %v, %v", walked, err)
	}
	if err := s.Results().Delete(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if err := s.Results().FlushResults(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Results().Exists(t.Context(), id); ok || err != nil {
		t.Fatalf("Exists after deleting a pending result = %v, %v", ok, err)
	}
	if n := inlineRows(t, filepath.Join(dir, local.MetadataFile)); n != 0 {
		t.Fatalf("a deleted pending result was flushed")
	}
}

// Closing the store, its Results or its metadata store first flushes.
func TestCloseFlushes(t *testing.T) {
	for _, how := range []string{"store", "results", "metadata"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			s, err := local.Open(t.Context(), dir)
			if err != nil {
				t.Fatal(err)
			}
			id := core.ResultID{Version: version("close"), Format: "gob"}
			put(t, s.Results(), id, []byte("kept"))
			switch how {
			case "store":
				err = s.Close()
			case "results":
				err = errors.Join(s.Results().Close(), s.Metadata().Close())
			case "metadata":
				err = errors.Join(s.Metadata().Close(), s.Results().Close())
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Results().Get(t.Context(), id); !errors.Is(err, core.ErrClosed) {
				t.Errorf("Get after Close = %v, want ErrClosed", err)
			}
			if err := s.Results().FlushResults(t.Context()); !errors.Is(err, core.ErrClosed) {
				t.Errorf("FlushResults after Close = %v, want ErrClosed", err)
			}
			s = openStore(t, dir)
			if got := read(t, s.Results(), id); string(got) != "kept" {
				t.Fatalf("after Close and reopening: %q", got)
			}
		})
	}
}

// A write that fails, panics or is cancelled stores nothing: no pending
// result, no row, no file, no temporary file; small and large results.
func TestFailedWriteStoresNothing(t *testing.T) {
	errBoom := errors.New("boom")
	for _, size := range []int{100, local.DefaultInlineLimit + 1, 1 << 20} {
		for _, how := range []string{"error", "cancel", "cancel-swallowed", "panic"} {
			t.Run(fmt.Sprint(how, "-", size), func(t *testing.T) {
				dir := t.TempDir()
				s := openStore(t, dir)
				id := core.ResultID{Version: version(how), Format: "gob"}
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				data := payload(size, "x")
				write := func(w io.Writer) error {
					if _, err := w.Write(data[:size-10]); err != nil {
						return err
					}
					switch how {
					case "error":
						return errBoom
					case "cancel":
						cancel()
						_, err := w.Write(data[size-10:])
						return err
					case "cancel-swallowed":
						cancel()
						w.Write(data[size-10:])
						return nil
					default:
						panic(errBoom)
					}
				}
				var err error
				func() {
					defer func() {
						if p := recover(); p != nil {
							err = p.(error)
						}
					}()
					_, err = s.Results().Put(ctx, id, write)
				}()
				switch {
				case err == nil:
					t.Fatal("Put succeeded")
				case how == "error" || how == "panic":
					if !errors.Is(err, errBoom) {
						t.Fatalf("Put = %v, want the write's error", err)
					}
				case !errors.Is(err, context.Canceled):
					t.Fatalf("Put = %v, want context.Canceled", err)
				}
				if ok, err := s.Results().Exists(t.Context(), id); ok || err != nil {
					t.Fatalf("Exists after a failed Put = %v, %v", ok, err)
				}
				if err := s.Results().FlushResults(t.Context()); err != nil {
					t.Fatal(err)
				}
				if n := inlineRows(t, filepath.Join(dir, local.MetadataFile)); n != 0 {
					t.Errorf("%d rows after a failed Put", n)
				}
				if files := resultFiles(t, dir); len(files) != 0 {
					t.Errorf("files after a failed Put: %v", files)
				}
				put(t, s.Results(), id, data) // and it can be stored afterwards
				if got := read(t, s.Results(), id); !bytes.Equal(got, data) {
					t.Fatal("read back different")
				}
			})
		}
	}
}

// Delete and DeleteAll remove results wherever they are; Walk sees each
// result once, wherever it is.
func TestDeleteAndWalkEverywhere(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	r := s.Results()
	pending := core.ResultID{Version: version("p"), Format: "gob"}
	inline := core.ResultID{Version: version("i"), Format: "gob"}
	file := core.ResultID{Version: version("f"), Format: "gob"}
	put(t, r, inline, []byte("inline"))
	put(t, r, file, payload(100_000, "file"))
	if err := r.FlushResults(t.Context()); err != nil {
		t.Fatal(err)
	}
	put(t, r, pending, []byte("pending"))
	sizes := map[core.ResultID]int64{}
	if err := r.Walk(t.Context(), func(id core.ResultID, size int64) error {
		if _, dup := sizes[id]; dup {
			t.Errorf("Walk saw %s twice", id)
		}
		sizes[id] = size
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(sizes) != 3 || sizes[pending] != 7 || sizes[inline] != 6 || sizes[file] <= 100_000 {
		t.Fatalf("Walk = %v", sizes)
	}
	stop := errors.New("stop")
	if err := r.Walk(t.Context(), func(core.ResultID, int64) error { return stop }); err != stop {
		t.Fatalf("Walk = %v, want fn's error", err)
	}
	for _, id := range []core.ResultID{pending, inline, file} {
		if err := r.Delete(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		if ok, err := r.Exists(t.Context(), id); ok || err != nil {
			t.Fatalf("Exists after Delete = %v, %v", ok, err)
		}
		if _, err := r.Get(t.Context(), id); !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), id.Version.Short()) {
			t.Fatalf("Get after Delete = %v, want ErrNotFound naming the result", err)
		}
	}
	for _, id := range []core.ResultID{pending, inline, file} {
		put(t, r, id, []byte(id.Version))
	}
	if err := r.FlushResults(t.Context()); err != nil {
		t.Fatal(err)
	}
	put(t, r, core.ResultID{Version: version("p2"), Format: "gob"}, nil)
	if err := r.DeleteAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := r.Walk(t.Context(), func(core.ResultID, int64) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("Walk after DeleteAll: %d results, %v", n, err)
	}
	if err := r.FlushResults(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := inlineRows(t, filepath.Join(dir, local.MetadataFile)); n != 0 {
		t.Fatalf("%d rows after DeleteAll", n)
	}
}

// A result stored as a file (by a store without inlining, or an older
// version) is found by a store that inlines. A Put of it stores the same
// bytes inline (a small result is not looked for before it is written),
// which Get then serves; Delete removes both.
func TestExistingFileNotInlined(t *testing.T) {
	// Formats whose file names fileblob escapes take another path.
	for _, format := range []string{"gob", "json+zstd", "odd__0x41__", "sp ace", "ünï"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			files := openStore(t, dir, local.WithInlineLimit(0))
			id := core.ResultID{Version: version("f"), Format: format}
			put(t, files.Results(), id, []byte("small, but a file"))
			if len(resultFiles(t, dir)) != 1 {
				t.Fatal("WithInlineLimit(0) did not write a file")
			}
			s := openStore(t, dir)
			if ok, err := s.Results().Exists(t.Context(), id); !ok || err != nil {
				t.Fatalf("Exists = %v, %v", ok, err)
			}
			put(t, s.Results(), id, []byte("small, but a file"))
			if err := s.Results().FlushResults(t.Context()); err != nil {
				t.Fatal(err)
			}
			if len(resultFiles(t, dir)) != 1 {
				t.Fatal("the file was removed or another written")
			}
			if got := read(t, s.Results(), id); string(got) != "small, but a file" {
				t.Fatalf("read %q", got)
			}
			if err := s.Results().Delete(t.Context(), id); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.Results().Exists(t.Context(), id); ok || err != nil {
				t.Fatalf("Exists after Delete = %v, %v", ok, err)
			}
			if f, n := resultFiles(t, dir), inlineRows(t, filepath.Join(dir, local.MetadataFile)); len(f) != 0 || n != 0 {
				t.Fatalf("after Delete: files %v, %d rows", f, n)
			}
		})
	}
}

// A result too large to inline that is stored as a file already is not
// written again: Put returns 0 and the file is the one written first.
func TestExistingFileNotRewritten(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	id := core.ResultID{Version: version("large"), Format: "gob"}
	data := payload(100_000, "large")
	put(t, s.Results(), id, data)
	files := resultFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	before, err := os.Stat(files[0])
	if err != nil {
		t.Fatal(err)
	}
	other := openStore(t, dir)
	for _, st := range []*local.Store{s, other} {
		n, err := st.Results().Put(t.Context(), id, func(w io.Writer) error { _, err := w.Write(data); return err })
		if n != 0 || err != nil {
			t.Fatalf("Put of a stored file = %d, %v; want 0, nil", n, err)
		}
	}
	after, err := os.Stat(files[0])
	if err != nil || !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("the file was replaced: %v", err)
	}
	if got := read(t, other.Results(), id); !bytes.Equal(got, data) {
		t.Fatal("read back different bytes")
	}
}

// Puts, Gets and flushes from many goroutines at once, on two stores.
func TestConcurrentPutFlush(t *testing.T) {
	dir := t.TempDir()
	stores := []*local.Store{openStore(t, dir), openStore(t, dir)}
	const n = 200
	id := func(i int) core.ResultID { return core.ResultID{Version: version(fmt.Sprint("c", i%n)), Format: "gob"} }
	data := func(i int) []byte { return payload(10+(i%n)*150, fmt.Sprint(i%n)) } // up to 30 KB: inline and files
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			s := stores[g%2].Results()
			for i := g; i < 3*n; i += 8 {
				if _, err := s.Put(t.Context(), id(i), func(w io.Writer) error { _, err := w.Write(data(i)); return err }); err != nil {
					t.Error(err)
					return
				}
				if got := read(t, s, id(i)); !bytes.Equal(got, data(i)) {
					t.Errorf("%s read back different", id(i))
				}
				if i%16 == 0 {
					if err := s.FlushResults(t.Context()); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	for _, s := range stores {
		if err := s.Results().FlushResults(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		for _, s := range stores {
			if got := read(t, s.Results(), id(i)); !bytes.Equal(got, data(i)) {
				t.Fatalf("%s read back different", id(i))
			}
		}
	}
}

// localtest damages inline and file results; every damage is a miss.
func TestDamageHelper(t *testing.T) {
	for _, size := range []int{0, 10, local.DefaultInlineLimit, 100_000} {
		for _, d := range []localtest.Damage{localtest.Remove, localtest.Truncate, localtest.FlipBit, localtest.Extend, localtest.BadChecksum} {
			t.Run(fmt.Sprint(d, "-", size), func(t *testing.T) {
				dir := t.TempDir()
				s := openStore(t, dir)
				id := core.ResultID{Version: version("d"), Format: "gob"}
				put(t, s.Results(), id, payload(size, "d"))
				if err := s.Results().FlushResults(t.Context()); err != nil {
					t.Fatal(err)
				}
				if err := localtest.DamageResult(t.Context(), dir, id, d); err != nil {
					t.Fatal(err)
				}
				rc, err := s.Results().Get(t.Context(), id)
				if err == nil {
					_, err = io.ReadAll(rc)
					rc.Close()
				}
				want := core.ErrCorrupt
				if d == localtest.Remove {
					want = core.ErrNotFound
				}
				if !errors.Is(err, want) || !strings.Contains(err.Error(), id.Version.Short()) {
					t.Fatalf("reading a damaged result = %v, want %v naming the result", err, want)
				}
			})
		}
	}
	ids, err := localtest.Results(t.Context(), t.TempDir())
	if err != nil || len(ids) != 0 {
		t.Fatalf("Results of an empty directory = %v, %v", ids, err)
	}
	if err := localtest.DamageResult(t.Context(), t.TempDir(), core.ResultID{Version: version("x"), Format: "gob"}, localtest.FlipBit); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("DamageResult of a missing result = %v", err)
	}
}

func TestInlineLimitTooLarge(t *testing.T) {
	if s, err := local.Open(t.Context(), t.TempDir(), local.WithInlineLimit(local.MaxInlineLimit+1)); !errors.Is(err, core.ErrInvalid) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open with an inline limit over the maximum = %v, want ErrInvalid", err)
	}
}

func TestInvalidIDs(t *testing.T) {
	s := openStore(t, t.TempDir())
	for _, id := range []core.ResultID{{Version: "", Format: "gob"}, {Version: "a.b", Format: "gob"}, {Version: "ab", Format: "x/y"}, {Version: "ab", Format: "gob.tmp"}} {
		if _, err := s.Results().Put(t.Context(), id, func(w io.Writer) error { return nil }); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("Put(%q) = %v, want ErrInvalid", id.String(), err)
		}
		if _, err := s.Results().Get(t.Context(), id); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("Get(%q) = %v, want ErrInvalid", id.String(), err)
		}
	}
}

// A write function that keeps the writer cannot write into a buffer the
// store reuses once Put has returned.
func TestWriteAfterPutReturned(t *testing.T) {
	s := openStore(t, t.TempDir())
	var kept io.Writer
	id := core.ResultID{Version: version("kept"), Format: "gob"}
	n, err := s.Results().Put(t.Context(), id, func(w io.Writer) error {
		kept = w
		_, err := w.Write([]byte("value"))
		return err
	})
	if err != nil || n != 5 {
		t.Fatalf("Put = %d, %v", n, err)
	}
	if _, err := kept.Write([]byte("later")); err == nil {
		t.Error("a write after Put returned succeeded")
	}
	put(t, s.Results(), core.ResultID{Version: version("other"), Format: "gob"}, []byte("other"))
	if got := read(t, s.Results(), id); string(got) != "value" {
		t.Errorf("read %q", got)
	}
}

// When another process stores a large result while this one is writing it,
// Put succeeds without storing it twice, whether write returns the error
// its Write got or ignores it.
func TestLargeResultStoredMeanwhile(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		t.Run(fmt.Sprint("ignore-", ignore), func(t *testing.T) {
			dir := t.TempDir()
			a, b := openStore(t, dir), openStore(t, dir, local.WithInlineLimit(0))
			id := core.ResultID{Version: version("meanwhile"), Format: "gob"}
			data := payload(100_000, "meanwhile")
			n, err := a.Results().Put(t.Context(), id, func(w io.Writer) error {
				if _, err := w.Write(data[:1000]); err != nil {
					return err
				}
				put(t, b.Results(), id, data) // the other process
				_, err := w.Write(data[1000:])
				if ignore {
					return nil
				}
				return err
			})
			if n != 0 || err != nil {
				t.Fatalf("Put = %d, %v; want 0, nil (stored by the other)", n, err)
			}
			if got := read(t, a.Results(), id); !bytes.Equal(got, data) {
				t.Fatal("read back different")
			}
			if files := resultFiles(t, dir); len(files) != 1 {
				t.Fatalf("files = %v", files)
			}
		})
	}
}

// TestPreloadedResults checks that a preload reads the inline results of
// its entries with them, and that the store serves those from memory: after
// the rows are deleted behind its back (by another connection), a store
// that preloaded still reads them, one that did not finds none. A result
// stored as a file is not preloaded, and Delete forgets a preloaded one.
// Rows deleted end the preload snapshot that holds them.
func TestPreloadedResults(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	w := openStore(t, dir, local.WithInlineLimit(64))
	var nodes []string
	var ids []core.ResultID
	var datas [][]byte
	b := core.Batch{}
	for i := range 6 {
		node := fmt.Sprint("n", i)
		id := core.ResultID{Version: version(node), Format: "gob"}
		data := payload(10+i, node)
		if i == 5 {
			data = payload(100, node) // over the limit: a file
		}
		put(t, w.Results(), id, data)
		nodes, ids, datas = append(nodes, node), append(ids, id), append(datas, data)
		key := core.CacheKey{Node: node, CodeVersion: "c1"}
		b.Entries = append(b.Entries, core.Entry{Key: key, DataVersion: id.Version, Format: "gob"})
	}
	if err := w.Results().FlushResults(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Metadata().Write(ctx, b); err != nil {
		t.Fatal(err)
	}

	a := openStore(t, dir, local.WithInlineLimit(64))
	if got, err := a.Metadata().Preload(ctx, nodes); err != nil || len(got) != len(nodes) {
		t.Fatalf("Preload: %d entries, %v", len(got), err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, local.MetadataFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `DELETE FROM results`); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if !bytes.Equal(read(t, a.Results(), id), datas[i]) {
			t.Fatalf("result %d read back different", i)
		}
	}
	if _, err := w.Results().Get(ctx, ids[0]); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("a store that did not preload read a deleted row: %v", err)
	}
	if err := a.Results().Delete(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Results().Get(ctx, ids[0]); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("a deleted result is still served from the preload: %v", err)
	}
	os.RemoveAll(filepath.Join(dir, local.ResultsDir))
	if _, err := a.Results().Get(ctx, ids[5]); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("a result stored as a file was preloaded: %v", err)
	}

	// The rows deleted ended a's snapshot (triggers on the results table,
	// as on entries): a later preload, here or in another process, does
	// not serve them.
	c := openStore(t, dir, local.WithInlineLimit(64))
	for _, s := range []*local.Store{a, c} {
		if _, err := s.Metadata().Preload(ctx, nodes); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Results().Get(ctx, ids[1]); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("a result deleted before the preload was served: %v", err)
		}
	}
}
