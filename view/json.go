package view

import (
	"encoding/json"

	"github.com/flowcache/flowcache/core"
)

// MarshalJSON encodes the graph for scripts and other tools, as
// `flowcache draw --json` prints it, in the snake_case of the flowcache
// command's other JSON:
//
//	{
//	  "run_id": "…",
//	  "nodes": [{"id", "name", "task" (per-task nodes), "role", "outcome",
//	             "behavior", "requested" (when true), "duration_ns", "size",
//	             "fan_out" (inside a fan-out), "tasks": {"total", "retrieved",
//	             "executed", "failed"} (grouped branch nodes), "items"
//	             (expanding nodes)}, …],
//	  "edges": [{"from", "to"}, …],
//	  "fan_outs": [{"expander", "tasks", "grouped", "nodes"}, …]
//	}
//
// The fields are those of Node, Edge and FanOut, in the same order;
// "duration_ns" is Node.Duration in nanoseconds, "size" is -1 when nothing
// was stored, and "nodes", "edges" and "fan_outs" are [] rather than null
// when empty. The same graph gives the same bytes.
func (g *Graph) MarshalJSON() ([]byte, error) { return json.Marshal(g.jsonGraph()) }

// The graph as MarshalJSON encodes it.
type (
	jsonGraph struct {
		Run     core.RunID   `json:"run_id"`
		Nodes   []jsonNode   `json:"nodes"`
		Edges   []jsonEdge   `json:"edges"`
		FanOuts []jsonFanOut `json:"fan_outs"`
	}
	jsonNode struct {
		ID        string          `json:"id"`
		Name      string          `json:"name"`
		Task      string          `json:"task,omitempty"`
		Role      Role            `json:"role"`
		Outcome   core.Outcome    `json:"outcome"`
		Behavior  core.Behavior   `json:"behavior"`
		Requested bool            `json:"requested,omitempty"`
		Duration  int64           `json:"duration_ns"`
		Size      int64           `json:"size"`
		FanOut    string          `json:"fan_out,omitempty"`
		Tasks     *jsonTaskCounts `json:"tasks,omitempty"`
		Items     int             `json:"items,omitempty"`
	}
	jsonTaskCounts struct {
		Total     int `json:"total"`
		Retrieved int `json:"retrieved"`
		Executed  int `json:"executed"`
		Failed    int `json:"failed"`
	}
	jsonEdge struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	jsonFanOut struct {
		Expander string   `json:"expander"`
		Tasks    int      `json:"tasks"`
		Grouped  bool     `json:"grouped"`
		Nodes    []string `json:"nodes"`
	}
)

func (g *Graph) jsonGraph() jsonGraph {
	out := jsonGraph{Run: g.Run, Nodes: []jsonNode{}, Edges: []jsonEdge{}, FanOuts: []jsonFanOut{}}
	for _, n := range g.Nodes {
		jn := jsonNode{
			ID: n.ID, Name: n.Name, Task: n.Task, Role: n.Role, Outcome: n.Outcome, Behavior: n.Behavior,
			Requested: n.Requested, Duration: int64(n.Duration), Size: n.Size, FanOut: n.FanOut, Items: n.Items,
		}
		if t := n.Tasks; t != nil {
			jn.Tasks = &jsonTaskCounts{Total: t.Total, Retrieved: t.Retrieved, Executed: t.Executed, Failed: t.Failed}
		}
		out.Nodes = append(out.Nodes, jn)
	}
	for _, e := range g.Edges {
		out.Edges = append(out.Edges, jsonEdge(e))
	}
	for _, f := range g.FanOuts {
		out.FanOuts = append(out.FanOuts, jsonFanOut{Expander: f.Expander, Tasks: f.Tasks, Grouped: f.Grouped, Nodes: f.Nodes})
	}
	return out
}
