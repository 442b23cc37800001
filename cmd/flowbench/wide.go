package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/zeebo/blake3"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/core/fingerprint"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/formats"
)

// The wide graph: one source node returning -n float64 values (80 MB by
// default, the size of Hamilton's wide.py --kind numpy) and eight cheap
// reductions of it, as in wide.py.
var wideValues = 10_000_000

// wideBig is the source node: deterministic pseudo-random values in [0, 1)
// (PCG, fixed seed), like numpy's default_rng(42).random(n).
func wideBig() []float64 {
	rng := rand.New(rand.NewPCG(42, 54))
	v := make([]float64, wideValues)
	for i := range v {
		v[i] = rng.Float64()
	}
	return v
}

func wideSum(big []float64) float64 {
	var s float64
	for _, x := range big {
		s += x
	}
	return s
}

func wideMean(big []float64) float64 { return wideSum(big) / float64(len(big)) }

func wideMax(big []float64) float64 { return big[wideArgmaxIndex(big)] }

func wideMin(big []float64) float64 { return big[wideArgminIndex(big)] }

func wideArgmax(big []float64) float64 { return float64(wideArgmaxIndex(big)) }

func wideArgmin(big []float64) float64 { return float64(wideArgminIndex(big)) }

func wideStridedSum(big []float64) float64 {
	var s float64
	for i := 0; i < len(big); i += 7 {
		s += big[i]
	}
	return s
}

func wideLastFirst(big []float64) float64 { return big[len(big)-1] - big[0] }

func wideArgmaxIndex(big []float64) int {
	j := 0
	for i, x := range big {
		if x > big[j] {
			j = i
		}
	}
	return j
}

func wideArgminIndex(big []float64) int {
	j := 0
	for i, x := range big {
		if x < big[j] {
			j = i
		}
	}
	return j
}

