package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	fcsv "github.com/flowcache/flowcache/formats/csv"
	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/internal/testflow"
	"github.com/flowcache/flowcache/view/web"
)

// Sale is a row of the table the test pipeline stores as CSV.
type Sale struct {
	Region string
	Units  int
}

func Sales(n int) []Sale {
	out := make([]Sale, n)
	for i := range out {
		out[i] = Sale{Region: []string{"north", "south", "east"}[i%3], Units: i}
	}
	return out
}

func Total(s []Sale) int {
	t := 0
	for _, x := range s {
		t += x.Units
	}
	return t
}

func Big(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i) * 1.1
	}
	return out
}

func nodes() []*driver.NodeDef {
	return []*driver.NodeDef{
		driver.Node("sales", Sales, "n", driver.WithFormat(fcsv.New())),
		driver.Node("total", Total, "sales"),
		driver.Node("big", Big, "size"),
	}
}

// testCache runs the pipeline twice on a local directory, the second time
// with another n (sales and total execute again; big is retrieved), and
// returns the directory and the two runs.
func testCache(t *testing.T) (string, core.RunID, core.RunID) {
	t.Helper()
	d := testflow.NewDir(t)
	first := d.Run(nodes(), []string{"total", "big"}, driver.Inputs{"n": 5, "size": 1 << 17}, nil)
	d.Advance(time.Hour)
	second := d.Run(nodes(), []string{"total", "big"}, driver.Inputs{"n": 6, "size": 1 << 17}, nil)
	return d.Path, first.ID, second.ID
}

func serve(t *testing.T, dir string, opts ...web.Option) *httptest.Server {
	t.Helper()
	c, err := inspect.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	srv := httptest.NewServer(web.New(c, opts...))
	t.Cleanup(srv.Close)
	return srv
}

// get fetches path and decodes its JSON into v (nil: returns the body);
// it fails the test unless the status is want.
func get(t *testing.T, srv *httptest.Server, path string, want int, v any) string {
	t.Helper()
	return do(t, srv, http.MethodGet, path, want, v)
}

func do(t *testing.T, srv *httptest.Server, method, path string, want int, v any) string {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, nil)
	if v != nil {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%s: %v: %s", path, err, body)
		}
	}
	return string(body)
}

