package codeversion

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"sync"
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

	mu    sync.Mutex
	files map[string]*fileEntry // by absolute path
	dirs  map[string]string     // package path -> source directory, learned

	infos    sync.Map // func value code pointer (uintptr) -> Info
	wrappers sync.Map // entry PC (uintptr) -> wrapperTarget

	build     sync.Once
	buildData *buildIdentity
}

func newResolver() *resolver {
	return &resolver{
		stat:      os.Stat,
		readFile:  os.ReadFile,
		readDir:   os.ReadDir,
		buildInfo: debug.ReadBuildInfo,
		exeHash:   hashExecutable,
		now:       time.Now,
		files:     make(map[string]*fileEntry),
		dirs:      make(map[string]string),
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
	if info, ok := r.infos.Load(pc); ok {
		return info.(Info), nil
	}
	info, _ := r.infos.LoadOrStore(pc, r.info(locate(pc)))
	return info.(Info), nil
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
	if !filepath.IsAbs(loc.file) {
		return r.fallback(loc, fmt.Sprintf("source path %q is not absolute (built with -trimpath?)", loc.file))
	}
	f, err := r.file(loc.file)
	if err != nil {
		return r.fallback(loc, err.Error())
	}
	if loc.exact {
		if v, lit, ok := quickVersion(&f.text, loc.name, loc.line); ok {
			if !lit {
				r.learnDir(f, loc.name)
			}
			return Info{Version: v, Func: loc.name, File: loc.file, Line: loc.line, FromSource: true}
		}
	}
	src, err := f.parsed()
	if err != nil {
		return r.fallback(loc, err.Error())
	}
	ids, line, err := src.resolve(loc.name, loc.line, loc.exact)
	if err != nil {
		return r.fallback(loc, err.Error())
	}
	if !src.nodes[ids[0]].lit {
		r.learnDir(f, loc.name)
	}
	return Info{Version: src.version(ids), Func: loc.name, File: loc.file, Line: line, FromSource: true}
}

// learnDir remembers the directory of the package of a top-level function
// declared in f, for finding the source of compiler-generated wrappers.
func (r *resolver) learnDir(f *fileEntry, name string) {
	if f.learned.Load() { // a file is in one package
		return
	}
	pkg, _ := splitName(name)
	if pkg == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.dirs[pkg]; !ok {
		r.dirs[pkg] = filepath.Dir(f.path)
	}
	f.learned.Store(true)
}
