package codeversion

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/flowcache/flowcache/internal/atomicfile"
	"github.com/flowcache/flowcache/internal/mapfile"
)

// The versions of a running executable are kept, besides the module tables
// of persist.go, in a table keyed by the executable's Go build ID: the hash
// the go command gives a binary from every input of its build (the source
// and embedded files of every package, the toolchain, the flags, every
// dependency's version), as the action IDs of Go's build cache. The code of
// a binary cannot change, so neither can the versions its source gave when
// they were computed: a later process of the same binary reads them (one
// small file) without listing its module (a stat of every Go file, most of
// what a warm process paid before) — and without looking at the source on
// disk at all, so an edit made after the build does not turn the running
// code's versions into fallbacks either. A rebuilt binary has another build
// ID, and its versions are computed from its source as always.
//
// A function is found in the table by where its code is: its entry's
// offset from the entry of a function of this package (the same in every
// process of one executable, position-independent ones included, as the
// build ID names the binary's content). A process that finds all its
// functions there never asks the runtime where they are in the source:
// reading the runtime's tables for a thousand functions cost a fresh
// process about 1.5 ms of page faults and searching.
//
// The table is mapped, not read (openExeTable): what a process asks of
// it is copied out, one entry at a time, so the pages of the file it does
// not ask for cost it nothing, and those it does cost the heap of the
// copies only (about 128 bytes an entry, against about 134 bytes an entry
// of the whole file read before: so a table of 1000 entries costs a
// process of 1000 functions as many faults as before, about 36 either way,
// and one of 2000 entries 43 instead of 72).
//
// Only versions from source are kept (Info.FromSource): a fallback depends
// on what is on disk now, and is worked out again. A binary without a
// usable build ID (one linked with -buildid= or by a tool that blanks it)
// does without this table.

// exeTableMagic starts an executable's table file; change it with the
// format.
const exeTableMagic = "flowcache codeversion exe table v2\n"

// exeTable is the table of the running executable, loaded once.
type exeTable struct {
	once    sync.Once
	buildID string    // "" when the executable has none usable
	path    string    // the table's file, "" for none
	loaded  *exeIndex // read from the file; nil for none. Never changed after once.
	mu      sync.Mutex
	added   map[exeKey]Info // computed by this process, not in loaded; guarded by mu
	dirty   bool            // added grew since the last save; guarded by mu
}

// exeKey identifies a function within one executable: the offset of its
// code pointer (reflect.Value.Pointer of the func) from exeBase.
type exeKey int64

// exeBase is the entry of a function of this package, which moves with
// the rest of the text when the executable is loaded elsewhere.
var exeBase = reflect.ValueOf(locate).Pointer()

func exeKeyOf(pc uintptr) exeKey { return exeKey(int64(pc - exeBase)) }

// exeInit finds the build ID and maps the table; once per resolver.
func (r *resolver) exeInit() *exeTable {
	t := &r.exeTab
	t.once.Do(func() {
		if r.tables == "" || r.buildID == nil {
			return
		}
		t.buildID = r.buildID()
		if t.buildID == "" {
			return
		}
		s := sha256.Sum256([]byte(t.buildID))
		t.path = filepath.Join(r.tables, "x"+hex.EncodeToString(s[:16])+".table")
		t.loaded = openExeTable(t.path, t.buildID)
		if t.loaded != nil {
			// In use: renewed daily so that trimTables keeps it.
			if fi, err := os.Stat(t.path); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
				now := time.Now()
				os.Chtimes(t.path, now, now)
			}
		}
	})
	return t
}

