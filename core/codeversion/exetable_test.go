package codeversion

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/internal/chaingen"
	"github.com/flowcache/flowcache/internal/mapfile"
)

// TestExeTable checks that a later process of the same executable (a
// resolver with the same build ID) takes the versions from the table the
// first one kept, without looking at the source at all (here: a source
// that has gone, or that was edited after the build), that a rebuilt
// executable (another build ID) computes its own, and that fallbacks are
// not kept.
func TestExeTable(t *testing.T) {
	requireSource(t)
	tables := t.TempDir()
	const id1 = "aaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbb"
	const id2 = "cccccccccccccccccccc/dddddddddddddddddddd"
	of := func(r *resolver, fn any) Info {
		t.Helper()
		info, err := r.of(fn)
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	newR := func(id string, source bool) *resolver {
		r := newResolver()
		r.tables = tables
		r.buildID = func() string { return id }
		if !source {
			gone := func(p string) (fs.FileInfo, error) { return nil, fs.ErrNotExist }
			r.stat = gone
			r.readFile = func(string) ([]byte, error) { return nil, fs.ErrNotExist }
			r.readDir = func(string) ([]fs.DirEntry, error) { return nil, fs.ErrNotExist }
			r.scanTree = func(string) (*tree, error) { return nil, fs.ErrNotExist }
			r.exeHash = func() (string, error) { return strings.Repeat("e", 64), nil }
		}
		return r
	}
	adder := makeAdder(1) // one closure: each call site inlined is another
	r1 := newR(id1, true)
	want := mustOf(t, r1, double)
	add := mustOf(t, r1, adder)
	if !want.FromSource || len(add.Captured) != 1 {
		t.Fatalf("first process: %+v %+v, want versions from source", want, add)
	}
	r1.saveTables()
	files, _ := filepath.Glob(filepath.Join(tables, "x*.table"))
	if len(files) != 1 {
		t.Fatalf("executable tables %v, want one", files)
	}

	// The same build, its source gone: the versions it was built from.
	r2 := newR(id1, false)
	if got := mustOf(t, r2, double); !reflect.DeepEqual(got, want) {
		t.Errorf("same build, no source: %+v, want %+v", got, want)
	}
	if got := mustOf(t, r2, adder); got.Version != add.Version || len(got.Captured) != 1 || got.Captured[0] != add.Captured[0] {
		t.Errorf("same build, closure: %+v, want %+v", got, add)
	}

	// Another build without its source: no table serves it, the fallback
	// says so, and the fallback is not kept for the next process.
	r3 := newR(id2, false)
	if got := of(r3, double); got.FromSource || got.Version == want.Version {
		t.Errorf("another build, no source: %+v, want a fallback", got)
	}
	r3.saveTables()
	if files, _ := filepath.Glob(filepath.Join(tables, "x*.table")); len(files) != 1 {
		t.Errorf("a fallback was kept: tables %v", files)
	}

	// No build ID, or tables off: nothing read, nothing written.
	r4 := newR("", false)
	if got := of(r4, double); got.FromSource {
		t.Errorf("no build ID, no source: %+v, want a fallback", got)
	}
	r5 := newR(id1, false)
	r5.tables = ""
	if got := of(r5, double); got.FromSource {
		t.Errorf("tables off, no source: %+v, want a fallback", got)
	}

	// A damaged table is not used (the versions are computed again) and is
	// never a panic; a cut one neither.
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for off := range len(b) {
		bad := append([]byte(nil), b...)
		bad[off] ^= 0x10
		if m, ok := decodeExeTable(bad, id1); ok {
			t.Fatalf("byte %d damaged: decodes to %d entries", off, len(m))
		}
	}
	for n := range len(b) {
		if _, ok := decodeExeTable(b[:n], id1); ok {
			t.Fatalf("a table cut to %d bytes decodes", n)
		}
	}
	if _, ok := decodeExeTable(b, id2); ok {
		t.Error("a table decodes for another build ID")
	}
	if err := os.WriteFile(files[0], b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if got := of(newR(id1, false), double); got.FromSource {
		t.Errorf("cut table, no source: %+v, want a fallback", got)
	}
	if got := mustOf(t, newR(id1, true), double); !reflect.DeepEqual(got, want) {
		t.Errorf("cut table, with source: %+v, want %+v", got, want)
	}
}

// TestExeTableMerges checks that a process adding versions keeps the ones
// an earlier process of the same build wrote.
func TestExeTableMerges(t *testing.T) {
	requireSource(t)
	tables := t.TempDir()
	const id = "aaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbb"
	r1 := newResolver()
	r1.tables, r1.buildID = tables, func() string { return id }
	a := mustOf(t, r1, double)
	r1.saveTables()
	r2 := newResolver()
	r2.tables, r2.buildID = tables, func() string { return id }
	b := mustOf(t, r2, makeAdder(2))
	r2.saveTables()
	files, _ := filepath.Glob(filepath.Join(tables, "x*.table"))
	if len(files) != 1 {
		t.Fatalf("tables %v", files)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	m, ok := decodeExeTable(raw, id)
	if !ok || len(m) != 2 {
		t.Fatalf("merged table: %d entries (ok %v), want 2", len(m), ok)
	}
	for _, want := range []Info{a, b} {
		found := false
		for _, in := range m {
			found = found || in.Version == want.Version && in.Func == want.Func
		}
		if !found {
			t.Errorf("%s missing from the merged table", want.Func)
		}
	}
}

// TestFindBuildID checks the two places the go command's linker writes a
// build ID, and that what does not look like one is not used.
func TestFindBuildID(t *testing.T) {
	const id = "Tr7_VNiBaF_CyY9M1Yur/YBCq-GtoQOi6B_1RdJA8/Wllsc6k-mCvlFAqKqvHP/oJAvq-GPJOIuMSez_UcT"
	elfNote := func(desc string) []byte {
		b := make([]byte, 100)
		b = binary.LittleEndian.AppendUint32(b, 4)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(desc)))
		b = binary.LittleEndian.AppendUint32(b, 4)
		b = append(b, "Go\x00\x00"...)
		return append(append(b, desc...), 0, 0, 0, 0)
	}
	text := func(desc string) []byte {
		return []byte("\x00\x00\xff Go build ID: \"" + desc + "\"\n \xff\x00")
	}
	for _, tt := range []struct {
		name string
		b    []byte
		want string
	}{
		{"elf note", elfNote(id), id},
		{"text", text(id), id},
		{"nothing", []byte("no id here"), ""},
		{"one part", text("Tr7_VNiBaF_CyY9M1Yur"), ""},
		{"short part", text("Tr7_VNiBaF_CyY9M1Yur/abc"), ""},
		{"blank", text(""), ""},
		{"redacted", text("redacted"), ""},
		{"space", text("Tr7_VNiBaF_CyY9M1Yur/YBCq GtoQOi6B_1RdJA8"), ""},
		{"elf note past the end", elfNote(id)[:110], ""},
	} {
		if got := findBuildID(tt.b); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestExecutableBuildID checks the running test binary's build ID against
// what the go command says it is.
func TestExecutableBuildID(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs go tool buildid")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "tool", "buildid", exe).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) || err != nil {
		t.Skipf("go tool buildid: %v", err)
	}
	want := strings.TrimSpace(string(out))
	start := time.Now()
	got := executableBuildID()
	if got != want {
		t.Errorf("executableBuildID %q, go tool buildid %q", got, want)
	}
	t.Logf("read in %v", time.Since(start))
}

// TestParsed checks that a resolver records a parse, and that one served
// by a kept table does not.
func TestParsed(t *testing.T) {
	requireSource(t)
	tables := t.TempDir()
	r1 := newResolver()
	r1.tables = tables
	mustOf(t, r1, double)
	if !r1.parsed.Load() {
		t.Error("the first resolver computed a version without recording a parse")
	}
	r1.saveTables()
	r2 := newResolver()
	r2.tables = tables
	mustOf(t, r2, double)
	if r2.parsed.Load() {
		t.Error("a resolver served by the module table recorded a parse")
	}
}

// TestExeIndex checks that an entry looked up in an indexed table is the
// Info that was encoded, every field, that keys absent or between present
// ones are not found, and that a table whose keys are out of order (which
// encodeExeTable never writes, so a damaged one whatever its checksum) is
// not used.
func TestExeIndex(t *testing.T) {
	const id = "aaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbb"
	v := func(c string) string { return strings.Repeat(c, 64) }
	infos := map[exeKey]Info{
		-40: {Version: v("a"), Func: "m.F", File: "/src/m/f.go", Line: 3, FromSource: true},
		0:   {Version: v("b"), Func: "m.G.func1", File: "/src/m/f.go", Line: 9, FromSource: true, Captured: []string{"x", "y"}},
		7:   {Version: v("c"), Func: "m.T.M-fm", File: "/src/m/t.go", Line: 12, FromSource: true, Receiver: "m.T"},
		1e9: {Version: v("d"), Func: "m.H", Line: 1, FromSource: true, FromTable: true},
	}
	b := encodeExeTable(id, infos)
	x, ok := indexExeTable(b, id)
	if !ok {
		t.Fatal("table not indexed")
	}
	for k, want := range infos {
		got, ok := x.lookup(k)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("key %d: %+v (found %v), want %+v", k, got, ok, want)
		}
	}
	for _, k := range []exeKey{-41, -1, 1, 8, 1e9 + 1} {
		if got, ok := x.lookup(k); ok {
			t.Errorf("key %d absent from the table: found %+v", k, got)
		}
	}
	if _, ok := (*exeIndex)(nil).lookup(0); ok {
		t.Error("no table: found an entry")
	}
	if m, ok := decodeExeTable(b, id); !ok || !reflect.DeepEqual(m, infos) {
		t.Errorf("decoded whole: %+v, want %+v", m, infos)
	}

	// Keys out of order, or twice, under a right checksum.
	unsorted := encodeExeTableKeys(id, infos, []exeKey{-40, 7, 0, 1e9})
	if _, ok := indexExeTable(unsorted, id); ok {
		t.Error("a table with keys out of order is used")
	}
	dup := encodeExeTableKeys(id, infos, []exeKey{-40, 0, 0, 1e9})
	if _, ok := indexExeTable(dup, id); ok {
		t.Error("a table with a key twice is used")
	}
}

// TestExeTableSavesTwice checks that a process that saves, then adds
// versions and saves again, keeps what it saved first, and that a process
// serves the versions of the table it read and those it computed itself.
func TestExeTableSavesTwice(t *testing.T) {
	requireSource(t)
	tables := t.TempDir()
	const id = "aaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbb"
	newR := func() *resolver {
		r := newResolver()
		r.tables, r.buildID = tables, func() string { return id }
		return r
	}
	r1 := newR()
	a := mustOf(t, r1, double)
	r1.saveTables()
	adder := makeAdder(3) // one closure: each call site inlined is another
	b := mustOf(t, r1, adder)
	r1.saveTables()
	r1.saveTables() // nothing new: nothing written
	r2 := newR()
	r2.stat = func(string) (fs.FileInfo, error) { return nil, fs.ErrNotExist }
	r2.scanTree = func(string) (*tree, error) { t.Fatal("listed the module"); return nil, nil }
	for i, fn := range []any{double, adder} {
		want := []Info{a, b}[i]
		if got := mustOf(t, r2, fn); !reflect.DeepEqual(got, want) {
			t.Errorf("later process: %+v, want %+v", got, want)
		}
	}
}

// mappedExeTable writes the executable's table of build id into a new
// directory with the versions of fns (from source), and returns the
// directory, the table's file and those versions as a resolver without
// tables computes them.
func mappedExeTable(t *testing.T, id string, fns []any) (string, string, []Info) {
	t.Helper()
	requireSource(t)
	tables := t.TempDir()
	r := newResolver()
	r.tables, r.buildID = tables, func() string { return id }
	want := make([]Info, len(fns))
	plain := newResolver() // no tables: from source
	for i, fn := range fns {
		got := mustOf(t, r, fn)
		want[i] = mustOf(t, plain, fn)
		if !got.FromSource || !reflect.DeepEqual(got, want[i]) {
			t.Fatalf("%s: %+v, without tables %+v", want[i].Func, got, want[i])
		}
	}
	r.saveTables()
	files, _ := filepath.Glob(filepath.Join(tables, "x*.table"))
	if len(files) != 1 {
		t.Fatalf("executable tables %v, want one", files)
	}
	return tables, files[0], want
}

// cloneInfo returns in with every string copied.
func cloneInfo(in Info) Info {
	in.Func, in.File, in.Version = strings.Clone(in.Func), strings.Clone(in.File), strings.Clone(in.Version)
	in.Fallback, in.Receiver = strings.Clone(in.Fallback), strings.Clone(in.Receiver)
	in.Captured = slices.Clone(in.Captured)
	for i, c := range in.Captured {
		in.Captured[i] = strings.Clone(c)
	}
	return in
}

// tableFuncs are the functions the tests of a mapped table version: a
// closure that captures, a method value, and enough others for a table of
// several pages.
func tableFuncs() []any {
	fns := []any{double, makeAdder(5), counter{}.Get}
	return append(fns, chaingen.Funcs[:300]...)
}

// TestExeTableTruncated truncates the table's file in place after a
// process mapped and indexed it and looked some versions up: the versions
// it handed out stay as they were (they were copied out of the mapping:
// reading them would fault otherwise), the table then finds nothing (its
// pages fault, which is not the end of the process), and the versions are
// computed from source, equal to what a process without a table gets. The
// table written at the end holds those (every function was versioned again
// after the truncation), nothing read from the truncated file.
func TestExeTableTruncated(t *testing.T) {
	const id = "aaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbb"
	fns := tableFuncs()
	tables, file, want := mappedExeTable(t, id, fns)
	if fi, err := os.Stat(file); err != nil || fi.Size() < 4*int64(os.Getpagesize()) {
		t.Fatalf("table of %v bytes (%v), want several pages", fi.Size(), err)
	}
	r := newResolver()
	r.tables, r.buildID = tables, func() string { return id }
	listed := false
	r.scanTree = func(root string) (*tree, error) { listed = true; return scanTree(root) }
	const before = 3 // the closure, the method value and one more from the table
	kept := make([]Info, before)
	for i := range kept {
		kept[i] = mustOf(t, r, fns[i])
	}
	if listed {
		t.Fatal("the module was listed: the versions did not come from the table")
	}
	if len(kept[1].Captured) != 1 || kept[2].Receiver == "" {
		t.Fatalf("closure %+v, method value %+v: want a captured name and a receiver", kept[1], kept[2])
	}
	copies := make([]Info, before)
	for i, in := range kept {
		copies[i] = cloneInfo(in)
	}
	x := r.exeInit().loaded
	if !x.mapped {
		t.Skip("the table is read, not mapped, here: nothing faults")
	}

	if err := os.Truncate(file, 0); err != nil {
		t.Fatal(err)
	}
	for i := range kept {
		if !reflect.DeepEqual(kept[i], copies[i]) || !reflect.DeepEqual(kept[i], want[i]) {
			t.Errorf("%s looked up before the truncation: now %+v, was %+v", want[i].Func, kept[i], copies[i])
		}
	}
	if _, ok := r.exeLookup(reflect.ValueOf(fns[before]).Pointer()); ok {
		t.Error("the truncated table found an entry")
	}
	if !x.reads.Broken() {
		t.Error("the table faulted and is not dead")
	}
	for i, fn := range fns {
		if got := mustOf(t, r, fn); !reflect.DeepEqual(got, want[i]) {
			t.Errorf("%s after the truncation: %+v, want %+v", want[i].Func, got, want[i])
		}
	}
	if len(x.all()) != 0 {
		t.Error("the truncated table contributes entries to a save")
	}

	// The table saved now is what this process computed from source.
	r.saveTables()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := decodeExeTable(b, id)
	if !ok || len(m) != len(fns) {
		t.Fatalf("table saved after the truncation: %d entries (ok %v), want %d", len(m), ok, len(fns))
	}
	for i, fn := range fns {
		if got := m[exeKeyOf(reflect.ValueOf(fn).Pointer())]; !reflect.DeepEqual(got, want[i]) {
			t.Errorf("saved %+v, want %+v", got, want[i])
		}
	}
}

// TestExeTableRewrittenInPlace overwrites the table's file in place, under
// the mapping of a process that looked versions up from it, with other
// bytes of the same length (no fault): what it handed out is unchanged,
// and the table, no longer what was indexed, finds nothing from then on.
func TestExeTableRewrittenInPlace(t *testing.T) {
	const id = "aaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbb"
	fns := tableFuncs()
	tables, file, want := mappedExeTable(t, id, fns)
	r := newResolver()
	r.tables, r.buildID = tables, func() string { return id }
	kept := make([]Info, 3)
	for i := range kept {
		kept[i] = mustOf(t, r, fns[i])
	}
	x := r.exeInit().loaded
	if x == nil || !x.mapped {
		t.Skip("the table is read, not mapped, here")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt(bytes.Repeat([]byte{'x'}, len(b)), 0)
	if err := errors.Join(err, f.Close()); err != nil {
		t.Fatal(err)
	}
	for i := range kept {
		if !reflect.DeepEqual(kept[i], want[i]) {
			t.Errorf("looked up before the file was rewritten: now %+v, want %+v", kept[i], want[i])
		}
	}
	if got, ok := r.exeLookup(reflect.ValueOf(fns[3]).Pointer()); ok {
		t.Errorf("the rewritten table found %+v", got)
	}
	if !x.reads.Broken() {
		t.Error("the rewritten table is not dead")
	}
	for i, fn := range fns[:5] {
		if got := mustOf(t, r, fn); !reflect.DeepEqual(got, want[i]) {
			t.Errorf("%s after the rewrite: %+v, want %+v", want[i].Func, got, want[i])
		}
	}
	if len(x.all()) != 0 {
		t.Error("the rewritten table contributes entries to a save")
	}
}

// TestExeTableTruncatedBeforeIndex indexes a mapping whose file was
// truncated first: not used, no crash.
func TestExeTableTruncatedBeforeIndex(t *testing.T) {
	const id = "aaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbb"
	v := strings.Repeat("a", 64)
	infos := map[exeKey]Info{}
	for k := range exeKey(200) {
		infos[k*8] = Info{Version: v, Func: "m.F" + strings.Repeat("x", int(k)), FromSource: true}
	}
	path := filepath.Join(t.TempDir(), "x.table")
	if err := os.WriteFile(path, encodeExeTable(id, infos), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := mapfile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !f.Mapped() {
		t.Skip("not mapped here")
	}
	if err := os.Truncate(path, int64(os.Getpagesize())); err != nil {
		t.Fatal(err)
	}
	if x, ok := indexExeTable(f.Bytes(), id); ok || x != nil {
		t.Error("a table truncated under its mapping was indexed")
	}
}

// TestExeLookupAllocs checks that a lookup allocates once for an entry
// (its strings, copied out of the table together), and once more for the
// names a closure captures.
func TestExeLookupAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("-race allocates")
	}
	const id = "aaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbb"
	v := strings.Repeat("a", 64)
	x, ok := indexExeTable(encodeExeTable(id, map[exeKey]Info{
		1: {Version: v, Func: "m.F", File: "/m/f.go", Line: 3, FromSource: true, Receiver: "m.T", Fallback: "?"},
		2: {Version: v, Func: "m.G.func1", File: "/m/f.go", Line: 9, FromSource: true, Captured: []string{"a", "b"}},
	}), id)
	if !ok {
		t.Fatal("not indexed")
	}
	for k, want := range map[exeKey]float64{1: 1, 2: 2, 3: 0} {
		if got := testing.AllocsPerRun(100, func() { x.lookup(k) }); got != want {
			t.Errorf("key %d: %v allocations a lookup, want %v", k, got, want)
		}
	}
}

// TestExeTableUnmapped checks that the mapping of a table is released once
// the resolver that mapped it is dropped (tests and benchmarks drop one per
// process they simulate).
func TestExeTableUnmapped(t *testing.T) {
	const id = "aaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbb"
	tables, file, _ := mappedExeTable(t, id, []any{double})
	mappings := func() int {
		b, err := os.ReadFile("/proc/self/maps")
		if err != nil {
			t.Skip("no /proc/self/maps")
		}
		return strings.Count(string(b), file)
	}
	const n = 20
	func() {
		for range n {
			r := newResolver()
			r.tables, r.buildID = tables, func() string { return id }
			if !r.exeInit().loaded.mapped {
				t.Skip("the table is read, not mapped, here")
			}
			mustOf(t, r, double)
		}
	}()
	if got := mappings(); got == 0 {
		t.Fatal("no mapping of the table seen")
	}
	deadline := time.Now().Add(10 * time.Second)
	for mappings() > 0 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := mappings(); got > 0 {
		t.Errorf("%d of %d mappings of dropped resolvers' table left", got, n)
	}
}

// TestExeIndexChangedInPlace changes the bytes of an indexed table into
// another well-formed table of the same length whose keys differ (what a
// file written to in place under its mapping could show): a lookup does
// not take another function's entry for the one asked for.
func TestExeIndexChangedInPlace(t *testing.T) {
	const id = "aaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbb"
	v := strings.Repeat("a", 64)
	table := func(keys ...exeKey) []byte {
		infos := map[exeKey]Info{}
		for i, k := range keys {
			infos[k] = Info{Version: v, Func: fmt.Sprintf("m.F%d", i), FromSource: true}
		}
		return encodeExeTable(id, infos)
	}
	b := table(1, 2, 3)
	x, ok := indexExeTable(b, id)
	if !ok {
		t.Fatal("not indexed")
	}
	if got, ok := x.lookup(1); !ok || got.Func != "m.F0" {
		t.Fatalf("key 1: %+v (found %v)", got, ok)
	}
	other := table(4, 5, 6)
	if len(other) != len(b) {
		t.Fatalf("tables of %d and %d bytes", len(b), len(other))
	}
	copy(b, other)
	if got, ok := x.lookup(2); ok {
		t.Errorf("key 2 after the bytes changed: found %+v", got)
	}
	if got, ok := x.lookup(1); ok || !x.reads.Broken() {
		t.Errorf("key 1 after the bytes changed: found %+v (%v), dead %v", got, ok, x.reads.Broken())
	}
}
