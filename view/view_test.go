package view_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"

	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/view"
	_ "github.com/flowcache/flowcache/view/svg"
)

func key(node string, deps ...string) core.CacheKey {
	ds := make([]core.Dep, len(deps))
	for i, d := range deps {
		ds[i] = core.Dep{Name: d, Version: core.DataVersion("v-" + d)}
	}
	return core.NewCacheKey(node, "code-"+core.CodeVersion(node), ds)
}

// quickstartRecords are the records of a warm quickstart run: the loader
// always runs, the rest is retrieved.
func quickstartRecords() []core.NodeRecord {
	return []core.NodeRecord{
		{Node: "path", Key: core.CacheKey{Node: "path"}, DataVersion: "p", Outcome: core.OutcomeInput, Size: -1},
		{Node: "raw_data", Key: key("raw_data", "path"), DataVersion: "r", Format: "gob", Behavior: core.Recompute, Outcome: core.OutcomeExecuted, Duration: 1234 * time.Microsecond, Size: -1},
		{Node: "clean_dataset", Key: key("clean_dataset", "raw_data"), DataVersion: "c", Format: "gob", Behavior: core.Default, Outcome: core.OutcomeRetrieved, Size: -1},
		{Node: "statistics", Key: key("statistics", "clean_dataset"), DataVersion: "s", Format: "gob", Behavior: core.Default, Outcome: core.OutcomeRetrieved, Size: -1, Requested: true},
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with the file testdata/name, or rewrites the file
// with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (go test -update rewrites it):\n%s", name, path, got)
	}
}

func TestDOTQuickstart(t *testing.T) {
	g := view.FromRecords("run-1", quickstartRecords())
	dot := string(g.DOT())
	golden(t, "quickstart.dot", g.DOT())
	// Only what the drawing uses is in the legend.
	for _, absent := range []string{"legend:override", "legend:failed", "legend:some tasks", "cluster_fanout"} {
		if strings.Contains(dot, absent) {
			t.Errorf("DOT has %s", absent)
		}
	}
	// Deterministic, whatever the order the records were written in.
	recs := quickstartRecords()
	slices.Reverse(recs)
	if again := string(view.FromRecords("run-1", recs).DOT()); again != dot {
		t.Errorf("another record order gives another drawing:\n%s\n%s", again, dot)
	}
	// Without timings, the labels carry no duration.
	if plain := string(view.FromRecords("run-1", quickstartRecords(), view.WithoutTimings()).DOT()); strings.Contains(plain, " ms") {
		t.Errorf("WithoutTimings kept a duration:\n%s", plain)
	}
	if tb := string(view.FromRecords("run-1", quickstartRecords(), view.TopToBottom()).DOT()); !strings.Contains(tb, "rankdir=TB") {
		t.Errorf("TopToBottom: %s", tb)
	}
}

func TestGraphModel(t *testing.T) {
	recs := append(quickstartRecords(),
		core.NodeRecord{Node: "o", Key: core.CacheKey{Node: "o"}, DataVersion: "o", Outcome: core.OutcomeOverride, Size: -1},
		core.NodeRecord{Node: "uses", Key: key("uses", "o", "ghost"), Behavior: core.Disable, Outcome: core.OutcomeFailed, Size: -1, Requested: true},
	)
	g := view.FromRecords("r", recs)
	var ids []string
	for _, n := range g.Nodes {
		ids = append(ids, n.ID)
	}
	// Dependencies first, ties by ID.
	if want := []string{"ghost", "o", "path", "raw_data", "clean_dataset", "statistics", "uses"}; !slices.Equal(ids, want) {
		t.Fatalf("nodes %v, want %v", ids, want)
	}
	if n := g.Node("ghost"); n.Role != view.RoleUnrecorded {
		t.Errorf("ghost: %+v", n)
	}
	if n := g.Node("o"); n.Role != view.RoleOverride {
		t.Errorf("o: %+v", n)
	}
	if n := g.Node("uses"); n.Outcome != core.OutcomeFailed || !n.Requested || n.Behavior != core.Disable {
		t.Errorf("uses: %+v", n)
	}
	dot := string(g.DOT())
	for _, want := range []string{
		`"uses" [label="uses\ndisable · failed", fillcolor="#f4a6a6"];`,
		`"o" [label="o", style="filled,diagonals"];`,
		`"ghost" [label="ghost\nnot recorded", style="dotted", fontcolor="#777777"];`,
		`label="run r · 2 retrieved, 1 executed, 1 failed"`,
		`"legend:not recorded"`, `"legend:override"`, `"legend:failed"`,
	} {
		if !strings.Contains(dot, want) {
			t.Errorf("DOT lacks %s\n%s", want, dot)
		}
	}
}

