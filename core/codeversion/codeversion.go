package codeversion

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Info describes how a function's version was derived.
type Info struct {
	// Version is the code version: a lowercase hex SHA-256 (64 characters).
	Version string
	// Func is the runtime name of the function, e.g. "main.CleanDataset",
	// "pkg.(*T).Method", "pkg.T.Method-fm" or "pkg.Outer.func1".
	Func string
	// File is the source file the version was computed from, "" when the
	// version is not from source.
	File string
	// Line is the line of the function's func keyword in File, or the line
	// the runtime reports when the version is not from source.
	Line int
	// FromSource is false when the fallback was used.
	FromSource bool
	// Fallback says why the source was not used when FromSource is false,
	// e.g. "source file /x/y.go not found"; the caller should report it.
	Fallback string
	// Captured names the variables a closure captures from the function
	// around it. Their values are state the code holds at run time, not
	// code: the version does not cover them, and a caller should version
	// them as data (see the package documentation).
	Captured []string
	// MayCapture is set when the version is not from source (a fallback)
	// and the function is a closure declared inside another function: it
	// may capture variables, which only its source could name (Captured),
	// so a caller cannot tell whether the version covers everything the
	// function computes with.
	MayCapture bool
	// Receiver is set for a method value (t.M): the type of the receiver
	// it is bound to, whose value is state the version does not cover.
	Receiver string
	// FromTable is true when the version came from a build-time table
	// (see GenerateTable) rather than the source on disk; FromSource is
	// true too, since the table holds what the source said at build time.
	FromTable bool
}

// ErrNotFunc is returned (wrapped, with the offending type in the message)
// by [Of] when its argument is not a non-nil func.
var ErrNotFunc = errors.New("codeversion: not a func")

// Of returns the code version of fn, which must be a non-nil func value: a
// function, a method value or expression, an instantiated generic function
// or a closure.
//
// An error is returned only when fn is not a func (test it with
// errors.Is(err, ErrNotFunc)). A source file that is missing or unusable is
// not an error: the version then comes from the build information and
// Info.FromSource is false (see the package documentation).
func Of(fn any) (Info, error) {
	return defaultResolver.of(fn)
}

// defaultResolver serves [Of]; its file cache lives as long as the process.
var defaultResolver = newProcessResolver()

// recheckSources is how long [Of] trusts a source file it has read before
// it compares the file's size and modification time again. A stat costs
// more than versioning a small function, and the functions of a graph are
// versioned in a burst.
const recheckSources = time.Second

// newProcessResolver returns a resolver configured as the one of [Of].
func newProcessResolver() *resolver {
	r := newResolver()
	r.recheck = recheckSources
	r.tables = tableDir()
	r.buildID = executableBuildID
	r.warn = func(info Info) {
		slog.Default().Warn("flowcache: code versions come from the build, not the source: every change of the binary is a miss, "+
			"and a build-time table (see go doc codeversion) keeps them exact", "func", info.Func, "reason", info.Fallback)
	}
	return r
}

// resolver maps func values to versions. Its file system and build
// information are functions so that tests can simulate missing sources and
// other builds.
type resolver struct {
	stat      func(path string) (fs.FileInfo, error)
	readFile  func(path string) ([]byte, error)
	readDir   func(dir string) ([]fs.DirEntry, error)
	buildInfo func() (*debug.BuildInfo, bool)
	// exeHash returns the hex SHA-256 of the running executable.
	exeHash func() (string, error)
	// recheck, when positive, is how long a cached source file is used
	// without a stat; 0 stats the file at each new function.
	recheck time.Duration
	now     func() time.Time

	// executable returns the path and modification time of the running
	// program, to tell whether the source on disk is newer than it.
	executable func() (string, time.Time, error)
	// scanTree lists a module (tree.go).
	scanTree func(root string) (*tree, error)
	// tables is the directory of the persisted version tables, "" for none.
	tables string
	// buildID, when set, returns the running executable's Go build ID (""
	// for none): the key of its table (exetable.go).
	buildID func() string
	exeTab  exeTable
	// warn, when set, is told of the first fallback of the process.
	warn     func(Info)
	warnOnce sync.Once

	mu       sync.Mutex
	files    map[string]*fileEntry // by absolute path
	dirs     map[string]string     // package path -> source directory, learned
	roots    map[string]string     // directory -> its module root ("" for none)
	mods     map[string]*modState  // by module root
	replaced map[string]string     // replaced module directory -> content hash
	reqs     map[string][]string   // go.mod file -> required module paths (nil: unreadable)

	infos    sync.Map // func value code pointer (uintptr) -> Info
	fileRefs sync.Map // source file -> *fileRef
	wrappers sync.Map // entry PC (uintptr) -> wrapperTarget

	build     sync.Once
	buildData *buildIdentity

	parsed atomic.Bool // a module's graph was built (ms.graph)

	exeOnce sync.Once // reads exe, exeErr
	exe     string
	exeErr  error
}

