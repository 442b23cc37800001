package view

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowcache/flowcache/core"
)

// DefaultMaxTasks is how many tasks a fan-out may have and still be drawn
// with one node per task (see WithMaxTasks). Four tasks fit on a screen
// beside the rest of a pipeline; past that, copies of the same node say less
// than one node with counts.
const DefaultMaxTasks = 4

// Role is what a node of the graph stands for.
type Role string

// The roles.
const (
	RoleNode       Role = "node"       // a node of the dataflow, retrieved or executed
	RoleInput      Role = "input"      // an input of the run
	RoleOverride   Role = "override"   // a value given for a node, which was neither executed nor stored
	RoleUnrecorded Role = "unrecorded" // a dependency named by a cache key, with no record in the run
)

// Node is one node of a drawn run: a node of the dataflow, one task of a
// node inside a fan-out branch, or all the tasks of such a node grouped.
type Node struct {
	// ID identifies the node in the graph (and in DOT and SVG): the node's
	// name; core.RecordName(name, task) for one task of a branch node.
	ID   string
	Name string
	// Task is the task id of a node drawn per task ("" otherwise).
	Task string
	Role Role
	// Outcome is what the node did: the outcome of its last record. For a
	// group of tasks it is OutcomeRetrieved when every task was retrieved,
	// OutcomeFailed when one failed, and OutcomeExecuted otherwise.
	Outcome  core.Outcome
	Behavior core.Behavior
	// Requested says the node was one of the run's requested outputs.
	Requested bool
	// Duration is the time spent executing (summed over a group's tasks).
	Duration time.Duration
	// Size is the number of bytes stored in the run, or -1 when none.
	Size int64
	// FanOut is the expanding node whose branch holds the node ("" outside
	// fan-outs).
	FanOut string
	// Tasks counts the tasks of a grouped branch node, nil otherwise.
	Tasks *TaskCounts
	// Items is, for an expanding node, the number of tasks seen in its
	// branch.
	Items int
}

// Retrieved reports whether the node was retrieved from the cache (every
// task, for a group).
func (n *Node) Retrieved() bool { return n.Outcome == core.OutcomeRetrieved }

// PartlyRetrieved reports whether a group of tasks has some tasks
// retrieved and some not.
func (n *Node) PartlyRetrieved() bool {
	return n.Tasks != nil && n.Tasks.Retrieved > 0 && n.Tasks.Retrieved < n.Tasks.Total
}

// TaskCounts counts the tasks of a grouped branch node by outcome.
type TaskCounts struct {
	Total, Retrieved, Executed, Failed int
}

// Edge is a dependency: the node From is a dependency of the node To.
type Edge struct{ From, To string }

// FanOut is the branch of one expanding node.
type FanOut struct {
	// Expander is the name of the expanding node.
	Expander string
	// Tasks is the number of tasks of the branch.
	Tasks int
	// Grouped says the branch is drawn with one node per branch node
	// (Tasks > the maximum of WithMaxTasks), not one per task.
	Grouped bool
	// Nodes are the IDs of the graph nodes inside the branch.
	Nodes []string
}

// Graph is the dataflow of one run, rebuilt from the run's history in the
// metadata store: a node per recorded node (inputs and overrides included),
// an edge per dependency named in a record's cache key.
type Graph struct {
	Run core.RunID
	// Nodes are in drawing order: every node after its dependencies, ties
	// by ID.
	Nodes []*Node
	// Edges are sorted by (From, To) positions in Nodes.
	Edges []Edge
	// FanOuts are sorted by expander name.
	FanOuts []*FanOut

	opts  options
	index map[string]*Node
}

// Node returns the node with the given ID, or nil.
func (g *Graph) Node(id string) *Node { return g.index[id] }

// Option configures how a run is drawn.
type Option func(*options)

type options struct {
	maxTasks    int
	timings     bool
	topToBottom bool
	title       string
	link        func(n *Node) string
}

