// Package web serves a read-only web view of a flowcache cache — a local
// directory or any store URL — on the machine where it is started: the runs
// (filtered by date, with the counts of what their nodes did), one run (its
// drawing from package view, each node a link, retrieved nodes outlined as
// in the SVG; a table of its nodes), one node in a run (its cache key's
// parts, what its code version covers, data version, format, size,
// duration, why it missed, a preview of small values and the first rows of
// tables), the lineage of a data version (package inspect's Lineage: the
// runs that produced and used it, and what it was computed from and into,
// drawn across runs), a node's history of values, and what the cache holds (by node and by format) with a dry run
// of an eviction policy. Every page is also served as JSON: add
// ?format=json or send Accept: application/json.
//
//	c, _ := inspect.Open(ctx, ".flowcache")
//	defer c.Close()
//	http.ListenAndServe("127.0.0.1:8080", web.New(c))
//
// `flowcache serve` starts it. The pages are rendered on the server with
// html/template (no JavaScript); the drawing is inlined SVG. Nothing is
// written to the cache unless WithEviction allows POST /usage/evict, which
// applies the policy of the form for real, and only when the view's own page
// asks: a request another site's page makes the browser send is refused
// (http.CrossOriginProtection).
//
// Routes:
//
//	GET  /                         runs, newest first (?since=, ?until=: a date or an RFC 3339 time)
//	GET  /runs/{run}               one run (a full id, a unique prefix, or "last")
//	GET  /runs/{run}/drawing.svg   its drawing alone
//	GET  /runs/{run}/nodes/{node}  one node of it (node@task for a task)
//	GET  /lineage/{version}        a data version (or a unique prefix): who produced, retrieved or was given it, upstream and downstream drawn (?depth=, default 3)
//	GET  /history/{node}           a node's data versions across runs, each change explained
//	GET  /usage                    what the cache holds; ?max_size=, ?max_entries=, ?older_than=, ?gc=1 dry-run a policy
//	POST /usage/evict              evict with the same parameters (only WithEviction)
package web

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/maintain"
	"github.com/flowcache/flowcache/view"
	_ "github.com/flowcache/flowcache/view/svg" // renders the drawings
)

//go:embed templates/*.html
var templateFS embed.FS

// DefaultPreviewBytes is the largest stored result a node's page shows a
// preview of (WithPreviewBytes changes it).
const DefaultPreviewBytes = 256 << 10

// DefaultTablePreviewBytes is the largest stored table (csv, parquet,
// arrow) a node's page shows the first rows of (WithTablePreviewBytes
// changes it): a table is verified and decoded whole to show its first rows.
const DefaultTablePreviewBytes = 16 << 20

// isTable says a format stores tables, whose first rows a preview shows.
func isTable(format string) bool {
	base, _, _ := strings.Cut(format, "+")
	return base == "csv" || base == "parquet" || base == "arrow"
}

// previewChars is how much of a value's text a page shows.
const previewChars = 16 << 10

// Server serves the web view of one cache. It is an http.Handler, safe
// for concurrent use.
type Server struct {
	c            *inspect.Cache
	m            *maintain.Cache
	evict        bool
	previewBytes int64
	tableBytes   int64
	log          *slog.Logger
	tmpl         *template.Template
	mux          *http.ServeMux
}

// Option configures a Server.
type Option func(*Server)

// WithEviction lets POST /usage/evict delete what a policy selects. Without
// it the view never writes to the cache: the form only dry-runs.
func WithEviction() Option { return func(s *Server) { s.evict = true } }

// WithPreviewBytes sets the largest stored result whose value a node's page
// shows (DefaultPreviewBytes; 0 shows none).
func WithPreviewBytes(n int64) Option { return func(s *Server) { s.previewBytes = n } }

// WithTablePreviewBytes sets the largest stored table whose first rows a
// node's page shows (DefaultTablePreviewBytes; never less than the
// WithPreviewBytes limit).
func WithTablePreviewBytes(n int64) Option { return func(s *Server) { s.tableBytes = n } }

