package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/local/localtest"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/maintain"
	"github.com/flowcache/flowcache/view"
)

// TestMain lets the tests run this test binary as the flowcache command:
// with FLOWCACHE_CMD_MAIN=1 it runs Main instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("FLOWCACHE_CMD_MAIN") == "1" {
		os.Exit(Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func Load(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i)
	}
	return out
}

func Mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func Scale(m float64, k int) float64 { return m * float64(k) }

func pipeline() []*driver.NodeDef {
	return []*driver.NodeDef{
		driver.Node("load", Load, "n"),
		driver.Node("mean", Mean, "load"),
		driver.Node("scaled", Scale, "mean", "k"),
	}
}

// runPipeline runs the pipeline on the cache directory dir, logging its
// events to dir/events.jsonl, and returns the run's id and what it executed.
func runPipeline(t *testing.T, dir string, n, k int) (core.RunID, []string) {
	t.Helper()
	// The code manifests are stored whatever it takes to describe the code
	// (by default a run does not wait for a parse of the module).
	dr, err := driver.NewBuilder().WithNodes(pipeline()...).WithCache(driver.CacheDir(dir), driver.LogToFile(""),
		driver.CacheCoreOptions(core.WithManifestWait(time.Minute))).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	ctx := context.Background()
	out, err := dr.Execute(ctx, []string{"scaled"}, driver.Inputs{"n": n, "k": k}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out["scaled"].(float64), Mean(Load(n))*float64(k); got != want {
		t.Fatalf("scaled = %v, want %v", got, want)
	}
	id, _ := dr.Cache().LastRunID(ctx)
	var executed []string
	for _, e := range dr.Cache().Events(0, id) {
		if e.Type == core.EventExecuteNode {
			executed = append(executed, e.Node)
		}
	}
	return id, executed
}

type result struct {
	code           int
	stdout, stderr string
}

// flowcache runs the command's logic in this process.
func flowcache(t *testing.T, dir string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	all := args
	if dir != "" {
		all = append([]string{"--cache", dir}, args...)
	}
	code := run(context.Background(), all, env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }})
	return result{code, out.String(), errb.String()}
}

func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

func decode[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, r.stdout)
	}
	return v
}

// newCache runs the pipeline twice (the second run with another k) on a
// fresh cache directory.
func newCache(t *testing.T) (dir string, first, second core.RunID) {
	dir = filepath.Join(t.TempDir(), "cache")
	first, _ = runPipeline(t, dir, 8000, 2)
	second, _ = runPipeline(t, dir, 8000, 3)
	return dir, first, second
}

func TestRunsAndNodes(t *testing.T) {
	dir, first, second := newCache(t)

	r := flowcache(t, dir, "runs")
	wantCode(t, r, exitOK)
	for _, s := range []string{"RUN", "RETRIEVED", string(first), string(second)} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("runs does not print %q:\n%s", s, r.stdout)
		}
	}
	runs := decode[[]inspect.RunSummary](t, flowcache(t, dir, "runs", "--json"))
	if len(runs) != 2 || runs[0].ID != first || runs[0].Executed != 3 || runs[1].Retrieved != 2 || runs[1].Executed != 1 {
		t.Errorf("runs --json = %+v", runs)
	}
	if runs := decode[[]inspect.RunSummary](t, flowcache(t, dir, "runs", "--json", "--limit", "1")); len(runs) != 1 || runs[0].ID != second {
		t.Errorf("runs --limit 1 = %+v", runs)
	}

	r = flowcache(t, dir, "nodes", "last")
	wantCode(t, r, exitOK)
	for _, s := range []string{"NODE", "BEHAVIOR", "scaled", "executed", "retrieved", "load=", "k="} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("nodes does not print %q:\n%s", s, r.stdout)
		}
	}
	// Flags after the argument, and a prefix of the run id.
	nodes := decode[struct {
		Run   core.RunID         `json:"run_id"`
		Nodes []inspect.NodeInfo `json:"nodes"`
	}](t, flowcache(t, dir, "nodes", string(first)[:30], "--json"))
	if nodes.Run != first || len(nodes.Nodes) != 5 {
		t.Fatalf("nodes --json of the first run: %+v", nodes)
	}
	for _, n := range nodes.Nodes {
		if n.Node == "load" && (n.Outcome != core.OutcomeExecuted || n.Stored <= 16<<10 || n.Behavior != core.Default || n.CodeVersion == "") {
			t.Errorf("load: %+v", n)
		}
	}
}