func newOptions(opts []Option) options {
	o := options{maxTasks: DefaultMaxTasks, timings: true}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// WithMaxTasks sets how many tasks a fan-out may have and still be drawn
// with one node per task, inside a box for the branch (default
// DefaultMaxTasks). A larger fan-out is drawn with one node per branch
// node, labelled with the number of tasks and how many were retrieved,
// executed and failed; its outline is dashed when only some tasks were
// retrieved. 0 groups every fan-out.
func WithMaxTasks(n int) Option { return func(o *options) { o.maxTasks = max(n, 0) } }

// WithoutTimings leaves durations and sizes out of the labels, so that two
// drawings of runs that did the same thing are the same bytes (the README's
// picture is drawn this way).
func WithoutTimings() Option { return func(o *options) { o.timings = false } }

// WithTitle names the run in the drawing's title instead of "run <id>".
func WithTitle(title string) Option { return func(o *options) { o.title = title } }

// WithLinks makes the nodes of the drawing links: link returns the URL a
// node leads to ("" for none). In SVG each such node is an <a> element
// (Graphviz's URL attribute, opened in the whole window), so a drawing in a
// web page can be clicked through to what each node did; the DOT carries
// the URL attribute. The web view (package view/web) links each node to
// its page.
func WithLinks(link func(n *Node) string) Option { return func(o *options) { o.link = link } }

// TopToBottom lays the graph out from top to bottom instead of from left to
// right.
func TopToBottom() Option { return func(o *options) { o.topToBottom = true } }

// Load reads the history of run from the metadata store and builds its
// graph (see FromRecords). With run == "" it draws the newest run. The error
// wraps core.ErrNotFound for an unknown run.
func Load(ctx context.Context, meta core.MetadataStore, run core.RunID, opts ...Option) (*Graph, error) {
	if run == "" {
		runs, err := meta.Runs(ctx)
		if err != nil {
			return nil, fmt.Errorf("view: %w", err)
		}
		if len(runs) == 0 {
			return nil, fmt.Errorf("view: no run recorded: %w", core.ErrNotFound)
		}
		run = runs[len(runs)-1].ID
	}
	recs, err := meta.Run(ctx, run)
	if err != nil {
		return nil, fmt.Errorf("view: run %s: %w", run, err)
	}
	return FromRecords(run, recs, opts...), nil
}

// FromRecords builds the graph of a run from its records, in the order
// they were written. A node recorded more than once (retrieved, then
// executed again because its stored result was unreadable) is drawn as its
// last record says. Dependencies come from the records' cache keys; a
// dependency with no record of its own is drawn as RoleUnrecorded.
func FromRecords(run core.RunID, recs []core.NodeRecord, opts ...Option) *Graph {
	b := builder{g: &Graph{Run: run, opts: newOptions(opts), index: map[string]*Node{}}}
	b.build(recs)
	return b.g
}

type builder struct {
	g *Graph
	// last record per (name, task), in write order of first appearance
	last map[nameTask]*core.NodeRecord
	// requested names
	requested map[string]bool
	// branch node name -> its expander; branch node name -> task ids
	branchOf map[string]string
	tasksOf  map[string][]string
	fanouts  map[string]*FanOut
	edges    map[Edge]bool
	pos      map[string]int // node ID -> position in the drawing order
}

type nameTask struct{ name, task string }

func (b *builder) build(recs []core.NodeRecord) {
	b.last = map[nameTask]*core.NodeRecord{}
	b.requested = map[string]bool{}
	b.branchOf = map[string]string{}
	b.tasksOf = map[string][]string{}
	b.fanouts = map[string]*FanOut{}
	b.edges = map[Edge]bool{}
	taskSeen := map[nameTask]bool{}
	branchTasks := map[string]map[string]bool{} // expander -> task ids
	for i := range recs {
		r := &recs[i]
		b.last[nameTask{r.Node, r.Task}] = r
		if r.Requested {
			b.requested[r.Node] = true
		}
		if r.Task == "" {
			continue
		}
		exp := expanderOf(r.Task)
		b.branchOf[r.Node] = exp
		if !taskSeen[nameTask{r.Node, r.Task}] {
			taskSeen[nameTask{r.Node, r.Task}] = true
			b.tasksOf[r.Node] = append(b.tasksOf[r.Node], r.Task)
		}
		if branchTasks[exp] == nil {
			branchTasks[exp] = map[string]bool{}
		}
		branchTasks[exp][r.Task] = true
	}
	for exp, tasks := range branchTasks {
		b.fanouts[exp] = &FanOut{Expander: exp, Tasks: len(tasks), Grouped: len(tasks) > b.g.opts.maxTasks}
	}
	for _, ts := range b.tasksOf {
		slices.SortFunc(ts, compareTasks)
	}

	// Nodes.
	keys := make([]nameTask, 0, len(b.last))
	for k := range b.last {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y nameTask) int {
		return cmp.Or(strings.Compare(x.name, y.name), compareTasks(x.task, y.task))
	})
	for _, k := range keys {
		r := b.last[k]
		if k.task == "" {
			b.addRecordNode(k.name, "", r)
			continue
		}
		fo := b.fanouts[b.branchOf[k.name]]
		if !fo.Grouped {
			b.addRecordNode(core.RecordName(k.name, k.task), k.task, r)
			continue
		}
		n := b.g.index[k.name]
		if n == nil {
			n = &Node{ID: k.name, Name: k.name, Role: RoleNode, Behavior: r.Behavior, Size: -1, Requested: b.requested[k.name]}
			b.add(n)
		}
		if n.Tasks == nil {
			n.Tasks = &TaskCounts{}
		}
		n.Tasks.Total++
		switch r.Outcome {
		case core.OutcomeRetrieved:
			n.Tasks.Retrieved++
		case core.OutcomeFailed:
			n.Tasks.Failed++
			n.Tasks.Executed++
		default:
			n.Tasks.Executed++
		}
		n.Duration += r.Duration
		if r.Size > 0 {
			n.Size = max(n.Size, 0) + r.Size
		}
	}
	for _, n := range b.g.Nodes {
		if exp, ok := b.branchOf[n.Name]; ok {
			n.FanOut = exp
			b.fanouts[exp].Nodes = append(b.fanouts[exp].Nodes, n.ID)
		}
		if fo := b.fanouts[n.Name]; fo != nil && n.Task == "" {
			n.Items = fo.Tasks
		}
		if c := n.Tasks; c != nil {
			switch {
			case c.Failed > 0:
				n.Outcome = core.OutcomeFailed
			case c.Retrieved == c.Total:
				n.Outcome = core.OutcomeRetrieved
			default:
				n.Outcome = core.OutcomeExecuted
			}
		}
	}

	// Edges, from the dependencies named in every record's key.
	for i := range recs {
		r := &recs[i]
		to := b.idOf(r.Node, r.Task)
		for _, d := range r.Key.Deps {
			for _, from := range b.sources(d.Name, r.Task) {
				if from != to {
					b.edges[Edge{from, to}] = true
				}
			}
		}
	}
	b.order()
	for _, fo := range b.fanouts {
		slices.SortFunc(fo.Nodes, b.byPosition)
		b.g.FanOuts = append(b.g.FanOuts, fo)
	}
	slices.SortFunc(b.g.FanOuts, func(x, y *FanOut) int { return strings.Compare(x.Expander, y.Expander) })
}

