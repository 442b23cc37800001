package tmpfs

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TreeHash hashes the names, modes and bytes of every file and directory
// under dir, except SQLite's -shm and -wal files, which it returns apart
// (relative name → size): a reader of a WAL database may create them,
// empty, and they hold no data of the cache's.
func TreeHash(t testing.TB, dir string) (string, map[string]int64) {
	t.Helper()
	h := sha256.New()
	sqliteFiles := map[string]int64{}
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		names = append(names, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	for _, path := range names {
		rel, _ := filepath.Rel(dir, path)
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(rel, "-shm") || strings.HasSuffix(rel, "-wal") {
			sqliteFiles[rel] = fi.Size()
			continue
		}
		h.Write([]byte(rel + "\x00" + fi.Mode().String() + "\x00"))
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			h.Write(b)
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)), sqliteFiles
}
