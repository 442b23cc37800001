package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/formats"
	_ "github.com/flowcache/flowcache/formats/arrow"
	_ "github.com/flowcache/flowcache/formats/csv"
	_ "github.com/flowcache/flowcache/formats/parquet"
)

// Rec is a row of the []struct shape of the memory benchmark: 40 bytes,
// no pointers, so its size is the slice's.
type Rec struct {
	ID      int64
	X, Y, Z float64
	Count   int32
	OK      bool
}

// memShapes are the shapes of the memory benchmark, by flag name.
var memShapes = []struct {
	name, typ string
	elem      int // bytes per element
}{
	{"floats", "[]float64", 8},
	{"bytes", "[]byte", 1},
	{"structs", "[]struct", 40},
}

var memFormats = []string{"gob", "gob+zstd", "json", "json+zstd", "csv", "parquet", "arrow"}

// memValue is the value the node of a store phase returns; memLoading
// makes the node fail in a load phase, which must retrieve it.
var (
	memValue   any
	memLoading bool
)

func memNode[T any]() (T, error) {
	if memLoading {
		var zero T
		return zero, errors.New("the load phase executed the node: the result was not retrieved")
	}
	return memValue.(T), nil
}

// memBuild returns a value of the shape of n elements, with contents
// that compress as real data would (neither constant nor random).
func memBuild(shape string, n int) any {
	switch shape {
	case "floats":
		v := make([]float64, n)
		for i := range v {
			v[i] = math.Sqrt(float64(i))
		}
		return v
	case "bytes":
		v := make([]byte, n)
		x := uint32(2463534242)
		for i := range v {
			if i%3 == 0 {
				x ^= x << 13
				x ^= x >> 17
				x ^= x << 5
			}
			v[i] = byte(x>>(8*(i%3))) & 0x7f
		}
		return v
	default:
		v := make([]Rec, n)
		for i := range v {
			f := float64(i)
			v[i] = Rec{ID: int64(i), X: math.Sqrt(f), Y: f / 3, Z: -f, Count: int32(i % 1000), OK: i%2 == 0}
		}
		return v
	}
}

