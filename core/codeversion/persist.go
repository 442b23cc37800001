package codeversion

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The versions computed from a module are kept between processes in a
// table, one file per module directory, under the user's cache directory
// ($XDG_CACHE_HOME/flowcache/codeversion on Linux; FLOWCACHE_CODEVERSION_CACHE
// names another directory, or "off"). A table holds the key of the tree
// and build it was computed from (tree.key: every Go file's size, times
// and inode, every directory, go.mod and go.sum, the toolchain, the build
// settings and every module's version) and, for the embedded files the
// versions read, their identities; a table whose key differs is not used.
// So a process whose module did not change since an earlier one reads one
// small file instead of parsing the module. The table is written whole to a
// temporary file and renamed; a damaged or foreign table (bad magic, short,
// bad checksum) is ignored, never trusted: the versions are then computed
// again.

// tableMagic starts every table file; change it with the format.
const tableMagic = "flowcache codeversion table v1\n"

// tableDir returns the directory of the tables, or "" when they are off.
func tableDir() string {
	if d, ok := os.LookupEnv("FLOWCACHE_CODEVERSION_CACHE"); ok {
		if d == "off" || d == "" {
			return ""
		}
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "flowcache", "codeversion")
}

func (r *resolver) tablePath(root string) string {
	if r.tables == "" {
		return ""
	}
	s := sha256.Sum256([]byte(root))
	return filepath.Join(r.tables, hex.EncodeToString(s[:16])+".table")
}

// embedKey identifies the embedded files of a table (paths relative to
// root) by their sizes, times and inodes.
func embedKey(root string, files []string) [32]byte {
	h := sha256.New()
	for _, f := range files {
		var id fileID
		if fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(f))); err == nil {
			id = idOf(fi)
		}
		var b []byte
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
		b = binary.LittleEndian.AppendUint64(b, uint64(id.size))
		b = binary.LittleEndian.AppendUint64(b, uint64(id.mtime))
		b = binary.LittleEndian.AppendUint64(b, uint64(id.ctime))
		b = binary.LittleEndian.AppendUint64(b, id.ino)
		h.Write(b)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// loadTable reads the persisted table of ms's module into ms.entries when
// its key is ms.key and its embedded files are unchanged.
func (r *resolver) loadTable(ms *modState) {
	p := r.tablePath(ms.root)
	if p == "" {
		return
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return
	}
	entries, embeds, ok := decodeTable(b, ms.key)
	if !ok {
		return
	}
	if len(embeds) > 0 {
		var stored [32]byte
		copy(stored[:], embeds[0])
		if embedKey(ms.root, embeds[1:]) != stored {
			return
		}
		for _, e := range embeds[1:] {
			ms.embeds[e] = true
		}
	}
	ms.entries = entries
	// A table in use is kept by trimTables: its time is renewed daily.
	if fi, err := os.Stat(p); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
		now := time.Now()
		os.Chtimes(p, now, now)
	}
}

// tableMaxAge is how long a table no process used stays in the directory:
// a module not run for that long is parsed again, once (about 0.5 s).
const tableMaxAge = 30 * 24 * time.Hour

// trimTables deletes the tables of the directory no process used for
// tableMaxAge, at most once a day (a marker file records the last time), as
// Go's build cache trims itself.
func trimTables(dir string, now time.Time) {
	marker := filepath.Join(dir, "trim.txt")
	if fi, err := os.Stat(marker); err == nil && now.Sub(fi.ModTime()) < 24*time.Hour {
		return
	}
	os.WriteFile(marker, []byte(now.UTC().Format(time.RFC3339)+"\n"), 0o644)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".table") {
			continue
		}
		if fi, err := e.Info(); err == nil && now.Sub(fi.ModTime()) > tableMaxAge {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// saveTables writes the tables that gained versions since they were read.
func (r *resolver) saveTables() {
	r.mu.Lock()
	mods := make([]*modState, 0, len(r.mods))
	for _, ms := range r.mods {
		mods = append(mods, ms)
	}
	r.mu.Unlock()
	for _, ms := range mods {
		ms.mu.Lock()
		if ms.dirty && ms.untrusted == "" {
			if r.saveTable(ms) == nil {
				ms.dirty = false
			}
		}
		ms.mu.Unlock()
	}
	r.saveExeTable()
}

// saveTable writes ms's table; called with ms.mu held.
func (r *resolver) saveTable(ms *modState) error {
	p := r.tablePath(ms.root)
	if p == "" {
		return nil
	}
	var embeds []string
	for e := range ms.embeds {
		embeds = append(embeds, e)
	}
	slices.Sort(embeds)
	b := encodeTable(ms.key, ms.entries, embedKey(ms.root, embeds), embeds)
	if err := writeFileAtomic(p, b); err != nil {
		return err
	}
	trimTables(filepath.Dir(p), time.Now())
	return nil
}

// encodeTable lays a table out as: magic, key, the embedded files' key and
// paths, the entries (table key, version, captured names), and a CRC-32C
// of all that.
func encodeTable(key [32]byte, entries map[string]tableEntry, ek [32]byte, embeds []string) []byte {
	b := []byte(tableMagic)
	b = append(b, key[:]...)
	b = append(b, ek[:]...)
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(embeds)))
	for _, e := range embeds {
		str(e)
	}
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		e := entries[k]
		str(k)
		b = append(b, e.version[:]...)
		b = binary.AppendUvarint(b, uint64(len(e.captured)))
		for _, c := range e.captured {
			str(c)
		}
	}
	return seal(b)
}

// decodeTable reads a table written by encodeTable for key. embeds is nil
// without embedded files, else the stored embed key followed by the paths.
// Every length is checked against what remains before it is used.
func decodeTable(b []byte, key [32]byte) (entries map[string]tableEntry, embeds []string, ok bool) {
	body, ok := unseal(b, tableMagic)
	if !ok || len(body) < 64 || !bytes.Equal(body[:32], key[:]) {
		return nil, nil, false
	}
	ek := string(body[32:64])
	w := wire{d: body[64:]}
	if ne := w.count(1); ne > 0 {
		embeds = append(embeds, ek)
		for range ne {
			embeds = append(embeds, w.str())
		}
	}
	n := w.count(33)
	entries = make(map[string]tableEntry, n)
	for range n {
		k := w.str()
		var e tableEntry
		copy(e.version[:], w.bytes(32))
		for range w.count(1) {
			e.captured = append(e.captured, w.str())
		}
		if w.bad {
			return nil, nil, false
		}
		entries[k] = e
	}
	if !w.done() {
		return nil, nil, false
	}
	return entries, embeds, true
}
