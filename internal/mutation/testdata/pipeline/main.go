// Command pipeline is the template program of the mutation suite
// (github.com/flowcache/flowcache/internal/mutation). Each node exercises one
// way a node's result can depend on code; the suite edits that code, rebuilds
// and checks which nodes are executed and which retrieved.
//
// It runs every node through a cached driver and prints, as JSON on stdout,
// for each node whether it was executed or retrieved in this run, the value
// the run returned, and the value the current code computes when the node
// functions are called directly, without the cache.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"

	"example.com/pipeline/pkg1"
)

// spec is one node: its name, function and dependencies.
type spec struct {
	name string
	fn   any
	deps []string
}

// input is the value of the pipeline's only input, "x".
const input = 5

// specs lists the nodes of the pipeline. Every function is a top-level
// function: nothing here holds state at run time.
func specs() []spec {
	x := []string{"x"}
	return []spec{
		{"same_file_helper", SameFileHelper, x},
		{"downstream", Downstream, []string{"same_file_helper"}},
		{"other_file_helper", OtherFileHelper, x},
		{"other_package_helper", OtherPackageHelper, x},
		{"method", Method, x},
		{"generic_helper", GenericHelper, x},
		{"const_read", ConstRead, x},
		{"parity", Parity, []string{"const_read"}},
		{"parity_label", ParityLabel, []string{"parity"}},
		{"var_initializer", VarInitializer, x},
		{"helper_const", HelperConst, x},
		{"func_var", FuncVar, x},
		{"init_global", InitGlobal, x},
		{"embed_file", EmbedFile, x},
		{"struct_field", StructField, x},
		{"struct_tag", StructTag, x},
		{"interface_method", InterfaceMethod, x},
		{"interface_impl", InterfaceImpl, x},
		{"dep_module", DepModule, x},
		{"dep_replaced", DepReplaced, x},
		{"dep_required", DepRequired, x},
		{"ldflags_var", LdflagsVar, x},
		{"old_binary", OldBinary, x},
		{"trimpath", Trimpath, x},
		{"pkg_switch", pkg1.F, x},
		{"plain", Plain, x},
		{"rename_local", RenameLocal, x},
		{"rename_helper_local", RenameHelperLocal, x},
	}
}

// nodeOut is what the program reports about one node.
type nodeOut struct {
	Name string `json:"name"`
	// Status is "executed", "retrieved" or "absent".
	Status string `json:"status"`
	// Value is the value the cached run returned.
	Value any `json:"value"`
	// Fresh is the value the node's function returns when called directly.
	Fresh any `json:"fresh"`
}

type output struct {
	Nodes []nodeOut `json:"nodes"`
	Note  string    `json:"note"`
}

func main() {
	dir := flag.String("cache", "", "cache directory")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "pipeline: -cache is required")
		os.Exit(2)
	}
	out, err := run(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		os.Exit(1)
	}
}

func run(dir string) (*output, error) {
	ctx := context.Background()
	all := specs()
	defs := make([]*driver.NodeDef, len(all))
	names := make([]string, len(all))
	for i, s := range all {
		args := make([]any, len(s.deps))
		for j, d := range s.deps {
			args[j] = d
		}
		defs[i] = driver.Node(s.name, s.fn, args...)
		names[i] = s.name
	}
	// Every code manifest is stored (for `flowcache why`), however long
	// describing the code takes while the suite builds in parallel.
	dr, err := driver.NewBuilder().WithNodes(defs...).WithCache(driver.CacheDir(dir),
		driver.CacheCoreOptions(core.WithManifestWait(time.Minute))).Build()
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	defer dr.Close()
	res, err := dr.Execute(ctx, names, driver.Inputs{"x": input}, nil)
	if err != nil {
		return nil, fmt.Errorf("execute: %w", err)
	}
	runID, err := dr.Cache().LastRunID(ctx)
	if err != nil {
		return nil, fmt.Errorf("last run id: %w", err)
	}
	status := map[string]string{}
	for _, e := range dr.Cache().Events(slog.LevelDebug, runID) {
		switch {
		case e.Type == core.EventExecuteNode:
			status[e.Node] = "executed"
		case e.Type == core.EventGetResult && e.Actor == core.ActorAdapter && e.Message == "hit":
			if status[e.Node] == "" {
				status[e.Node] = "retrieved"
			}
		}
	}
	fresh := computeFresh(all)
	out := &output{Note: harnessNote()}
	for _, s := range all {
		st := status[s.name]
		if st == "" {
			st = "absent"
		}
		out.Nodes = append(out.Nodes, nodeOut{Name: s.name, Status: st, Value: res[s.name], Fresh: fresh[s.name]})
	}
	return out, nil
}

// computeFresh calls every node function directly, in order, without the
// cache: the values the current code computes.
func computeFresh(all []spec) map[string]any {
	vals := map[string]any{"x": input}
	for _, s := range all {
		args := make([]reflect.Value, len(s.deps))
		for i, d := range s.deps {
			args[i] = reflect.ValueOf(vals[d])
		}
		vals[s.name] = reflect.ValueOf(s.fn).Call(args)[0].Interface()
	}
	return vals
}

// harnessNote is reachable from main but from no node: editing it must not
// invalidate any node.
func harnessNote() string {
	return "mutation pipeline"
}