// WithLogger logs the requests that failed on the server's side (default:
// slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// New returns a Server for c. It reads c's stores when pages are asked for;
// closing c is the caller's.
func New(c *inspect.Cache, opts ...Option) *Server {
	s := &Server{c: c, m: maintain.New(c.Metadata(), c.Results()), previewBytes: DefaultPreviewBytes, tableBytes: DefaultTablePreviewBytes, log: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	s.tmpl = template.Must(template.New("").Funcs(template.FuncMap{
		"bytes":      fmtBytes,
		"duration":   fmtDuration,
		"time":       func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
		"short":      short,
		"runURL":     runURL,
		"nodeURL":    nodeURL,
		"lineageURL": lineageURL,
		"historyURL": historyURL,
		"record":     core.RecordName,
		"isZero":     func(t time.Time) bool { return t.IsZero() },
	}).ParseFS(templateFS, "templates/*.html"))
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /{$}", s.handle(s.runs))
	s.mux.HandleFunc("GET /runs/{run}", s.handle(s.run))
	s.mux.HandleFunc("GET /runs/{run}/drawing.svg", s.handle(s.drawing))
	s.mux.HandleFunc("GET /runs/{run}/nodes/{node}", s.handle(s.node))
	s.mux.HandleFunc("GET /lineage/{version}", s.handle(s.lineage))
	s.mux.HandleFunc("GET /history/{node}", s.handle(s.history))
	s.mux.HandleFunc("GET /usage", s.handle(s.usage))
	// A page of another site must not make the browser evict (CSRF): the
	// one request that writes is refused when it comes from another origin.
	s.mux.Handle("POST /usage/evict", http.NewCrossOriginProtection().Handler(s.handle(s.evictNow)))
	return s
}

// ServeHTTP serves the pages.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func runURL(id core.RunID) string { return "/runs/" + url.PathEscape(string(id)) }

func nodeURL(run core.RunID, name string) string {
	return runURL(run) + "/nodes/" + url.PathEscape(name)
}

// short is the first 12 characters of an id, key or version (any string
// type, as templates give it).
func short(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func fmtBytes(n int64) string {
	switch {
	case n < 0:
		return "–"
	case n < 1<<10:
		return strconv.FormatInt(n, 10) + " B"
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
}

func fmtDuration(d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	return d.Round(time.Microsecond).String()
}

// wantsJSON says the request asks for the page as JSON.
func wantsJSON(r *http.Request) bool {
	if f := r.URL.Query().Get("format"); f != "" {
		return f == "json"
	}
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// page writes data as JSON or through the template name.
func (s *Server) page(w http.ResponseWriter, r *http.Request, name string, data any) {
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(data)
		return
	}
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = buf.WriteTo(w)
}

// handle serves a page with h, and answers h's error with fail.
func (s *Server) handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	}
}

// errorPage is the data of an error, as a page or JSON.
type errorPage struct {
	Title  string `json:"-"`
	Status int    `json:"status"`
	Error  string `json:"error"`
}

// fail answers with the status err calls for: 404 for what is not in the
// cache, 400 for a bad parameter or an ambiguous prefix, 403 for a write
// the server does not allow, 500 otherwise (logged).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, core.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, core.ErrInvalid), errors.Is(err, inspect.ErrAmbiguous):
		status = http.StatusBadRequest
	case errors.Is(err, errForbidden):
		status = http.StatusForbidden
	default:
		s.log.Error("flowcache web view", "path", r.URL.Path, "err", err)
	}
	w.WriteHeader(status)
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(errorPage{Status: status, Error: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = s.tmpl.ExecuteTemplate(w, "error.html", errorPage{Title: http.StatusText(status), Status: status, Error: err.Error()})
}

var errForbidden = errors.New("forbidden")

// RunsPage is the data of the runs page.
type RunsPage struct {
	Title string               `json:"-"`
	Since string               `json:"since,omitempty"`
	Until string               `json:"until,omitempty"`
	Total int                  `json:"total"`
	Runs  []inspect.RunSummary `json:"runs"`
	Count inspect.RunSummary   `json:"totals"`
}

// parseWhen reads a date (2006-01-02, UTC) or an RFC 3339 time; end moves
// a date to the end of its day.
func parseWhen(name, v string, end bool) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: parameter %s=%q: want a date (2006-01-02) or an RFC 3339 time", core.ErrInvalid, name, v)
	}
	if end {
		t = t.Add(24*time.Hour - time.Nanosecond)
	}
	return t, nil
}