func (b *builder) add(n *Node) {
	b.g.index[n.ID] = n
	b.g.Nodes = append(b.g.Nodes, n)
}

func (b *builder) addRecordNode(id, task string, r *core.NodeRecord) {
	n := &Node{ID: id, Name: r.Node, Task: task, Role: RoleNode, Outcome: r.Outcome, Behavior: r.Behavior,
		Requested: b.requested[r.Node], Duration: r.Duration, Size: r.Size}
	switch r.Outcome {
	case core.OutcomeInput:
		n.Role = RoleInput
	case core.OutcomeOverride:
		n.Role = RoleOverride
	}
	b.add(n)
}

// idOf returns the graph ID of the node drawing (name, task).
func (b *builder) idOf(name, task string) string {
	if task == "" {
		return name
	}
	if b.fanouts[b.branchOf[name]].Grouped {
		return name
	}
	return core.RecordName(name, task)
}

// sources returns the IDs of the nodes a dependency named dep stands for,
// in a record of task task.
func (b *builder) sources(dep, task string) []string {
	if tasks, ok := b.tasksOf[dep]; ok {
		if b.fanouts[b.branchOf[dep]].Grouped {
			return []string{dep}
		}
		if task != "" {
			return []string{core.RecordName(dep, task)}
		}
		// A collecting node depends on every task of the branch node.
		ids := make([]string, len(tasks))
		for i, t := range tasks {
			ids[i] = core.RecordName(dep, t)
		}
		return ids
	}
	if b.g.index[dep] == nil {
		b.add(&Node{ID: dep, Name: dep, Role: RoleUnrecorded, Size: -1})
	}
	return []string{dep}
}

