package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowcache/flowcache/driver"
)

// The goals of issue 13, as ratios of Hamilton's figure to flowcache's
// measured in the same run.
const (
	goalUncached = 10 // a trivial node, no cache: Go executor vs Python's
	goalWarm     = 50 // cache overhead of a warm run, per node
	goalCold     = 50 // cache overhead of a cold run, per node
)

// compareBench runs the chain on flowcache and on Hamilton, one after the
// other on this machine, and prints the ratios (Hamilton's figure over
// flowcache's) beside the goals.
//
// Each side measures itself the way it is used: the uncached figure is the
// steady-state execute of a built driver (Hamilton: median of executes 2-4;
// flowcache: median of -reps executes), per node. The overheads are fresh
// processes, each phase (uncached, cold, warm) in its own: for Hamilton the
// time of dr.execute in that process (its build, which opens the cache, is
// not counted); for flowcache the time of Build, Execute and Close (so
// opening the store and computing code versions are counted against us).
func compareBench(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	n := fs.Int("n", 1000, "number of nodes in the chain")
	reps := fs.Int("reps", 3, "repetitions of each phase, on each side (medians are compared)")
	rounds := fs.Int("rounds", 3, "chain: rounds of flowcache then Hamilton, each compared with the other of its round (the median ratio is reported)")
	bench := fs.String("hamilton-bench", defaultHamiltonBench(), "the `DIR` holding Hamilton's chain.py (shared/bench/hamilton)")
	python := fs.String("python", "/usr/bin/python3", "the Python with Hamilton's dependencies (Debian's, see shared/bench/hamilton/setup)")
	graph := fs.String("graph", "chain", "the graph compared: chain, or wide (one 80 MB []float64 and eight reductions: flowbench wide and Hamilton's wide.py --kind numpy)")
	fs.Parse(args)
	script := filepath.Join(*bench, "chain.py")
	switch *graph {
	case "chain":
	case "wide":
		script = filepath.Join(*bench, "wide.py")
	default:
		return fmt.Errorf("-graph %q: want chain or wide", *graph)
	}
	if _, err := os.Stat(script); err != nil {
		return fmt.Errorf("hamilton's benchmark: %w (set -hamilton-bench to shared/bench/hamilton)", err)
	}
	if err := exec.Command(*python, "-c", "import hamilton, pandas").Run(); err != nil {
		src := os.Getenv("HAMILTON_SRC")
		if src == "" {
			home, _ := os.UserHomeDir()
			src = filepath.Join(home, ".cache/flowcache-bench/hamilton_src")
		}
		if err := exec.Command(*python, "-c", "import sys; sys.path.insert(0, "+strconv.Quote(src)+"); import hamilton, pandas").Run(); err != nil {
			return fmt.Errorf("hamilton is not installed for %s (run %s): %w", *python, filepath.Join(*bench, "setup"), err)
		}
	}
	if *graph == "wide" {
		return compareWide(*python, script, *reps)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	if *rounds < 1 {
		return fmt.Errorf("-rounds %d: want at least 1", *rounds)
	}
	// Rounds of flowcache then Hamilton: the machine's speed drifts (a
	// virtual machine's neighbours), by as much as a third over a minute
	// here, and a ratio of figures measured a minute apart carries that
	// drift. Each round's ratios pair figures measured side by side; the
	// median of the rounds' is reported, with the smallest. flowcache's
	// uncached steady state is measured before and after each Hamilton run
	// (the smaller counts), so that a machine getting busier shows as a
	// spread.
	start := time.Now()
	var fcs, hams []chainFigures
	for range *rounds {
		fc, err := flowcacheChain(self, *n, *reps)
		if err != nil {
			return err
		}
		steady1, err := uncachedSteady(*n, *reps)
		if err != nil {
			return err
		}
		ham, err := hamiltonChain(*python, script, *n, *reps)
		if err != nil {
			return err
		}
		steady2, err := uncachedSteady(*n, *reps)
		if err != nil {
			return err
		}
		fc.uncached = min(steady1, steady2)
		fcs, hams = append(fcs, fc), append(hams, ham)
	}

	ratio := func(h, f float64) float64 {
		if f <= 0 {
			return 0
		}
		return round(h/f, 1)
	}
	rows := []struct {
		name      string
		of        func(chainFigures) float64
		goal      float64
		unit, cmt string
	}{
		{"uncached", func(f chainFigures) float64 { return f.uncached }, goalUncached, "µs/node", "execute of a built driver, steady state"},
		{"warm_overhead", func(f chainFigures) float64 { return f.warm }, goalWarm, "µs/node", "fresh process, every node retrieved, minus uncached"},
		{"cold_overhead", func(f chainFigures) float64 { return f.cold }, goalCold, "µs/node", "fresh process, empty cache dir, minus uncached"},
	}
	type row struct {
		h, f, ratio, min float64
		ratios           []float64
	}
	out := make([]row, len(rows))
	for i, r := range rows {
		var hs, fs, rs []float64
		for k := range fcs {
			h, f := r.of(hams[k]), r.of(fcs[k])
			hs, fs, rs = append(hs, h), append(fs, f), append(rs, ratio(h, f))
		}
		out[i] = row{h: middle(hs), f: middle(fs), ratio: middle(rs), min: slices.Min(rs), ratios: rs}
		emit(map[string]any{
			"bench": "compare", "graph": "chain", "n": *n, "reps": *reps, "rounds": *rounds, "figure": r.name,
			"hamilton_us_per_node": round(out[i].h, 2), "flowcache_us_per_node": round(out[i].f, 2),
			"ratio": out[i].ratio, "ratios": rs, "min_ratio": out[i].min, "goal": r.goal, "met": out[i].ratio >= r.goal, "met_every_round": out[i].min >= r.goal, "what": r.cmt,
		})
	}
	fmt.Fprintf(os.Stderr, "chain of %d, %d rounds of %d reps each, %s in all (Hamilton %s); medians of the rounds:\n", *n, *rounds, *reps, time.Since(start).Round(time.Second), hams[0].version)
	fmt.Fprintf(os.Stderr, "  %-14s %12s %12s %8s %6s  %s\n", "", "Hamilton", "flowcache", "ratio", "goal", "each round")
	for i, r := range rows {
		fmt.Fprintf(os.Stderr, "  %-14s %9.2f µs %9.2f µs %7.1fx %5.0fx  %v\n", r.name, out[i].h, out[i].f, out[i].ratio, r.goal, out[i].ratios)
	}
	return nil
}

// defaultHamiltonBench finds shared/bench/hamilton from the working
// directory or its parents ($FLOWBENCH_HAMILTON overrides).
func defaultHamiltonBench() string {
	if d := os.Getenv("FLOWBENCH_HAMILTON"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		for _, c := range []string{"shared/bench/hamilton", "../shared/bench/hamilton"} {
			p := filepath.Join(dir, c)
			if _, err := os.Stat(filepath.Join(p, "chain.py")); err == nil {
				return p
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "../shared/bench/hamilton"
		}
		dir = parent
	}
}

// chainFigures are per-node microseconds: the uncached cost of a node, and
// the overheads of a warm and a cold run.
type chainFigures struct {
	uncached, warm, cold float64
	version              string
}

// flowcacheChain runs `flowbench chain` in a child and reads its overheads.
func flowcacheChain(self string, n, reps int) (chainFigures, error) {
	out, err := exec.Command(self, "chain", "-n", strconv.Itoa(n), "-reps", strconv.Itoa(reps)).Output()
	if err != nil {
		return chainFigures{}, fmt.Errorf("flowbench chain: %w", exitText(err))
	}
	var f chainFigures
	seen := 0
	for line := range bytes.SplitSeq(bytes.TrimSpace(out), []byte("\n")) {
		var rec struct {
			Phase    string  `json:"phase"`
			Overhead float64 `json:"overhead_us_per_node"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			return f, fmt.Errorf("flowbench chain printed %q: %w", line, err)
		}
		switch rec.Phase {
		case "warm":
			f.warm, seen = rec.Overhead, seen+1
		case "cold":
			f.cold, seen = rec.Overhead, seen+1
		}
	}
	if seen != 2 {
		return f, fmt.Errorf("flowbench chain printed no warm and cold phases: %q", out)
	}
	return f, nil
}

// uncachedSteady builds the chain without a cache and returns the median
// time of reps executes after a first one, per node in microseconds.
func uncachedSteady(n, reps int) (float64, error) {
	dr, err := driver.NewBuilder().WithNodes(chainNodes(n)...).WithParallelism(1).Build()
	if err != nil {
		return 0, err
	}
	defer dr.Close()
	out := []string{"node_" + strconv.Itoa(n-1)}
	if _, err := dr.Execute(context.Background(), out, nil, nil); err != nil {
		return 0, err
	}
	d, err := medianOf(max(reps, 3), func(int) (time.Duration, error) {
		start := time.Now()
		_, err := dr.Execute(context.Background(), out, nil, nil)
		return time.Since(start), err
	}, func(d time.Duration) int64 { return int64(d) })
	return float64(d.Nanoseconds()) / 1e3 / float64(n), err
}

// hamiltonChain runs Hamilton's chain.py and reads its summary.
func hamiltonChain(python, script string, n, reps int) (chainFigures, error) {
	var f chainFigures
	version, summary, err := runHamilton(python, script, strconv.Itoa(n), "--repeats", strconv.Itoa(reps))
	if err != nil {
		return f, err
	}
	var rec struct {
		Overhead struct {
			FreshWarm *float64 `json:"fresh_warm"`
			FreshCold *float64 `json:"fresh_cold"`
		} `json:"overhead_us_per_node"`
		PerNode struct {
			Uncached float64 `json:"uncached"`
		} `json:"per_node_us"`
	}
	if err := json.Unmarshal(summary, &rec); err != nil {
		return f, err
	}
	if rec.Overhead.FreshWarm == nil || rec.Overhead.FreshCold == nil {
		return f, errors.New("hamilton's summary has no fresh-process overheads")
	}
	f.version, f.uncached, f.warm, f.cold = version, rec.PerNode.Uncached, *rec.Overhead.FreshWarm, *rec.Overhead.FreshCold
	return f, nil
}

// runHamilton runs one of Hamilton's benchmark scripts with args, on a
// cache root of its own that it removes after, and returns the Hamilton
// version of its "info" line and its "summary" line (JSON lines both).
func runHamilton(python, script string, args ...string) (version string, summary []byte, err error) {
	root, err := os.MkdirTemp("", "flowbench-hamilton-")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(root)
	cmd := exec.Command(python, append(append([]string{script}, args...), "--cache-root", root)...)
	cmd.Env = append(os.Environ(), "HAMILTON_TELEMETRY_ENABLED=false")
	out, err := cmd.Output()
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", filepath.Base(script), exitText(err))
	}
	for line := range bytes.SplitSeq(bytes.TrimSpace(out), []byte("\n")) {
		var rec struct {
			Event           string `json:"event"`
			HamiltonVersion string `json:"hamilton_version"`
		}
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		switch rec.Event {
		case "info":
			version = rec.HamiltonVersion
		case "summary":
			summary = line
		}
	}
	if summary == nil {
		return "", nil, fmt.Errorf("%s printed no summary", filepath.Base(script))
	}
	return version, summary, nil
}

// exitText adds a child's stderr to its exit error.
func exitText(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}