// openExeTable maps the table file at path and indexes it, or returns nil
// when it is missing, damaged or written for another build.
//
// The file is mapped rather than read: a fresh process pays a page fault
// (about 12 µs on the virtual machines flowcache is measured on) for each
// page of heap it touches first, and a table of 134 or 268 KB (1000 or
// 2000 entries) read into the heap cost 36 or 72 of them and a copy, where
// its mapping shares the page cache's pages, which the kernel maps 16 at a
// time: 6–10 faults, indexing included (see package internal/mapfile, and
// the comment at the top of this file for what the copies of the entries
// looked up cost).
//
// The mapping lives as long as the index: for the resolver of [Of], that
// is the process. A resolver that is dropped (tests, benchmarks: one per
// simulated process) has its mapping released by a cleanup once its index
// is unreachable, which is safe because nothing handed out of the index
// points into the mapping (lookup copies), and every read of it keeps the
// index alive until it is done.
func openExeTable(path, buildID string) *exeIndex {
	f, err := mapfile.Open(path)
	if err != nil {
		return nil
	}
	x, ok := indexExeTable(f.Bytes(), buildID)
	if !ok {
		f.Close()
		return nil
	}
	x.file, x.mapped = f, f.Mapped()
	runtime.AddCleanup(x, func(f *mapfile.File) { f.Close() }, f)
	return x
}

// release unmaps the table now rather than when it is collected, and
// kills it: for benchmarks, which drop a resolver per process they
// simulate and should not count its unmapping (about 0.5 ms here, which a
// process does not pay: its mappings go with it). No lookup may be under
// way; one after it finds nothing.
func (x *exeIndex) release() {
	if x == nil || x.file == nil {
		return
	}
	x.reads.Break()
	x.file.Close()
}

// exeLookup returns the version the executable's table holds for the
// function whose code pointer is pc.
func (r *resolver) exeLookup(pc uintptr) (Info, bool) {
	return r.exeInit().loaded.lookup(exeKeyOf(pc))
}

// exeRemember adds a version from source, of the function whose code
// pointer is pc, to what saveTables writes.
func (r *resolver) exeRemember(pc uintptr, info Info) {
	t := r.exeInit()
	if t.path == "" || !info.FromSource || !isVersion(info.Version) {
		return
	}
	info.Captured = slices.Clone(info.Captured)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.added == nil {
		t.added = map[exeKey]Info{}
	}
	t.added[exeKeyOf(pc)] = info
	t.dirty = true
}

// saveExeTable writes the table when this process added versions to it
// since it last wrote it: the ones it read, merged with all of its own,
// whole to a temporary file renamed into place. (What it read stays as it
// was read: a version this process added is served by resolver.infos.)
func (r *resolver) saveExeTable() error {
	t := r.exeInit()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.path == "" || !t.dirty {
		return nil
	}
	all := t.loaded.all()
	maps.Copy(all, t.added)
	if err := writeFileAtomic(t.path, encodeExeTable(t.buildID, all)); err != nil {
		return err
	}
	t.dirty = false
	return nil
}

// writeFileAtomic writes b to path, creating its directory, through a
// temporary file renamed into place (atomicfile.Write), so that a reader
// sees the old file or the new one, whole.
func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o600)
}

// Flags of an entry of an executable's table.
const (
	exeFromSource = 1 << iota
	exeFromTable
	exeMayCapture
)

// encodeExeTable lays a table out as: magic, build ID, the source files
// (each once), then per function (in key order) its key (a zigzag varint),
// runtime name, file (an index into the files, 0 for none, i+1 for the
// i-th), line, version (64 hex digits, so that reading it allocates
// nothing), flags, fallback, receiver and captured names; a CRC-32C of all
// that last.
func encodeExeTable(buildID string, infos map[exeKey]Info) []byte {
	return encodeExeTableKeys(buildID, infos, slices.Sorted(maps.Keys(infos)))
}

