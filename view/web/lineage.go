package web

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/view"
	"github.com/flowcache/flowcache/view/internal/dotquote"
)

// DefaultLineageDepth is how many steps upstream and downstream the lineage
// page draws (?depth= changes it).
const DefaultLineageDepth = 3

func lineageURL(v core.DataVersion) string { return "/lineage/" + url.PathEscape(string(v)) }

func historyURL(name string) string { return "/history/" + url.PathEscape(name) }

// LineagePage is the data of a data version's lineage page.
type LineagePage struct {
	Title   string                  `json:"-"`
	Depth   int                     `json:"depth"`
	Lineage *inspect.VersionLineage `json:"lineage"`
	SVG     template.HTML           `json:"-"`
	SVGErr  string                  `json:"-"`
}

func (s *Server) lineage(w http.ResponseWriter, r *http.Request) error {
	depth := DefaultLineageDepth
	if d := r.URL.Query().Get("depth"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: parameter depth=%q: want 0 or more (0: all)", core.ErrInvalid, d)
		}
		depth = n
	}
	ctx := r.Context()
	vl, err := s.c.VersionLineage(ctx, r.PathValue("version"))
	if err != nil {
		return err
	}
	if depth > 0 {
		vl.Upstream = within(vl.Upstream, depth)
		vl.Downstream = within(vl.Downstream, depth)
	}
	p := LineagePage{Title: "Lineage of " + short(vl.Version), Depth: depth, Lineage: vl}
	if !wantsJSON(r) {
		var svg bytes.Buffer
		if err := view.RenderDOT(ctx, lineageDOT(vl), &svg, "svg"); err != nil {
			p.SVGErr = err.Error()
		} else {
			p.SVG = template.HTML(stripXMLProlog(svg.Bytes())) // from quoted DOT, by Graphviz
		}
	}
	s.page(w, r, "lineage.html", p)
	return nil
}

// within keeps the links at most depth steps away.
func within(links []inspect.Link, depth int) []inspect.Link {
	out := links[:0:0]
	for _, l := range links {
		if l.Depth <= depth {
			out = append(out, l)
		}
	}
	return out
}

// lineageDOT draws the versions upstream and downstream of vl's as a graph
// of (node, data version) boxes, vl's filled, each box a link to its own
// lineage.
func lineageDOT(vl *inspect.VersionLineage) []byte {
	var b bytes.Buffer
	b.WriteString("digraph lineage {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fillcolor=\"#b3d9ff\", fontname=\"Helvetica\", fontsize=11];\n")
	seen := map[string]bool{}
	id := func(node string, v core.DataVersion) string { return node + "\x00" + string(v) }
	box := func(node string, v core.DataVersion, center bool) {
		k := id(node, v)
		if seen[k] {
			return
		}
		seen[k] = true
		fill := ""
		if center {
			fill = `, fillcolor="#ffc857", penwidth=2`
		}
		fmt.Fprintf(&b, "  %s [label=%s, URL=%s, target=\"_top\"%s];\n", dotquote.ID(k), dotquote.Label(node, short(v)), dotquote.ID(lineageURL(v)), fill)
	}
	for _, n := range vl.Nodes {
		box(n, vl.Version, true)
	}
	edge := func(from, to string, kind inspect.LinkKind) {
		label := ""
		if kind != inspect.LinkDependency {
			label = " [label=" + dotquote.Label(string(kind)) + ", fontsize=9]"
		}
		fmt.Fprintf(&b, "  %s -> %s%s;\n", dotquote.ID(from), dotquote.ID(to), label)
	}
	for _, l := range vl.Upstream {
		box(l.Node, l.Version, false)
		box(l.OfNode, l.Of, false)
		edge(id(l.Node, l.Version), id(l.OfNode, l.Of), l.Kind)
	}
	for _, l := range vl.Downstream {
		box(l.Node, l.Version, false)
		box(l.OfNode, l.Of, false)
		edge(id(l.OfNode, l.Of), id(l.Node, l.Version), l.Kind)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// HistoryPage is the data of a node's history page.
type HistoryPage struct {
	Title     string                `json:"-"`
	Node      string                `json:"node"`
	Histories []inspect.NodeHistory `json:"histories"`
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("node")
	hs, err := s.c.NodeHistory(r.Context(), name)
	if err != nil {
		return err
	}
	s.page(w, r, "history.html", HistoryPage{Title: "History of " + name, Node: name, Histories: hs})
	return nil
}