func (s *Server) runs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	since, err := parseWhen("since", q.Get("since"), false)
	if err != nil {
		return err
	}
	until, err := parseWhen("until", q.Get("until"), true)
	if err != nil {
		return err
	}
	all, err := s.c.Runs(r.Context())
	if err != nil {
		return err
	}
	p := RunsPage{Title: "Runs", Since: q.Get("since"), Until: q.Get("until"), Total: len(all), Runs: []inspect.RunSummary{}}
	for _, run := range slices.Backward(all) {
		if (!since.IsZero() && run.Started.Before(since)) || (!until.IsZero() && run.Started.After(until)) {
			continue
		}
		p.Runs = append(p.Runs, run)
		p.Count.Nodes += run.Nodes
		p.Count.Retrieved += run.Retrieved
		p.Count.Executed += run.Executed
		p.Count.Failed += run.Failed
		p.Count.ExecTime += run.ExecTime
		p.Count.Written += run.Written
	}
	s.page(w, r, "runs.html", p)
	return nil
}

// RunPage is the data of a run's page.
type RunPage struct {
	Title   string             `json:"-"`
	Summary inspect.RunSummary `json:"summary"`
	Nodes   []inspect.NodeInfo `json:"nodes"`
	Graph   *view.Graph        `json:"graph"`
	SVG     template.HTML      `json:"-"`
	SVGErr  string             `json:"-"`
}

// resolve finds the run of the request's {run}.
func (s *Server) resolve(ctx context.Context, r *http.Request) (inspect.RunSummary, error) {
	id, err := s.c.ResolveRun(ctx, r.PathValue("run"))
	if err != nil {
		return inspect.RunSummary{}, err
	}
	runs, err := s.c.Runs(ctx)
	if err != nil {
		return inspect.RunSummary{}, err
	}
	for _, run := range runs {
		if run.ID == id {
			return run, nil
		}
	}
	return inspect.RunSummary{}, fmt.Errorf("run %s: %w", id, core.ErrNotFound)
}

// graph loads the drawing of run, its nodes linked to their pages.
func (s *Server) graph(ctx context.Context, run core.RunID) (*view.Graph, error) {
	return view.Load(ctx, s.c.Metadata(), run, view.WithLinks(func(n *view.Node) string {
		if n.Tasks != nil || n.Role == view.RoleUnrecorded {
			return "" // a group of tasks, or a node the run did not record
		}
		return nodeURL(run, n.ID)
	}))
}

func (s *Server) run(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	sum, err := s.resolve(ctx, r)
	if err != nil {
		return err
	}
	nodes, err := s.c.Nodes(ctx, sum.ID)
	if err != nil {
		return err
	}
	g, err := s.graph(ctx, sum.ID)
	if err != nil {
		return err
	}
	p := RunPage{Title: "Run " + short(sum.ID), Summary: sum, Nodes: nodes, Graph: g}
	if !wantsJSON(r) {
		var svg bytes.Buffer
		if err := g.Render(ctx, &svg, "svg"); err != nil {
			p.SVGErr = err.Error()
		} else {
			p.SVG = template.HTML(stripXMLProlog(svg.Bytes())) // rendered from escaped DOT by Graphviz
		}
	}
	s.page(w, r, "run.html", p)
	return nil
}

// stripXMLProlog leaves the <svg> element of an SVG document, to inline it.
func stripXMLProlog(b []byte) string {
	if i := bytes.Index(b, []byte("<svg")); i > 0 {
		b = b[i:]
	}
	return string(b)
}

func (s *Server) drawing(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	sum, err := s.resolve(ctx, r)
	if err != nil {
		return err
	}
	g, err := s.graph(ctx, sum.ID)
	if err != nil {
		return err
	}
	var svg bytes.Buffer
	if err := g.Render(ctx, &svg, "svg"); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	_, _ = svg.WriteTo(w)
	return nil
}

// NodePage is the data of a node's page.
type NodePage struct {
	Title string           `json:"-"`
	Run   core.RunID       `json:"run_id"`
	Node  inspect.NodeInfo `json:"node"`
	// DepLinks are the node's dependencies with their pages in the run.
	Deps []DepLink `json:"deps"`
	// Why says why the node was retrieved or executed.
	Why []inspect.Explanation `json:"why"`
	// Code is what the node's code version covers, when a run stored it.
	Code    *core.CodeManifest `json:"code,omitempty"`
	CodeErr string             `json:"code_error,omitempty"`
	// Preview is the start of the value as text (see inspect.WriteValue),
	// PreviewNote why there is none or why it is cut.
	Preview     string `json:"preview,omitempty"`
	PreviewNote string `json:"preview_note,omitempty"`
}