// encodeExeTableKeys is encodeExeTable writing the entries of keys in
// their order (tests write them out of order).
func encodeExeTableKeys(buildID string, infos map[exeKey]Info, keys []exeKey) []byte {
	b := []byte(exeTableMagic)
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	str(buildID)
	fileIdx := map[string]int{}
	var files []string
	for _, k := range keys {
		if f := infos[k].File; f != "" && fileIdx[f] == 0 {
			files = append(files, f)
			fileIdx[f] = len(files)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(files)))
	for _, f := range files {
		str(f)
	}
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		in := infos[k]
		b = binary.AppendVarint(b, int64(k))
		str(in.Func)
		b = binary.AppendUvarint(b, uint64(fileIdx[in.File]))
		b = binary.AppendUvarint(b, uint64(max(in.Line, 0)))
		str(in.Version)
		var flags uint64
		if in.FromSource {
			flags |= exeFromSource
		}
		if in.FromTable {
			flags |= exeFromTable
		}
		if in.MayCapture {
			flags |= exeMayCapture
		}
		b = binary.AppendUvarint(b, flags)
		str(in.Fallback)
		str(in.Receiver)
		b = binary.AppendUvarint(b, uint64(len(in.Captured)))
		for _, c := range in.Captured {
			str(c)
		}
	}
	return seal(b)
}

// exeIndex is a table as read: the file itself, mapped, and where each
// entry is in it. A process of a thousand functions looks up a thousand of
// the table's entries, often fewer than it holds (every function any
// process of the executable versioned), so an entry is decoded when it is
// looked up. (The table decoded whole into a map cost a fresh process 1.9
// ms and 310 KB for 2000 entries.)
//
// The bytes are the file's own (see openExeTable), so every read of them is
// done inside mapfile.Guard: a process that truncates the file under the
// mapping makes its pages fault, which is then an error instead of the end
// of the process. The table is then dead: absent for the rest of the
// process, whose versions are computed from source as without a table. And
// nothing handed out points into the bytes: the source files' names are
// copied out once, when the table is indexed, and the strings of an entry
// when it is looked up, into one allocation per entry (two when it names
// captured variables), so that a version a caller holds does not change
// nor fault with the file.
type exeIndex struct {
	data  []byte   // the table's file, never written to; read inside mapfile.Guard only
	s     string   // the same bytes as data
	files []string // the source files, copied out of data
	keys  []exeKey // ascending, as encodeExeTable writes them
	offs  []uint32 // where the entry of keys[i] is, from its key on
	// reads is broken (the table dead) when the file changed under the
	// mapping: a read faulted (it was truncated) or an entry is no longer
	// what the index says (it was written to in place, which flowcache
	// never does: it renames a new table into place). A dead table is
	// absent.
	reads  mapfile.Reader
	file   *mapfile.File // what data is of; nil for a table indexed from bytes
	mapped bool          // data is a mapping of the file (not a copy read)
}

// indexExeTable indexes a table written by encodeExeTable for buildID. A
// table that is damaged (bad magic or checksum, a length past the end, a
// version that is not 64 hex digits, keys out of order) or written for
// another build, or whose file shrank while it was indexed (a fault), is
// not used. Every length is checked against what remains before it is
// used, and every entry is checked here, so that a lookup cannot fail
// unless the file changes under the mapping (it then re-reads no more than
// an entry's key to tell, and kills the table).
func indexExeTable(b []byte, buildID string) (x *exeIndex, ok bool) {
	if err := mapfile.Guard(func() { x, ok = index(b, buildID) }); err != nil {
		return nil, false
	}
	return x, ok
}

// index is indexExeTable, unguarded.
func index(b []byte, buildID string) (*exeIndex, bool) {
	body, ok := unseal(b, exeTableMagic)
	if !ok {
		return nil, false
	}
	// The bytes are never written to (b is not the caller's to change
	// after this call): an entry's strings can be read as substrings of
	// them, copied out only when the entry is handed out.
	x := &exeIndex{data: body, s: unsafe.String(unsafe.SliceData(body), len(body))}
	w := x.wire(0)
	if w.str() != buildID {
		return nil, false
	}
	x.files = make([]string, w.count(1))
	for i := range x.files {
		x.files[i] = w.str()
	}
	copyOut(x.files, nil)
	// An entry takes at least 70 bytes (its version and its numbers).
	n := w.count(70)
	x.keys, x.offs = make([]exeKey, n), make([]uint32, n)
	for i := range n {
		off := len(x.data) - len(w.d)
		k := exeKey(w.v())
		if w.bad || i > 0 && k <= x.keys[i-1] || off > math.MaxUint32 {
			return nil, false
		}
		x.keys[i], x.offs[i] = k, uint32(off)
		if _, ok := x.read(&w, true); !ok {
			return nil, false
		}
	}
	if !w.done() {
		return nil, false
	}
	return x, true
}

