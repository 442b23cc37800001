// Package mutation is flowcache's mutation suite: the acceptance test, from
// the outside, of the rule that a node's code version covers everything its
// result can depend on in code (see the trust rules in DESIGN.md and
// "How caching decides" in the README). It holds no library code; the suite
// is mutation_test.go and the programs under testdata.
//
// # What it does
//
// The suite copies a template module (testdata/pipeline, module
// example.com/pipeline, with github.com/flowcache/flowcache replaced by this
// checkout) into a temporary directory, builds it with the go command found
// on PATH and runs the binary against a local cache directory. The template
// is a pipeline of about 28 nodes, each exercising one way a result can
// depend on code: a helper in the same file, in another file, in another
// package, a method, a generic function; a constant, a variable's
// initializer, a func-typed variable, a variable set in init; an embedded
// file; a struct's fields and tags; an interface's implementation; other
// modules (replaced by a directory, replaced by another directory, required
// at a version served by a local file proxy); a -ldflags -X value; a node
// switched to a function of identical text in another package. The program
// prints, as JSON, for each node whether it was executed or retrieved in the
// run (from the cache's events: execute_node, get_result hit) and both the
// value the run returned and the value the current code computes when the
// function is called directly, without the cache.
//
// The baseline is built once and run twice (the first run executes every
// node, the second retrieves every node). Then each case applies one edit to
// a fresh copy of the baseline source, builds it (one build per case), runs
// it against a copy of the baseline cache, and asserts that exactly the
// expected nodes executed (the edited node and the dependants whose input
// value changed), every other node was retrieved, and every value equals the
// one the current code computes. A node that is retrieved with a value other
// than the fresh one is reported as a STALE HIT. Each case that executes the
// edited node also checks what `flowcache why` says of it (inspect.Why, from
// the code manifests the baseline run and the case's run stored): it must
// name the edited function, constant, variable, type, embedded file, module
// or -X value, e.g. "const example.com/pipeline.factor (nodes.go) changed"
// or "module example.com/rel v1.0.0 -> v1.1.0".
//
// Cases under TestMutations/reexecute must execute the edited node; cases
// under TestMutations/hit (comments, formatting, moved, reordered or added
// declarations, unreachable code, renamed locals) must retrieve everything
// but the node whose own code changed. Three cases have a flow of their own:
// old_binary (a binary built before an edit is run next to the edited source
// and must not retrieve the new code's results), trimpath (binaries built
// with -trimpath, whose source paths are not on disk) and state (a closure's
// captured variable and a method value's receiver, declared with
// driver.WithState, from the program testdata/pipeline/cmd/state).
//
// # Running it
//
//	go test ./internal/mutation
//	go test ./internal/mutation -run 'TestMutations/reexecute/helper' -v
//
// The suite runs by default (it is part of go test ./...) and is skipped only
// with -short. It needs the go command on PATH and the module cache that
// building this repository fills; it needs no network (the module
// example.com/rel is served from a file proxy in a temporary directory, and
// other modules come from the module cache). Builds are its cost: cases run
// in parallel (bounded by -parallel, GOMAXPROCS by default), share the
// build cache, and are built without -race even when the suite runs under
// -race.
package mutation