// DepLink is a dependency of a node and its page.
type DepLink struct {
	Name    string           `json:"name"`
	Version core.DataVersion `json:"data_version"`
	URL     string           `json:"url,omitempty"`
}

func (s *Server) node(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	sum, err := s.resolve(ctx, r)
	if err != nil {
		return err
	}
	name := r.PathValue("node")
	nodes, err := s.c.Nodes(ctx, sum.ID)
	if err != nil {
		return err
	}
	byName := map[string]inspect.NodeInfo{}
	for _, n := range nodes {
		byName[n.Name()] = n
	}
	n, ok := byName[name]
	if !ok {
		return fmt.Errorf("node %q is not in run %s: %w", name, sum.ID, core.ErrNotFound)
	}
	p := NodePage{Title: name + " in run " + short(sum.ID), Run: sum.ID, Node: n, Deps: []DepLink{}}
	for _, d := range n.Deps {
		l := DepLink{Name: d.Name, Version: d.Version}
		for _, cand := range []string{core.RecordName(d.Name, n.Task), d.Name} {
			if _, ok := byName[cand]; ok {
				l.URL = nodeURL(sum.ID, cand)
				break
			}
		}
		p.Deps = append(p.Deps, l)
	}
	if n.Outcome == core.OutcomeRetrieved || n.Outcome == core.OutcomeExecuted || n.Outcome == core.OutcomeFailed {
		why, err := s.c.Why(ctx, sum.ID, name)
		if err != nil {
			return err
		}
		p.Why = why
	}
	if n.CodeVersion != "" {
		m, err := core.ReadCodeManifest(ctx, s.c.Metadata(), s.c.Results(), n.CodeVersion)
		if err != nil {
			p.CodeErr = err.Error()
		} else {
			p.Code = m
		}
	}
	p.Preview, p.PreviewNote = s.preview(ctx, sum.ID, n)
	s.page(w, r, "node.html", p)
	return nil
}

// preview is the start of a node's value as text, or why there is none.
func (s *Server) preview(ctx context.Context, run core.RunID, n inspect.NodeInfo) (text, note string) {
	size := n.Stored
	if size < 0 {
		size = n.Written
	}
	if size < 0 {
		return "", "no preview: no stored result of this node whose size is known"
	}
	limit := s.previewBytes
	if isTable(n.Format) {
		limit = max(limit, s.tableBytes)
	}
	if size > limit {
		return "", fmt.Sprintf("no preview: the stored result (%s) is larger than %s", fmtBytes(size), fmtBytes(limit))
	}
	res, err := s.c.FindResult(ctx, n.Name(), run)
	if err != nil {
		return "", "no stored value: " + err.Error()
	}
	var buf bytes.Buffer
	if err := s.c.WriteValue(ctx, &buf, res, false); err != nil {
		return "", "no preview: " + err.Error()
	}
	if buf.Len() > previewChars {
		cut := buf.Bytes()[:previewChars]
		// A table: up to the last whole line.
		if i := bytes.LastIndexByte(cut, '\n'); i > 0 {
			cut = cut[:i+1]
		}
		return string(cut), fmt.Sprintf("the first %s of %s", fmtBytes(int64(len(cut))), fmtBytes(int64(buf.Len())))
	}
	return buf.String(), ""
}

// UsagePage is the data of the usage page.
type UsagePage struct {
	Title   string                `json:"-"`
	Usage   maintain.Usage        `json:"usage"`
	Formats []FormatUsage         `json:"formats"`
	Policy  PolicyForm            `json:"policy"`
	Plan    *maintain.EvictReport `json:"plan,omitempty"`
	// Evicted is the report of an eviction this request made.
	Evicted  *maintain.EvictReport `json:"evicted,omitempty"`
	CanEvict bool                  `json:"can_evict"`
}

// FormatUsage is what the results of one format hold.
type FormatUsage struct {
	Format  string `json:"format"`
	Results int    `json:"results"`
	Bytes   int64  `json:"bytes"`
}

