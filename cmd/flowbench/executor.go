package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/internal/chaingen"
)

// goalExecutorNode is issue 13's goal for a trivial node without a cache:
// ten times faster than Hamilton 1.88's 13.6 µs.
const goalExecutorNode = 1.4

// executorBench measures the executor alone, without a cache: Execute of a
// built driver on the chain of -n distinct functions and on a wide graph
// (one source, -n independent nodes, a tree of joins summing them ten at a
// time), at parallelism 1 and GOMAXPROCS. Each (graph, parallelism) runs in
// a fresh process: the first Execute (what a one-shot program pays) and the
// median of -reps more (the steady state), per node, with the allocations
// per node of the steady state.
func executorBench(args []string) error {
	fs := flag.NewFlagSet("executor", flag.ExitOnError)
	n := fs.Int("n", 1000, "chain length, and width of the wide graph (a power of 10)")
	reps := fs.Int("reps", 20, "executes after the first (the median is reported)")
	graph := fs.String("graph", "", "internal: the graph of a child process (chain or wide)")
	par := fs.Int("p", 0, "internal: the parallelism of a child process")
	cpuprofile := fs.String("cpuprofile", "", "with -graph: write a CPU profile of the executes to this file")
	fs.Parse(args)
	if *n < 10 || *n >= len(chaingen.Funcs) {
		return fmt.Errorf("-n %d: want 10..%d", *n, len(chaingen.Funcs)-1)
	}
	if *graph != "" {
		return executorChild(*graph, *n, *par, *reps, *cpuprofile)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, g := range []string{"chain", "wide"} {
		for _, p := range []int{1, runtime.GOMAXPROCS(0)} {
			cmd := exec.Command(self, "executor", "-n", strconv.Itoa(*n), "-reps", strconv.Itoa(*reps), "-graph", g, "-p", strconv.Itoa(p))
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s at parallelism %d: %w", g, p, err)
			}
		}
	}
	return nil
}

func executorChild(graph string, n, p, reps int, cpuprofile string) error {
	var nodes []*driver.NodeDef
	var out string
	var want int
	switch graph {
	case "chain":
		nodes, out, want = chainNodes(n), "node_"+strconv.Itoa(n-1), n-1
	case "wide":
		var err error
		if nodes, out, err = executorWideNodes(n); err != nil {
			return err
		}
		want = n
	default:
		return fmt.Errorf("-graph %q: want chain or wide", graph)
	}
	dr, err := driver.NewBuilder().WithNodes(nodes...).WithParallelism(p).Build()
	if err != nil {
		return err
	}
	defer dr.Close()
	ctx := context.Background()
	outs := []string{out}
	execute := func() (time.Duration, error) {
		start := time.Now()
		res, err := dr.Execute(ctx, outs, nil, nil)
		d := time.Since(start)
		if err == nil && res[out] != want {
			err = fmt.Errorf("%s gave %v, want %d", graph, res[out], want)
		}
		return d, err
	}
	first, err := execute()
	if err != nil {
		return err
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	steady, err := medianOf(reps, func(int) (time.Duration, error) { return execute() }, func(d time.Duration) int64 { return int64(d) })
	if err != nil {
		return err
	}
	runtime.ReadMemStats(&m1)
	perNode := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(len(nodes)) }
	emit(map[string]any{
		"bench": "executor", "graph": graph, "nodes": len(nodes), "parallelism": p, "gomaxprocs": runtime.GOMAXPROCS(0), "reps": reps,
		"first_us_per_node": round(perNode(first), 3),
		"us_per_node":       round(perNode(steady), 3),
		"allocs_per_node":   round(float64(m1.Mallocs-m0.Mallocs)/float64(reps)/float64(len(nodes)), 2),
		"goal_us_per_node":  goalExecutorNode,
		"met":               perNode(steady) <= goalExecutorNode,
	})
	return nil
}

// executorWideNodes is one source, n independent nodes reading it (distinct
// functions, each adding 1) and a tree of joins summing them ten at a time:
// the output is n.
func executorWideNodes(n int) ([]*driver.NodeDef, string, error) {
	for w := n; w > 1; w /= 10 {
		if w%10 != 0 {
			return nil, "", fmt.Errorf("-n %d: the wide graph wants a power of 10", n)
		}
	}
	nodes := []*driver.NodeDef{driver.Node("src", chaingen.Funcs[0])}
	var level []string
	for i := range n {
		name := "w" + strconv.Itoa(i)
		nodes = append(nodes, driver.Node(name, chaingen.Funcs[i+1], "src"))
		level = append(level, name)
	}
	for depth := 0; len(level) > 1; depth++ {
		var next []string
		for i := 0; i < len(level); i += 10 {
			name := "j" + strconv.Itoa(depth) + "_" + strconv.Itoa(i/10)
			deps := make([]any, 10)
			for k, dep := range level[i : i+10] {
				deps[k] = dep
			}
			nodes = append(nodes, driver.Node(name, sum10, deps...))
			next = append(next, name)
		}
		level = next
	}
	return nodes, level[0], nil
}

func sum10(a, b, c, d, e, f, g, h, i, j int) int { return a + b + c + d + e + f + g + h + i + j }
