// Command state is the program of the mutation suite's state cases: a node
// whose function holds state at run time, a closure that captures a variable
// (node "closure") or a method value whose receiver holds a field (node
// "method_value"). The state comes from the flag -k, so it is data, not code.
//
// With -with-state the node is declared with driver.WithState; without it,
// Build must fail. The output has the shape of the pipeline program's, or
// {"build_error": "..."} when Build fails.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
)

// scaler returns a closure that captures k.
func scaler(k int) func(int) int {
	return func(x int) int { return x * k }
}

// multiplier's method value holds its receiver.
type multiplier struct {
	k int
}

func (m *multiplier) Apply(x int) int { return x*m.k + 1 }

const input = 5

type nodeOut struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Value  any    `json:"value"`
	Fresh  any    `json:"fresh"`
}

type output struct {
	Nodes      []nodeOut `json:"nodes,omitempty"`
	BuildError string    `json:"build_error,omitempty"`
}

func main() {
	dir := flag.String("cache", "", "cache directory")
	node := flag.String("node", "closure", `"closure" or "method_value"`)
	k := flag.Int("k", 3, "the state the node's function holds")
	withState := flag.Bool("with-state", false, "declare the state with driver.WithState")
	flag.Parse()
	out, err := run(*dir, *node, *k, *withState)
	if err != nil {
		fmt.Fprintln(os.Stderr, "state:", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "state:", err)
		os.Exit(1)
	}
}

func run(dir, node string, k int, withState bool) (*output, error) {
	var fn func(int) int
	var opts []any
	switch node {
	case "closure":
		fn = scaler(k)
		if withState {
			opts = append(opts, driver.WithState(k))
		}
	case "method_value":
		m := &multiplier{k: k}
		fn = m.Apply
		if withState {
			opts = append(opts, driver.WithState(m))
		}
	default:
		return nil, errors.New("unknown node " + node)
	}
	dr, err := driver.NewBuilder().
		WithNodes(driver.Node(node, fn, append([]any{"x"}, opts...)...)).
		WithCache(driver.CacheDir(dir)).
		Build()
	if err != nil {
		return &output{BuildError: err.Error()}, nil
	}
	defer dr.Close()
	ctx := context.Background()
	res, err := dr.Execute(ctx, []string{node}, driver.Inputs{"x": input}, nil)
	if err != nil {
		return nil, fmt.Errorf("execute: %w", err)
	}
	runID, err := dr.Cache().LastRunID(ctx)
	if err != nil {
		return nil, err
	}
	status := "absent"
	for _, e := range dr.Cache().Events(slog.LevelDebug, runID) {
		switch {
		case e.Node != node:
		case e.Type == core.EventExecuteNode:
			status = "executed"
		case e.Type == core.EventGetResult && e.Actor == core.ActorAdapter && e.Message == "hit" && status == "absent":
			status = "retrieved"
		}
	}
	return &output{Nodes: []nodeOut{{Name: node, Status: status, Value: res[node], Fresh: fn(input)}}}, nil
}
