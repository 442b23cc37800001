// Command flowbench measures flowcache's overhead, printing one JSON object
// per line.
//
//	flowbench chain -n 1000   # per-node overhead: uncached, cold, warm (fresh process)
//	flowbench fingerprint     # data-version speed on an 80 MB []float64
//	flowbench formats         # encode/decode MB/s per format, and the disk's bandwidth
//	flowbench remote -url 's3://bucket?endpoint=…'   # the chain and a 256 MB result against a bucket
//	flowbench codeversion     # code versions: the first process after an edit, and a warm one
//	flowbench memory -mb 500  # peak memory storing and loading a result, per format (fresh processes)
//	flowbench wide            # one 80 MB []float64 and 8 reductions: uncached, cold, warm, MB/s beside the machine's limits
//	flowbench compare -n 1000 # the chain on flowcache and on Hamilton 1.88, in one run: the ratios
//	flowbench compare -graph wide # the same for the wide graph (Hamilton's wide.py --kind numpy)
//	flowbench executor -n 1000 # the executor alone, no cache: chain and wide graph, µs and allocs per node
//
// chain runs a chain of N distinct generated functions (each adds 1 to its
// parent's int, like Hamilton's own benchmark), so code versioning is part of
// the cost. Phases: uncached (no cache at all), cold (an empty cache
// directory on disk), warm (the cold run's directory). Each run is a fresh
// process; the median of -reps runs is reported. The overhead per node of a
// phase is its time minus the uncached time, divided by N; every phase
// includes building the driver and closing it (a warm run opens SQLite,
// preloads the run's entries, and checkpoints the WAL on close).
// FLOWBENCH_SPLIT=1 prints, on stderr, how each run's time splits into
// build, execute and close.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowcache/flowcache/core/fingerprint"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/internal/chaingen"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "chain":
		err = chain(os.Args[2:])
	case "fingerprint":
		err = fingerprintBench(os.Args[2:])
	case "formats":
		err = formatsBench(os.Args[2:])
	case "remote":
		err = remoteBench(os.Args[2:])
	case "codeversion":
		err = codeVersionBench(os.Args[2:])
	case "memory":
		err = memoryBench(os.Args[2:])
	case "wide":
		err = wideBench(os.Args[2:])
	case "compare":
		err = compareBench(os.Args[2:])
	case "executor":
		err = executorBench(os.Args[2:])
	case "-h", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "flowbench: unknown benchmark %q\n", os.Args[1])
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "flowbench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  flowbench chain [-n 1000] [-reps 5]   per-node overhead of the cache (uncached, cold, warm)
  flowbench fingerprint [-mb 80]        fingerprint speed of a []float64, GB/s
  flowbench formats [-rows 1000000] [-mb 80]
                                        encode/decode MB/s per format, next to the disk's write+fsync MB/s
  flowbench remote -url URL [-n 1000] [-reps 3] [-mb 256]
                                        the chain against a bucket (cold, warm, cold with every node
                                        leased: the cost of single-flight; requests per node),
                                        put/get MB/s of one large result, and warm runs of a pipeline
                                        returning it, with and without a local tier (local_cache=)
  flowbench codeversion [-n 1000] [-reps 5]
                                        code versions of the chain's functions in a fresh process:
                                        the first after an edit of the module, and a warm one
  flowbench memory [-mb 500] [-formats gob,json,...] [-shapes floats,bytes,structs]
                                        peak memory (VmHWM) storing and loading one result of that size
                                        through a local cache directory, per format and shape, each in a
                                        fresh process; ratio is peak over the value's size
  flowbench wide [-n 10000000] [-reps 3]
                                        one source node returning n float64 (80 MB) and eight reductions:
                                        uncached, cold and warm runs (fresh processes), then the fingerprint,
                                        store and load MB/s of the value beside this machine's limits (BLAKE3
                                        and SHA-256 on one core, CRC-32C, memmove, page-cache write and read,
                                        disk write+fsync)
  flowbench compare [-graph chain|wide] [-n 1000] [-reps 3] [-hamilton-bench DIR] [-python /usr/bin/python3]
                                        the chain (or, -graph wide, the wide graph: Hamilton's wide.py --kind
                                        numpy) on flowcache, then on Hamilton 1.88 (shared/bench/hamilton,
                                        installed by its setup), in one run: uncached, warm and cold
                                        per-node figures, Hamilton's over ours, beside issue 13's goals
  flowbench executor [-n 1000] [-reps 20]
                                        the executor alone, without a cache: Execute of a built chain of n
                                        nodes and of a wide graph (1 source, n independent nodes, joins),
                                        at parallelism 1 and GOMAXPROCS, each in a fresh process: the first
                                        execute and the steady state, µs and allocations per node`)
	os.Exit(2)
}

func emit(v map[string]any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func chainNodes(n int) []*driver.NodeDef {
	nodes := make([]*driver.NodeDef, n)
	nodes[0] = driver.Node("node_0", chaingen.Funcs[0])
	for i := 1; i < n; i++ {
		nodes[i] = driver.Node("node_"+strconv.Itoa(i), chaingen.Funcs[i], "node_"+strconv.Itoa(i-1))
	}
	return nodes
}

// runChain builds and executes the chain once and returns the time taken.
func runChain(n int, dir string) (time.Duration, error) {
	if dir == "" {
		return runChainCache(n)
	}
	return runChainCache(n, driver.CacheDir(dir))
}

// runChainCache is runChain with the cache options given (none: uncached).
func runChainCache(n int, cache ...driver.CacheOption) (time.Duration, error) {
	start := time.Now()
	b := driver.NewBuilder().WithNodes(chainNodes(n)...).WithParallelism(1)
	if len(cache) > 0 {
		b = b.WithCache(cache...)
	}
	dr, err := b.Build()
	if err != nil {
		return 0, err
	}
	built := time.Since(start)
	res, err := dr.Run(context.Background(), []string{"node_" + strconv.Itoa(n-1)}, nil, nil)
	if err != nil {
		return 0, err
	}
	if len(res.Faults) > 0 {
		// The run's values are right, but it did not use the cache as
		// measured: its figures would be a store's failure, not its cost.
		return 0, fmt.Errorf("the cache failed during the run: %w", errors.Join(res.Faults...))
	}
	out := res.Values
	executed := time.Since(start)
	if err := dr.Close(); err != nil {
		return 0, err
	}
	el := time.Since(start)
	if os.Getenv("FLOWBENCH_SPLIT") != "" {
		fmt.Fprintf(os.Stderr, "build %v execute %v close %v\n", built, executed-built, el-executed)
	}
	if got := out["node_"+strconv.Itoa(n-1)].(int); got != n-1 {
		return 0, fmt.Errorf("chain of %d gave %d, want %d", n, got, n-1)
	}
	return el, nil
}

func chain(args []string) error {
	fs := flag.NewFlagSet("chain", flag.ExitOnError)
	n := fs.Int("n", 1000, "number of nodes (at most 2000)")
	reps := fs.Int("reps", 5, "repetitions of each phase (the median is reported)")
	phase := fs.String("phase", "", "internal: run one phase in this process")
	dir := fs.String("dir", "", "internal: cache directory of -phase")
	cpuprofile := fs.String("cpuprofile", "", "with -phase: write a CPU profile of 50 runs to this file")
	fs.Parse(args)
	if *n < 2 || *n > len(chaingen.Funcs) {
		return fmt.Errorf("-n %d: want 2..%d", *n, len(chaingen.Funcs))
	}
	if *phase != "" {
		// A child process: one run of the phase (no -dir: uncached), its
		// time on stdout.
		if *cpuprofile != "" {
			f, err := os.Create(*cpuprofile)
			if err != nil {
				return err
			}
			pprof.StartCPUProfile(f)
			for i := range 50 {
				d := *dir
				if *phase == "cold" {
					d = filepath.Join(*dir, strconv.Itoa(i))
				}
				if _, err := runChain(*n, d); err != nil {
					return err
				}
			}
			pprof.StopCPUProfile()
			return f.Close()
		}
		d, err := runChain(*n, *dir)
		if err != nil {
			return err
		}
		fmt.Println(d.Nanoseconds())
		return nil
	}

	// Every phase runs in a fresh process of its own, so they pay the same
	// start-up costs (page cache, goroutine stacks, heap growth) and the
	// difference is what the cache adds.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	child := func(phase, dir string) (time.Duration, error) {
		out, err := exec.Command(self, "chain", "-n", strconv.Itoa(*n), "-phase", phase, "-dir", dir).Output()
		if err != nil {
			return 0, fmt.Errorf("%s process: %w", phase, exitText(err))
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		return time.Duration(ns), err
	}
	tmp, err := os.MkdirTemp("", "flowbench-chain-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// The first cached process of a new executable derives the code
	// versions of its functions (kept for the next processes, see go doc
	// core/codeversion): once per build, not per run, so it is done before
	// measuring.
	if _, err := child("cold", filepath.Join(tmp, "prime")); err != nil {
		return err
	}
	// The warm runs share a directory a cold run filled and a warm run
	// has used once (it made the preload snapshot the next ones read), as
	// consecutive runs of a pipeline do.
	warmDir := filepath.Join(tmp, "warm")
	if _, err := child("cold", warmDir); err != nil {
		return err
	}
	if _, err := child("warm", warmDir); err != nil {
		return err
	}
	// The phases take turns, one run of each per repetition, so that a
	// stretch of a slower machine (a neighbour's load, a virtual machine's
	// steal) weighs on all three alike rather than on the one measured
	// then: the overheads are differences of medians.
	var uncachedDs, coldDs, warmDs []time.Duration
	for i := range *reps {
		for _, p := range []struct {
			phase, dir string
			out        *[]time.Duration
		}{
			{"uncached", "", &uncachedDs},
			{"cold", filepath.Join(tmp, "cold"+strconv.Itoa(i)), &coldDs},
			{"warm", warmDir, &warmDs},
		} {
			d, err := child(p.phase, p.dir)
			if err != nil {
				return err
			}
			*p.out = append(*p.out, d)
		}
	}
	uncached, cold, warm := middle(uncachedDs), middle(coldDs), middle(warmDs)
	perNode := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(*n) }
	for _, p := range []struct {
		name string
		d    time.Duration
	}{{"uncached", uncached}, {"cold", cold}, {"warm", warm}} {
		emit(map[string]any{
			"bench": "chain", "phase": p.name, "n": *n, "reps": *reps,
			"total_ms":             round(float64(p.d.Nanoseconds())/1e6, 3),
			"us_per_node":          round(perNode(p.d), 2),
			"overhead_us_per_node": round(perNode(p.d)-perNode(uncached), 2),
		})
	}
	return nil
}

func fingerprintBench(args []string) error {
	fs := flag.NewFlagSet("fingerprint", flag.ExitOnError)
	mb := fs.Int("mb", 80, "size of the []float64 in MB")
	reps := fs.Int("reps", 10, "repetitions")
	fs.Parse(args)
	xs := make([]float64, *mb*1000*1000/8)
	for i := range xs {
		xs[i] = math.Sqrt(float64(i))
	}
	if _, err := fingerprint.Of(xs); err != nil {
		return err
	}
	best := time.Duration(math.MaxInt64)
	var total time.Duration
	for range *reps {
		start := time.Now()
		if _, err := fingerprint.Of(xs); err != nil {
			return err
		}
		d := time.Since(start)
		total += d
		best = min(best, d)
	}
	bytes := float64(len(xs) * 8)
	emit(map[string]any{
		"bench": "fingerprint", "type": "[]float64", "bytes": len(xs) * 8, "reps": *reps,
		"gb_per_s_mean": round(bytes/(float64(total.Nanoseconds())/float64(*reps)), 3),
		"gb_per_s_best": round(bytes/float64(best.Nanoseconds()), 3),
	})
	return nil
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

// medianOf runs f reps times (with the repetition's index) and returns the
// result whose key is the median.
// middle returns the median of xs (the upper one of an even count),
// leaving xs as it was.
func middle[T cmp.Ordered](xs []T) T {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[len(xs)/2]
}

func medianOf[T any](reps int, f func(int) (T, error), key func(T) int64) (T, error) {
	var rs []T
	for i := range reps {
		r, err := f(i)
		if err != nil {
			return r, err
		}
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	return rs[len(rs)/2], nil
}