func newResolver() *resolver {
	return &resolver{
		stat:       os.Stat,
		readFile:   os.ReadFile,
		readDir:    os.ReadDir,
		buildInfo:  debug.ReadBuildInfo,
		exeHash:    hashExecutable,
		executable: executableInfo,
		scanTree:   scanTree,
		now:        time.Now,
		files:      make(map[string]*fileEntry),
		dirs:       make(map[string]string),
		roots:      make(map[string]string),
		mods:       make(map[string]*modState),
		replaced:   make(map[string]string),
		reqs:       make(map[string][]string),
	}
}

func (r *resolver) of(fn any) (Info, error) {
	if fn == nil {
		return Info{}, fmt.Errorf("%w: got nil", ErrNotFunc)
	}
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func {
		return Info{}, fmt.Errorf("%w: got %T", ErrNotFunc, fn)
	}
	if v.IsNil() {
		return Info{}, fmt.Errorf("%w: got a nil %T", ErrNotFunc, fn)
	}
	// The code that runs cannot change while the process runs, so neither
	// does its version: compute it once. (Re-reading a source edited since
	// the build would give the running code the version of other code.)
	pc := v.Pointer()
	// The executable's table is read once and never changes: a version
	// found there is not stored again in infos (boxing an Info and a key
	// into a sync.Map cost a process of 1000 functions more than 1 ms).
	if info, ok := r.exeLookup(pc); ok {
		return info, nil
	}
	if info, ok := r.infos.Load(pc); ok {
		return info.(Info), nil
	}
	info := r.info(locate(pc))
	r.exeRemember(pc, info)
	stored, _ := r.infos.LoadOrStore(pc, info)
	return stored.(Info), nil
}

// location is where the runtime says a function is.
type location struct {
	pc   uintptr // entry PC
	name string  // runtime name
	file string
	line int
	// exact is true when line is the line of the func keyword; false when it
	// is the line of the function's first instruction.
	exact bool
}

// locate reads the runtime's function table for the function at pc.
func locate(pc uintptr) location {
	// CallersFrames treats its PCs as return addresses and backs up by one.
	// The last frame is the function itself (earlier ones, if any, would be
	// functions inlined into its first instruction).
	frames := runtime.CallersFrames([]uintptr{pc + 1})
	var fr runtime.Frame
	for {
		f, more := frames.Next()
		fr = f
		if !more {
			break
		}
	}
	loc := location{pc: pc, name: fr.Function, file: fr.File, line: fr.Line}
	if fr.Func != nil {
		loc.pc = fr.Func.Entry()
	}
	if sl := frameStartLine(&fr); sl > 0 {
		loc.line, loc.exact = sl, true
	}
	return loc
}

// startLineField is the index of runtime.Frame's unexported startLine field
// (the line of the func keyword, recorded since Go 1.20), or -1 without it.
var startLineField = func() int {
	f, ok := reflect.TypeFor[runtime.Frame]().FieldByName("startLine")
	if !ok || len(f.Index) != 1 || f.Type.Kind() != reflect.Int {
		return -1
	}
	return f.Index[0]
}()

