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
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/flowcache/flowcache/internal/atomicfile"
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

// exeInit finds the build ID and reads the table; once per resolver.
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
		b, err := os.ReadFile(t.path)
		if err != nil {
			return
		}
		if x, ok := indexExeTable(b, t.buildID); ok {
			t.loaded = x
			// In use: renewed daily so that trimTables keeps it.
			if fi, err := os.Stat(t.path); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
				now := time.Now()
				os.Chtimes(t.path, now, now)
			}
		}
	})
	return t
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

// exeIndex is a table as read: the file itself, and where each entry is in
// it. A process of a thousand functions looks up a thousand of the table's
// entries, often fewer than it holds (every function any process of the
// executable versioned), so an entry is decoded when it is looked up; its
// strings are substrings of the file's, which is read once and kept. (The
// table decoded whole into a map cost a fresh process 1.9 ms and 310 KB
// for 2000 entries.)
type exeIndex struct {
	data  []byte   // the table's file, never written to
	s     string   // the same bytes as data
	files []string // the source files, substrings of s
	keys  []exeKey // ascending, as encodeExeTable writes them
	offs  []uint32 // where the entry of keys[i] continues after its key
}

// indexExeTable indexes a table written by encodeExeTable for buildID. A
// table that is damaged (bad magic or checksum, a length past the end, a
// version that is not 64 hex digits, keys out of order) or written for
// another build is not used. Every length is checked against what remains
// before it is used, and every entry is checked here, so that a lookup
// cannot fail.
func indexExeTable(b []byte, buildID string) (*exeIndex, bool) {
	body, ok := unseal(b, exeTableMagic)
	if !ok {
		return nil, false
	}
	// The file is read once and never written to (b is not the caller's
	// to change after this call; exeInit reads it for this): its bytes can
	// back the strings of every entry, instead of a copy of them each.
	x := &exeIndex{data: body, s: unsafe.String(unsafe.SliceData(body), len(body))}
	w := x.wire(0)
	if w.str() != buildID {
		return nil, false
	}
	x.files = make([]string, w.count(1))
	for i := range x.files {
		x.files[i] = w.str()
	}
	// An entry takes at least 70 bytes (its version and its numbers).
	n := w.count(70)
	x.keys, x.offs = make([]exeKey, n), make([]uint32, n)
	for i := range n {
		k := exeKey(w.v())
		if w.bad || i > 0 && k <= x.keys[i-1] || len(x.data)-len(w.d) > math.MaxUint32 {
			return nil, false
		}
		x.keys[i], x.offs[i] = k, uint32(len(x.data)-len(w.d))
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

// read reads an entry after its key, and reports whether it is well formed
// (which indexExeTable checked already for every entry of x; check is false
// then).
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
	for range w.count(1) {
		in.Captured = append(in.Captured, w.str())
	}
	if w.bad || !in.FromSource {
		return Info{}, false
	}
	return in, true
}

// lookup returns the entry of key k; x may be nil (no table).
func (x *exeIndex) lookup(k exeKey) (Info, bool) {
	if x == nil {
		return Info{}, false
	}
	i, ok := slices.BinarySearch(x.keys, k)
	if !ok {
		return Info{}, false
	}
	w := x.wire(x.offs[i])
	return x.read(&w, false)
}

// all returns every entry of the table (none when x is nil).
func (x *exeIndex) all() map[exeKey]Info {
	if x == nil {
		return map[exeKey]Info{}
	}
	out := make(map[exeKey]Info, len(x.keys))
	for i, k := range x.keys {
		w := x.wire(x.offs[i])
		out[k], _ = x.read(&w, false)
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
	return x.all(), true
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