// order sorts the nodes so that each comes after its dependencies (ties,
// and nodes on a cycle, which a recorded run cannot have, by ID), and the
// edges by the positions of their ends.
func (b *builder) order() {
	g := b.g
	users := map[string][]string{}
	indeg := map[string]int{}
	for e := range b.edges {
		users[e.From] = append(users[e.From], e.To)
		indeg[e.To]++
		g.Edges = append(g.Edges, e)
	}
	var ready []string
	for _, n := range g.Nodes {
		if indeg[n.ID] == 0 {
			ready = append(ready, n.ID)
		}
	}
	slices.Sort(ready)
	var out []*Node
	placed := map[string]bool{}
	for len(ready) > 0 || len(out) < len(g.Nodes) {
		if len(ready) == 0 { // a cycle: place the smallest remaining ID
			var rest []string
			for _, n := range g.Nodes {
				if !placed[n.ID] {
					rest = append(rest, n.ID)
				}
			}
			ready = []string{slices.Min(rest)}
			indeg[ready[0]] = 0
		}
		id := ready[0]
		ready = ready[1:]
		if placed[id] {
			continue
		}
		placed[id] = true
		out = append(out, g.index[id])
		var next []string
		for _, u := range users[id] {
			if indeg[u]--; indeg[u] == 0 && !placed[u] {
				next = append(next, u)
			}
		}
		if len(next) > 0 {
			ready = append(ready, next...)
			slices.Sort(ready)
		}
	}
	g.Nodes = out
	slices.SortFunc(g.Edges, func(x, y Edge) int {
		return cmp.Or(b.byPosition(x.From, y.From), b.byPosition(x.To, y.To))
	})
}

func (b *builder) byPosition(x, y string) int {
	if b.pos == nil {
		b.pos = make(map[string]int, len(b.g.Nodes))
		for i, n := range b.g.Nodes {
			b.pos[n.ID] = i
		}
	}
	return cmp.Compare(b.pos[x], b.pos[y])
}

// expanderOf returns the expanding node of a task id "expander[i]" (see
// core.TaskID); a task id of another shape is its own fan-out.
func expanderOf(task string) string {
	if i := strings.LastIndexByte(task, '['); i > 0 && strings.HasSuffix(task, "]") {
		if _, err := strconv.Atoi(task[i+1 : len(task)-1]); err == nil {
			return task[:i]
		}
	}
	return task
}

// compareTasks orders task ids by expander, then item number.
func compareTasks(x, y string) int {
	ex, ey := expanderOf(x), expanderOf(y)
	if c := strings.Compare(ex, ey); c != 0 {
		return c
	}
	ix, errx := strconv.Atoi(strings.TrimSuffix(x[min(len(ex)+1, len(x)):], "]"))
	iy, erry := strconv.Atoi(strings.TrimSuffix(y[min(len(ey)+1, len(y)):], "]"))
	if errx == nil && erry == nil {
		return cmp.Compare(ix, iy)
	}
	return strings.Compare(x, y)
}
