package atomicfile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/flowcache/flowcache/internal/atomicfile"
)

// Write replaces a file whole, with the mode asked, and leaves no
// temporary file behind, written or failed.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	for _, c := range []struct {
		data string
		perm os.FileMode
	}{{"first", 0o644}, {"second, longer", 0o600}} {
		if err := atomicfile.Write(path, []byte(c.data), c.perm); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != c.data || fi.Mode().Perm() != c.perm {
			t.Errorf("%s holds %q, mode %v; want %q, %v", path, b, fi.Mode().Perm(), c.data, c.perm)
		}
	}
	if err := atomicfile.Write(filepath.Join(dir, "nosuch", "x"), []byte("x"), 0o644); err == nil {
		t.Error("Write into a directory that does not exist succeeded")
	}
	// A rename that fails (onto a directory that is not empty) removes the
	// temporary file.
	full := filepath.Join(dir, "full")
	if err := os.MkdirAll(filepath.Join(full, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(full, []byte("x"), 0o644); err == nil {
		t.Error("Write onto a directory succeeded")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("the directory holds %v, want out.txt and full", names)
	}
}
