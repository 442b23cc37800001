package codeversion

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
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
