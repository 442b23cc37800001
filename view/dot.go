package view

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/view/internal/dotquote"
)

// The colours and outline of the drawing. They follow Hamilton's drawings,
// so its users read ours at a glance: nodes are rounded boxes filled light
// blue, inputs dashed white boxes, overrides hatched, requested outputs
// filled yellow, and a node retrieved from the cache has a thick orange-red
// outline (Hamilton's view_run: penwidth 3, #F06449) while an executed
// node has the thin default one.
const (
	colorNode      = "#b4d8e4"
	colorOutput    = "#ffc857"
	colorRetrieved = "#f06449"
	colorFailed    = "#f4a6a6"
	colorSkipped   = "#e6e6e6"
	colorInput     = "#ffffff"
	colorLine      = "#333333"
	colorDetail    = "#444444"
	colorMuted     = "#777777"
	penRetrieved   = "3"
	fontName       = "Helvetica"
)

// DOT returns the graph in the DOT language of Graphviz (see WriteDOT).
func (g *Graph) DOT() []byte {
	var b bytes.Buffer
	_ = g.WriteDOT(&b)
	return b.Bytes()
}

// WriteDOT writes the graph in the DOT language of Graphviz. The output
// depends only on the graph: the same run gives the same bytes.
//
// Every node's ID is its graph ID (Node.ID), quoted; Graphviz keeps it as
// the node's <title> in SVG. A retrieved node has penwidth=3 and
// color="#f06449"; a group of tasks only some of which were retrieved has
// the same outline, dashed; no other node has that outline. Fan-out
// branches are clusters named "cluster_fanout:<expander>", and the legend
// (which shows only what the drawing uses) is the cluster "cluster_legend"
// of nodes whose IDs start with "legend:".
func (g *Graph) WriteDOT(w io.Writer) error {
	bw := bufio.NewWriter(w)
	d := dotWriter{w: bw, g: g}
	d.write()
	return bw.Flush()
}

type dotWriter struct {
	w *bufio.Writer
	g *Graph
}

func (d *dotWriter) printf(format string, args ...any) { fmt.Fprintf(d.w, format, args...) }

func (d *dotWriter) write() {
	g := d.g
	rankdir := "LR"
	if g.opts.topToBottom {
		rankdir = "TB"
	}
	d.printf("// The run %s of a flowcache cache, drawn by github.com/flowcache/flowcache/view.\n", sanitize(string(g.Run)))
	d.printf("digraph %s {\n", dotquote.ID("run "+string(g.Run)))
	d.printf("\tgraph [rankdir=%s, fontname=%q, fontsize=12, labelloc=t, nodesep=0.25, ranksep=0.45, label=%s];\n",
		rankdir, fontName, d.title())
	d.printf("\tnode [shape=box, style=\"rounded,filled\", fillcolor=%q, color=%q, fontname=%q, fontsize=12, margin=\"0.22,0.06\"];\n",
		colorNode, colorLine, fontName)
	d.printf("\tedge [color=%q, arrowsize=0.7];\n", colorLine)
	inBranch := map[string]bool{}
	for _, fo := range g.FanOuts {
		for _, id := range fo.Nodes {
			inBranch[id] = true
		}
	}
	for _, n := range g.Nodes {
		if !inBranch[n.ID] {
			d.node("\t", n)
		}
	}
	for _, fo := range g.FanOuts {
		d.printf("\tsubgraph %s {\n", dotquote.ID("cluster_fanout:"+fo.Expander))
		what := "tasks"
		if fo.Tasks == 1 {
			what = "task"
		}
		d.printf("\t\tgraph [label=%s, style=\"dashed,rounded\", color=%q, fontsize=11];\n",
			dotquote.Label(fmt.Sprintf("fan-out of %s: %d %s", fo.Expander, fo.Tasks, what)), colorMuted)
		for _, id := range fo.Nodes {
			d.node("\t\t", g.index[id])
		}
		d.printf("\t}\n")
	}
	for _, e := range g.Edges {
		d.printf("\t%s -> %s;\n", dotquote.ID(e.From), dotquote.ID(e.To))
	}
	d.legend()
	d.printf("}\n")
}

