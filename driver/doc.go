// Package driver is flowcache's reference dataflow executor: declare nodes
// (Go functions with the names of their dependencies), build the graph, turn
// caching on with one call, and execute.
//
//	dr, err := driver.NewBuilder().
//		WithNodes(
//			driver.Node("raw_data", RawData, "path", driver.WithBehavior(core.Recompute)),
//			driver.Node("clean_dataset", CleanDataset, "raw_data"),
//			driver.Node("statistics", Statistics, "clean_dataset"),
//		).
//		WithCache(). // ./.flowcache: metadata and small results in SQLite, large results as files
//		Build()
//	out, err := dr.Execute(ctx, []string{"statistics"}, driver.Inputs{"path": "data.csv"}, nil)
//
// A node function may take a context.Context first and return an error
// last; it returns one value. Build checks the graph before anything runs
// (acyclic, parameter types against the nodes that feed them, fan-outs well
// formed, behaviours resolvable, result types storable in their format)
// and its errors name the node and the parameter. Execute runs only what
// the requested outputs need, independent nodes in parallel (at most
// WithParallelism at once, default GOMAXPROCS); the first node error
// cancels the run and is returned as a *core.NodeError naming the node and
// task; cancelling ctx stops the run.
//
// Run is Execute returning a RunResult as well: the run's id, each node's
// outcome (core.OutcomeRetrieved, OutcomeExecuted, OutcomeFailed,
// OutcomeSkipped, OutcomeInput, OutcomeOverride) and the run's store faults.
//
// With WithCache, every node is retrieved or executed through package core:
// see its documentation for the model, behaviours and events, and
// Driver.Cache for logs, run ids, data versions and the stores.
//
// A cache fault never fails a build or a run. A cache that cannot be
// opened (a full disk, a path that cannot be created, an unreachable
// bucket; unless BuildContext's context is done first) leaves the Driver
// without a cache for its life: every run
// executes everything and says why; a wrong URL or parameter is still an
// error of Build. A full disk, a read-only cache directory (opened
// read-only by itself, or with "path?mode=ro") or a failing store make each
// run compute what it cannot retrieve, store what it can, and say why once
// at WARN — on slog.Default() unless CacheLogger is set. Node and
// dependency names must be valid UTF-8 (Build says which is not).
//
// # Loaders and savers
//
// A node with the Loader option reads external data, one with the Saver
// option writes a value out (Hamilton's @dataloader and @datasaver). The
// build gives each kind a default behaviour, as Hamilton's
// default_loader_behavior and default_saver_behavior do:
//
//	driver.Node("raw_data", LoadCSV, "path", driver.Loader()),
//	driver.Node("report", WriteReport, "clean_dataset", "out", driver.Saver()),
//	...
//	WithCache(driver.DefaultLoaderBehavior(core.Recompute))
//
// With loaders on Recompute every run reads the source again, and their
// dependants are retrieved while what they read has the data version of the
// last run. The precedence is Hamilton's, strongest first: a behaviour list
// naming the node (Recompute, Disable, Ignore, DefaultNodes), a list naming
// AllNodes, the node's WithBehavior, DefaultLoaderBehavior or
// DefaultSaverBehavior for its role, DefaultBehavior (see
// core.BehaviorConfig). See Saver for what each behaviour does to a saver.
//
// # Context
//
// Build opens the cache's store, which may be a bucket; BuildContext does
// it under a context and fails with an error wrapping ctx.Err() when ctx is
// done first. Execute and Run take the context of the run.
//
// # Fan-out and fan-in
//
// A node with the Expand option returns a slice; every node downstream of
// it runs once per item, as a task with an id like "files[3]", up to a node
// with the Collect option, whose parameter receives the results of a branch
// node as a slice, in item order. The expanding node is executed in every
// run; branch tasks are cached per item, so a warm run executes only the
// expanding node. Nested fan-outs are not supported.
//
// # How a run executes
//
// Build prepares the graph once as slices indexed by node (dependencies,
// dependants, fan-out branches), so a run walks no map per node. A run
// counts each needed node's unfinished dependencies; a node whose count
// reaches zero is ready. At most WithParallelism workers take ready nodes
// from one queue, the calling goroutine being the first: a worker runs the
// first node that a completion makes ready itself, and queues the others,
// starting another worker for each while fewer than the parallelism are
// running. A chain therefore runs on the calling goroutine alone, and a
// wide graph on all the workers (a node's function may run on the goroutine
// that called Execute). The tasks of a fan-out are made when its
// Expand node is done, and count down like nodes. Without a cache a node
// costs its function call through package reflect (its arguments in a
// buffer the worker reuses) and two small allocations: about 0.5–0.7 µs
// for a trivial node on the development machine (`go run ./cmd/flowbench
// executor`, BenchmarkExecuteChain and BenchmarkExecuteWide), nothing of
// package core. With a cache, core.Run decides each node.
package driver