// The pages as JSON say what the runs did, as package inspect reads it.
func TestPagesJSON(t *testing.T) {
	dir, first, second := testCache(t)
	srv := serve(t, dir)

	var runs web.RunsPage
	get(t, srv, "/", 200, &runs)
	if runs.Total != 2 || len(runs.Runs) != 2 || runs.Runs[0].ID != second || runs.Runs[1].ID != first {
		t.Fatalf("runs: %+v", runs)
	}
	if r := runs.Runs[0]; r.Executed != 2 || r.Retrieved != 1 {
		t.Errorf("second run: executed %d retrieved %d, want 2 and 1", r.Executed, r.Retrieved)
	}
	// A date filter: nothing before the first run's day, both on its day.
	day := runs.Runs[1].Started.UTC().Format(time.DateOnly)
	get(t, srv, "/?until="+runs.Runs[1].Started.UTC().Add(-48*time.Hour).Format(time.DateOnly), 200, &runs)
	if len(runs.Runs) != 0 {
		t.Errorf("until two days before: %d runs", len(runs.Runs))
	}
	get(t, srv, "/?since="+day, 200, &runs)
	if len(runs.Runs) != 2 {
		t.Errorf("since the first run's day: %d runs", len(runs.Runs))
	}
	get(t, srv, "/?since="+url.QueryEscape(runs.Runs[0].Started.Add(-time.Minute).Format(time.RFC3339Nano)), 200, &runs)
	if len(runs.Runs) != 1 || runs.Runs[0].ID != second {
		t.Errorf("since a minute before the second run: %+v", runs.Runs)
	}

	var run web.RunPage
	get(t, srv, "/runs/last", 200, &run)
	if run.Summary.ID != second || len(run.Nodes) != 5 || run.Graph == nil {
		t.Fatalf("last run: %s, %d nodes", run.Summary.ID, len(run.Nodes))
	}
	get(t, srv, "/runs/"+string(first)[:13], 200, &run) // a unique prefix
	if run.Summary.ID != first {
		t.Errorf("prefix: run %s", run.Summary.ID)
	}

	var node web.NodePage
	get(t, srv, "/runs/last/nodes/total", 200, &node)
	if node.Node.Outcome != core.OutcomeExecuted || len(node.Deps) != 1 || node.Deps[0].Name != "sales" || node.Deps[0].URL != "/runs/"+string(second)+"/nodes/sales" {
		t.Errorf("total: %+v", node)
	}
	if len(node.Why) != 1 || !strings.Contains(node.Why[0].Text, "sales") {
		t.Errorf("total's why does not name sales: %+v", node.Why)
	}
	if node.Code == nil || !strings.HasSuffix(node.Code.Func, "web_test.Total") || len(node.Code.Parts) == 0 {
		t.Errorf("total's code: %+v (%s)", node.Code, node.CodeErr)
	}
	if node.Preview != "15\n" {
		t.Errorf("total's preview %q, want 15", node.Preview)
	}
	node = web.NodePage{}
	get(t, srv, "/runs/last/nodes/sales", 200, &node)
	if !strings.HasPrefix(node.Preview, "Region,Units\nnorth,0\n") || strings.Count(node.Preview, "\n") != 7 {
		t.Errorf("sales' preview:\n%s", node.Preview)
	}
	node = web.NodePage{}
	get(t, srv, "/runs/last/nodes/big", 200, &node)
	if node.Node.Outcome != core.OutcomeRetrieved || node.Preview != "" || !strings.Contains(node.PreviewNote, "larger than") {
		t.Errorf("big (1 MiB): outcome %s, preview %d bytes, note %q", node.Node.Outcome, len(node.Preview), node.PreviewNote)
	}
	node = web.NodePage{}
	get(t, srv, "/runs/last/nodes/n", 200, &node)
	if node.Node.Outcome != core.OutcomeInput || node.Code != nil {
		t.Errorf("input n: %+v", node)
	}

	// Lineage: big was produced by the first run and retrieved by the
	// second; total of the second run was computed from its sales, which
	// came from the input n.
	var total web.RunPage
	get(t, srv, "/runs/"+string(second), 200, &total)
	versions := map[string]core.DataVersion{}
	for _, n := range total.Nodes {
		versions[n.Name()] = n.DataVersion
	}
	var lin web.LineagePage
	get(t, srv, "/lineage/"+string(versions["big"])[:16], 200, &lin) // a prefix
	if l := lin.Lineage; l.Version != versions["big"] || len(l.Produced) != 1 || l.Produced[0].Run != first || len(l.Retrieved) != 1 || l.Retrieved[0].Run != second {
		t.Errorf("big's lineage: %+v", lin.Lineage)
	}
	lin = web.LineagePage{}
	get(t, srv, "/lineage/"+string(versions["total"]), 200, &lin)
	up := map[string]int{}
	for _, l := range lin.Lineage.Upstream {
		up[l.Node+"="+string(l.Version)] = l.Depth
	}
	if len(lin.Lineage.Produced) != 1 || lin.Lineage.Produced[0].Run != second ||
		up["sales="+string(versions["sales"])] != 1 || up["n="+string(versions["n"])] != 2 || len(up) != 2 {
		t.Errorf("total's lineage: produced %+v, upstream %v", lin.Lineage.Produced, up)
	}
	lin = web.LineagePage{}
	get(t, srv, "/lineage/"+string(versions["n"])+"?depth=1", 200, &lin)
	if len(lin.Lineage.Downstream) != 1 || lin.Lineage.Downstream[0].Node != "sales" {
		t.Errorf("n's lineage at depth 1: %+v", lin.Lineage.Downstream)
	}
	var hist web.HistoryPage
	get(t, srv, "/history/total", 200, &hist)
	if len(hist.Histories) != 1 || len(hist.Histories[0].Steps) != 2 || !strings.Contains(hist.Histories[0].Steps[1].Why.Text, "sales") {
		t.Errorf("total's history: %+v", hist.Histories)
	}

	var usage web.UsagePage
	get(t, srv, "/usage", 200, &usage)
	if usage.Usage.Runs != 2 || len(usage.Formats) != 3 || usage.CanEvict || usage.Plan != nil {
		t.Errorf("usage: %+v", usage)
	}
	formats := map[string]int{}
	for _, f := range usage.Formats {
		formats[f.Format] = f.Results
	}
	if formats["csv"] != 2 || formats["gob"] != 3 || formats["json"] != 1 { // two sales tables; two totals and big; the code manifests
		t.Errorf("results by format: %v", formats)
	}
}

