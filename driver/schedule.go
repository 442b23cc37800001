package driver

import (
	"slices"
	"strings"

	"github.com/flowcache/flowcache/core"
)

// schedule is the graph as the executor walks it, prepared once by Build:
// every node and every input a node names has a slot, and edges are slot
// numbers, so that a run allocates a few slices and looks up no map per
// node.
type schedule struct {
	// slots are the nodes in topological order (slots[:nodes]), then the
	// inputs the nodes name, in the order they are first named.
	slots []slotInfo
	nodes int
	slot  map[string]int
	fans  []fanInfo
	// inputEdges are the parameters fed by inputs, by node name then
	// parameter: the order plan checks input types in.
	inputEdges []inputEdge
	// maxIn is the most arguments a node function takes (with its
	// context): the size of a worker's argument buffer.
	maxIn int
}

type slotInfo struct {
	id    int // its own slot
	name  string
	n     *node     // nil for an input
	deps  []int     // slot of each dependency
	kinds []depKind // how each dependency reaches the node
	// succ are what a static node's completion counts down: a static node
	// (slot >= 0), or the gate of a branch node b (-(b+1)).
	succ []int
	// fan is the fan-out of an Expand node or of a branch node (index in
	// schedule.fans), else -1; pos is a branch node's position in its
	// fan-out's branch.
	fan, pos int
	// A branch node's users: the branch nodes fed by the same item's task,
	// and the Collect nodes fed by all its tasks.
	branchUsers []int
	collectors  []int
	// branchDeps counts a branch node's dependencies on branch nodes (one
	// task each, per item).
	branchDeps int32
}

// depKind is how a dependency's value reaches a node.
type depKind uint8

const (
	depValue depKind = iota // an input, an override or a static node's result
	depItem                 // the task's item of the Expand node
	depTask                 // the result of the same item's task of a branch node
	depJoin                 // the results of every task of a branch node (Collect)
)

// fanInfo is an Expand node and its branch.
type fanInfo struct {
	expander int
	branch   []int // slots of the branch nodes, in topological order
}

type inputEdge struct{ node, param, input int }

// prepare builds d.sched from the checked graph.
func (d *Driver) prepare() {
	s := &schedule{slot: make(map[string]int, len(d.topo)), slots: make([]slotInfo, 0, len(d.topo)+8)}
	edges := 0
	for _, name := range d.topo {
		s.slot[name] = len(s.slots)
		s.slots = append(s.slots, slotInfo{id: len(s.slots), name: name, n: d.nodes[name], fan: -1, pos: -1})
		edges += len(d.nodes[name].deps)
	}
	s.nodes = len(s.slots)
	for i := range s.nodes {
		for _, dep := range s.slots[i].n.deps {
			if _, ok := s.slot[dep]; !ok {
				s.slot[dep] = len(s.slots)
				s.slots = append(s.slots, slotInfo{id: len(s.slots), name: dep, fan: -1, pos: -1})
			}
		}
	}
	for i := range s.nodes {
		si := &s.slots[i]
		if si.n.expand() {
			si.fan = len(s.fans)
			s.fans = append(s.fans, fanInfo{expander: i})
		}
		// Topological order: the expander has its fan already.
		if si.n.expander != "" {
			si.fan = s.slots[s.slot[si.n.expander]].fan
			f := &s.fans[si.fan]
			si.pos = len(f.branch)
			f.branch = append(f.branch, i)
		}
	}
	// Edges, in three flat arrays (a few allocations for the whole graph):
	// each node's dependencies and their kinds, then the successors of
	// each static node, counted first.
	deps, kinds := make([]int, edges), make([]depKind, edges)
	nsucc := make([]int, s.nodes)
	for i := range s.nodes {
		si := &s.slots[i]
		n := si.n
		s.maxIn = max(s.maxIn, len(n.deps)+1)
		si.deps, si.kinds = deps[:len(n.deps):len(n.deps)], kinds[:len(n.deps):len(n.deps)]
		deps, kinds = deps[len(n.deps):], kinds[len(n.deps):]
		for p, dep := range n.deps {
			j := s.slot[dep]
			si.deps[p] = j
			m := s.slots[j].n
			kind := depValue
			switch {
			case m == nil:
				s.inputEdges = append(s.inputEdges, inputEdge{node: i, param: p, input: j})
			case m.expand():
				kind = depItem // i is in j's branch
			case m.expander != "" && n.collect():
				kind = depJoin
				s.slots[j].collectors = append(s.slots[j].collectors, i)
			case m.expander != "":
				kind = depTask
				si.branchDeps++
				s.slots[j].branchUsers = append(s.slots[j].branchUsers, i)
			default:
				nsucc[j]++
			}
			si.kinds[p] = kind
		}
	}
	succ := make([]int, edges)
	for j := range s.nodes {
		s.slots[j].succ, succ = succ[:0:nsucc[j]], succ[nsucc[j]:]
	}
	for i := range s.nodes {
		si := &s.slots[i]
		for p, j := range si.deps {
			switch {
			case si.kinds[p] != depValue || s.slots[j].n == nil:
			case si.n.expander != "":
				s.slots[j].succ = append(s.slots[j].succ, -(i + 1)) // the gate of branch node i
			default:
				s.slots[j].succ = append(s.slots[j].succ, i)
			}
		}
	}
	slices.SortStableFunc(s.inputEdges, func(a, b inputEdge) int {
		return strings.Compare(s.slots[a.node].name, s.slots[b.node].name)
	})
	d.sched = s
}

// aheadList lists, for core.Run.LookAhead and core.Prefetch.LookAhead, the
// nodes a run looks up by their cache keys (of those use keeps; all when
// use is nil): the static nodes that are cached (not fan-out branches, nor
// Expand or Collect nodes), in topological order, each with its static
// dependencies (-1 for a node not listed), and before them the inputs they
// depend on and the nodes over says are overridden, as values given to the
// run.
func (d *Driver) aheadList(use, over func(j int) bool) []core.Ahead {
	s := d.sched
	pos := make([]int32, len(s.slots)) // slot -> index in the list + 1; 0 for none
	list := make([]core.Ahead, 0, s.nodes)
	var deps []int // one array for every node's Deps
	for j := range s.nodes {
		si := &s.slots[j]
		n := si.n
		if over != nil && over(j) {
			list = append(list, core.Ahead{Given: si.name})
			pos[j] = int32(len(list))
			continue
		}
		if si.fan >= 0 || n.spec.Behavior > core.Default || n.collect() || use != nil && !use(j) {
			continue
		}
		if deps == nil {
			deps = make([]int, 0, len(s.slots))
		}
		start := len(deps)
		for k, dj := range si.deps {
			if si.kinds[k] == depValue && dj >= s.nodes && pos[dj] == 0 {
				list = append(list, core.Ahead{Given: s.slots[dj].name}) // an input
				pos[dj] = int32(len(list))
			}
			i := -1
			if si.kinds[k] == depValue && pos[dj] > 0 {
				i = int(pos[dj]) - 1
			}
			deps = append(deps, i)
		}
		list = append(list, core.Ahead{Spec: &n.spec, Deps: deps[start:len(deps):len(deps)]})
		pos[j] = int32(len(list))
	}
	return list
}