// vmHWM returns the peak resident set size of this process, in bytes.
func vmHWM() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("peak memory needs Linux's /proc/self/status: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}

type memResult struct {
	Phase      string  `json:"phase"`
	Format     string  `json:"format"`
	Shape      string  `json:"shape"`
	ValueBytes int64   `json:"value_bytes"`
	HWMBefore  int64   `json:"hwm_before"`
	HWMAfter   int64   `json:"hwm_after"`
	Seconds    float64 `json:"seconds"`
	Stored     int64   `json:"stored_bytes"`
}

// memoryBench measures the peak memory of storing and of loading one
// result through a local cache directory, per format and shape, each in a
// fresh process reading its peak resident set (VmHWM) before and after.
// The store phase builds the value first (so its peak includes the value:
// the ratio is peak over the value's size), the load phase retrieves it
// into an empty process. MB/s is the value's size over the phase's time
// (building the driver, fingerprinting, encoding and writing; or reading,
// checking, decoding and fingerprinting).
func memoryBench(args []string) error {
	fl := flag.NewFlagSet("memory", flag.ExitOnError)
	mb := fl.Int("mb", 500, "size of the result in MB (10^6 bytes)")
	only := fl.String("formats", strings.Join(memFormats, ","), "formats to measure (those that cannot hold a shape are skipped)")
	shapes := fl.String("shapes", "floats,bytes,structs", "shapes to measure: floats ([]float64), bytes ([]byte), structs ([]struct of 40 bytes)")
	phase := fl.String("phase", "", "internal: run one phase (store or load) in this process")
	format := fl.String("format", "", "internal: the format of -phase")
	shape := fl.String("shape", "", "internal: the shape of -phase")
	dir := fl.String("dir", "", "internal: the cache directory of -phase")
	fl.Parse(args)
	if *mb < 1 {
		return fmt.Errorf("-mb %d: want at least 1", *mb)
	}
	if *phase != "" {
		return memoryPhase(*phase, *format, *shape, *dir, *mb)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "flowbench-memory-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, sh := range strings.Split(*shapes, ",") {
		var elem int
		var typ string
		for _, s := range memShapes {
			if s.name == sh {
				elem, typ = s.elem, s.typ
			}
		}
		if elem == 0 {
			return fmt.Errorf("-shapes: unknown shape %q (floats, bytes, structs)", sh)
		}
		for _, name := range strings.Split(*only, ",") {
			f, err := formats.Lookup(name)
			if err != nil {
				return err
			}
			if f.Check(memType(sh)) != nil {
				continue // e.g. csv, parquet and arrow hold tables only
			}
			cache := filepath.Join(tmp, sh+"-"+strings.ReplaceAll(name, "+", "-"))
			var res [2]memResult
			for i, ph := range []string{"store", "load"} {
				cmd := exec.Command(self, "memory", "-phase", ph, "-format", name, "-shape", sh, "-dir", cache, "-mb", strconv.Itoa(*mb))
				cmd.Stderr = os.Stderr
				out, err := cmd.Output()
				if err != nil {
					return fmt.Errorf("%s %s %s: %w", ph, name, sh, err)
				}
				if err := json.Unmarshal(out, &res[i]); err != nil {
					return fmt.Errorf("%s %s %s: %w (%q)", ph, name, sh, err, out)
				}
			}
			os.RemoveAll(cache)
			for _, r := range res {
				size := float64(r.ValueBytes)
				emit(map[string]any{
					"bench": "memory", "format": name, "shape": typ, "phase": r.Phase,
					"value_mb":  round(size/1e6, 1),
					"stored_mb": round(float64(r.Stored)/1e6, 1),
					"peak_mb":   round(float64(r.HWMAfter)/1e6, 1),
					"before_mb": round(float64(r.HWMBefore)/1e6, 1),
					"ratio":     round(float64(r.HWMAfter)/size, 2),
					"mb_per_s":  round(size/1e6/r.Seconds, 1),
				})
			}
		}
	}
	return nil
}

func memType(shape string) reflect.Type {
	switch shape {
	case "floats":
		return reflect.TypeFor[[]float64]()
	case "bytes":
		return reflect.TypeFor[[]byte]()
	}
	return reflect.TypeFor[[]Rec]()
}

// memoryPhase is one child process: it stores (or loads) the value and
// prints a memResult.
func memoryPhase(phase, format, shape, dir string, mb int) error {
	f, err := formats.Lookup(format)
	if err != nil {
		return err
	}
	var elem int
	for _, s := range memShapes {
		if s.name == shape {
			elem = s.elem
		}
	}
	if elem == 0 || dir == "" {
		return fmt.Errorf("memory -phase: bad -shape %q or -dir %q", shape, dir)
	}
	n := mb * 1_000_000 / elem
	var fn any
	switch shape {
	case "floats":
		fn = memNode[[]float64]
	case "bytes":
		fn = memNode[[]byte]
	default:
		fn = memNode[[]Rec]
	}
	switch phase {
	case "store":
		memValue = memBuild(shape, n)
	case "load":
		memLoading = true
	default:
		return fmt.Errorf("memory -phase %q: want store or load", phase)
	}
	runtime.GC()
	before, err := vmHWM()
	if err != nil {
		return err
	}
	if path := os.Getenv("FLOWBENCH_CPUPROFILE"); path != "" {
		// A CPU profile of the phase, to see where its time goes.
		pf, err := os.Create(path + "." + phase)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(pf)
		defer pf.Close()
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	dr, err := driver.NewBuilder().
		WithNodes(driver.Node("value", fn, driver.WithFormat(f),
			driver.WithCodeVersion(fmt.Sprintf("flowbench-memory-%s-%d", shape, n)))).
		WithCache(driver.CacheDir(dir)).
		Build()
	if err != nil {
		return err
	}
	out, err := dr.Execute(context.Background(), []string{"value"}, nil, nil)
	if err != nil {
		dr.Close()
		return err
	}
	if err := dr.Close(); err != nil {
		return err
	}
	elapsed := time.Since(start)
	after, err := vmHWM()
	if err != nil {
		return err
	}
	if got := reflectLen(out["value"]); got != n {
		return fmt.Errorf("the %s phase got %d elements, want %d", phase, got, n)
	}
	runtime.KeepAlive(out)
	stored, err := storedBytes(dir)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(memResult{
		Phase: phase, Format: format, Shape: shape, ValueBytes: int64(n * elem),
		HWMBefore: before, HWMAfter: after, Seconds: elapsed.Seconds(), Stored: stored,
	})
	fmt.Println(string(b))
	return nil
}

func reflectLen(v any) int {
	switch x := v.(type) {
	case []float64:
		return len(x)
	case []byte:
		return len(x)
	case []Rec:
		return len(x)
	}
	return -1
}

// storedBytes returns the bytes of the result files in a cache directory
// (a small result is kept in the metadata database instead: 0).
func storedBytes(dir string) (int64, error) {
	total, err := treeBytes(filepath.Join(dir, local.ResultsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	return total, err
}