// Errors name what is wrong, with the status that says so; the view never
// writes unless it is allowed to, and a dry run deletes nothing.
func TestErrorsAndEviction(t *testing.T) {
	dir, _, _ := testCache(t)
	srv := serve(t, dir)
	var e struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	}
	for path, want := range map[string]struct {
		status int
		text   string
	}{
		"/runs/nope":                  {404, "nope"},
		"/runs/last/nodes/nosuchnode": {404, `"nosuchnode"`},
		"/runs/0":                     {400, "ambiguous"},
		"/?since=yesterday":           {400, "since"},
		"/usage?max_size=lots":        {400, "max_size"},
		"/usage?older_than=-1h":       {400, "older_than"},
		"/lineage/ffffffffffff":       {404, "ffffffffffff"},
		"/lineage/x?depth=-1":         {400, "depth"},
		"/history/nosuchnode":         {404, "nosuchnode"},
	} {
		get(t, srv, path, want.status, &e)
		if !strings.Contains(e.Error, want.text) {
			t.Errorf("%s: error %q does not name %s", path, e.Error, want.text)
		}
	}
	body := get(t, srv, "/runs/nope", 404, nil)
	if !strings.Contains(body, `id="error"`) {
		t.Errorf("an error page as HTML: %.200s", body)
	}

	var usage web.UsagePage
	get(t, srv, "/usage?max_size=1", 200, &usage) // grace protects everything just stored
	get(t, srv, "/usage?max_size=1&older_than=1ns", 200, &usage)
	if usage.Plan == nil || !usage.Plan.DryRun {
		t.Fatalf("dry run: %+v", usage.Plan)
	}
	before := usage.Usage.Entries
	do(t, srv, http.MethodPost, "/usage/evict?max_size=1", 403, &e)
	if !strings.Contains(e.Error, "--allow-evict") {
		t.Errorf("refused eviction says %q", e.Error)
	}
	get(t, srv, "/usage", 200, &usage)
	if usage.Usage.Entries != before {
		t.Errorf("entries %d after a dry run and a refused eviction, want %d", usage.Usage.Entries, before)
	}

	srv2 := serve(t, dir, web.WithEviction())
	// Another site's page cannot make a browser evict.
	req, _ := http.NewRequest(http.MethodPost, srv2.URL+"/usage/evict?gc=1&max_entries=1", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := srv2.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	get(t, srv, "/usage", 200, &usage)
	if resp.StatusCode != http.StatusForbidden || usage.Usage.Entries != before {
		t.Errorf("a cross-site eviction: status %d, entries %d (want 403, %d)", resp.StatusCode, usage.Usage.Entries, before)
	}
	do(t, srv2, http.MethodPost, "/usage/evict?gc=1&max_entries=1", 200, &usage)
	if usage.Evicted == nil || usage.Evicted.DryRun {
		t.Fatalf("eviction: %+v", usage.Evicted)
	}
	do(t, srv2, http.MethodPost, "/usage/evict", 400, &e)
}

// chromium returns the path of a Chromium to drive, or skips the test
// (fails it under CI, where .ci/run installs Debian's chromium).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on PATH under CI: .ci/run installs Debian's chromium package")
	}
	t.Skip("no chromium on PATH (apt-get install chromium)")
	return ""
}

// browse loads url in headless Chromium and returns the DOM it built;
// with shot != "", it also writes a screenshot there.
func browse(t *testing.T, bin, url, shot string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,760"}
	if shot != "" {
		if err := exec.CommandContext(ctx, bin, append(args, "--screenshot="+shot, url)...).Run(); err != nil {
			t.Fatalf("chromium screenshot of %s: %v", url, err)
		}
	}
	out, err := exec.CommandContext(ctx, bin, append(args, "--dump-dom", url)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v", url, err)
	}
	return string(out)
}

