package inspect

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/flowcache/flowcache/core"
)

// NodeInfo is what one node (one task of a node inside a fan-out) did in a
// run, from the run's records.
type NodeInfo struct {
	Node string `json:"node"`
	Task string `json:"task,omitempty"`
	// Behavior is the node's resolved behaviour (Unset for inputs and
	// overrides).
	Behavior core.Behavior `json:"behavior"`
	Outcome  core.Outcome  `json:"outcome"`
	// KeyID and the key's parts (code version and dependencies); empty for
	// inputs and overrides.
	KeyID       core.KeyID       `json:"key_id,omitempty"`
	CodeVersion core.CodeVersion `json:"code_version,omitempty"`
	Deps        []core.Dep       `json:"deps,omitempty"`
	DataVersion core.DataVersion `json:"data_version,omitempty"`
	Format      string           `json:"format,omitempty"`
	// Duration is the time the node spent executing (0 when retrieved).
	Duration time.Duration `json:"duration_ns"`
	// Written is the number of bytes the run stored for the node, -1 when
	// it stored nothing (retrieved, not storable, or the result existed).
	Written int64 `json:"written_bytes"`
	// Stored is the size of the node's result in the store now, -1 when it
	// is not stored (or the result store cannot list its results). Only
	// Nodes sets it.
	Stored int64 `json:"stored_bytes"`
	// Reexecuted reports that the node was retrieved, then executed again
	// because its stored result was missing or damaged.
	Reexecuted bool `json:"reexecuted,omitempty"`
	// Requested reports that the node (or input) was one of the outputs
	// the run was asked for (core.NodeRecord.Requested).
	Requested bool `json:"requested,omitempty"`
	// Wait says that the run found the node's lease held by another run
	// (single-flight) and waited for it: for whom and how long
	// (core.NodeRecord.Wait). Zero when it did not wait.
	Wait core.LeaseWait `json:"lease_wait,omitzero"`
}

// Name returns the node's record name: node, or node@task inside a fan-out
// (core.RecordName).
func (n NodeInfo) Name() string { return core.RecordName(n.Node, n.Task) }

// ResultID returns the id of the node's result in the result store (zero
// when the node has no storable result).
func (n NodeInfo) ResultID() core.ResultID {
	if n.Format == "" || !n.DataVersion.Storable() {
		return core.ResultID{}
	}
	return core.ResultID{Version: n.DataVersion, Format: n.Format}
}

func nodeInfo(r core.NodeRecord) NodeInfo {
	n := NodeInfo{
		Node: r.Node, Task: r.Task, Behavior: r.Behavior, Outcome: r.Outcome,
		DataVersion: r.DataVersion, Format: r.Format, Duration: r.Duration, Written: r.Size, Stored: -1,
		Requested: r.Requested, Wait: r.Wait,
	}
	if r.Outcome != core.OutcomeInput && r.Outcome != core.OutcomeOverride && r.Key.Node != "" {
		n.KeyID, n.CodeVersion, n.Deps = r.Key.ID(), r.Key.CodeVersion, r.Key.Deps
	}
	return n
}

// mergeRecords turns a run's records into one NodeInfo per node and task,
// in the order each first appeared. A node recorded twice (retrieved, then
// executed again because its result was unreadable) keeps its last record
// and is marked Reexecuted.
func mergeRecords(recs []core.NodeRecord) []NodeInfo {
	type key struct{ node, task string }
	at := make(map[key]int, len(recs))
	out := make([]NodeInfo, 0, len(recs))
	for _, r := range recs {
		k := key{r.Node, r.Task}
		n := nodeInfo(r)
		i, seen := at[k]
		if !seen {
			at[k] = len(out)
			out = append(out, n)
			continue
		}
		prev := out[i]
		n.Reexecuted = prev.Reexecuted || (prev.Outcome == core.OutcomeRetrieved && r.Outcome != core.OutcomeRetrieved)
		n.Duration += prev.Duration
		n.Requested = n.Requested || prev.Requested
		if !n.Wait.Waited() {
			n.Wait = prev.Wait
		}
		out[i] = n
	}
	return out
}

// Nodes returns what every node of a run did, in the order the run recorded
// them, with the size of each node's result in the store now (Stored; the
// result store is listed when it is a core.ResultWalker).
func (c *Cache) Nodes(ctx context.Context, run core.RunID) ([]NodeInfo, error) {
	recs, err := c.meta.Run(ctx, run)
	if err != nil {
		return nil, err
	}
	nodes := mergeRecords(recs)
	if w, ok := core.As[core.ResultWalker](c.results); ok {
		want := map[core.ResultID]int64{}
		for _, n := range nodes {
			if id := n.ResultID(); id.Format != "" {
				want[id] = -1
			}
		}
		if len(want) > 0 {
			err := w.WalkResults(ctx, func(r core.ResultInfo) error {
				if _, ok := want[r.ID]; ok {
					want[r.ID] = r.Size
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			for i := range nodes {
				if s, ok := want[nodes[i].ResultID()]; ok {
					nodes[i].Stored = s
				}
			}
		}
	}
	return nodes, nil
}

// splitName splits node@task into its parts.
func splitName(name string) (node, task string) {
	node, task, _ = strings.Cut(name, "@")
	return node, task
}

// findNode returns the records of one node in a run: every task of it when
// name has no task, else the one task.
func findNode(nodes []NodeInfo, name string) []NodeInfo {
	node, task := splitName(name)
	var out []NodeInfo
	for _, n := range nodes {
		if n.Node == node && (task == "" || n.Task == task) {
			out = append(out, n)
		}
	}
	return out
}

// nodeNames lists the distinct node names of a run, for error messages.
func nodeNames(nodes []NodeInfo) string {
	seen := map[string]bool{}
	var names []string
	for _, n := range nodes {
		if !seen[n.Node] {
			seen[n.Node] = true
			names = append(names, n.Node)
		}
	}
	if len(names) > 12 {
		return strings.Join(names[:12], ", ") + fmt.Sprintf(" and %d more", len(names)-12)
	}
	return strings.Join(names, ", ")
}
