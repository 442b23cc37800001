// Package view draws a run of a flowcache cache: the run's dataflow as a
// graph, with the nodes retrieved from the cache outlined and the executed
// ones not, inputs, overrides and requested outputs marked, fan-outs boxed,
// and a legend. It is the equivalent of Hamilton's
// dr.cache.view_run(run_id=..., output_file_path=...):
//
//	err := view.WriteFile(ctx, meta, runID, "run.svg")   // or "run.dot"; runID "" is the newest run
//	err := view.WriteRun(ctx, dr.Cache(), "", "run.svg") // the driver's last run
//
// Unlike Hamilton's, which draws from the graph of the process that ran,
// the drawing is rebuilt from the metadata store alone (MetadataStore.Run):
// every record of a run names its node and task, says what the node did
// (core.Outcome: retrieved, executed, failed, input, override) and whether
// it was a requested output (NodeRecord.Requested), and its cache key names
// its dependencies, which give the edges. So any earlier run can be drawn,
// by any process, from a local directory or a bucket, long after the
// process that ran it has exited; and fan-out runs are drawn too.
//
// # The drawing
//
// The conventions are Hamilton's, so its users read it at a glance: nodes
// are rounded boxes filled light blue; a node retrieved from the cache has
// a thick orange-red outline (penwidth 3, #f06449), an executed node the
// thin default one; inputs are dashed white boxes, overrides hatched boxes,
// requested outputs are filled yellow, failed nodes red. A node's label
// says what is not the default: its behaviour (recompute, disable, ignore),
// a failure, and, for executed nodes, the time it took and the bytes it
// stored (leave those out with WithoutTimings). The legend shows only what
// the drawing uses; the title says how many nodes were retrieved and
// executed.
//
// # Fan-out
//
// The tasks of a fan-out branch are drawn inside a dashed box labelled with
// the expanding node and the number of tasks. Up to WithMaxTasks tasks
// (DefaultMaxTasks, 4) are drawn one node per task, labelled with their
// task id ("files[2]") and wired task by task. A larger fan-out is drawn
// with one node per branch node, labelled with its number of tasks and how
// many were retrieved, executed and failed: a thousand tasks stay five
// nodes, not five thousand. Such a node is outlined when every task was
// retrieved, and outlined dashed when only some were.
//
// # Formats
//
// DOT (Graphviz's language) is written by this package, in pure Go, and
// depends only on the run: the same run gives the same bytes. SVG is
// rendered by package github.com/flowcache/flowcache/view/svg, Graphviz
// compiled to WebAssembly (no cgo, no Graphviz on the system), which
// registers the "svg" format when imported:
//
//	import _ "github.com/flowcache/flowcache/view/svg"
//
// It is kept out of this package because go-graphviz compiles its module
// when a program starts (0.5–1.2 s the first time on the 2-core
// development machine, ~0.05 s once its compilation cache in os.TempDir()
// is warm), a cost only programs that draw should pay. WriteFile picks the
// format from the file's extension (.dot, .gv, .svg); other renderers can
// be added with RegisterFormat.
//
// Measured on the 2-core development machine (go test -bench . ./view/):
// building the graph from the records and writing DOT takes 4–5 ms for a
// chain of 1000 nodes (writing the DOT alone, 1 ms) and 2–3 ms for a
// fan-out of 1000 tasks drawn grouped; rendering SVG takes 0.11–0.12 s for
// the 1000-node chain (up to 0.45 s with the machine busy), 2 ms for the
// grouped fan-out and 0.08–0.1 s for a fan-out of 100 tasks drawn one node
// per task.
package view

//go:generate go run ../internal/cmd/readmepicture -root .. -out ../docs/run.svg -fanout ../docs/fanout.svg