// TestBrowser loads each page of a real cache in headless Chromium and
// checks what it shows: the runs link to their pages, the drawing's nodes
// link to their pages and the retrieved ones are outlined, a node's page
// shows its key, why and value, the usage page its tables. With
// FLOWCACHE_SCREENSHOTS=DIR it writes the README's screenshots there.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a browser")
	}
	bin := chromium(t)
	dir, first, second := testCache(t)
	srv := serve(t, dir)
	shots := os.Getenv("FLOWCACHE_SCREENSHOTS")
	shot := func(name string) string {
		if shots == "" {
			return ""
		}
		return filepath.Join(shots, name)
	}

	dom := browse(t, bin, srv.URL+"/", shot("web-runs.png"))
	for _, id := range []core.RunID{first, second} {
		if !strings.Contains(dom, `href="/runs/`+string(id)+`"`) {
			t.Errorf("runs page: no link to run %s", id)
		}
	}

	dom = browse(t, bin, srv.URL+"/runs/"+string(second), shot("web-run.png"))
	for _, n := range []string{"sales", "total", "big"} {
		if !strings.Contains(dom, `xlink:href="/runs/`+string(second)+`/nodes/`+n+`"`) {
			t.Errorf("run page: the drawing's node %s is not a link to its page", n)
		}
	}
	// big was retrieved: its node is outlined (Hamilton's colour, penwidth
	// 3); total was executed: it is not.
	outlined := func(node string) bool {
		i := strings.Index(dom, "<title>"+node+"</title>")
		if i < 0 {
			t.Fatalf("run page: no node %s in the drawing", node)
		}
		g := dom[i:]
		g = g[:strings.Index(g, "</g>")]
		return strings.Contains(g, `stroke="#f06449"`) && strings.Contains(g, `stroke-width="3"`)
	}
	if !outlined("big") || outlined("total") {
		t.Errorf("run page: big outlined %v (want true), total outlined %v (want false)", outlined("big"), outlined("total"))
	}

	dom = browse(t, bin, srv.URL+"/runs/"+string(second)+"/nodes/total", shot("web-node.png"))
	for _, want := range []string{`id="outcome">executed`, `href="/runs/` + string(second) + `/nodes/sales"`, `id="why"`, "sales", `<pre id="preview">15`} {
		if !strings.Contains(dom, want) {
			t.Errorf("node page: no %q", want)
		}
	}
	i := strings.Index(dom, `id="lineage" href="/lineage/`)
	if i < 0 {
		t.Fatal("node page: the data version does not link to its lineage")
	}
	lineage := dom[i+len(`id="lineage" href="`):]
	lineage = lineage[:strings.IndexByte(lineage, '"')]
	dom = browse(t, bin, srv.URL+lineage, shot("web-lineage.png"))
	for _, want := range []string{`<table id="produced">`, `href="/runs/` + string(second) + `/nodes/total"`, `xlink:href="/lineage/`, "<title>", ">sales<"} {
		if !strings.Contains(dom, want) {
			t.Errorf("lineage page: no %q", want)
		}
	}
	dom = browse(t, bin, srv.URL+"/usage?older_than=1ns&max_size=1", shot("web-usage.png"))
	for _, want := range []string{`id="by-node"`, `<td>sales</td>`, `<td>csv</td>`, `id="plan"`, "Read-only view"} {
		if !strings.Contains(dom, want) {
			t.Errorf("usage page: no %q", want)
		}
	}
}

// A table is previewed (its first rows) up to its own limit, larger than
// the one of other values.
func TestTablePreviewLimit(t *testing.T) {
	dir, _, _ := testCache(t)
	for _, c := range []struct {
		opts       []web.Option
		sales, tot bool
	}{
		{[]web.Option{web.WithPreviewBytes(1)}, true, false},
		{[]web.Option{web.WithPreviewBytes(1), web.WithTablePreviewBytes(1)}, false, false},
		{nil, true, true},
	} {
		srv := serve(t, dir, c.opts...)
		for node, want := range map[string]bool{"sales": c.sales, "total": c.tot} {
			var p web.NodePage
			get(t, srv, "/runs/last/nodes/"+node, 200, &p)
			if got := p.Preview != ""; got != want {
				t.Errorf("%d options: %s previewed %v, want %v (%s)", len(c.opts), node, got, want, p.PreviewNote)
			}
		}
	}
}
