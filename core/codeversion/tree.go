package codeversion

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// tree is the file layout of a module on disk, as seen when a process first
// versions one of its functions: every directory that may hold a package,
// every Go file, and the identity (size, modification and change times,
// inode) of each. The identity of the whole tree is the key under which
// versions computed from it are kept between processes (persist.go).
type tree struct {
	root  string // absolute directory holding go.mod
	dirs  []treeEntry
	files []treeEntry // *.go files, go.mod and go.sum, sorted by path
	// newest is the file changed last, and when: a source newer than the
	// executable was not its source.
	newest     string
	newestTime time.Time
}

// treeEntry is one directory or file of a tree, by path relative to the
// root (slash-separated).
type treeEntry struct {
	rel string
	id  fileID
}

// fileID identifies a version of a file without reading it: a file whose
// size, modification time, change time and inode are unchanged is assumed
// to have the same content (as Go's build cache and make assume of the
// modification time alone). The change time is set by the kernel on every
// write and cannot be set back by a program, so restoring an old
// modification time does not hide an edit.
type fileID struct {
	size, mtime, ctime int64 // times in Unix nanoseconds
	ino                uint64
}

func idOf(fi fs.FileInfo) fileID {
	id := fileID{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	id.ctime, id.ino = sysID(fi)
	return id
}

// skipDir reports whether the go command ignores directory name for
// packages: testdata, vendor and names starting with "." or "_".
func skipDir(name string) bool {
	return name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}

// isGoFile reports whether the go command reads file name.
func isGoFile(name string) bool {
	return strings.HasSuffix(name, ".go") && !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "_")
}

// scanTree lists the module whose go.mod is in root. Nested modules (a
// directory with its own go.mod) are not part of it. Directories are read
// on several goroutines: the stat calls are most of a warm process's cost.
func scanTree(root string) (*tree, error) {
	t := &tree{root: root}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, max(4, 2*runtime.GOMAXPROCS(0)))
	var walk func(dir, rel string)
	walk = func(dir, rel string) {
		defer wg.Done()
		sem <- struct{}{}
		var dirs []treeEntry
		var files []treeEntry
		var newest string
		var newestTime time.Time
		err := func() error {
			defer func() { <-sem }()
			ents, err := os.ReadDir(dir)
			if err != nil {
				return err
			}
			if rel != "" {
				for _, e := range ents {
					if e.Name() == "go.mod" && !e.IsDir() {
						return nil // another module
					}
				}
				fi, err := os.Stat(dir)
				if err != nil {
					return err
				}
				dirs = append(dirs, treeEntry{rel: rel, id: idOf(fi)})
			}
			for _, e := range ents {
				name := e.Name()
				path := filepath.Join(dir, name)
				r := name
				if rel != "" {
					r = rel + "/" + name
				}
				if e.IsDir() {
					if !skipDir(name) {
						wg.Add(1)
						go walk(path, r)
					}
					continue
				}
				if !isGoFile(name) && !(rel == "" && (name == "go.mod" || name == "go.sum")) {
					continue
				}
				fi, err := e.Info()
				if err != nil {
					if errors.Is(err, fs.ErrNotExist) {
						continue // removed while listed
					}
					return err
				}
				if !fi.Mode().IsRegular() {
					if fi, err = os.Stat(path); err != nil || !fi.Mode().IsRegular() {
						continue
					}
				}
				files = append(files, treeEntry{rel: r, id: idOf(fi)})
				if mt := fi.ModTime(); mt.After(newestTime) {
					newest, newestTime = path, mt
				}
			}
			return nil
		}()
		mu.Lock()
		defer mu.Unlock()
		if err != nil && firstErr == nil {
			firstErr = err
		}
		t.dirs = append(t.dirs, dirs...)
		t.files = append(t.files, files...)
		if newestTime.After(t.newestTime) {
			t.newest, t.newestTime = newest, newestTime
		}
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	t.dirs = append(t.dirs, treeEntry{rel: ".", id: idOf(fi)})
	wg.Add(1)
	walk(root, "")
	wg.Wait()
	if firstErr != nil {
		return nil, fmt.Errorf("listing module %s: %w", root, firstErr)
	}
	slices.SortFunc(t.dirs, func(a, b treeEntry) int { return strings.Compare(a.rel, b.rel) })
	slices.SortFunc(t.files, func(a, b treeEntry) int { return strings.Compare(a.rel, b.rel) })
	return t, nil
}

// key returns the identity of the tree, mixed with extra (what else the
// versions depend on: the build, embedded files).
func (t *tree) key(extra ...string) [32]byte {
	h := sha256.New()
	var b []byte
	str := func(s string) {
		b = binary.AppendUvarint(b[:0], uint64(len(s)))
		h.Write(b)
		h.Write([]byte(s))
	}
	entry := func(e treeEntry) {
		str(e.rel)
		b = binary.LittleEndian.AppendUint64(b[:0], uint64(e.id.size))
		b = binary.LittleEndian.AppendUint64(b, uint64(e.id.mtime))
		b = binary.LittleEndian.AppendUint64(b, uint64(e.id.ctime))
		b = binary.LittleEndian.AppendUint64(b, e.id.ino)
		h.Write(b)
	}
	str(scheme)
	str(t.root)
	for _, e := range t.dirs {
		entry(e)
	}
	str("files")
	for _, e := range t.files {
		entry(e)
	}
	str("extra")
	for _, s := range extra {
		str(s)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// findModuleRoot returns the directory holding the go.mod of the module
// that holds dir, or "".
func findModuleRoot(dir string) string {
	for {
		if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && fi.Mode().IsRegular() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