func TestWhyCommand(t *testing.T) {
	dir, _, second := newCache(t)
	r := flowcache(t, dir, "why", "scaled")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "the value of input k changed") || !strings.Contains(r.stdout, string(second)) {
		t.Errorf("why scaled:\n%s", r.stdout)
	}
	es := decode[[]inspect.Explanation](t, flowcache(t, dir, "why", "mean", "--json"))
	if len(es) != 1 || es[0].Reason != inspect.ReasonRetrieved {
		t.Errorf("why mean --json = %+v", es)
	}
	es = decode[[]inspect.Explanation](t, flowcache(t, dir, "why", "--run", "last", "--json", "scaled"))
	if len(es) != 1 || es[0].Reason != inspect.ReasonKeyChanged || es[0].Changes[0].Kind != inspect.ChangeInput || es[0].Changes[0].Dep != "k" {
		t.Errorf("why scaled --json = %+v", es)
	}
	r = flowcache(t, dir, "why", "nope")
	wantCode(t, r, exitNotFound)
	if !strings.Contains(r.stderr, `"nope"`) {
		t.Errorf("error does not name the node: %s", r.stderr)
	}
}

func TestLogsCommand(t *testing.T) {
	dir, _, _ := newCache(t)
	r := flowcache(t, dir, "logs", "last")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "scaled::adapter::execute_node") || !strings.Contains(r.stdout, "mean::adapter::get_result::hit") || strings.Contains(r.stdout, "resolve_behavior") {
		t.Errorf("logs last (info):\n%s", r.stdout)
	}
	debug := flowcache(t, dir, "logs", "last", "--level", "debug", "--jsonl")
	wantCode(t, debug, exitOK)
	lines := strings.Split(strings.TrimSpace(debug.stdout), "\n")
	types := map[core.EventType]bool{}
	for _, l := range lines {
		var e core.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("--jsonl line %q: %v", l, err)
		}
		types[e.Type] = true
	}
	if !types[core.EventResolveBehavior] || !types[core.EventIsInput] || !types[core.EventExecuteNode] {
		t.Errorf("debug events lack resolve_behavior, is_input or execute_node: %v", types)
	}
	js := decode[struct {
		Source inspect.LogSource `json:"source"`
		Events []core.Event      `json:"events"`
	}](t, flowcache(t, dir, "logs", "last", "--json"))
	if (js.Source != inspect.SourceLogFile && js.Source != inspect.SourceRunLog) || len(js.Events) == 0 {
		t.Errorf("logs --json: source %s, %d events", js.Source, len(js.Events))
	}
	// Without the event log the events come from the run's records.
	for _, p := range []string{inspect.LogFileName, "logs"} {
		if err := os.RemoveAll(filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	r = flowcache(t, dir, "logs", "last")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "scaled::adapter::execute_node") || !strings.Contains(r.stderr, "rebuilt from its records") {
		t.Errorf("logs without a log file:\nstdout %s\nstderr %s", r.stdout, r.stderr)
	}
	wantCode(t, flowcache(t, dir, "logs", "last", "--level", "trace"), exitUsage)
}

