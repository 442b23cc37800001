package view_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/view"
)

func double(x int) int { return 2 * x }
func inc(x int) int    { return x + 1 }

// A run is rebuilt from the metadata store alone: here the second run of a
// pipeline, which retrieved both nodes.
func Example() {
	ctx := context.Background()
	st := mem.Open() // any store: a local directory, a bucket...
	defer st.Close()
	for range 2 {
		dr, err := driver.NewBuilder().
			WithNodes(driver.Node("doubled", double, "x"), driver.Node("result", inc, "doubled")).
			WithCache(driver.CacheStores(st.Metadata(), st.Results())).
			Build()
		if err != nil {
			panic(err)
		}
		if _, err := dr.Execute(ctx, []string{"result"}, driver.Inputs{"x": 20}, nil); err != nil {
			panic(err)
		}
		dr.Close()
	}
	g, err := view.Load(ctx, st.Metadata(), "") // "": the newest run
	if err != nil {
		panic(err)
	}
	for _, n := range g.Nodes {
		fmt.Printf("%-8s %-5s %-9s requested=%v\n", n.ID, n.Role, n.Outcome, n.Requested)
	}
	for _, e := range g.Edges {
		fmt.Println(e.From, "->", e.To)
	}
	// Output:
	// x        input input     requested=false
	// doubled  node  retrieved requested=false
	// result   node  retrieved requested=true
	// x -> doubled
	// doubled -> result
}

// The DOT of a run depends only on its records.
func ExampleGraph_WriteDOT() {
	recs := []core.NodeRecord{
		{Node: "x", Key: core.CacheKey{Node: "x"}, Outcome: core.OutcomeInput, Size: -1},
		{Node: "y", Key: core.NewCacheKey("y", "c0de", []core.Dep{{Name: "x", Version: "v1"}}), Outcome: core.OutcomeRetrieved, Size: -1, Requested: true},
	}
	g := view.FromRecords("run-1", recs)
	if err := g.WriteDOT(os.Stdout); err != nil {
		panic(err)
	}
	// Output:
	// // The run run-1 of a flowcache cache, drawn by github.com/flowcache/flowcache/view.
	// digraph "run run-1" {
	// 	graph [rankdir=LR, fontname="Helvetica", fontsize=12, labelloc=t, nodesep=0.25, ranksep=0.45, label="run run-1 · 1 retrieved, 0 executed"];
	// 	node [shape=box, style="rounded,filled", fillcolor="#b4d8e4", color="#333333", fontname="Helvetica", fontsize=12, margin="0.22,0.06"];
	// 	edge [color="#333333", arrowsize=0.7];
	// 	"x" [label="x", style="filled,dashed", fillcolor="#ffffff"];
	// 	"y" [label="y", color="#f06449", penwidth="3", fillcolor="#ffc857"];
	// 	"x" -> "y";
	// 	subgraph cluster_legend {
	// 		graph [label="legend", style=rounded, color="#777777", fontsize=11];
	// 		node [fontsize=10, margin="0.1,0.03"];
	// 		"legend:retrieved from cache" [label="retrieved from cache", color="#f06449", penwidth="3"];
	// 		"legend:input" [label="input", style="filled,dashed", fillcolor="#ffffff"];
	// 		"legend:retrieved from cache" -> "legend:input" [style=invis];
	// 		"legend:requested output" [label="requested output", fillcolor="#ffc857"];
	// 		"legend:input" -> "legend:requested output" [style=invis];
	// 	}
	// }
}

// WriteFile picks the format from the file's extension: .dot here, .svg
// when package view/svg is imported.
func ExampleWriteFile() {
	ctx := context.Background()
	st := mem.Open()
	defer st.Close()
	dr, err := driver.NewBuilder().WithNodes(driver.Node("doubled", double, "x")).
		WithCache(driver.CacheStores(st.Metadata(), st.Results())).Build()
	if err != nil {
		panic(err)
	}
	defer dr.Close()
	if _, err := dr.Execute(ctx, []string{"doubled"}, driver.Inputs{"x": 1}, nil); err != nil {
		panic(err)
	}
	run, _ := dr.Cache().LastRunID(ctx)
	path := filepath.Join(os.TempDir(), "flowcache-example-run.dot")
	defer os.Remove(path)
	// In another process, later: any run, from the metadata store alone.
	if err := view.WriteFile(ctx, st.Metadata(), run, path, view.WithoutTimings()); err != nil {
		panic(err)
	}
	f, err := os.Open(path)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); len(line) > 1 && line[1] == '"' {
			fmt.Println(line)
		}
	}
	// Output:
	// 	"x" [label="x", style="filled,dashed", fillcolor="#ffffff"];
	// 	"doubled" [label="doubled", fillcolor="#ffc857"];
	// 	"x" -> "doubled";
}

// A graph is JSON for scripts and other tools, as `flowcache draw --json`
// prints it.
func ExampleGraph_MarshalJSON() {
	recs := []core.NodeRecord{
		{Node: "x", Key: core.CacheKey{Node: "x"}, Outcome: core.OutcomeInput, Size: -1},
		{Node: "y", Key: core.NewCacheKey("y", "c0de", []core.Dep{{Name: "x", Version: "v1"}}), Outcome: core.OutcomeExecuted,
			Behavior: core.Default, Duration: 1500, Size: 12, Requested: true},
	}
	b, err := json.MarshalIndent(view.FromRecords("r1", recs), "", "  ")
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
	// Output:
	// {
	//   "run_id": "r1",
	//   "nodes": [
	//     {
	//       "id": "x",
	//       "name": "x",
	//       "role": "input",
	//       "outcome": "input",
	//       "behavior": "unset",
	//       "duration_ns": 0,
	//       "size": -1
	//     },
	//     {
	//       "id": "y",
	//       "name": "y",
	//       "role": "node",
	//       "outcome": "executed",
	//       "behavior": "default",
	//       "requested": true,
	//       "duration_ns": 1500,
	//       "size": 12
	//     }
	//   ],
	//   "edges": [
	//     {
	//       "from": "x",
	//       "to": "y"
	//     }
	//   ],
	//   "fan_outs": []
	// }
}
