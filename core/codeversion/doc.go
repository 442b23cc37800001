// Package codeversion computes the code version of a Go function: a hash of
// everything in code that the function's result can depend on, so that a
// cache can tell when a dataflow node's code changed — its own source, and
// also the helpers it calls, the constants and variables it reads, the
// types it uses, the files it embeds and the modules it reaches.
//
// # Contract
//
// [Of] maps a func value to an [Info] whose Version is a lowercase hex
// SHA-256 (64 characters). When the source is available (a program run with
// go run or go test, or built with go build on the machine that holds the
// checkout and not older than its source), the version covers:
//
//   - the function itself: its tokens with comments and formatting left
//     out, its own name left out (renaming a function keeps its results;
//     the node name is part of the cache key anyway), and its local names
//     (parameters, variables, labels) replaced by their order of
//     appearance, so renaming a local is not a change;
//   - its package path: two functions with one text in two packages differ;
//   - every declaration of the module it can reach, each with its package
//     path and its own token hash: functions and methods it calls, generic
//     functions (all instantiations share one source), the constants and
//     package variables it reads with their initializers, the named types
//     it uses (fields, tags, embedded types) with all their methods (fmt,
//     sort or encoding/json call them behind the caller's back), and,
//     through calls, what those reach in turn;
//   - for every package variable reached, every function of the module that
//     may write it: assigns it (init functions included), takes its address,
//     calls a method on it, or passes it to a call when it holds a map,
//     slice, pointer or channel; and, for a function that assigns it, every
//     caller of that function, transitively (a registry's Register stores
//     what its callers pass);
//   - method calls resolved by the type checker: a method of a concrete
//     type of the module exactly (promoted methods included), a method
//     called through an interface as every method of that name in the
//     module (every implementation, over-approximated by name);
//   - the files a reached //go:embed variable embeds, by content;
//   - the values -ldflags -X sets on reached variables;
//   - for any package of another module it reaches, the path, version and
//     go.sum hash of every module of the build (a module's code depends on
//     the versions of the modules it requires), a module replaced by a
//     local directory by the content of that directory;
//   - the toolchain: Go version, GOOS/GOARCH and the build settings (build
//     tags, GOAMD64, CGO_ENABLED, DefaultGODEBUG...). Results are not
//     shared between builds of different Go versions or targets.
//
// [Explain] lists those parts, and a cache stores them beside the version,
// so that a tool can name what changed between two versions ("func
// example.com/m/stats.mean (stats/mean.go)", "module example.com/dep
// v1.0.0 -> v1.1.0", "const example.com/m.Factor").
//
// # How the module is read
//
// The module that holds the function's file (the directory of its go.mod)
// is parsed whole, test files included, and type-checked without a
// compiler, export data or the go command: its packages are checked
// against each other in import order, and the packages of other modules
// and of the standard library are stand-ins without members. So an
// expression typed by another module has no type; a method called on it is
// not the module's code, and a method of the module reached through such a
// value (an interface of another module holding a value of the module) is
// covered because a type named anywhere in the reached code brings all its
// methods. Files are included whatever their build constraints (a file for
// another platform costs at most a needless miss).
//
// Names are resolved over-approximately on purpose: a needless miss costs a
// re-execution, a missed dependency would serve a stale result.
//
// # What a version does not cover
//
//   - State the program holds at run time: the variables a closure captures
//     from the function around it (reported in Info.Captured) and the
//     receiver a method value is bound to (Info.Receiver). They are data;
//     the caller versions them as data (package driver refuses such a node
//     unless it declares the values with driver.WithState).
//   - A value that arrives as data through an interface (a node input of
//     type any or error holding a type of the module): its fingerprint
//     covers its type and fields, not the code of its methods, when the
//     node's own code never names that type.
//   - Changes made through pointers that escape (p := &v stored and written
//     elsewhere), through a variable's method by a caller's argument
//     (v.Set(x): the method's code is covered, not the callers'), state
//     that init functions leave in other modules (image.RegisterFormat,
//     sql.Register), reflection by name, and files read at run time
//     (os.ReadFile): read files as inputs, or set driver.WithCodeVersion.
//   - Files of the module that do not parse are left out of the graph;
//     a function in one falls back (below).
//
// # Stale sources and deployed binaries
//
// The source on disk is used only when it is the running code's: when a
// Go file of the module (or of a directory a replace directive points to)
// changed after the executable was written, the source is newer than the
// binary and [Of] falls back (an old binary run next to newer source does
// not take the newer source's versions). Programs that go run and go test
// build (in a go-build directory or the build cache, where the go command
// rebuilds them when a source changes) are always fresh. A binary built
// with -trimpath, or run where its source is absent, falls back too.
//
// The fallback hashes the function's runtime name and the module that
// holds it: path, version and sum for a dependency, the Go version for the
// standard library, and for the main module its path, version, vcs.revision
// and vcs.modified, and, when the main module has no clean VCS revision,
// the SHA-256 of the executable, so a rebuilt binary never reuses a stale
// version. A fallback is reported with FromSource false and a reason in
// Info.Fallback, which the caller should surface as an event; the first of
// a process is logged at WARN through log/slog's default logger.
//
// # Cost, and the table kept between processes
//
// The first version asked for in a process lists the module (a stat per
// file and directory) and looks up a table an earlier process kept, under
// the user's cache directory ($XDG_CACHE_HOME/flowcache/codeversion, or
// FLOWCACHE_CODEVERSION_CACHE; "off" keeps none). The table is keyed by the
// identity of every Go file and directory of the module (size,
// modification and change times, inode), go.mod, go.sum, the embedded
// files, the toolchain, the build settings and every module's version; a
// process whose module did not change reads the versions from it and
// parses nothing. Otherwise the module is parsed and type-checked once (on
// all cores; about 0.4 s for this module's 50,000 lines here), versions are
// computed as asked, and [Save] writes them to the table (package driver
// calls it after versioning a graph). A damaged table is ignored, never
// trusted. [Of] is safe for concurrent use; a function's version is
// computed once per process (the code that runs cannot change while it
// runs).
//
// A second table is kept per executable, keyed by its Go build ID (the
// hash the go command makes of every input of the build: the source and
// embedded files of every package, the toolchain, the flags, every
// dependency's version — what Go's build cache keys its actions by). A
// binary's code cannot change, so the versions its source gave when it was
// first run (checked then to be the binary's source, as above) hold for
// every later process of that binary: such a process maps one small file
// (rather than reading it into its heap, whose every new page a fresh
// process pays a fault for: a table of 2000 functions, 270 KB, cost 72 of
// them read, 10 mapped and indexed), lists nothing, and decodes only the
// entries of the functions it asks for, copying their strings out of the
// mapping
// (0.3–0.6 ms and 142 KB in 1025 allocations for 1000 functions in a
// benchmark loop on a 2-core machine, against 3.8 ms and 1.5 MB listing
// this module and reading its table: BenchmarkExeTableProcess,
// BenchmarkWarmProcess), and an edit of the source after the build no
// longer turns the running code's versions into fallbacks. A table whose
// file is truncated under the mapping (flowcache renames new tables into
// place; someone else did it) is absent from then on, never a crash. A rebuilt binary has another build ID
// and gets its versions from its source. Only versions from source are
// kept there; a binary without a usable build ID (linked with -buildid= or
// by a tool that blanks it) uses the module table alone.
//
// # How functions are found
//
// The runtime's function table gives a function's name and file, and the
// line of its func keyword (runtime.Frame records it since Go 1.20; it is
// read by reflection). A top-level function or method is found by name. A
// closure is found by the line of its func keyword, since its runtime name
// is rewritten when the enclosing function is inlined; when several
// function literals start on one line, the version covers all of them.
// Method values and other wrappers the compiler generates have no file; the
// declared method is looked up in the function table near the wrapper, or
// else in the Go files of the package's directory.
package codeversion