// PolicyForm is an eviction policy as the usage page's form gives it.
type PolicyForm struct {
	MaxSize    string `json:"max_size,omitempty"`
	MaxEntries string `json:"max_entries,omitempty"`
	OlderThan  string `json:"older_than,omitempty"`
	GC         bool   `json:"gc,omitempty"`
}

func (f PolicyForm) empty() bool {
	return f.MaxSize == "" && f.MaxEntries == "" && f.OlderThan == "" && !f.GC
}

// policy reads the form into a maintain.Policy.
func (f PolicyForm) policy() (maintain.Policy, error) {
	var p maintain.Policy
	if f.MaxSize != "" {
		n, err := core.ParseSize(f.MaxSize)
		if err != nil {
			return p, fmt.Errorf("parameter max_size: %w", err)
		}
		p.MaxSize = n
	}
	if f.MaxEntries != "" {
		n, err := strconv.Atoi(f.MaxEntries)
		if err != nil || n < 0 {
			return p, fmt.Errorf("%w: parameter max_entries=%q: want a count", core.ErrInvalid, f.MaxEntries)
		}
		p.MaxEntries = n
	}
	if f.OlderThan != "" {
		d, err := core.ParseAge(f.OlderThan)
		if err != nil {
			return p, fmt.Errorf("parameter older_than: %w", err)
		}
		if d <= 0 {
			return p, fmt.Errorf("%w: parameter older_than=%q: want a positive duration", core.ErrInvalid, f.OlderThan)
		}
		p.OlderThan = d
	}
	p.GC = f.GC
	return p, nil
}

func formFrom(r *http.Request) PolicyForm {
	get := func(k string) string { return strings.TrimSpace(r.FormValue(k)) }
	gc := get("gc")
	return PolicyForm{MaxSize: get("max_size"), MaxEntries: get("max_entries"), OlderThan: get("older_than"), GC: gc == "1" || gc == "on" || gc == "true"}
}

func (s *Server) usagePage(ctx context.Context, form PolicyForm) (UsagePage, error) {
	u, err := s.m.Usage(ctx)
	if err != nil {
		return UsagePage{}, err
	}
	p := UsagePage{Title: "Usage", Usage: u, Policy: form, CanEvict: s.evict}
	p.Formats, err = s.formats(ctx)
	if err != nil {
		return UsagePage{}, err
	}
	return p, nil
}

// formats counts the stored results by format.
func (s *Server) formats(ctx context.Context) ([]FormatUsage, error) {
	walker, ok := core.As[core.ResultWalker](s.c.Results())
	if !ok {
		return []FormatUsage{}, nil
	}
	by := map[string]*FormatUsage{}
	err := walker.WalkResults(ctx, func(info core.ResultInfo) error {
		f := by[info.ID.Format]
		if f == nil {
			f = &FormatUsage{Format: info.ID.Format}
			by[info.ID.Format] = f
		}
		f.Results++
		f.Bytes += info.Size
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]FormatUsage, 0, len(by))
	for _, f := range by {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b FormatUsage) int {
		if a.Bytes != b.Bytes {
			return int(b.Bytes - a.Bytes)
		}
		return strings.Compare(a.Format, b.Format)
	})
	return out, nil
}

func (s *Server) usage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	form := formFrom(r)
	p, err := s.usagePage(ctx, form)
	if err != nil {
		return err
	}
	if !form.empty() {
		pol, err := form.policy()
		if err != nil {
			return err
		}
		pol.DryRun = true
		plan, err := s.m.Evict(ctx, pol)
		if err != nil {
			return err
		}
		p.Plan = &plan
	}
	s.page(w, r, "usage.html", p)
	return nil
}

func (s *Server) evictNow(w http.ResponseWriter, r *http.Request) error {
	if !s.evict {
		return fmt.Errorf("%w: eviction is off in this view (flowcache serve --allow-evict turns it on)", errForbidden)
	}
	ctx := r.Context()
	form := formFrom(r)
	if form.empty() {
		return fmt.Errorf("%w: an eviction needs a policy: max_size, max_entries, older_than or gc", core.ErrInvalid)
	}
	pol, err := form.policy()
	if err != nil {
		return err
	}
	rep, err := s.m.Evict(ctx, pol)
	if err != nil {
		return err
	}
	p, err := s.usagePage(ctx, form)
	if err != nil {
		return err
	}
	p.Evicted = &rep
	s.page(w, r, "usage.html", p)
	return nil
}