func TestSizeVerifyEvict(t *testing.T) {
	dir, _, second := newCache(t)
	r := flowcache(t, dir, "size")
	wantCode(t, r, exitOK)
	// Four entries of nodes and the code manifests of their three code
	// versions, which are not listed as a node.
	if !strings.Contains(r.stdout, "entries           7, 3 of them code manifests") || !strings.Contains(r.stdout, "load") || strings.Contains(r.stdout, core.CodeManifestNode) {
		t.Errorf("size:\n%s", r.stdout)
	}
	u := decode[maintain.Usage](t, flowcache(t, dir, "size", "--json"))
	if u.Entries != 4+3 || u.Results != 4+1 || u.CodeManifests != 3 || len(u.Nodes) != 3 || u.Runs != 2 || u.DiskBytes <= 0 {
		t.Errorf("size --json = %+v", u)
	}

	r = flowcache(t, dir, "verify", "--progress", "lines")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "verified 5 results") || !strings.Contains(r.stdout, "ok") || !strings.Contains(r.stderr, "verify: 5/5 results (100%)") {
		t.Errorf("verify:\nstdout %s\nstderr %s", r.stdout, r.stderr)
	}
	r = flowcache(t, dir, "verify", "--progress", "bar")
	if !strings.Contains(r.stderr, "\r") || !strings.Contains(r.stderr, "100%") {
		t.Errorf("verify --progress bar draws no bar: %q", r.stderr)
	}

	// A flipped byte in load's result (a file) and in scaled's (inline).
	ic, err := inspect.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := ic.Nodes(context.Background(), second)
	ic.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Node == "load" || n.Node == "scaled" {
			if err := localtest.DamageResult(context.Background(), dir, n.ResultID(), localtest.FlipBit); err != nil {
				t.Fatal(err)
			}
		}
	}
	r = flowcache(t, dir, "verify", "--progress", "none")
	wantCode(t, r, exitDamaged)
	if !strings.Contains(r.stdout, "corrupt") || !strings.Contains(r.stdout, "node load") || !strings.Contains(r.stdout, "node scaled") {
		t.Errorf("verify of a damaged cache:\n%s", r.stdout)
	}
	vr := decode[maintain.VerifyReport](t, flowcache(t, dir, "verify", "--json", "--progress", "none"))
	if len(vr.Problems) != 2 || vr.Problems[0].Kind != maintain.ProblemCorrupt {
		t.Errorf("verify --json problems = %+v", vr.Problems)
	}

	// Eviction, on a whole cache: everything is within the grace period.
	dir, _, _ = newCache(t)
	r = flowcache(t, dir, "evict", "--max-entries", "1", "--dry-run")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "would evict 0 entries") || !strings.Contains(r.stdout, "grace period") {
		t.Errorf("evict within the grace period:\n%s", r.stdout)
	}
	r = flowcache(t, dir, "evict", "--max-entries", "3", "--grace", "0", "--dry-run")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "max_entries") {
		t.Errorf("evict --dry-run:\n%s", r.stdout)
	}
	// One entry of a node goes, with the code manifest of its version when
	// no other entry has that version (load's, mean's; scaled has two).
	rep := decode[maintain.EvictReport](t, flowcache(t, dir, "evict", "--max-entries", "3", "--grace", "0", "--json"))
	wantManifests := 1
	if len(rep.Entries) > 0 && rep.Entries[0].Node == "scaled" {
		wantManifests = 0
	}
	if rep.DryRun || len(rep.Entries) != 1+wantManifests || rep.After.Entries != 7-len(rep.Entries) {
		t.Fatalf("evict --json = %+v", rep)
	}
	if wantManifests == 1 && (rep.Entries[1].Node != core.CodeManifestNode || rep.Entries[1].Reason != maintain.EvictCodeUnused) {
		t.Errorf("evict --json: %+v, want the evicted node's code manifest second", rep.Entries)
	}
	if r := flowcache(t, dir, "evict", "--gc", "--grace", "0", "--dry-run"); !strings.Contains(r.stdout, "would evict 0 entries") {
		t.Errorf("after evicting %s, GC finds more to evict:\n%s", rep.Entries[0].Node, r.stdout)
	}
	// The evicted entry is one of the first run's (the least recently used:
	// the second run's hits are within the hour, which does not refresh
	// LastUsed). A run like the first executes it again, gets the same
	// value, and retrieves the rest.
	evicted := rep.Entries[0].Node
	if evicted == "" {
		t.Fatal("no node named in the report")
	}
	_, executed := runPipeline(t, dir, 8000, 2)
	if !slices.Equal(executed, []string{evicted}) {
		t.Errorf("after evicting %s, a run executed %v, want %s only", evicted, executed, evicted)
	}

	for _, bad := range [][]string{
		{"evict"}, {"evict", "--max-size", "lots"}, {"evict", "--older-than", "soon"}, {"evict", "--max-entries", "-1"}, {"evict", "--grace", "-1h", "--gc"},
	} {
		if r := flowcache(t, dir, bad...); r.code != exitUsage || r.stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want %d and a message", bad, r.code, r.stderr, exitUsage)
		}
	}
}

