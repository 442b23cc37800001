// Package codeversion computes the code version of a Go function: a hash of
// the function's own source, so that a cache can tell when the code of a
// dataflow node changed.
//
// # Contract
//
// [Of] maps a func value to an [Info] whose Version is a lowercase hex SHA-256
// (64 characters). When the source is available (the usual case: a program
// run with go run, go test or go build on the machine that holds the
// checkout), the version is derived from the source text of the function:
//
//   - comments, doc comments and formatting (whitespace, line breaks, blank
//     lines, indentation, CRLF line ends, optional semicolons and trailing
//     commas) do not change the version;
//   - any change of a token of the function changes it: a literal, an
//     operator, an identifier, a statement, a parameter or a result;
//   - the name of a top-level function or method is NOT part of the version:
//     renaming a function need not invalidate its results, and the node name
//     is part of the cache key anyway. Two functions with the same code under
//     different names have the same version;
//   - the receiver of a method is part of the version, so methods with the
//     same body on T and on *T differ, while a method value t.M, a method
//     expression (*T).M of a value method and T.M share the version of the
//     one declaration;
//   - all instantiations of a generic function share one version: they have
//     one source;
//   - a closure (function literal) is versioned by its own text only. Two
//     closures with identical text have the same version wherever they are,
//     which is right for a cache whose key holds the node name.
//
// The version is the SHA-256 of the function's token stream, read with
// go/scanner: comments are not scanned; a semicolon is hashed by kind, so one
// typed and one inserted at a line end are the same; a semicolon before ')'
// or '}' and a comma before ')', ']' or '}' are left out, since formatting
// adds and removes them. Hashing tokens was chosen over printing the AST
// with go/printer after dropping comments because it is about five times
// faster (2 µs against 11 µs for a ten-line function here) and more stable:
// the token stream is defined by the language, while the printer's output
// changes with gofmt's rules from one Go release to the next.
//
// A function's version is computed at the first [Of] for it and then kept
// for the life of the process: the code that runs cannot change while the
// process runs, so neither does its version (re-reading a source file edited
// after the build would give the running code the version of other code).
// Source files are read once, in a cache keyed by path, size and
// modification time, which [Of] compares with the file's at most once a
// second (a stat costs more than versioning a small function). Most
// functions are versioned without parsing their file (see below), in about
// 2 µs each here, the read of the file included; otherwise the file is parsed
// once, and 1000 functions from one file cost one parse. [Of] is safe for
// concurrent use.
//
// # Limits
//
// Only the function's own source is hashed. A change in a function it calls,
// in a package-level variable or constant it reads, in a variable a closure
// captures from its enclosing function, or in a dependency module, is NOT
// detected. When such a change matters, set an explicit version for the node,
// or pass the value as an input so that it is part of the data versions.
//
// The source file on disk is assumed to be the one the binary was built
// from. When it cannot be used, [Of] falls back to a version derived from
// the build information; this happens when the binary runs away from its
// tree, was built with -trimpath (paths are not absolute), the function no
// longer parses (a file is only parsed when the function cannot be found
// without it, so a syntax error elsewhere in the file may go unnoticed) or
// is no longer in the file, or the function is a
// compiler-generated wrapper without a declaration of its own (a method
// expression of an interface method or of a method promoted from an
// embedded field). The fallback hashes the function's runtime name and the
// module that holds it: path, version and sum for a dependency, the Go
// version for the standard library, and for the main module its path,
// version, vcs.revision and vcs.modified. When the main module has no VCS
// revision or uncommitted changes, the SHA-256 of the executable is mixed in
// too, so a rebuilt binary never reuses a stale version. A fallback is
// reported with FromSource false and a reason in Info.Fallback, which the
// caller should surface as an event.
//
// # How functions are found
//
// The runtime's function table gives a function's name and file, and the
// line of its func keyword (runtime.Frame records it since Go 1.20; it is
// read by reflection, and if a future runtime drops it, the line of the
// first instruction is used instead). A top-level function or method is
// found by name. A closure is found by the line of its func keyword, since
// its runtime name (pkg.Outer.func2, pkg.Outer.func2.1, pkg.init.func1) is
// rewritten when the enclosing function is inlined (pkg.main.Outer.func4,
// or pkg.T.M.Outer.func1 in a method T.M).
// When several function literals start on one line, the closure index in the
// name decides; when the name was rewritten by inlining, the index does not
// say which literal it is, and the version then covers all the literals that
// start on that line: a change in any of them changes it, at the cost of
// giving those closures one version. Method values and other wrappers the
// compiler generates have no file; the declared method is looked up in the
// function table near the wrapper, or else in the Go files of the package's
// directory.
//
// With the line of the func keyword, a function is usually found without
// parsing its file: the file's line starts are indexed once, and go/scanner
// scans from the start of that line to the brace that closes the body,
// feeding the same token stream to the hash as the parse would. A
// declaration must start the line with func and its name (after a receiver
// of the right type for a method); a closure must be the only func keyword
// on its line. The file is parsed instead, and the function found as
// described above, whenever the scan cannot be sure to find the function
// the parse would find: when the line holds a '`' or "*/" (it might start
// inside a raw string or a block comment), when the line holds several func
// keywords (several literals, a parameter or result of func type, a method
// and its closure), when the tokens do not match, the braces do not balance
// or the function has no body, when the file holds //line directives, or
// when the runtime gives the line of the first instruction only.
package codeversion