// wideOutputs are the eight reductions, the run's outputs (wide.py's r0..r7).
var wideOutputs = []string{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"}

func wideNodes() []*driver.NodeDef {
	fns := []func([]float64) float64{wideSum, wideMean, wideMax, wideMin, wideArgmax, wideArgmin, wideStridedSum, wideLastFirst}
	nodes := []*driver.NodeDef{driver.Node("big", wideBig)}
	for i, fn := range fns {
		nodes = append(nodes, driver.Node(wideOutputs[i], fn, "big"))
	}
	return nodes
}

// widePhase is what one child process of the wide benchmark prints.
type widePhase struct {
	Ns      int64     `json:"ns"`
	CPUNs   int64     `json:"cpu_ns"` // CPU time of the process meanwhile, all threads
	Results []float64 `json:"results"`
}

// runWide builds the wide graph (cached in dir, uncached if dir is ""),
// executes it once, closes it and returns the time taken and the outputs.
// withValue asks for the source node's value too, so that a warm run
// loads it (as Hamilton's warm run does) instead of retrieving only the
// reductions.
func runWide(dir string, withValue bool) (widePhase, error) {
	outputs := wideOutputs
	if withValue {
		outputs = append(slices.Clip(outputs), "big")
	}
	start, cpu := time.Now(), cpuTime()
	b := driver.NewBuilder().WithNodes(wideNodes()...).WithParallelism(1)
	if dir != "" {
		b = b.WithCache(driver.CacheDir(dir))
	}
	dr, err := b.Build()
	if err != nil {
		return widePhase{}, err
	}
	built := time.Since(start)
	out, err := dr.Execute(context.Background(), outputs, nil, nil)
	if err != nil {
		dr.Close()
		return widePhase{}, err
	}
	executed := time.Since(start)
	if err := dr.Close(); err != nil {
		return widePhase{}, err
	}
	el := time.Since(start)
	if os.Getenv("FLOWBENCH_SPLIT") != "" {
		fmt.Fprintf(os.Stderr, "build %v execute %v close %v\n", built, executed-built, el-executed)
	}
	p := widePhase{Ns: el.Nanoseconds(), CPUNs: (cpuTime() - cpu).Nanoseconds()}
	if withValue {
		if big := out["big"].([]float64); len(big) != wideValues {
			return p, fmt.Errorf("the value has %d elements, want %d", len(big), wideValues)
		}
	}
	for _, name := range wideOutputs {
		p.Results = append(p.Results, out[name].(float64))
	}
	return p, nil
}

// wideBench is `flowbench wide`: the wide graph uncached, cold and warm,
// each run a fresh process (median of -reps; warm_value is a warm run
// asked for the large value too, so that it loads it); then, in this process, the
// fingerprint, store and load speeds of the large value through the same
// code the cache uses, beside the machine's own limits measured now.
func wideBench(args []string) error {
	fl := flag.NewFlagSet("wide", flag.ExitOnError)
	n := fl.Int("n", wideValues, "number of float64 values of the source node (10^7 = 80 MB)")
	reps := fl.Int("reps", 3, "repetitions of each phase and of each speed (the median is reported)")
	phase := fl.String("phase", "", "internal: run one phase (uncached, cold, warm, warm_value) in this process")
	dir := fl.String("dir", "", "internal: the cache directory of -phase")
	cpuprofile := fl.String("cpuprofile", "", "with -phase: write a CPU profile of the run to this file")
	fl.Parse(args)
	if *n < 2 {
		return fmt.Errorf("-n %d: want at least 2", *n)
	}
	wideValues = *n
	if *phase != "" {
		if !slices.Contains([]string{"uncached", "cold", "warm", "warm_value"}, *phase) {
			return fmt.Errorf("wide -phase %q: want uncached, cold, warm or warm_value", *phase)
		}
		if (*phase == "uncached") != (*dir == "") {
			return fmt.Errorf("wide -phase %s -dir %q: only uncached has no directory", *phase, *dir)
		}
		if *cpuprofile != "" {
			f, err := os.Create(*cpuprofile)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
		}
		p, err := runWide(*dir, *phase == "warm_value")
		if err != nil {
			return err
		}
		b, _ := json.Marshal(p)
		fmt.Println(string(b))
		return nil
	}
	figs, err := wideFigures(*n, *reps)
	if err != nil {
		return err
	}
	for _, rec := range figs.lines {
		emit(rec)
	}
	return nil
}

// wideResult holds what wideFigures measured: the JSON lines it prints,
// and the figures compare needs.
type wideResult struct {
	lines                             []map[string]any
	coldMs, warmMs, warmValueMs       float64 // the runs' times
	coldOverheadMs, warmOverheadMs    float64 // ms
	fingerprintMBs, storeMBs, loadMBs float64
	version                           string // Hamilton's (hamiltonWide)
}

func wideFigures(n, reps int) (wideResult, error) {
	var res wideResult
	self, err := os.Executable()
	if err != nil {
		return res, err
	}
	tmp, err := os.MkdirTemp("", "flowbench-wide-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)
	childN := func(n int, phase, dir string) (widePhase, error) {
		args := []string{"wide", "-n", strconv.Itoa(n), "-phase", phase}
		if dir != "" {
			args = append(args, "-dir", dir)
		}
		out, err := exec.Command(self, args...).Output()
		if err != nil {
			return widePhase{}, fmt.Errorf("%s process: %w", phase, exitText(err))
		}
		var p widePhase
		if err := json.Unmarshal(out, &p); err != nil {
			return p, fmt.Errorf("%s process printed %q: %w", phase, out, err)
		}
		return p, nil
	}
	child := func(phase, dir string) (widePhase, error) { return childN(n, phase, dir) }
	// The first cached run of a new executable derives the code versions
	// of its functions (then kept for the next processes): once per build,
	// not per run, so it is done before measuring, on a small value.
	if _, err := childN(2, "cold", filepath.Join(tmp, "prime")); err != nil {
		return res, err
	}
	key := func(p widePhase) int64 { return p.Ns }
	uncached, err := medianOf(reps, func(int) (widePhase, error) { return child("uncached", "") }, key)
	if err != nil {
		return res, err
	}
	var lastDir string
	cold, err := medianOf(reps, func(i int) (widePhase, error) {
		lastDir = filepath.Join(tmp, "cold"+strconv.Itoa(i))
		return child("cold", lastDir)
	}, key)
	if err != nil {
		return res, err
	}
	warm, err := medianOf(reps, func(int) (widePhase, error) { return child("warm", lastDir) }, key)
	if err != nil {
		return res, err
	}
	warmValue, err := medianOf(reps, func(int) (widePhase, error) { return child("warm_value", lastDir) }, key)
	if err != nil {
		return res, err
	}
	for _, p := range []widePhase{cold, warm, warmValue} {
		if !reflect.DeepEqual(p.Results, uncached.Results) {
			return res, fmt.Errorf("a cached run gave %v, the uncached one %v", p.Results, uncached.Results)
		}
	}
	stored, err := storedBytes(lastDir)
	if err != nil {
		return res, err
	}
	dirBytes, err := treeBytes(lastDir)
	if err != nil {
		return res, err
	}
	valueBytes := n * 8
	ms := func(ns int64) float64 { return round(float64(ns)/1e6, 1) }
	res.coldMs, res.warmMs, res.warmValueMs = float64(cold.Ns)/1e6, float64(warm.Ns)/1e6, float64(warmValue.Ns)/1e6
	res.coldOverheadMs = float64(cold.Ns-uncached.Ns) / 1e6
	res.warmOverheadMs = float64(warm.Ns-uncached.Ns) / 1e6
	for _, p := range []struct {
		name string
		p    widePhase
	}{{"uncached", uncached}, {"cold", cold}, {"warm", warm}, {"warm_value", warmValue}} {
		rec := map[string]any{
			"bench": "wide", "phase": p.name, "values": n, "value_bytes": valueBytes, "reps": reps,
			"wall_ms":     ms(p.p.Ns),
			"overhead_ms": ms(p.p.Ns - uncached.Ns),
			// CPU time: steadier than wall time on a shared machine.
			"cpu_ms":          ms(p.p.CPUNs),
			"cpu_overhead_ms": ms(p.p.CPUNs - uncached.CPUNs),
		}
		if p.name != "uncached" {
			rec["result_files_bytes"] = stored
			rec["cache_dir_bytes"] = dirBytes
		}
		res.lines = append(res.lines, rec)
	}

	// The speeds, in this process, and the limits beside them.
	lim, err := machineLimits(valueBytes, reps)
	if err != nil {
		return res, err
	}
	sp, err := wideSpeeds(filepath.Join(tmp, "speeds"), n, reps)
	if err != nil {
		return res, err
	}
	res.fingerprintMBs, res.storeMBs, res.loadMBs = sp["fingerprint"].wall, sp["store"].wall, sp["load"].wall
	for _, s := range []struct{ figure, what, limit string }{
		{"fingerprint", "fingerprint.Of of the []float64 (BLAKE3)", "blake3_1core"},
		{"store", "gob encode + local Put of a file, as a cold run (no fsync: the default), + FlushResults", "page_cache_write"},
		{"load", "GetVerified (CRC-32C, file read twice) + gob decode + fingerprint of the decoded value, as a warm run", "page_cache_read"},
		{"gob_encode", "formats.Gob().Encode into a buffer in use", "memmove"},
		{"gob_decode", "formats.Gob().Decode from memory", "memmove"},
	} {
		rec := map[string]any{
			"bench": "wide", "figure": s.figure, "value_bytes": valueBytes, "reps": reps,
			"mb_per_s": round(sp[s.figure].wall, 1), "cpu_mb_per_s": round(sp[s.figure].cpu, 1), "what": s.what,
			"limit": s.limit, "limit_mb_per_s": round(lim[s.limit].wall, 1), "limit_cpu_mb_per_s": round(lim[s.limit].cpu, 1),
		}
		if l := lim[s.limit].cpu; l > 0 {
			rec["of_limit_cpu"] = round(sp[s.figure].cpu/l, 2)
		}
		res.lines = append(res.lines, rec)
	}
	for _, l := range []struct{ name, what string }{
		{"blake3_1core", "BLAKE3 (the fingerprint's hash) of one buffer, one goroutine"},
		{"sha256_1core", "SHA-256 of one buffer, one goroutine"},
		{"crc32c", "CRC-32C (the local store's checksum) of one buffer"},
		{"memmove", "copy of one buffer to another"},
		{"page_cache_write", "write of a new file in 4 MiB blocks, no fsync"},
		{"disk_write_fsync", "write of a 256 MiB file in 4 MiB blocks + fsync (as flowbench formats)"},
		{"page_cache_read", "read of a file in the page cache, 4 MiB blocks"},
	} {
		rec := map[string]any{
			"bench": "wide", "limit": l.name, "bytes": valueBytes, "mb_per_s": round(lim[l.name].wall, 1), "what": l.what,
		}
		if c := lim[l.name].cpu; c > 0 {
			rec["cpu_mb_per_s"] = round(c, 1)
		}
		res.lines = append(res.lines, rec)
	}
	return res, nil
}

// treeBytes returns the bytes of the files under dir.
func treeBytes(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			total += info.Size()
		}
		return err
	})
	return total, err
}