func TestErrorsAndHelp(t *testing.T) {
	dir, first, _ := newCache(t)
	missing := filepath.Join(t.TempDir(), "nothing")
	r := flowcache(t, missing, "runs")
	wantCode(t, r, exitNotFound)
	if !strings.Contains(r.stderr, "no flowcache cache at "+missing) {
		t.Errorf("no cache: %s", r.stderr)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("looking into a missing cache created %s", missing)
	}
	wantCode(t, flowcache(t, dir, "nodes", "no-such-run"), exitNotFound)
	r = flowcache(t, dir, "nodes", string(first)[:6])
	wantCode(t, r, exitUsage)
	if !strings.Contains(r.stderr, "matches 2 runs") {
		t.Errorf("ambiguous prefix: %s", r.stderr)
	}
	wantCode(t, flowcache(t, dir, "nodes"), exitUsage)
	wantCode(t, flowcache(t, dir, "runs", "--bogus"), exitUsage)
	wantCode(t, flowcache(t, dir, "frobnicate"), exitUsage)
	wantCode(t, flowcache(t, "", "--cache", "nope://x", "runs"), exitUsage)
	r = flowcache(t, "", "help")
	wantCode(t, r, exitOK)
	for _, c := range commands {
		if !strings.Contains(r.stdout, c.name) {
			t.Errorf("help does not list %s", c.name)
		}
	}
	if !strings.Contains(r.stdout, "exit codes") {
		t.Error("help does not document the exit codes")
	}
	for _, c := range commands {
		r = flowcache(t, "", c.name, "--help")
		wantCode(t, r, exitOK)
		if !strings.Contains(r.stdout, "examples:") || !strings.Contains(r.stdout, "-json") {
			t.Errorf("%s --help:\n%s", c.name, r.stdout)
		}
	}
}

// The command as a process: built from this test binary, the cache chosen
// by FLOWCACHE_URL, exit codes as documented.
func TestProcess(t *testing.T) {
	dir, _, second := newCache(t)
	cmd := func(env []string, args ...string) (int, string, string) {
		c := exec.Command(os.Args[0], args...)
		c.Env = append(os.Environ(), append([]string{"FLOWCACHE_CMD_MAIN=1"}, env...)...)
		var out, errb bytes.Buffer
		c.Stdout, c.Stderr = &out, &errb
		err := c.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return c.ProcessState.ExitCode(), out.String(), errb.String()
	}
	code, out, errs := cmd([]string{driver.EnvURL + "=" + dir}, "runs", "--json")
	if code != 0 {
		t.Fatalf("runs: exit %d: %s", code, errs)
	}
	var runs []inspect.RunSummary
	if err := json.Unmarshal([]byte(out), &runs); err != nil || len(runs) != 2 || runs[1].ID != second {
		t.Fatalf("runs --json from FLOWCACHE_URL: %v %+v", err, runs)
	}
	// Not a terminal: progress as lines.
	code, _, errs = cmd([]string{driver.EnvURL + "=" + dir}, "verify")
	if code != 0 || !strings.Contains(errs, "verify: 5/5 results") {
		t.Errorf("verify: exit %d, stderr %q", code, errs)
	}
	code, _, errs = cmd([]string{driver.EnvURL + "=" + filepath.Join(dir, "nothing")}, "size")
	if code != exitNotFound || !strings.Contains(errs, "no flowcache cache") {
		t.Errorf("size of a missing cache: exit %d, %q", code, errs)
	}
	if code, _, _ = cmd(nil, "--cache", dir, "evict"); code != exitUsage {
		t.Errorf("evict without a policy: exit %d, want %d", code, exitUsage)
	}
}

// The eviction command run as a separate process while this one runs the
// pipeline: every run is right.
func TestEvictProcessWhileRunning(t *testing.T) {
	dir, _, _ := newCache(t)
	stop := make(chan struct{})
	done := make(chan error)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			c := exec.Command(os.Args[0], "--cache", dir, "evict", "--max-entries", "1", "--gc", "--grace", "0")
			c.Env = append(os.Environ(), "FLOWCACHE_CMD_MAIN=1")
			if out, err := c.CombinedOutput(); err != nil {
				done <- errors.New(string(out))
				return
			}
		}
	}()
	deadline := time.Now().Add(2 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		runPipeline(t, dir, 8000+i%3, 2+i%2) // checks the value
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("evict process: %v", err)
	}
}