// Names that are not plain identifiers stay distinct, quoted IDs and
// escaped labels.
func TestDOTEscaping(t *testing.T) {
	recs := []core.NodeRecord{
		{Node: `a"b\`, Outcome: core.OutcomeInput, Key: core.CacheKey{Node: `a"b\`}, Size: -1},
		{Node: "<x&y>\n\\N", Key: key("<x&y>\n\\N", `a"b\`), Outcome: core.OutcomeExecuted, Size: -1},
		{Node: "legend:executed", Key: key("legend:executed", "<x&y>\n\\N"), Outcome: core.OutcomeExecuted, Size: -1},
		{Node: "bad\xffutf8", Key: key("bad\xffutf8", "legend:executed"), Outcome: core.OutcomeExecuted, Size: -1},
	}
	dot := string(view.FromRecords("r", recs).DOT())
	for _, want := range []string{
		`"a\"b\x5c" [label="a\"b\\ "`, // a trailing backslash cannot come before the closing quote
		`"<x&y>\x0a\x5cN" [label="<x&y>` + "\uFFFD" + `\\N"`,
		`"a\"b\x5c" -> "<x&y>\x0a\x5cN";`,
		`":legend:executed" [label="executed"];`, // the legend's ID moved aside
		`"bad` + "\uFFFD" + `utf8"`,
	} {
		if !strings.Contains(dot, want) {
			t.Errorf("DOT lacks %s\n%s", want, dot)
		}
	}
	svg := renderSVG(t, view.FromRecords("r", recs))
	got := svgNodes(t, svg)
	if len(got) != 4+2 { // and the legend's executed and input
		t.Errorf("SVG nodes: %v", got)
	}
	for _, title := range []string{`a"b\x5c`, `<x&y>\x0a\x5cN`, "legend:executed", ":legend:executed"} {
		if _, ok := got[title]; !ok {
			t.Errorf("no SVG node titled %q in %v", title, got)
		}
	}
}

// fanOutRecords are a run of files -> parse (per item) -> report, with n
// items, the first retrieved items of which were retrieved.
func fanOutRecords(n, retrieved int) []core.NodeRecord {
	recs := []core.NodeRecord{
		{Node: "dir", Key: core.CacheKey{Node: "dir"}, Outcome: core.OutcomeInput, Size: -1},
		{Node: "files", Key: key("files", "dir"), Behavior: core.Recompute, Outcome: core.OutcomeExecuted, Size: -1},
	}
	for i := range n {
		task := core.TaskID("files", i)
		out := core.OutcomeExecuted
		if i < retrieved {
			out = core.OutcomeRetrieved
		}
		recs = append(recs,
			core.NodeRecord{Node: "parse", Task: task, Key: key("parse", "files"), Outcome: out, Duration: time.Millisecond, Size: 100},
			core.NodeRecord{Node: "score", Task: task, Key: key("score", "parse", "dir"), Outcome: out, Size: -1})
	}
	recs = append(recs, core.NodeRecord{Node: "report", Key: key("report", "score"), Outcome: core.OutcomeExecuted, Size: -1, Requested: true})
	return recs
}

func TestFanOutPerTask(t *testing.T) {
	g := view.FromRecords("r", fanOutRecords(3, 1))
	if len(g.FanOuts) != 1 || g.FanOuts[0].Expander != "files" || g.FanOuts[0].Tasks != 3 || g.FanOuts[0].Grouped {
		t.Fatalf("fan-outs: %+v", g.FanOuts[0])
	}
	want := []string{"parse@files[0]", "parse@files[1]", "parse@files[2]", "score@files[0]", "score@files[1]", "score@files[2]"}
	if got := g.FanOuts[0].Nodes; !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Fatalf("branch nodes %v, want %v", got, want)
	}
	if !g.Node("parse@files[0]").Retrieved() || g.Node("parse@files[1]").Retrieved() {
		t.Errorf("outcomes per task wrong")
	}
	if g.Node("files").Items != 3 {
		t.Errorf("files items = %d", g.Node("files").Items)
	}
	edges := map[view.Edge]bool{}
	for _, e := range g.Edges {
		edges[e] = true
	}
	for _, e := range []view.Edge{
		{"files", "parse@files[1]"}, {"parse@files[1]", "score@files[1]"}, {"dir", "score@files[2]"},
		{"score@files[0]", "report"}, {"score@files[2]", "report"},
	} {
		if !edges[e] {
			t.Errorf("no edge %v", e)
		}
	}
	if edges[view.Edge{From: "parse@files[0]", To: "score@files[1]"}] {
		t.Error("edge across tasks")
	}
	dot := string(g.DOT())
	for _, w := range []string{
		`subgraph "cluster_fanout:files" {`,
		`graph [label="fan-out of files: 3 tasks"`,
		`"parse@files[0]" [label="parse\nfiles[0]", color="#f06449", penwidth="3"];`,
		`"parse@files[1]" [label="parse\nfiles[1] · 1.00 ms · 100 B"];`,
		`"files" [label="files\nrecompute · 3 items"];`,
	} {
		if !strings.Contains(dot, w) {
			t.Errorf("DOT lacks %s\n%s", w, dot)
		}
	}
}

func TestFanOutGrouped(t *testing.T) {
	g := view.FromRecords("r", fanOutRecords(1000, 998))
	if len(g.Nodes) != 5 {
		t.Fatalf("%d nodes, want 5 (dir, files, parse, score, report; none per task)", len(g.Nodes))
	}
	p := g.Node("parse")
	if p.Tasks == nil || *p.Tasks != (view.TaskCounts{Total: 1000, Retrieved: 998, Executed: 2}) || !p.PartlyRetrieved() || p.Retrieved() {
		t.Fatalf("parse: %+v %+v", p, p.Tasks)
	}
	if p.Duration != 1000*time.Millisecond || p.Size != 100_000 {
		t.Errorf("parse: duration %v size %d", p.Duration, p.Size)
	}
	golden(t, "fanout-grouped.dot", g.DOT())
	// All retrieved: a solid outline. WithMaxTasks(0) groups even one task.
	all := view.FromRecords("r", fanOutRecords(2, 2), view.WithMaxTasks(0))
	if n := all.Node("parse"); !n.Retrieved() || n.PartlyRetrieved() {
		t.Errorf("all retrieved: %+v", n)
	}
}

// svgNode is what the tests read of a node in the SVG: its title and the
// outline of its shape.
type svgNode struct {
	Title       string
	Stroke      string
	StrokeWidth string
	Dashed      bool
}

func renderSVG(t *testing.T, g *view.Graph) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := g.Render(context.Background(), &b, "svg"); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// svgNodes parses an SVG written by Graphviz with encoding/xml and returns
// its nodes (legend entries included), by title.
func svgNodes(t *testing.T, svg []byte) map[string]svgNode {
	t.Helper()
	type shape struct {
		Stroke      string `xml:"stroke,attr"`
		StrokeWidth string `xml:"stroke-width,attr"`
		Dash        string `xml:"stroke-dasharray,attr"`
	}
	type group struct {
		Class    string  `xml:"class,attr"`
		Title    string  `xml:"title"`
		Polygons []shape `xml:"polygon"`
		Paths    []shape `xml:"path"`
		Ellipses []shape `xml:"ellipse"`
		Groups   []group `xml:"g"`
	}
	var doc struct {
		XMLName xml.Name `xml:"svg"`
		Groups  []group  `xml:"g"`
	}
	dec := xml.NewDecoder(bytes.NewReader(svg))
	dec.Strict = true
	dec.Entity = xml.HTMLEntity
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("SVG does not parse as XML: %v", err)
	}
	out := map[string]svgNode{}
	var walk func(gs []group)
	walk = func(gs []group) {
		for _, g := range gs {
			if g.Class == "node" {
				shapes := append(append(g.Polygons, g.Paths...), g.Ellipses...)
				if len(shapes) == 0 {
					t.Fatalf("node %q has no shape", g.Title)
				}
				s := shapes[0]
				out[g.Title] = svgNode{Title: g.Title, Stroke: s.Stroke, StrokeWidth: s.StrokeWidth, Dashed: s.Dash != ""}
			}
			walk(g.Groups)
		}
	}
	walk(doc.Groups)
	return out
}

// outlined reports whether a node has the retrieved outline.
func (n svgNode) outlined() bool { return n.Stroke == "#f06449" && n.StrokeWidth == "3" }

// checkSVGMarks checks that the SVG outlines exactly the retrieved nodes of
// g (dashed for partly retrieved groups).
func checkSVGMarks(t *testing.T, g *view.Graph, svg []byte) {
	t.Helper()
	nodes := svgNodes(t, svg)
	for title := range nodes {
		if g.Node(title) == nil && !strings.HasPrefix(strings.TrimLeft(title, ":"), "legend:") {
			t.Errorf("SVG node %q is neither a node of the run nor of the legend", title)
		}
	}
	for _, n := range g.Nodes {
		s, ok := nodes[n.ID]
		if !ok {
			t.Fatalf("node %q missing from the SVG", n.ID)
		}
		want := n.Retrieved() || n.PartlyRetrieved()
		if s.outlined() != want || (n.Role == view.RoleNode && s.Dashed != n.PartlyRetrieved()) {
			t.Errorf("node %q: outline %+v; retrieved %v, partly %v", n.ID, s, n.Retrieved(), n.PartlyRetrieved())
		}
	}
}

func TestSVGMarksRetrieved(t *testing.T) {
	for name, recs := range map[string][]core.NodeRecord{
		"quickstart":   quickstartRecords(),
		"fanout":       fanOutRecords(3, 2),
		"fanout-group": fanOutRecords(50, 20),
	} {
		t.Run(name, func(t *testing.T) {
			g := view.FromRecords("r", recs)
			svg := renderSVG(t, g)
			checkSVGMarks(t, g, svg)
		})
	}
}

func TestWriteFile(t *testing.T) {
	ctx := context.Background()
	st := mem.Open()
	defer st.Close()
	meta := st.Metadata()
	if err := meta.BeginRun(ctx, core.RunInfo{ID: "r1"}); err != nil {
		t.Fatal(err)
	}
	if err := meta.Write(ctx, core.Batch{Run: "r1", Records: quickstartRecords()}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"run.dot", "run.svg", "RUN.SVG"} {
		path := filepath.Join(dir, name)
		if err := view.WriteFile(ctx, meta, "", path); err != nil { // "": the newest run
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(strings.ToLower(name), ".svg") {
			g, _ := view.Load(ctx, meta, "r1")
			checkSVGMarks(t, g, b)
		} else if !bytes.HasPrefix(b, []byte("// The run r1 of a flowcache cache")) {
			t.Errorf("%s: %.60q", name, b)
		}
	}
	if err := view.WriteFile(ctx, meta, "r1", filepath.Join(dir, "run.png")); !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "png") {
		t.Errorf("png: %v", err)
	}
	if err := view.WriteFile(ctx, meta, "r1", filepath.Join(dir, "run")); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("no extension: %v", err)
	}
	if err := view.WriteFile(ctx, meta, "nope", filepath.Join(dir, "x.dot")); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("unknown run: %v", err)
	}
	if got := view.Formats(); !slices.Equal(got, []string{"dot", "svg"}) {
		t.Errorf("Formats() = %v", got)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

// The pipeline of the child-process test: an input, an override, a fan-out
// and two requested outputs.
func childNodes() []*driver.NodeDef {
	return []*driver.NodeDef{
		driver.Node("items", func(n int) []int {
			out := make([]int, n)
			for i := range out {
				out[i] = i
			}
			return out
		}, "n", driver.Expand()),
		driver.Node("square", func(x int) int { return x * x }, "items"),
		driver.Node("total", func(xs []int) int {
			s := 0
			for _, x := range xs {
				s += x
			}
			return s
		}, "square", driver.Collect()),
		driver.Node("offset", func() int { return 1 }),
		driver.Node("result", func(t, o int) int { return t + o }, "total", "offset"),
		driver.Node("stamp", func(n int) string { return fmt.Sprint(n) }, "n", driver.WithBehavior(core.Recompute)),
	}
}

// TestChildProcess is the pipeline run by TestDrawAfterExit in a child
// process; it does nothing in a normal test run.
func TestChildProcess(t *testing.T) {
	dir := os.Getenv("FLOWCACHE_VIEW_CHILD_DIR")
	if dir == "" {
		t.Skip("run by TestDrawAfterExit")
	}
	n := 3
	if os.Getenv("FLOWCACHE_VIEW_CHILD_RUN") == "2" {
		n = 4 // one more item: one new branch task executes, the others are retrieved
	}
	dr, err := driver.NewBuilder().WithNodes(childNodes()...).WithCache(driver.CacheDir(dir), driver.LogToFile("")).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	out, err := dr.Execute(context.Background(), []string{"result", "stamp", "n"}, driver.Inputs{"n": n}, driver.Overrides{"offset": 10})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("child ok result =", out["result"])
}

// A run is drawn after the process that ran it has exited, from the cache
// directory alone.
func TestDrawAfterExit(t *testing.T) {
	dir := t.TempDir()
	for _, run := range []string{"1", "2"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$", "-test.v")
		cmd.Env = append(os.Environ(), "FLOWCACHE_VIEW_CHILD_DIR="+dir, "FLOWCACHE_VIEW_CHILD_RUN="+run)
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("child ok result =")) {
			t.Fatalf("child run %s: %v\n%s", run, err, out)
		}
	}
	ctx := context.Background()
	st, err := local.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.Metadata().Runs(ctx)
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs: %v, %v", runs, err)
	}
	g, err := view.Load(ctx, st.Metadata(), runs[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	// What the second run did, as the drawing tells it.
	want := map[string]struct {
		role      view.Role
		outcome   core.Outcome
		requested bool
	}{
		"n":               {view.RoleInput, core.OutcomeInput, true},
		"offset":          {view.RoleOverride, core.OutcomeOverride, false},
		"items":           {view.RoleNode, core.OutcomeExecuted, false},
		"square@items[0]": {view.RoleNode, core.OutcomeRetrieved, false},
		"square@items[2]": {view.RoleNode, core.OutcomeRetrieved, false},
		"square@items[3]": {view.RoleNode, core.OutcomeExecuted, false},
		"total":           {view.RoleNode, core.OutcomeExecuted, false},
		"result":          {view.RoleNode, core.OutcomeExecuted, true},
		"stamp":           {view.RoleNode, core.OutcomeExecuted, true},
	}
	if len(g.Nodes) != 10 {
		t.Errorf("%d nodes, want 10", len(g.Nodes))
	}
	for id, w := range want {
		n := g.Node(id)
		if n == nil {
			t.Fatalf("no node %q in %v", id, g.Nodes)
		}
		if n.Role != w.role || n.Outcome != w.outcome || n.Requested != w.requested {
			t.Errorf("%s: role %s outcome %s requested %v; want %+v", id, n.Role, n.Outcome, n.Requested, w)
		}
	}
	edges := map[view.Edge]bool{}
	for _, e := range g.Edges {
		edges[e] = true
	}
	for _, e := range []view.Edge{{"n", "items"}, {"items", "square@items[3]"}, {"square@items[1]", "total"}, {"total", "result"}, {"offset", "result"}, {"n", "stamp"}} {
		if !edges[e] {
			t.Errorf("no edge %v", e)
		}
	}
	svgPath := filepath.Join(t.TempDir(), "run.svg")
	if err := view.WriteFile(ctx, st.Metadata(), runs[1].ID, svgPath); err != nil {
		t.Fatal(err)
	}
	svg, err := os.ReadFile(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	checkSVGMarks(t, g, svg)
	// The first run executed everything (but the override, which is never
	// executed); drawn grouped, its fan-out is one node per branch node.
	g1, err := view.Load(ctx, st.Metadata(), runs[0].ID, view.WithMaxTasks(2))
	if err != nil {
		t.Fatal(err)
	}
	if sq := g1.Node("square"); sq == nil || sq.Tasks.Total != 3 || sq.Tasks.Executed != 3 || sq.Retrieved() {
		t.Errorf("run 1, square grouped: %+v", sq)
	}
	checkSVGMarks(t, g1, renderSVG(t, g1))
	// The child kept its logs in the cache too.
	evs, err := core.ReadRunLog(ctx, st.Metadata(), st.Results(), runs[1].ID)
	if err != nil || !slices.ContainsFunc(evs, func(e core.Event) bool { return e.String() == "square::items[0]::adapter::get_result::hit" }) {
		t.Errorf("log of run 2: %d events, %v", len(evs), err)
	}
}

// The requested outputs are recorded in the run history of every store,
// and nothing else is marked.
func TestRequestedOutputsRecorded(t *testing.T) {
	ctx := context.Background()
	lst, err := local.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer lst.Close()
	mst := mem.Open()
	defer mst.Close()
	for name, stores := range map[string][2]any{"local": {lst.Metadata(), lst.Results()}, "mem": {mst.Metadata(), mst.Results()}} {
		t.Run(name, func(t *testing.T) {
			meta, res := stores[0].(core.MetadataStore), stores[1].(core.ResultStore)
			dr, err := driver.NewBuilder().WithNodes(childNodes()...).WithCache(driver.CacheStores(meta, res)).Build()
			if err != nil {
				t.Fatal(err)
			}
			defer dr.Close()
			if _, err := dr.Execute(ctx, []string{"total", "n", "items"}, driver.Inputs{"n": 2}, nil); err != nil {
				t.Fatal(err)
			}
			run, _ := dr.Cache().LastRunID(ctx)
			recs, err := meta.Run(ctx, run)
			if err != nil {
				t.Fatal(err)
			}
			var requested []string
			for _, r := range recs {
				if r.Requested {
					requested = append(requested, core.RecordName(r.Node, r.Task))
				}
			}
			slices.Sort(requested)
			if want := []string{"items", "n", "total"}; !slices.Equal(requested, want) {
				t.Fatalf("requested records %v, want %v", requested, want)
			}
			// WriteRun draws the driver's last run.
			path := filepath.Join(t.TempDir(), "last.dot")
			if err := view.WriteRun(ctx, dr.Cache(), "", path); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(path)
			if !bytes.Contains(b, []byte(string(run))) || !bytes.Contains(b, []byte(`"total" [label="total\n`)) {
				t.Errorf("WriteRun drew\n%s", b)
			}
		})
	}
}

// TestWriteRunWithoutCache: a driver built without WithCache has no run to
// draw, and says so.
func TestWriteRunWithoutCache(t *testing.T) {
	dr, err := driver.NewBuilder().WithNodes(childNodes()...).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	path := filepath.Join(t.TempDir(), "run.dot")
	err = view.WriteRun(context.Background(), dr.Cache(), "", path)
	if err == nil || !strings.Contains(err.Error(), "without WithCache") {
		t.Fatalf("WriteRun without a cache: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("WriteRun without a cache wrote %s (%v)", path, err)
	}
}

// WithLinks makes every node of the SVG a link to the URL given for it,
// and leaves the nodes it gives none for plain.
func TestSVGLinks(t *testing.T) {
	g := view.FromRecords("r", quickstartRecords(), view.WithLinks(func(n *view.Node) string {
		if n.Role == view.RoleInput {
			return ""
		}
		return "/runs/r/nodes/" + url.PathEscape(n.ID)
	}))
	svg := string(renderSVG(t, g))
	links := 0
	for _, n := range g.Nodes {
		href := `xlink:href="/runs/r/nodes/` + url.PathEscape(n.ID) + `"`
		if n.Role == view.RoleInput {
			if strings.Contains(svg, href) {
				t.Errorf("input %s is a link", n.ID)
			}
			continue
		}
		links++
		if !strings.Contains(svg, href) {
			t.Errorf("node %s: no %s in the SVG", n.ID, href)
		}
	}
	if links == 0 || !strings.Contains(string(g.DOT()), `URL="/runs/r/nodes/`) {
		t.Errorf("%d links; DOT without URL attributes", links)
	}
}
