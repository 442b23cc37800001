package mapfile_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/flowcache/flowcache/internal/mapfile"
)

func write(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// mappedSevens maps a file of three pages of 7s, closed when the test
// ends, and returns its path and bytes; the test skips where files are
// read rather than mapped.
func mappedSevens(t *testing.T) (string, []byte) {
	t.Helper()
	path := write(t, bytes.Repeat([]byte{7}, 3*os.Getpagesize()))
	f, err := mapfile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if !f.Mapped() {
		t.Skip("not mapped on " + runtime.GOOS)
	}
	return path, f.Bytes()
}

func TestOpen(t *testing.T) {
	want := bytes.Repeat([]byte("flowcache "), 50_000) // several pages
	f, err := mapfile.Open(write(t, want))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !bytes.Equal(f.Bytes(), want) {
		t.Fatalf("read %d bytes, not the file's %d", len(f.Bytes()), len(want))
	}
	if f.Mapped() != (runtime.GOOS != "windows" && runtime.GOOS != "plan9" && runtime.GOOS != "js" && runtime.GOOS != "wasip1") {
		t.Errorf("Mapped() = %v on %s", f.Mapped(), runtime.GOOS)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if f.Bytes() != nil {
		t.Error("Bytes after Close are not nil")
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenEmptyAndMissing(t *testing.T) {
	f, err := mapfile.Open(write(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Bytes()) != 0 || f.Mapped() {
		t.Errorf("empty file: %d bytes, mapped %v", len(f.Bytes()), f.Mapped())
	}
	f.Close()
	if _, err := mapfile.Open(filepath.Join(t.TempDir(), "none")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
	if _, err := mapfile.Open(t.TempDir()); err == nil {
		t.Error("a directory opened")
	}
}

// TestGuardTruncated truncates a mapped file and reads it: the fault is an
// error, not the end of the process.
func TestGuardTruncated(t *testing.T) {
	path, b := mappedSevens(t)
	var sum int
	if err := mapfile.Guard(func() {
		for _, c := range b {
			sum += int(c)
		}
	}); err != nil || sum != 7*len(b) {
		t.Fatalf("whole file: sum %d, %v", sum, err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	if err := mapfile.Guard(func() { sum += int(b[2*os.Getpagesize()+1]) }); !errors.Is(err, mapfile.ErrFault) {
		t.Fatalf("read past the truncated end: %v, want ErrFault", err)
	}
	// Another panic is not an error of Guard: it goes on.
	var got any
	func() {
		defer func() { got = recover() }()
		_ = mapfile.Guard(func() { panic("other") })
	}()
	if got != "other" {
		t.Errorf("a panic inside Guard came out as %v", got)
	}
}

// TestReader checks that a Reader reads until a fault, and is broken from
// then on, as by Break.
func TestReader(t *testing.T) {
	path, b := mappedSevens(t)
	var r mapfile.Reader
	var sum int
	if err := r.Read(func() {
		for _, c := range b {
			sum += int(c)
		}
	}); err != nil || sum != 7*len(b) || r.Broken() {
		t.Fatalf("read: sum %d, %v, broken %v", sum, err, r.Broken())
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	if err := r.Read(func() { sum += int(b[2*os.Getpagesize()]) }); !errors.Is(err, mapfile.ErrFault) || !r.Broken() {
		t.Fatalf("read past the truncated end: %v, broken %v; want ErrFault, broken", err, r.Broken())
	}
	var other mapfile.Reader
	if other.Broken() {
		t.Fatal("a new Reader is broken")
	}
	other.Break()
	if !other.Broken() {
		t.Fatal("Break did not break the Reader")
	}
}