func TestDrawCommand(t *testing.T) {
	dir, _, second := newCache(t)
	out := filepath.Join(t.TempDir(), "run.svg")
	r := flowcache(t, dir, "draw", "last", "-o", out)
	wantCode(t, r, exitOK)
	svg, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(svg))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("the SVG does not parse as XML: %v", err)
		}
	}
	for _, n := range []string{"load", "mean", "scaled"} {
		if !bytes.Contains(svg, []byte(n)) {
			t.Errorf("the SVG does not name %s", n)
		}
	}
	dot := filepath.Join(t.TempDir(), "run.dot")
	wantCode(t, flowcache(t, dir, "draw", string(second), "-o", dot, "--top-to-bottom"), exitOK)
	if b, _ := os.ReadFile(dot); !bytes.Contains(b, []byte("digraph")) || !bytes.Contains(b, []byte("rankdir=TB")) {
		t.Errorf("the DOT file:\n%s", b)
	}
	r = flowcache(t, dir, "draw", "last")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "digraph") {
		t.Errorf("draw to stdout is not DOT:\n%s", r.stdout)
	}
	g := decode[drawnGraph](t, flowcache(t, dir, "draw", "last", "--json"))
	outcome := map[string]core.Outcome{}
	for _, n := range g.Nodes {
		outcome[n.ID] = n.Outcome
	}
	if g.Run != second || outcome["load"] != core.OutcomeRetrieved || outcome["mean"] != core.OutcomeRetrieved || outcome["scaled"] != core.OutcomeExecuted || len(g.Edges) != 4 {
		t.Errorf("draw --json: %+v", g)
	}
	wantCode(t, flowcache(t, dir, "draw", "last", "-o", "run.png"), exitUsage)
	wantCode(t, flowcache(t, dir, "draw", "last", "--format", "pdf"), exitUsage)
	wantCode(t, flowcache(t, dir, "draw", "no-such-run", "-o", dot), exitNotFound)
}

// drawnGraph is what the tests read of `draw --json` (view.Graph.MarshalJSON).
type drawnGraph struct {
	Run   core.RunID `json:"run_id"`
	Nodes []struct {
		ID      string       `json:"id"`
		Outcome core.Outcome `json:"outcome"`
	} `json:"nodes"`
	Edges []struct{ From, To string } `json:"edges"`
}

// TestDrawJSONBytes: `draw --json` prints the graph as it did when the
// command defined the JSON itself, byte for byte (view/testdata holds
// what the command printed then).
func TestDrawJSONBytes(t *testing.T) {
	recs := []core.NodeRecord{
		{Node: "path", Key: core.CacheKey{Node: "path"}, DataVersion: "p", Outcome: core.OutcomeInput, Size: -1},
		{Node: "raw_data", Key: drawKey("raw_data", "path"), DataVersion: "r", Format: "gob", Behavior: core.Recompute, Outcome: core.OutcomeExecuted, Duration: 1234 * time.Microsecond, Size: -1},
		{Node: "clean_dataset", Key: drawKey("clean_dataset", "raw_data"), DataVersion: "c", Format: "gob", Behavior: core.Default, Outcome: core.OutcomeRetrieved, Size: -1},
		{Node: "statistics", Key: drawKey("statistics", "clean_dataset"), DataVersion: "s", Format: "gob", Behavior: core.Default, Outcome: core.OutcomeRetrieved, Size: -1, Requested: true},
	}
	var got bytes.Buffer
	if err := writeJSON(&got, view.FromRecords("r1", recs)); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "..", "view", "testdata", "quickstart.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("draw --json printed\n%s\nwant\n%s", got.Bytes(), want)
	}
}

func drawKey(node string, deps ...string) core.CacheKey {
	ds := make([]core.Dep, len(deps))
	for i, d := range deps {
		ds[i] = core.Dep{Name: d, Version: core.DataVersion("v-" + d)}
	}
	return core.NewCacheKey(node, "code-"+core.CodeVersion(node), ds)
}