// speed is a throughput in MB/s: over the wall time, and over the CPU
// time this process used meanwhile (all its threads, so the garbage
// collector's work counts). On a machine shared with other work the CPU
// figure is the steadier one.
type speed struct{ wall, cpu float64 }

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// medianMBs runs f reps times and returns size over the median wall time
// and over the median CPU time.
func medianMBs(size, reps int, f func() error) (speed, error) {
	type took struct{ wall, cpu time.Duration }
	var all []took
	for range reps {
		start, cpu := time.Now(), cpuTime()
		if err := f(); err != nil {
			return speed{}, err
		}
		all = append(all, took{time.Since(start), cpuTime() - cpu})
	}
	mbs := func(key func(took) time.Duration) float64 {
		ds := make([]time.Duration, len(all))
		for i, t := range all {
			ds[i] = key(t)
		}
		slices.Sort(ds)
		if ds[len(ds)/2] <= 0 {
			return 0
		}
		return float64(size) / 1e6 / ds[len(ds)/2].Seconds()
	}
	return speed{wall: mbs(func(t took) time.Duration { return t.wall }), cpu: mbs(func(t took) time.Duration { return t.cpu })}, nil
}

// wideSpeeds measures the fingerprint, store and load of the wide graph's
// value (and gob alone) in this process, in a store opened in dir. MB/s by
// figure name.
func wideSpeeds(dir string, n, reps int) (map[string]speed, error) {
	ctx := context.Background()
	wideValues = n
	var v any = wideBig()
	size := n * 8
	sp := map[string]speed{}
	var sum fingerprint.Sum
	var err error
	if sp["fingerprint"], err = medianMBs(size, reps, func() (err error) { sum, err = fingerprint.Of(v); return err }); err != nil {
		return nil, err
	}
	gob := formats.Gob()
	typ := reflect.TypeFor[[]float64]()
	// Encoded into a buffer whose memory is in use already: the fast path
	// for numeric slices writes the slice's memory as it is, which
	// io.Discard would never read.
	var enc bytes.Buffer
	if err := gob.Encode(&enc, v); err != nil {
		return nil, err
	}
	if sp["gob_encode"], err = medianMBs(size, reps, func() error { enc.Reset(); return gob.Encode(&enc, v) }); err != nil {
		return nil, err
	}
	if sp["gob_decode"], err = medianMBs(size, reps, func() error {
		_, err := gob.Decode(bytes.NewReader(enc.Bytes()), typ)
		return err
	}); err != nil {
		return nil, err
	}
	enc = bytes.Buffer{}

	st, err := local.Open(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	rs := st.Results()
	id := core.ResultID{Version: core.DataVersion(sum.String()), Format: gob.Name()}
	i := 0
	if sp["store"], err = medianMBs(size, reps, func() error {
		if i > 0 {
			if err := rs.Delete(ctx, id); err != nil {
				return err
			}
		}
		i++
		wrote, err := rs.Put(ctx, id, func(w io.Writer) error { return gob.Encode(w, v) })
		if err == nil && wrote == 0 {
			err = errors.New("the store kept an earlier copy")
		}
		if err != nil {
			return err
		}
		return rs.FlushResults(ctx)
	}); err != nil {
		return nil, err
	}
	v = nil
	if sp["load"], err = medianMBs(size, reps, func() error {
		rc, err := core.GetVerified(ctx, rs, id)
		if err != nil {
			return err
		}
		defer rc.Close()
		val, err := gob.Decode(rc, typ)
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			return err
		}
		got, err := fingerprint.Of(val)
		if err != nil {
			return err
		}
		if got != sum {
			return errors.New("the loaded value has another fingerprint")
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return sp, nil
}

// machineLimits measures this machine's limits on buffers of size bytes:
// hashes on one core, memmove, page-cache write and read, and the disk's
// write+fsync bandwidth (diskBandwidth, as flowbench formats). MB/s by
// name.
func machineLimits(size, reps int) (map[string]speed, error) {
	src := make([]byte, size)
	for i := range src {
		src[i] = byte(i*31 + i>>11)
	}
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	lim := map[string]speed{}
	var err error
	var sink byte
	for _, h := range []struct {
		name string
		f    func()
	}{
		{"blake3_1core", func() { s := blake3.Sum256(src); sink ^= s[0] }},
		{"sha256_1core", func() { s := sha256.Sum256(src); sink ^= s[0] }},
		{"crc32c", func() { sink ^= byte(crc32.Checksum(src, castagnoli)) }},
	} {
		if lim[h.name], err = medianMBs(size, reps, func() error { h.f(); return nil }); err != nil {
			return nil, err
		}
	}
	dst := make([]byte, size)
	copy(dst, src) // fault the pages in before timing
	if lim["memmove"], err = medianMBs(size, reps, func() error { copy(dst, src); return nil }); err != nil {
		return nil, err
	}
	dst = nil
	bw, err := diskBandwidth(256 << 20)
	if err != nil {
		return nil, err
	}
	lim["disk_write_fsync"] = speed{wall: bw}
	f, err := os.CreateTemp("", "flowbench-pagecache-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	const block = 4 << 20
	if lim["page_cache_write"], err = medianMBs(size, reps, func() error {
		if err := f.Truncate(0); err != nil {
			return err
		}
		for off := 0; off < size; off += block {
			if _, err := f.WriteAt(src[off:min(off+block, size)], int64(off)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	buf := make([]byte, block)
	if lim["page_cache_read"], err = medianMBs(size, reps, func() error {
		for off := int64(0); ; off += block {
			k, err := f.ReadAt(buf, off)
			sink ^= buf[0]
			if errors.Is(err, io.EOF) || k == 0 {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}); err != nil {
		return nil, err
	}
	runtime.KeepAlive(&sink)
	return lim, nil
}

// compareWide is `flowbench compare -graph wide`: the wide graph on
// flowcache (as flowbench wide), then Hamilton's wide.py --kind numpy, in
// one run, and the ratios. An overhead's ratio is Hamilton's over ours (how
// many times less flowcache adds), a speed's ours over Hamilton's. Hamilton's
// overheads are the time of dr.execute in a fresh interpreter minus the
// uncached one (its build is not counted); ours count Build, Execute and
// Close. Its store speed is pickle.dumps alone (no file written), its load
// speed pickle.loads alone; ours write and read the cache's file.
func compareWide(python, script string, reps int) error {
	start := time.Now()
	fc, err := wideFigures(wideValues, reps)
	if err != nil {
		return err
	}
	ham, err := hamiltonWide(python, script, wideValues, reps)
	if err != nil {
		return err
	}
	rows := []struct {
		name, unit string
		h, f       float64
		time       bool // a time (lower is better), or a speed
		what       string
	}{
		{"cold_run", "ms", ham.coldMs, fc.coldMs, true, "fresh process, empty cache dir (Hamilton: dr.execute; flowcache: build, execute, close)"},
		{"warm_run", "ms", ham.warmMs, fc.warmMs, true, "fresh process, the cold run's cache dir (flowcache retrieves the reductions only)"},
		{"warm_run_value", "ms", ham.warmMs, fc.warmValueMs, true, "the same, flowcache also asked for the 80 MB value (loaded, as Hamilton's warm run loads it)"},
		{"cold_overhead", "ms", ham.coldOverheadMs, fc.coldOverheadMs, true, "fresh process, empty cache dir, minus uncached"},
		{"warm_overhead", "ms", ham.warmOverheadMs, fc.warmOverheadMs, true, "fresh process, every node retrieved, minus uncached"},
		{"fingerprint", "mb_per_s", ham.fingerprintMBs, fc.fingerprintMBs, false, "data version of the 80 MB value (Hamilton: hash_value, md5)"},
		{"store", "mb_per_s", ham.storeMBs, fc.storeMBs, false, "Hamilton: pickle.dumps; flowcache: gob encode + file write"},
		{"load", "mb_per_s", ham.loadMBs, fc.loadMBs, false, "Hamilton: pickle.loads; flowcache: verified read + gob decode + fingerprint check"},
	}
	ratio := func(h, f float64, time bool) float64 {
		if time {
			h, f = f, h
		}
		if h <= 0 || f <= 0 {
			return 0 // no meaningful ratio (an overhead at or below zero)
		}
		return round(f/h, 1)
	}
	for _, r := range rows {
		emit(map[string]any{
			"bench": "compare", "graph": "wide", "value_bytes": wideValues * 8, "reps": reps, "figure": r.name,
			"hamilton_" + r.unit: round(r.h, 1), "flowcache_" + r.unit: round(r.f, 1),
			"ratio": ratio(r.h, r.f, r.time), "what": r.what,
		})
	}
	fmt.Fprintf(os.Stderr, "wide graph (%d MB []float64, 8 reductions), %d reps each, %s in all (Hamilton %s):\n",
		wideValues*8/1e6, reps, time.Since(start).Round(time.Second), ham.version)
	fmt.Fprintf(os.Stderr, "  %-14s %14s %14s %8s\n", "", "Hamilton", "flowcache", "ratio")
	for _, r := range rows {
		unit := "ms"
		if !r.time {
			unit = "MB/s"
		}
		fmt.Fprintf(os.Stderr, "  %-14s %9.1f %-4s %9.1f %-4s %7.1fx\n", r.name, r.h, unit, r.f, unit, ratio(r.h, r.f, r.time))
	}
	return nil
}

// hamiltonWide runs Hamilton's wide.py --kind numpy and reads its summary.
func hamiltonWide(python, script string, n, reps int) (wideResult, error) {
	var f wideResult
	version, summary, err := runHamilton(python, script, "--kind", "numpy", "--size", strconv.Itoa(n), "--repeats", strconv.Itoa(reps))
	if err != nil {
		return f, err
	}
	var rec struct {
		ObjectBytes float64 `json:"object_bytes"`
		Fingerprint float64 `json:"fingerprint_MB_per_s"`
		Dumps       float64 `json:"pickle_dumps_MB_per_s"`
		Median      struct {
			Loads     float64 `json:"pickle_loads"`
			FreshCold float64 `json:"fresh_cold"`
			FreshWarm float64 `json:"fresh_warm"`
		} `json:"median_s"`
		Overhead struct {
			FreshCold *float64 `json:"fresh_cold"`
			FreshWarm *float64 `json:"fresh_warm"`
		} `json:"overhead_s"`
	}
	if err := json.Unmarshal(summary, &rec); err != nil {
		return f, err
	}
	if rec.Overhead.FreshCold == nil || rec.Overhead.FreshWarm == nil || rec.Median.Loads <= 0 {
		return f, errors.New("hamilton's wide summary has no fresh-process overheads or pickle_loads")
	}
	f.version = version
	f.coldMs, f.warmMs = rec.Median.FreshCold*1e3, rec.Median.FreshWarm*1e3
	f.coldOverheadMs, f.warmOverheadMs = *rec.Overhead.FreshCold*1e3, *rec.Overhead.FreshWarm*1e3
	f.fingerprintMBs, f.storeMBs = rec.Fingerprint, rec.Dumps
	f.loadMBs = rec.ObjectBytes / 1e6 / rec.Median.Loads
	return f, nil
}