// wire reads the table from offset off.
func (x *exeIndex) wire(off uint32) wire { return wire{d: x.data[off:], s: x.s[off:]} }

// read reads an entry after its key, and reports whether it is well
// formed. With check set (indexExeTable checking every entry) it keeps
// nothing: the Info is the zero value. Otherwise the entry's strings are
// copied out of the table (copyOut).
func (x *exeIndex) read(w *wire, check bool) (Info, bool) {
	var in Info
	in.Func = w.str()
	fi := w.uv()
	line := w.uv()
	in.Version = w.str()
	flags := w.uv()
	in.Fallback, in.Receiver = w.str(), w.str()
	if w.bad || line > 1<<31 || fi > uint64(len(x.files)) || check && !isVersion(in.Version) {
		return Info{}, false
	}
	in.Line = int(line)
	if fi > 0 {
		in.File = x.files[fi-1]
	}
	in.FromSource, in.FromTable, in.MayCapture = flags&exeFromSource != 0, flags&exeFromTable != 0, flags&exeMayCapture != 0
	n := w.count(1)
	if check {
		for range n {
			w.str()
		}
		if w.bad || !in.FromSource {
			return Info{}, false
		}
		return Info{}, true
	}
	if n > 0 {
		in.Captured = make([]string, n)
		for i := range in.Captured {
			in.Captured[i] = w.str()
		}
	}
	if w.bad || !in.FromSource {
		return Info{}, false
	}
	s := [...]string{in.Func, in.Version, in.Fallback, in.Receiver}
	copyOut(s[:], in.Captured)
	in.Func, in.Version, in.Fallback, in.Receiver = s[0], s[1], s[2], s[3]
	return in, true
}

// copyOut copies the strings of a and b into one allocation, and makes
// them substrings of it: what is kept of a table must not point into its
// mapping.
func copyOut(a, b []string) {
	n := 0
	for _, s := range a {
		n += len(s)
	}
	for _, s := range b {
		n += len(s)
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, s := range a {
		sb.WriteString(s)
	}
	for _, s := range b {
		sb.WriteString(s)
	}
	all := sb.String()
	for i, s := range a {
		a[i], all = all[:len(s)], all[len(s):]
	}
	for i, s := range b {
		b[i], all = all[:len(s)], all[len(s):]
	}
}

// entry reads the i-th entry of x; called inside mapfile.Guard. It is not
// found (and x is dead) when the entry is not what indexExeTable saw: its
// key is read again to tell, and it must be well formed.
func (x *exeIndex) entry(i int) (Info, bool) {
	w := x.wire(x.offs[i])
	if k := exeKey(w.v()); w.bad || k != x.keys[i] {
		x.reads.Break()
		return Info{}, false
	}
	in, ok := x.read(&w, false)
	if !ok {
		x.reads.Break()
	}
	return in, ok
}

// lookup returns the entry of key k; x may be nil (no table). A dead table
// finds nothing.
func (x *exeIndex) lookup(k exeKey) (in Info, ok bool) {
	if x == nil || x.reads.Broken() {
		return Info{}, false
	}
	i, found := slices.BinarySearch(x.keys, k)
	if !found {
		return Info{}, false
	}
	if x.reads.Read(func() { in, ok = x.entry(i) }) != nil {
		return Info{}, false
	}
	return in, ok
}

// all returns every entry of the table: none when x is nil or dead, or
// when its file changes while it is read (what it held is then lost, not
// taken from a changed file).
func (x *exeIndex) all() map[exeKey]Info {
	if x == nil || x.reads.Broken() {
		return map[exeKey]Info{}
	}
	out := make(map[exeKey]Info, len(x.keys))
	// A fault breaks x, as an entry that changed does.
	x.reads.Read(func() {
		for i, k := range x.keys {
			in, ok := x.entry(i)
			if !ok {
				return
			}
			out[k] = in
		}
	})
	if x.reads.Broken() {
		return map[exeKey]Info{}
	}
	return out
}

// decodeExeTable decodes a table written by encodeExeTable for buildID
// whole (see indexExeTable).
func decodeExeTable(b []byte, buildID string) (map[exeKey]Info, bool) {
	x, ok := indexExeTable(b, buildID)
	if !ok {
		return nil, false
	}
	m := x.all()
	if x.reads.Broken() {
		return nil, false
	}
	return m, true
}

// isVersion reports whether v is a version as computed from source: 64
// lowercase hex digits.
func isVersion(v string) bool {
	if len(v) != 64 {
		return false
	}
	// One branch for the whole string: a table is read for every entry
	// of the executable's table.
	var bad uint8
	for i := range len(v) {
		bad |= notLowerHex[v[i]]
	}
	return bad == 0
}

// notLowerHex is 1 for the bytes that are not lowercase hex digits.
var notLowerHex = func() (t [256]uint8) {
	for c := range t {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			t[c] = 1
		}
	}
	return t
}()

