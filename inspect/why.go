package inspect

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/flowcache/flowcache/core"
)

// Reason is the kind of answer Why gives for one node.
type Reason string

// The reasons. A node that executed with behaviour Default missed; the
// reason says why, by comparing its cache key with the one it had in the
// previous run where it appeared.
const (
	// ReasonRetrieved: the node's key was stored; it was not executed.
	ReasonRetrieved Reason = "retrieved"
	// ReasonInput, ReasonOverride: the value was given to the run.
	ReasonInput    Reason = "input"
	ReasonOverride Reason = "override"
	// ReasonSkipped: the run ended (an error, a cancellation) before the
	// node ran.
	ReasonSkipped Reason = "skipped"
	// ReasonBehavior: the node's behaviour (Recompute, Disable, Ignore; a
	// fan-out node behaves as Recompute) executes it in every run.
	ReasonBehavior Reason = "behavior"
	// ReasonFirstRun: no earlier run in the store has the node (or this
	// task of it).
	ReasonFirstRun Reason = "first_run"
	// ReasonKeyChanged: a part of the key differs from the previous run;
	// Changes names which.
	ReasonKeyChanged Reason = "key_changed"
	// ReasonNotStored: the key is the same as in the previous run, but
	// that run stored nothing for it (behaviour Disable or Ignore then,
	// a failure, or a value that could not be fingerprinted).
	ReasonNotStored Reason = "not_stored"
	// ReasonFormatChanged: the key is the same, but the node's format
	// changed, and a result is looked up in its format.
	ReasonFormatChanged Reason = "format_changed"
	// ReasonEntryGone: the key is the same and was stored, but its entry
	// was gone when the run looked it up: evicted or deleted.
	ReasonEntryGone Reason = "entry_gone"
	// ReasonResultMissing: the key was found, but the stored result was
	// missing or damaged, so the node executed again (missing_result).
	ReasonResultMissing Reason = "result_missing"
)

// ChangeKind names the part of a cache key that changed.
type ChangeKind string

// The parts of a key that can change.
const (
	ChangeCodeVersion ChangeKind = "code_version" // the node's code (or its WithCodeVersion)
	ChangeInput       ChangeKind = "input"        // the value of an input
	ChangeOverride    ChangeKind = "override"     // a dependency given as an override now or then
	ChangeUpstream    ChangeKind = "upstream"     // the result of an upstream node
	ChangeItem        ChangeKind = "item"         // the fan-out item of a branch task
	ChangeDisabled    ChangeKind = "disabled"     // an upstream node with behaviour Disable: new version every run
	ChangeUnhashable  ChangeKind = "unhashable"   // an upstream value that cannot be fingerprinted
	ChangeDepAdded    ChangeKind = "dependency_added"
	ChangeDepRemoved  ChangeKind = "dependency_removed"
	ChangeBehavior    ChangeKind = "behavior" // the node's behaviour executes it every run
	ChangeFormat      ChangeKind = "format"   // the node's format (not part of the key, but of the result's id)
)

// Change is one changed part of a key.
type Change struct {
	Kind ChangeKind `json:"kind"`
	// Dep is the dependency that changed ("" for the code version and the
	// behaviour).
	Dep string `json:"dep,omitempty"`
	// Old and New are the versions (code or data) before and now, or the
	// behaviour.
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
	// Detail says more, e.g. what the upstream node did in this run, or
	// why the code changes of a changed code version are not known.
	Detail string `json:"detail,omitempty"`
	// Code lists, for a changed code version (ChangeCodeVersion), what
	// changed in the code it covers: the functions, methods, constants,
	// variables, types, embedded files, modules and toolchain, the result
	// type, the state. It is empty when the cache does not hold the code
	// manifests of both versions (runs from before manifests existed, or
	// manifests evicted); Detail then says which is missing.
	Code []CodeChange `json:"code,omitempty"`
}

// Explanation says why one node (one task of it) was retrieved or executed
// in a run.
type Explanation struct {
	Node     string        `json:"node"`
	Task     string        `json:"task,omitempty"`
	Run      core.RunID    `json:"run_id"`
	Outcome  core.Outcome  `json:"outcome"`
	Behavior core.Behavior `json:"behavior"`
	Reason   Reason        `json:"reason"`
	// Previous is the earlier run the key was compared with ("" when there
	// is none).
	Previous core.RunID `json:"previous_run_id,omitempty"`
	Changes  []Change   `json:"changes,omitempty"`
	// Text is the explanation as a sentence for people.
	Text string `json:"text"`
}