// title is the graph's label: the run and what its nodes did.
func (d *dotWriter) title() string {
	var retrieved, executed, failed int
	for _, n := range d.g.Nodes {
		if n.Role != RoleNode {
			continue
		}
		if c := n.Tasks; c != nil {
			retrieved += c.Retrieved
			executed += c.Executed - c.Failed
			failed += c.Failed
			continue
		}
		switch n.Outcome {
		case core.OutcomeRetrieved:
			retrieved++
		case core.OutcomeExecuted:
			executed++
		case core.OutcomeFailed:
			failed++
		}
	}
	parts := []string{fmt.Sprintf("%d retrieved", retrieved), fmt.Sprintf("%d executed", executed)}
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", failed))
	}
	name := "run " + string(d.g.Run)
	if d.g.opts.title != "" {
		name = d.g.opts.title
	}
	return dotquote.Label(name + " · " + strings.Join(parts, ", "))
}

// style returns the attributes of a node beyond the defaults, and the key of
// its legend entries.
type style struct {
	attrs  []string
	legend []legendKey
}

type legendKey int

const (
	legendExecuted legendKey = iota
	legendRetrieved
	legendPartly
	legendFailed
	legendSkipped
	legendInput
	legendOverride
	legendOutput
	legendUnrecorded
	numLegend
)

func nodeStyle(n *Node) style {
	var s style
	attr := func(k, v string) { s.attrs = append(s.attrs, k+"="+strconv.Quote(v)) }
	switch n.Role {
	case RoleInput:
		attr("style", "filled,dashed")
		fill := colorInput
		if n.Requested {
			fill = colorOutput
		}
		attr("fillcolor", fill)
		s.legend = append(s.legend, legendInput)
	case RoleOverride:
		attr("style", "filled,diagonals")
		s.legend = append(s.legend, legendOverride)
		if n.Requested {
			attr("fillcolor", colorOutput)
		}
	case RoleUnrecorded:
		attr("style", "dotted")
		attr("fontcolor", colorMuted)
		s.legend = append(s.legend, legendUnrecorded)
	default:
		switch {
		case n.PartlyRetrieved():
			attr("style", "rounded,filled,dashed")
			attr("color", colorRetrieved)
			attr("penwidth", penRetrieved)
			s.legend = append(s.legend, legendPartly)
		case n.Retrieved():
			attr("color", colorRetrieved)
			attr("penwidth", penRetrieved)
			s.legend = append(s.legend, legendRetrieved)
		default:
			s.legend = append(s.legend, legendExecuted)
		}
		switch {
		case n.Outcome == core.OutcomeFailed:
			attr("fillcolor", colorFailed)
			s.legend = append(s.legend, legendFailed)
		case n.Outcome == core.OutcomeSkipped:
			attr("fillcolor", colorSkipped)
			s.legend = append(s.legend, legendSkipped)
		case n.Requested:
			attr("fillcolor", colorOutput)
		}
	}
	if n.Requested {
		s.legend = append(s.legend, legendOutput)
	}
	return s
}

func (d *dotWriter) node(indent string, n *Node) {
	s := nodeStyle(n)
	d.printf("%s%s [label=%s", indent, dotquote.ID(n.ID), dotquote.Label(append([]string{n.Name}, d.details(n)...)...))
	for _, a := range s.attrs {
		d.printf(", %s", a)
	}
	if d.g.opts.link != nil {
		if u := d.g.opts.link(n); u != "" {
			d.printf(", URL=%s, target=\"_top\"", dotquote.ID(u))
		}
	}
	d.printf("];\n")
}

// details returns the lines of a node's label below its name: what it did
// (task, behaviour, outcome, items or task counts) and, for executed nodes,
// its duration and stored size.
func (d *dotWriter) details(n *Node) []string {
	var what []string
	if n.Task != "" {
		what = append(what, n.Task)
	}
	if n.Role == RoleNode && n.Behavior != core.Unset && n.Behavior != core.Default {
		what = append(what, n.Behavior.String())
	}
	switch {
	case n.Tasks != nil:
		c := n.Tasks
		var by []string
		if c.Retrieved > 0 {
			by = append(by, fmt.Sprintf("%d retrieved", c.Retrieved))
		}
		if e := c.Executed - c.Failed; e > 0 {
			by = append(by, fmt.Sprintf("%d executed", e))
		}
		if c.Failed > 0 {
			by = append(by, fmt.Sprintf("%d failed", c.Failed))
		}
		what = append(what, fmt.Sprintf("%d tasks: %s", c.Total, strings.Join(by, ", ")))
	case n.Outcome == core.OutcomeFailed:
		what = append(what, "failed")
	case n.Outcome == core.OutcomeSkipped:
		what = append(what, "skipped")
	case n.Role == RoleUnrecorded:
		what = append(what, "not recorded")
	}
	if n.Items > 0 {
		what = append(what, fmt.Sprintf("%d items", n.Items))
	}
	var cost []string
	if d.g.opts.timings && n.Role == RoleNode && n.Outcome != core.OutcomeRetrieved {
		if n.Duration > 0 {
			cost = append(cost, formatDuration(n.Duration))
		}
		if n.Size > 0 {
			cost = append(cost, formatSize(n.Size))
		}
	}
	var lines []string
	if len(what) > 0 {
		lines = append(lines, strings.Join(what, " · "))
	}
	if len(cost) > 0 {
		// On the line above when it stays short.
		if c := strings.Join(cost, " · "); len(lines) == 1 && len(lines[0])+len(c) <= 28 {
			lines[0] += " · " + c
		} else {
			lines = append(lines, c)
		}
	}
	return lines
}

