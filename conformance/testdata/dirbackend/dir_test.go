package dirbackend_test

import (
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"example.com/dirbackend" // and so dir:// is registered
	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/conformance/scenarios"
	"github.com/flowcache/flowcache/core"
)

var storeURL = flag.String("url", "", "run the suites against this dir:// URL (an empty, dedicated directory: they delete everything in it); default: a fresh temporary directory")

// TestConformance runs flowcache's store suites and caching scenarios
// against dir:// by URL, as every backend should:
//
//	go test ./...                                  # in a fresh temporary directory
//	go test ./... -args -url=dir:///tmp/dirstore   # in a directory of your choice
func TestConformance(t *testing.T) {
	u := *storeURL
	if u == "" {
		u = "dir://" + filepath.ToSlash(t.TempDir())
	}
	conformance.TestURL(t, u)
	t.Run("Scenarios", func(t *testing.T) {
		scenarios.TestURL(t, u)
	})
}

// TestDamage runs the result suite on a store opened directly, with a
// corrupt function that damages result files in place, which TestURL
// cannot do (it knows nothing of where a backend keeps its bytes).
func TestDamage(t *testing.T) {
	var dir string
	open := func(t *testing.T) core.ResultStore {
		dir = t.TempDir()
		s, err := dirbackend.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s.Results()
	}
	calls := 0
	corrupt := func(t *testing.T, id core.ResultID) {
		path := resultFile(t, dir, id)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		switch calls++; calls % 3 {
		case 0:
			b = b[:len(b)/2] // truncated
		case 1:
			b[len(b)/2] ^= 0x40 // a byte flipped in the middle
		default:
			b[len(b)-1] ^= 0x01 // a byte of the checksum
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conformance.TestResultStore(t, open, corrupt)
}

// resultFile finds the file that holds result id under dir.
func resultFile(t *testing.T, dir string, id core.ResultID) string {
	t.Helper()
	var found string
	name := string(id.Version) + "." + id.Format
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == name {
			found = p
		}
		return err
	})
	if err != nil || found == "" {
		t.Fatalf("no file %s under %s (%v)", name, dir, err)
	}
	return found
}