// Why explains, for every task of the node called name (node, or node@task
// for one task of a fan-out branch), why it was retrieved or executed in
// run: an execution with behaviour Default is a miss, explained by
// comparing the node's cache key with its key in the previous run where the
// node (task) appeared, part by part — its code version, each dependency's
// data version (an input, an override, an upstream node, a fan-out item),
// dependencies added or removed — or, when the key did not change, why the
// key was not found (nothing stored then, another format, the entry
// evicted or deleted, the result missing). With run == "" the newest run
// that has the node is used.
//
// A node that is in no run (or not in run) is an error wrapping
// core.ErrNotFound.
func (c *Cache) Why(ctx context.Context, run core.RunID, name string) ([]Explanation, error) {
	runs, err := c.meta.Runs(ctx)
	if err != nil {
		return nil, err
	}
	hist := &history{c: c, runs: runs, recs: map[core.RunID][]NodeInfo{}, manifests: &manifests{c: c}}
	idx := -1
	var found []NodeInfo
	if run != "" {
		if idx = runIndex(runs, run); idx < 0 {
			return nil, fmt.Errorf("%w: no run %s in the cache", core.ErrNotFound, run)
		}
		nodes, err := hist.nodes(ctx, idx)
		if err != nil {
			return nil, err
		}
		if found = findNode(nodes, name); len(found) == 0 {
			return nil, fmt.Errorf("%w: node %q is not in run %s (its nodes: %s)", core.ErrNotFound, name, run, nodeNames(nodes))
		}
	} else {
		for idx = len(runs) - 1; idx >= 0; idx-- {
			nodes, err := hist.nodes(ctx, idx)
			if err != nil {
				return nil, err
			}
			if found = findNode(nodes, name); len(found) > 0 {
				break
			}
		}
		if idx < 0 {
			return nil, fmt.Errorf("%w: node %q is in none of the %d runs of the cache", core.ErrNotFound, name, len(runs))
		}
	}
	cur, _ := hist.nodes(ctx, idx)
	// The tasks of a fan-out in item order (they are recorded as they
	// finish).
	slices.SortStableFunc(found, func(a, b NodeInfo) int { return compareTasks(a.Task, b.Task) })
	out := make([]Explanation, 0, len(found))
	for _, n := range found {
		e, err := hist.explain(ctx, idx, cur, n)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// compareTasks orders task ids by expanding node, then by item index
// ("files[2]" before "files[10]"), for listing the tasks of a fan-out in
// item order; ids of another form compare as strings, after those.
func compareTasks(a, b string) int {
	an, ai, aok := splitTask(a)
	bn, bi, bok := splitTask(b)
	switch {
	case aok && bok:
		if c := cmp.Compare(an, bn); c != 0 {
			return c
		}
		return cmp.Compare(ai, bi)
	case aok != bok:
		if aok {
			return -1
		}
		return 1
	}
	return cmp.Compare(a, b)
}

// splitTask splits a task id made by core.TaskID into its expanding node
// and item index.
func splitTask(t string) (string, int, bool) {
	i := strings.LastIndexByte(t, '[')
	if i < 0 || !strings.HasSuffix(t, "]") {
		return "", 0, false
	}
	n, err := strconv.Atoi(t[i+1 : len(t)-1])
	if err != nil || n < 0 {
		return "", 0, false
	}
	return t[:i], n, true
}

// history reads runs' records, and code manifests, on demand.
type history struct {
	c         *Cache
	runs      []core.RunInfo
	recs      map[core.RunID][]NodeInfo
	manifests *manifests
}

func (h *history) nodes(ctx context.Context, i int) ([]NodeInfo, error) {
	id := h.runs[i].ID
	if n, ok := h.recs[id]; ok {
		return n, nil
	}
	recs, err := h.c.meta.Run(ctx, id)
	if errors.Is(err, core.ErrNotFound) {
		recs, err = nil, nil // deleted meanwhile
	}
	if err != nil {
		return nil, err
	}
	n := mergeRecords(recs)
	h.recs[id] = n
	return n, nil
}

// previous returns the last record of node (task) in a run before run i,
// and that run's index (-1 when there is none). keyed limits the search to
// records with a key (a node that executed or was retrieved).
func (h *history) previous(ctx context.Context, i int, node, task string, keyed bool) (NodeInfo, int, error) {
	for j := i - 1; j >= 0; j-- {
		nodes, err := h.nodes(ctx, j)
		if err != nil {
			return NodeInfo{}, -1, err
		}
		for k := len(nodes) - 1; k >= 0; k-- {
			n := nodes[k]
			if n.Node != node || n.Task != task {
				continue
			}
			if keyed && n.Outcome != core.OutcomeRetrieved && n.Outcome != core.OutcomeExecuted && n.Outcome != core.OutcomeFailed {
				continue
			}
			return n, j, nil
		}
	}
	return NodeInfo{}, -1, nil
}

func (h *history) explain(ctx context.Context, i int, cur []NodeInfo, n NodeInfo) (Explanation, error) {
	e := Explanation{Node: n.Node, Task: n.Task, Run: h.runs[i].ID, Outcome: n.Outcome, Behavior: n.Behavior}
	name := n.Name()
	switch n.Outcome {
	case core.OutcomeRetrieved:
		e.Reason = ReasonRetrieved
		e.Text = fmt.Sprintf("%s was retrieved: its cache key %s was stored", name, n.KeyID.Short())
		return e, nil
	case core.OutcomeSkipped:
		e.Reason = ReasonSkipped
		e.Text = fmt.Sprintf("%s was skipped: the run ended before it could run", name)
		return e, nil
	case core.OutcomeInput, core.OutcomeOverride:
		e.Reason = ReasonInput
		what := "an input of the run"
		if n.Outcome == core.OutcomeOverride {
			e.Reason, what = ReasonOverride, "given as an override (neither executed nor stored)"
		}
		prev, j, err := h.previous(ctx, i, n.Node, "", false)
		if err != nil {
			return e, err
		}
		e.Text = fmt.Sprintf("%s was %s", name, what)
		if j >= 0 {
			e.Previous = h.runs[j].ID
			if prev.DataVersion == n.DataVersion {
				e.Text += fmt.Sprintf("; its value is the same as in run %s", e.Previous)
			} else {
				kind := ChangeInput
				if n.Outcome == core.OutcomeOverride {
					kind = ChangeOverride
				}
				e.Changes = []Change{{Kind: kind, Dep: n.Node, Old: string(prev.DataVersion), New: string(n.DataVersion)}}
				e.Text += fmt.Sprintf("; its value changed since run %s (%s → %s)", e.Previous, prev.DataVersion.Short(), n.DataVersion.Short())
			}
		}
		return e, nil
	}

	// Executed or failed.
	if n.Reexecuted {
		e.Reason = ReasonResultMissing
		e.Text = fmt.Sprintf("%s missed: its cache key %s was found, but the stored result %s was missing or damaged, so it was executed again (event missing_result)", name, n.KeyID.Short(), n.DataVersion.Short())
		return e, nil
	}
	if n.Behavior == core.Recompute || n.Behavior == core.Disable || n.Behavior == core.Ignore {
		e.Reason = ReasonBehavior
		e.Changes = []Change{{Kind: ChangeBehavior, New: n.Behavior.String()}}
		switch {
		case n.Behavior == core.Recompute && n.Format == "" && n.DataVersion.Storable() && n.Written < 0 && isExpander(cur, n.Node):
			e.Text = fmt.Sprintf("%s expands a fan-out: it executes in every run (its branch tasks are cached per item)", name)
		case n.Behavior == core.Recompute:
			e.Text = fmt.Sprintf("%s has behaviour recompute: it executes in every run and replaces its stored result", name)
		case n.Behavior == core.Disable:
			e.Text = fmt.Sprintf("%s has behaviour disable: it executes in every run, stores nothing, and its dependants miss too", name)
		default:
			e.Text = fmt.Sprintf("%s has behaviour ignore: it executes in every run and stores nothing (its dependants can still be retrieved)", name)
		}
		return e, nil
	}

	prev, j, err := h.previous(ctx, i, n.Node, n.Task, true)
	if err != nil {
		return e, err
	}
	if j < 0 {
		e.Reason = ReasonFirstRun
		e.Text = fmt.Sprintf("%s missed: no earlier run has it (the first run with this cache, or its earlier runs were deleted)", name)
		if n.Task != "" {
			e.Text = fmt.Sprintf("%s missed: no earlier run has task %s of %s (a new fan-out item)", name, n.Task, n.Node)
		}
		return e, nil
	}
	e.Previous = h.runs[j].ID
	if prev.Behavior == core.Disable || prev.Behavior == core.Ignore {
		e.Reason = ReasonNotStored
		e.Changes = []Change{{Kind: ChangeBehavior, Old: prev.Behavior.String(), New: n.Behavior.String()}}
		e.Text = fmt.Sprintf("%s missed: in run %s it had behaviour %s, so nothing was stored for it", name, e.Previous, prev.Behavior)
		return e, nil
	}
	e.Changes = h.diff(ctx, i, cur, prev, n)
	if len(e.Changes) > 0 {
		e.Reason = ReasonKeyChanged
		parts := make([]string, len(e.Changes))
		for k, ch := range e.Changes {
			parts[k] = ch.describe()
		}
		e.Text = fmt.Sprintf("%s missed: since run %s, %s", name, e.Previous, strings.Join(parts, "; "))
		return e, nil
	}
	switch {
	case prev.Outcome == core.OutcomeFailed:
		e.Reason = ReasonNotStored
		e.Text = fmt.Sprintf("%s missed: same cache key as in run %s, where it failed, so nothing was stored", name, e.Previous)
	case prev.Outcome == core.OutcomeExecuted && !prev.DataVersion.Storable():
		e.Reason = ReasonNotStored
		e.Text = fmt.Sprintf("%s missed: same cache key as in run %s, where its result could not be fingerprinted (unhashable_data_version), so it was not stored", name, e.Previous)
	case prev.Format != "" && n.Format != "" && prev.Format != n.Format:
		e.Reason = ReasonFormatChanged
		e.Changes = []Change{{Kind: ChangeFormat, Old: prev.Format, New: n.Format}}
		e.Text = fmt.Sprintf("%s missed: same cache key as in run %s, but its format changed from %s to %s", name, e.Previous, prev.Format, n.Format)
	default:
		e.Reason = ReasonEntryGone
		e.Text = fmt.Sprintf("%s missed: same cache key %s as in run %s, where it was %s, but the entry was gone: evicted or deleted (or that run could not write it)", name, n.KeyID.Short(), e.Previous, prev.Outcome)
	}
	return e, nil
}

// isExpander reports whether node expanded a fan-out in the run: some
// record is a task of it.
func isExpander(nodes []NodeInfo, node string) bool {
	prefix := node + "["
	for _, n := range nodes {
		if strings.HasPrefix(n.Task, prefix) {
			return true
		}
	}
	return false
}

// diff compares the key of n (in run i) with the key of prev.
func (h *history) diff(ctx context.Context, i int, cur []NodeInfo, prev, n NodeInfo) []Change {
	var out []Change
	if prev.CodeVersion != n.CodeVersion {
		ch := Change{Kind: ChangeCodeVersion, Old: string(prev.CodeVersion), New: string(n.CodeVersion)}
		h.manifests.codeChange(ctx, &ch)
		out = append(out, ch)
	}
	old := map[string]core.DataVersion{}
	for _, d := range prev.Deps {
		old[d.Name] = d.Version
	}
	for _, d := range n.Deps {
		ov, ok := old[d.Name]
		delete(old, d.Name)
		switch {
		case !ok:
			out = append(out, Change{Kind: ChangeDepAdded, Dep: d.Name, New: string(d.Version)})
		case ov != d.Version:
			out = append(out, h.depChange(ctx, i, cur, n, d.Name, ov, d.Version))
		}
	}
	for _, d := range prev.Deps {
		if _, ok := old[d.Name]; ok {
			out = append(out, Change{Kind: ChangeDepRemoved, Dep: d.Name, Old: string(d.Version)})
		}
	}
	return out
}

// depChange classifies the change of dependency dep of n, from what dep
// was in this run (and, for overrides, in the run before).
func (h *history) depChange(ctx context.Context, i int, cur []NodeInfo, n NodeInfo, dep string, ov, nv core.DataVersion) Change {
	ch := Change{Kind: ChangeUpstream, Dep: dep, Old: string(ov), New: string(nv)}
	var rec *NodeInfo
	for k := range cur {
		if cur[k].Node == dep && cur[k].Task == n.Task {
			rec = &cur[k]
			break
		}
	}
	if rec == nil && n.Task != "" {
		for k := range cur {
			if cur[k].Node == dep && cur[k].Task == "" {
				rec = &cur[k]
				break
			}
		}
	}
	switch {
	case rec == nil && strings.HasPrefix(n.Task, dep+"["):
		ch.Kind = ChangeItem
	case rec == nil:
		// A collected fan-out (its records are per task) or a record lost.
	case rec.Outcome == core.OutcomeInput:
		ch.Kind = ChangeInput
	case rec.Outcome == core.OutcomeOverride:
		ch.Kind, ch.Detail = ChangeOverride, "overridden in this run"
	case rec.Task == "" && n.Task != "" && strings.HasPrefix(n.Task, dep+"["):
		ch.Kind = ChangeItem
	case rec.Behavior == core.Disable:
		ch.Kind, ch.Detail = ChangeDisabled, "behaviour disable"
	case nv.IsUnique():
		ch.Kind, ch.Detail = ChangeUnhashable, "its value cannot be fingerprinted"
	default:
		ch.Detail = string(rec.Outcome)
		if rec.Behavior != core.Default && rec.Behavior != core.Unset {
			ch.Detail += ", behaviour " + rec.Behavior.String()
		}
		if ov.IsUnique() {
			// A unique version then: the dependency had behaviour Disable,
			// or a value that could not be fingerprinted.
			if p, j, err := h.previous(ctx, i, dep, n.Task, true); err == nil && j >= 0 && p.DataVersion == ov {
				if p.Behavior == core.Disable {
					ch.Kind, ch.Detail = ChangeDisabled, "behaviour disable in run "+string(h.runs[j].ID)
				} else {
					ch.Kind, ch.Detail = ChangeUnhashable, "not fingerprintable in run "+string(h.runs[j].ID)
				}
			}
			break
		}
		// Overridden in the run compared with, and not now?
		if p, j, err := h.previous(ctx, i, dep, "", false); err == nil && j >= 0 && p.Outcome == core.OutcomeOverride && p.DataVersion == ov {
			ch.Kind, ch.Detail = ChangeOverride, "overridden in run "+string(h.runs[j].ID)+", computed now"
		}
	}
	return ch
}

// describe returns the change as words.
func (ch Change) describe() string {
	short := func(v string) string {
		if len(v) > 12 {
			return v[:12]
		}
		return v
	}
	arrow := fmt.Sprintf(" (%s → %s)", short(ch.Old), short(ch.New))
	switch ch.Kind {
	case ChangeCodeVersion:
		if len(ch.Code) == 0 {
			return "its code version changed" + arrow
		}
		const most = 5
		texts := make([]string, 0, most)
		for i, c := range ch.Code {
			if i == most {
				texts = append(texts, fmt.Sprintf("and %d more", len(ch.Code)-most))
				break
			}
			texts = append(texts, c.Text)
		}
		return "its code version changed" + arrow + ": " + strings.Join(texts, ", ")
	case ChangeInput:
		return fmt.Sprintf("the value of input %s changed%s", ch.Dep, arrow)
	case ChangeOverride:
		return fmt.Sprintf("dependency %s changed: %s%s", ch.Dep, ch.Detail, arrow)
	case ChangeItem:
		return fmt.Sprintf("its fan-out item from %s changed%s", ch.Dep, arrow)
	case ChangeDisabled:
		if strings.HasPrefix(ch.Detail, "behaviour disable in run ") {
			return fmt.Sprintf("upstream %s had %s: it gave a new version then", ch.Dep, ch.Detail)
		}
		return fmt.Sprintf("upstream %s has behaviour disable: it gives a new version every run", ch.Dep)
	case ChangeUnhashable:
		if strings.HasPrefix(ch.Detail, "not fingerprintable in run ") {
			return fmt.Sprintf("the value of upstream %s could not be fingerprinted in run %s: it got a new version then", ch.Dep, strings.TrimPrefix(ch.Detail, "not fingerprintable in run "))
		}
		return fmt.Sprintf("the value of upstream %s cannot be fingerprinted: it gets a new version every run", ch.Dep)
	case ChangeDepAdded:
		return fmt.Sprintf("dependency %s was added", ch.Dep)
	case ChangeDepRemoved:
		return fmt.Sprintf("dependency %s was removed", ch.Dep)
	case ChangeUpstream:
		d := ""
		if what, behavior, ok := strings.Cut(ch.Detail, ", behaviour "); ok {
			d = fmt.Sprintf(": %s was %s (behaviour %s) in this run", ch.Dep, what, behavior)
		} else if ch.Detail != "" {
			d = fmt.Sprintf(": %s was %s in this run", ch.Dep, ch.Detail)
		}
		return fmt.Sprintf("the result of upstream %s changed%s%s", ch.Dep, arrow, d)
	}
	return fmt.Sprintf("%s %s changed%s", ch.Kind, ch.Dep, arrow)
}