func frameStartLine(fr *runtime.Frame) int {
	if startLineField < 0 {
		return 0
	}
	return int(reflect.ValueOf(fr).Elem().Field(startLineField).Int())
}

// info computes the Info for a located function.
func (r *resolver) info(loc location) Info {
	if loc.name == "" {
		return r.fallback(loc, "the runtime has no name for the function")
	}
	if loc.file == "<autogenerated>" {
		return r.wrapperInfo(loc)
	}
	_, rest := splitName(loc.name)
	rn := parseRuntimeName(rest)
	t := target{line: loc.line, exact: loc.exact}
	if rn.plain && len(rn.closure) == 0 {
		t.decl = rn.key
	}
	if !filepath.IsAbs(loc.file) {
		return r.fromTableOr(loc, t, fmt.Sprintf("source path %q is not absolute (built with -trimpath?)", loc.file))
	}
	if t.decl != "" && !r.fileRefOf(loc.file).learned.Swap(true) {
		r.learnDir(loc.name, loc.file)
	}
	info, reason, ok := r.fromSource(loc, loc.file, t)
	if !ok {
		return r.fromTableOr(loc, t, reason)
	}
	return info
}

// fileRef is what a source file's functions share: its module, its path
// relative to the module, or why its source cannot be used.
type fileRef struct {
	ms      *modState
	rel     string
	reason  string
	learned atomic.Bool // learnDir was called for the file's package
}

// fileRefOf returns the fileRef of a source file, made once.
func (r *resolver) fileRefOf(file string) *fileRef {
	if v, ok := r.fileRefs.Load(file); ok {
		return v.(*fileRef)
	}
	fr := &fileRef{}
	ms, reason := r.moduleFor(file)
	switch rel, err := filepath.Rel(ms.rootOrEmpty(), file); {
	case ms == nil:
		fr.reason = reason
	case err != nil:
		fr.reason = err.Error()
	default:
		fr.ms, fr.rel = ms, filepath.ToSlash(rel)
	}
	v, _ := r.fileRefs.LoadOrStore(file, fr)
	return v.(*fileRef)
}

// fromTableOr returns the version of the function from a build-time table
// (table.go) when one has it, else the fallback for reason.
func (r *resolver) fromTableOr(loc location, t target, reason string) Info {
	info, why, ok := r.fromTables(loc, t)
	if ok {
		return info
	}
	if why != "" {
		reason += "; " + why
	}
	return r.fallback(loc, reason)
}

// learnDir remembers the directory of the package of a top-level function,
// for finding the source of compiler-generated wrappers.
func (r *resolver) learnDir(name, file string) {
	pkg, _ := splitName(name)
	if pkg == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.dirs[pkg]; !ok {
		r.dirs[pkg] = filepath.Dir(file)
	}
}

// target is the function a version is asked for in a source file: a
// declaration by key ("F", "T.M"), or the literal whose func keyword is on
// line (exact), or that holds line (!exact: the runtime gave the line of
// its first instruction).
type target struct {
	decl  string
	line  int
	exact bool
}

// fromSource returns the version of the function t of file, from the
// module's table or else from its graph.
func (r *resolver) fromSource(loc location, file string, t target) (Info, string, bool) {
	fr := r.fileRefOf(file)
	if fr.ms == nil {
		return Info{}, fr.reason, false
	}
	ms, rel := fr.ms, fr.rel
	line := t.line
	var tk string
	switch {
	case t.decl != "":
		tk = declTableKey(rel, t.decl)
	case t.exact:
		tk = litTableKey(rel, t.line)
	}
	ms.mu.Lock()
	e, ok := ms.entries[tk]
	ms.mu.Unlock()
	if !ok || tk == "" {
		g := ms.graph(r)
		ids, err := g.find(rel, t)
		if err != nil {
			return Info{}, err.Error(), false
		}
		line = g.units[ids[0]].u.line
		if t.decl == "" {
			tk = litTableKey(rel, line)
		}
		ms.mu.Lock()
		e, ok = ms.entries[tk]
		if !ok || e.parts == nil {
			e = r.compute(ms, g, ids)
			ms.entries[tk] = e
			ms.dirty = true
		}
		ms.mu.Unlock()
	}
	info := Info{Version: hex.EncodeToString(e.version[:]), Func: loc.name, File: file, Line: line, FromSource: true}
	if len(e.captured) > 0 {
		info.Captured = slices.Clone(e.captured)
	}
	return info, "", true
}