var legendLabels = [numLegend]string{
	legendExecuted:   "executed",
	legendRetrieved:  "retrieved from cache",
	legendPartly:     "some tasks retrieved",
	legendFailed:     "failed",
	legendSkipped:    "skipped",
	legendInput:      "input",
	legendOverride:   "override",
	legendOutput:     "requested output",
	legendUnrecorded: "not recorded",
}

func (d *dotWriter) legend() {
	var used [numLegend]bool
	for _, n := range d.g.Nodes {
		for _, k := range nodeStyle(n).legend {
			used[k] = true
		}
	}
	var sample = [numLegend]*Node{
		legendExecuted:   {Role: RoleNode, Outcome: core.OutcomeExecuted},
		legendRetrieved:  {Role: RoleNode, Outcome: core.OutcomeRetrieved},
		legendPartly:     {Role: RoleNode, Outcome: core.OutcomeExecuted, Tasks: &TaskCounts{Total: 2, Retrieved: 1, Executed: 1}},
		legendFailed:     {Role: RoleNode, Outcome: core.OutcomeFailed},
		legendSkipped:    {Role: RoleNode, Outcome: core.OutcomeSkipped},
		legendInput:      {Role: RoleInput},
		legendOverride:   {Role: RoleOverride},
		legendOutput:     {Role: RoleNode, Outcome: core.OutcomeExecuted, Requested: true},
		legendUnrecorded: {Role: RoleUnrecorded},
	}
	first := true
	prev := ""
	for k := range numLegend {
		if !used[k] {
			continue
		}
		if first {
			d.printf("\tsubgraph cluster_legend {\n")
			d.printf("\t\tgraph [label=\"legend\", style=rounded, color=%q, fontsize=11];\n", colorMuted)
			d.printf("\t\tnode [fontsize=10, margin=\"0.1,0.03\"];\n")
			first = false
		}
		id := d.legendID(legendLabels[k])
		s := nodeStyle(sample[k])
		d.printf("\t\t%s [label=%s", dotquote.ID(id), dotquote.Label(legendLabels[k]))
		for _, a := range s.attrs {
			d.printf(", %s", a)
		}
		d.printf("];\n")
		if prev != "" {
			// Invisible edges keep the entries in one row (one column
			// left to right).
			d.printf("\t\t%s -> %s [style=invis];\n", dotquote.ID(prev), dotquote.ID(id))
		}
		prev = id
	}
	if !first {
		d.printf("\t}\n")
	}
}

// legendID returns the ID of a legend entry, "legend:<label>", with more
// colons in front if a node of the run happens to have that ID.
func (d *dotWriter) legendID(name string) string {
	id := "legend:" + name
	for d.g.index[id] != nil {
		id = ":" + id
	}
	return id
}

// sanitize replaces invalid UTF-8 (Graphviz reads UTF-8).
func sanitize(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// formatDuration prints d with three significant digits: 850µs, 12.3ms,
// 1.52s.
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return d.String()
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', digits(float64(d)/float64(time.Microsecond)), 64) + " µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', digits(float64(d)/float64(time.Millisecond)), 64) + " ms"
	default:
		return strconv.FormatFloat(d.Seconds(), 'f', digits(d.Seconds()), 64) + " s"
	}
}

func digits(v float64) int {
	switch {
	case v >= 100:
		return 0
	case v >= 10:
		return 1
	}
	return 2
}

// formatSize prints n bytes in SI units: 512 B, 4.1 kB, 12 MB.
func formatSize(n int64) string {
	if n < 1000 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v := float64(n)
	for _, unit := range []string{"kB", "MB", "GB", "TB"} {
		v /= 1000
		if v < 1000 || unit == "TB" {
			return strconv.FormatFloat(v, 'f', digits(v)-1+boolInt(v >= 100), 64) + " " + unit
		}
	}
	return ""
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