// exeBuildIDSearch is how much of the start of the executable is searched
// for its build ID: the go command's linker puts it in the first page (an
// ELF note) or at the start of the text (Mach-O, PE, and ELF too).
const exeBuildIDSearch = 32 << 10

// exeBuildIDFirst is how much of it is read first.
const exeBuildIDFirst = 4 << 10

// executableBuildID returns the Go build ID of the running executable, or
// "" when it has none that can be used.
func executableBuildID() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	f, err := os.Open(exe)
	if err != nil {
		return ""
	}
	defer f.Close()
	// The ELF note is in the first page of an executable the go command
	// links for Linux: read that first (without allocating), the rest only
	// when the ID is not there whole.
	var first [exeBuildIDFirst]byte
	n, err := f.ReadAt(first[:], 0)
	if n == len(first) {
		if id := findBuildID(first[:]); id != "" {
			return id
		}
	} else if err != nil && err != io.EOF {
		return ""
	}
	buf := make([]byte, exeBuildIDSearch)
	n, err = f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return ""
	}
	return findBuildID(buf[:n])
}

// findBuildID finds a Go build ID in the start of an executable: the ELF
// note of owner "Go" and type 4, or the string the linker writes at the
// start of the text, `\xff Go build ID: "…"\n \xff`. An ID is used only
// when it looks like one the go command writes: printable, without quotes
// or spaces, and made of at least two parts separated by slashes (an
// action ID and a content ID), each long enough to be a hash.
func findBuildID(b []byte) string {
	var id string
	// ELF note: namesz 4, descsz, type 4 (NT_GO_BUILDID), "Go\x00\x00", desc.
	note := []byte("\x04\x00\x00\x00Go\x00\x00")
	if i := bytes.Index(b, note); i >= 8 && binary.LittleEndian.Uint32(b[i-8:]) == 4 {
		size := int(binary.LittleEndian.Uint32(b[i-4:]))
		if start := i + len(note); size > 0 && size <= len(b)-start {
			id = string(b[start : start+size])
		}
	}
	if id == "" {
		const prefix, suffix = "\xff Go build ID: \"", "\"\n \xff"
		if i := bytes.Index(b, []byte(prefix)); i >= 0 {
			rest := b[i+len(prefix):]
			if j := bytes.Index(rest, []byte(suffix)); j > 0 {
				id = string(rest[:j])
			}
		}
	}
	if !validBuildID(id) {
		return ""
	}
	return id
}

func validBuildID(id string) bool {
	if len(id) > 512 {
		return false
	}
	parts := 0
	for p := range strings.SplitSeq(id, "/") {
		if len(p) < 16 {
			return false
		}
		for _, c := range []byte(p) {
			if c <= ' ' || c >= 0x7f || c == '"' {
				return false
			}
		}
		parts++
	}
	return parts >= 2
}