// find returns the units of the function t in file rel: one declaration,
// or the literals whose func keyword is on the line (several only when
// several start on one line, which then share one version).
func (g *graph) find(rel string, t target) ([]int, error) {
	f := g.files[rel]
	if f == nil {
		if err := g.parseErrs[rel]; err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("source file %s is not part of module %s", rel, g.path)
	}
	if t.decl != "" {
		i, ok := f.sum.decls[t.decl]
		if !ok {
			return nil, fmt.Errorf("no declaration of %s in %s (changed since the build?)", t.decl, rel)
		}
		return []int{f.base + i}, nil
	}
	if f.sum.lineDirectives {
		return nil, fmt.Errorf("%s holds //line directives: the runtime's lines are not the file's", rel)
	}
	var ids []int
	if t.exact {
		for _, i := range f.sum.byLine[t.line] {
			ids = append(ids, f.base+i)
		}
	} else {
		best := -1
		for i, u := range f.sum.units {
			if u.kind == kindLit && u.line <= t.line && t.line <= u.end {
				best = i // later units in source order are nested deeper
			}
		}
		if best >= 0 {
			ids = []int{f.base + best}
			for _, i := range f.sum.byLine[f.sum.units[best].line] {
				if i != best {
					ids = append(ids, f.base+i)
				}
			}
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no function literal at line %d of %s (changed since the build?)", t.line, rel)
	}
	return ids, nil
}

// Save persists the versions computed since the last Save (see the package
// documentation), so that the next process with the same source and build
// reads them instead of parsing the module. Errors are ignored: the table
// is only a cache.
func Save() { defaultResolver.saveTables() }

// Parsed reports whether this process parsed a module to compute the
// versions [Of] gave (rather than reading them from a table an earlier
// process kept): [Explain] is then cheap, where it would otherwise parse
// the module (0.4 s or more for a large one).
func Parsed() bool { return defaultResolver.parsed.Load() }

// Explain returns the parts the code version of fn covers (see [Part]), the
// function itself first. It parses the module when the version came from
// the persisted table. For a version derived from the build (FromSource
// false), it returns no parts and the fallback reason as the error.
func Explain(fn any) ([]Part, error) { return defaultResolver.explain(fn) }

func (r *resolver) explain(fn any) ([]Part, error) {
	info, err := r.of(fn)
	if err != nil {
		return nil, err
	}
	if !info.FromSource {
		return nil, errors.New(info.Fallback)
	}
	ms, reason := r.moduleFor(info.File)
	if ms == nil {
		return nil, errors.New(reason)
	}
	g := ms.graph(r)
	rel, _ := filepath.Rel(ms.root, info.File)
	rel = filepath.ToSlash(rel)
	_, rest := splitName(info.Func)
	rn := parseRuntimeName(rest)
	t := target{line: info.Line, exact: true}
	if rn.plain && len(rn.closure) == 0 {
		t.decl = rn.key
	}
	ids, err := g.find(rel, t)
	if err != nil {
		return nil, err
	}
	// compute notes the embedded files it read in the module's state, as
	// it does for of: under the module's lock (two drivers may explain
	// their nodes at the same time).
	ms.mu.Lock()
	e := r.compute(ms, g, ids)
	ms.mu.Unlock()
	if e.version != mustHex32(info.Version) {
		return nil, fmt.Errorf("the parts of %s no longer give its version (its source changed since it was versioned)", info.Func)
	}
	return e.parts, nil
}

func mustHex32(s string) (out [32]byte) {
	b, _ := hex.DecodeString(s)
	copy(out[:], b)
	return out
}
