// Package inspect looks into a flowcache cache — any pair of a
// core.MetadataStore and a core.ResultStore, or a store URL — after the
// processes that ran pipelines on it have exited, or while they run: it
// lists runs and what each node did in them, explains why a node missed,
// reads a run's events and loads the values nodes stored. It only reads; package maintain counts what a
// cache holds, verifies every stored result and evicts. The flowcache
// command (cmd/flowcache) is a thin layer over both.
//
//	c, err := inspect.Open(ctx, ".flowcache")     // or New(meta, results); "" for $FLOWCACHE_URL, else ./.flowcache
//	defer c.Close()
//	runs, _ := c.Runs(ctx)                         // oldest first, with counts
//	id, _ := c.ResolveRun(ctx, "last")             // a full id, a unique prefix or "last"
//	nodes, _ := c.Nodes(ctx, id)                   // behaviour, key parts, data version, outcome, duration, size
//	why, _ := c.Why(ctx, id, "statistics")         // which part of its key changed since the previous run
//	evs, _, _ := c.Logs(ctx, id, slog.LevelInfo)   // the run's events
//	st, _ := inspect.Load[Stats](ctx, c, "statistics", "") // a node's value in the newest run that has it
//	l, _ := c.Lineage(ctx)                         // the run history, read once and indexed
//	vl, _ := l.Version("3f2a9c")                   // who produced and retrieved a value, upstream, downstream
//	hs, _ := l.History(ctx, "statistics")          // a node's values across runs, each change explained
//
// # Reading a past value
//
// Load decodes the value a node had in a run, as a T: the newest run in
// which the node appears by default, or a run id, prefix or "last";
// node@task names one task of a fan-out. FindResult says where a run keeps
// a node's value (its record, format and Go type) and OpenResult opens the
// stored bytes, verified. The result is verified before it is decoded, by
// the format recorded for it, and checked against its data version: a
// damaged result is an error wrapping core.ErrCorrupt, a value of another
// type one wrapping ErrWrongType, and every error names the node and the
// run. driver.Load does the same over a Driver's cache.
//
// # Why a node missed
//
// A node's cache key is its name, its code version and the data versions of
// its dependencies, and every run's history keeps the parts of the key each
// node had. Why compares the key a node had in a run with the key it had in
// the previous run where it appeared, and names the part that changed: the
// code version, the value of an input, an override, the result of an
// upstream node (and what that node did), a fan-out item, a dependency
// added or removed. When the key did not change it says why the key was
// not found all the same: the node had behaviour Disable or Ignore then (or
// has Recompute, Disable or Ignore now), failed, had a value that cannot be
// fingerprinted, changed format, or its entry was evicted or deleted; or
// the key was found but its result was missing or damaged. A node that is
// in no earlier run is a first run.
//
// When the code version changed, Change.Code says what changed in the code,
// one CodeChange per part: a function, method, constant, variable, init
// function, type, embedded file or -X value of the module that changed, was
// added or removed ("func example.com/m/stats.mean (stats/mean.go)
// changed", "type example.com/m.Point (geom.go) added"), another module at
// another version or directory ("module example.com/dep v1.0.0 -> v1.1.0"),
// the toolchain or build settings, the node's function replaced by another,
// its result type, its WithState values, its WithCodeVersion. It compares
// the code manifests of the two versions (core.CodeManifest), which the runs
// that executed them stored in the cache. Without both manifests (runs from
// before manifests, manifests evicted, or left out by a run that would have
// had to parse the module to describe its code: see core.WithManifestWait),
// Code is empty, Detail says which manifest is missing, and the text says
// only that the code version changed.
//
// # Lineage
//
// Lineage reads the whole run history from the metadata store (Runs once,
// Run once per run: R+1 reads for R runs, on any backend, in any process)
// and indexes it; its methods then answer from memory. Version takes a
// data version (or a unique prefix of one, as ResolveRun takes run ids)
// and returns the runs and nodes that produced it (executed), retrieved it
// or were given it (inputs, overrides), and the data versions upstream of
// it (what it was computed from, recursively, as the cache keys of the
// records name them) and downstream (what was computed from it). The graph
// is one of (node, data version) pairs, so two nodes with equal values stay
// apart; a fan-out's items link to the list of their expanding node, and a
// collect node's input to the tasks it joined. History takes a node (or
// node@task) and returns its data versions and cache keys across runs, one
// step per change, each explained by Why's explanation of the run where it
// began (the part of the key that changed). Cache.VersionLineage and
// Cache.NodeHistory build the index for one question.
package inspect
