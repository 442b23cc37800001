package driver

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync/atomic"

	"github.com/flowcache/flowcache/core"
)

// Inputs are the values of a run's inputs, by name.
type Inputs map[string]any

// Overrides are values given for nodes: an overridden node is neither
// executed nor stored, and what depends on it sees the given value.
type Overrides map[string]any

// Results are the requested outputs of a run, by name.
type Results map[string]any

// Get returns the output name of res as a T.
func Get[T any](res Results, name string) (T, error) {
	var zero T
	v, ok := res[name]
	if !ok {
		return zero, fmt.Errorf("driver: no output %q", name)
	}
	t, ok := v.(T)
	if !ok {
		if v == nil {
			return zero, nil
		}
		return zero, fmt.Errorf("driver: output %q is a %T, not a %v", name, v, reflect.TypeFor[T]())
	}
	return t, nil
}

// Driver runs a built dataflow. It is safe for concurrent use.
type Driver struct {
	nodes       map[string]*node
	order       []string // declaration order
	topo        []string // dependencies before dependants
	parallelism int
	sched       *schedule // prepared by Build
	cache       *core.Cache
	closers     []func() error
	// prefetch holds the entries Build started reading, for the first
	// Execute.
	prefetch atomic.Pointer[core.Prefetch]
}

// Cache returns the cache of the driver, or nil when it was built without
// WithCache. Through it: logs, run ids, data versions and both stores.
func (d *Driver) Cache() *core.Cache { return d.cache }

// Close closes the cache and the stores the driver opened.
func (d *Driver) Close() error {
	var errs []error
	if d.cache != nil {
		errs = append(errs, d.cache.Close())
	}
	for _, c := range d.closers {
		errs = append(errs, c())
	}
	d.closers = nil
	return errors.Join(errs...)
}

// Nodes returns the names of the nodes in declaration order.
func (d *Driver) Nodes() []string { return append([]string(nil), d.order...) }

// RunResult is what one run did.
type RunResult struct {
	// RunID is the id of the run in the cache's run history; "" for a
	// driver without a cache (built without WithCache, or whose cache could
	// not be opened).
	RunID core.RunID
	// Values are the requested outputs, as Execute returns them; nil when
	// the run failed.
	Values Results
	// Outcomes says what happened to each input, override and node the
	// outputs needed, keyed by core.RecordName(node, task) (node@task for
	// the tasks of a fan-out branch): core.OutcomeInput, OutcomeOverride,
	// OutcomeRetrieved, OutcomeExecuted, OutcomeFailed, or OutcomeSkipped
	// for a node the run stopped before (a failed dependency, a cancelled
	// context). It is what the run did, as recorded in the cache's run
	// history when the stores work (see core.Run.Outcomes).
	Outcomes map[string]core.Outcome
	// Faults are the run's store errors (see core.Run.Faults): each was
	// said once at WARN, and none failed the run.
	Faults []error
}

// Execute runs the dataflow to compute outputs (node or input names) from
// inputs, with overrides standing in for nodes. Nodes that no output needs
// are not run; independent nodes run in parallel. With a cache, each node is
// retrieved or executed as its behaviour says, and a retrieved node's value
// is loaded only when a node to execute, or an output, needs it.
//
// The first node error cancels the run and is returned, naming the node
// (and task); cancelling ctx stops the run too.
//
// A cache fault never fails a run: when the cache cannot be opened,
// written or read (a full disk, a read-only directory, an unreachable
// bucket), the run computes what it cannot retrieve, stores what it can,
// and says why once per run at WARN (on slog.Default() unless
// CacheLogger is set), with a cache_fault event (see core.Run.Faults).
func (d *Driver) Execute(ctx context.Context, outputs []string, inputs Inputs, overrides Overrides) (Results, error) {
	res, err := d.run(ctx, "Execute", outputs, inputs, overrides)
	if err != nil {
		return nil, err
	}
	return res.Values, nil
}

// Run is Execute returning what the run did as well as its outputs: its run
// id, each node's outcome and its store faults (see RunResult). Several Runs
// of one Driver may go on at once; each result is its own run's, which
// Cache().LastRunID cannot say.
//
// When the run fails, Run returns the node's error (as Execute does) with
// the result of the run so far: the failed node is core.OutcomeFailed, the
// nodes it stopped core.OutcomeSkipped, and Values is nil. A call that is
// refused before the run starts (an unknown output, a wrong input type)
// returns a nil result.
func (d *Driver) Run(ctx context.Context, outputs []string, inputs Inputs, overrides Overrides) (*RunResult, error) {
	return d.run(ctx, "Run", outputs, inputs, overrides)
}

func (d *Driver) run(ctx context.Context, method string, outputs []string, inputs Inputs, overrides Overrides) (*RunResult, error) {
	if len(outputs) == 0 {
		return nil, invalid(fmt.Errorf("driver: %s: no outputs requested", method))
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	e := newExecution(d, ctx, cancel)
	if err := e.plan(outputs, inputs, overrides); err != nil {
		return nil, invalid(err)
	}
	s := d.sched
	if d.cache != nil {
		var lookups []string
		for _, name := range d.order {
			j := s.slot[name]
			if n := d.nodes[name]; e.slots[j].needed && !e.slots[j].over && n.spec.Behavior <= core.Default && !n.expand() {
				lookups = append(lookups, name)
			}
		}
		var run *core.Run
		var err error
		pf := d.prefetch.Swap(nil)
		if pf != nil {
			run, err = d.cache.BeginRunFrom(ctx, pf)
		} else {
			run, err = d.cache.BeginRun(ctx, lookups...)
		}
		if err != nil {
			return nil, named(err)
		}
		e.run = run
		run.RequestOutputs(outputs...)
		for _, name := range d.order {
			if n := d.nodes[name]; e.slots[s.slot[name]].needed && !n.code.FromSource {
				run.CodeVersionFallback(ctx, name, n.code.Fallback)
			}
		}
		if pf == nil {
			// The first run looks ahead from Build's prefetch (see
			// setupCache); the others from here.
			run.LookAhead(ctx, e.ahead())
		}
	}
	// Inputs and overrides (sorted, so events come in a stable order).
	if len(inputs) > 0 {
		for _, name := range sortedNames(inputs) {
			if j, ok := s.slot[name]; ok && e.slots[j].needed {
				e.slots[j].res = e.given(name, inputs[name], false)
			} else if _, ok := e.extra[name]; ok {
				e.extra[name] = e.given(name, inputs[name], false)
			}
		}
	}
	if len(overrides) > 0 {
		for _, name := range sortedNames(overrides) {
			if j := s.slot[name]; e.slots[j].needed {
				e.slots[j].res = e.given(name, overrides[name], true)
			}
		}
	}
	e.execute()

	res := Results{}
	var firstErr error
	for _, out := range outputs {
		var r result
		var items []result
		expand := false
		if j, ok := s.slot[out]; ok {
			sr := &e.slots[j]
			if !sr.over && s.slots[j].n != nil && !sr.done {
				break // failed, or not reached: the run's error says why
			}
			r, items = sr.res, sr.items
			expand = !sr.over && s.slots[j].n != nil && s.slots[j].n.expand()
		} else {
			r = e.extra[out]
		}
		var v any
		var err error
		switch {
		case expand:
			v, err = e.collectItems(s.slots[s.slot[out]].n, items)
		case e.run != nil:
			v, err = e.run.Final(ctx, r.cv)
		default:
			v = r.raw
		}
		if err != nil {
			firstErr = fmt.Errorf("driver: output %q: %w", out, err)
			cancel(firstErr)
			break
		}
		res[out] = v
	}
	if firstErr == nil {
		firstErr = e.rootError()
	}
	if firstErr == nil && ctx.Err() != nil {
		firstErr = context.Cause(ctx)
	}
	out := &RunResult{}
	wantOutcomes := method == "Run"
	if e.run != nil {
		// A store that failed is not the run's error: the outputs are
		// right, and the run said once at WARN what it could not store
		// (see core.Run.Faults).
		_ = e.run.End(ctx)
		out.RunID, out.Faults = e.run.ID(), e.run.Faults()
		if wantOutcomes {
			out.Outcomes = e.run.Outcomes()
		}
	} else if wantOutcomes {
		out.Outcomes = e.outcomes()
	}
	if wantOutcomes {
		e.markSkipped(out.Outcomes)
	}
	if firstErr != nil {
		return out, firstErr
	}
	out.Values = res
	return out, nil
}

// given returns the value of an input or override of the run.
func (e *execution) given(name string, v any, override bool) result {
	switch {
	case e.run != nil && override:
		return result{cv: e.run.Override(e.ctx, name, v)}
	case e.run != nil:
		return result{cv: e.run.Input(e.ctx, name, v)}
	}
	return result{raw: v}
}

// outcomes returns what a run without a cache did, by core.RecordName.
func (e *execution) outcomes() map[string]core.Outcome {
	s := e.d.sched
	out := map[string]core.Outcome{}
	for name := range e.extra {
		out[name] = core.OutcomeInput
	}
	for j := range s.slots {
		si, sr := &s.slots[j], &e.slots[j]
		switch {
		case !sr.needed:
		case sr.over:
			out[si.name] = core.OutcomeOverride
		case si.n == nil:
			out[si.name] = core.OutcomeInput
		case si.pos >= 0:
			fr := &e.fans[si.fan]
			for i := range fr.tasks[si.pos] {
				if o := fr.tasks[si.pos][i].outcome; o != "" {
					out[core.RecordName(si.name, fr.taskID(i))] = o
				}
			}
		case sr.outcome != "":
			out[si.name] = sr.outcome
		}
	}
	return out
}

// markSkipped gives core.OutcomeSkipped to the needed nodes (and the tasks
// of the fan-outs that ran) that have no outcome: the run stopped before
// them.
func (e *execution) markSkipped(outcomes map[string]core.Outcome) {
	s := e.d.sched
	for j := range s.nodes {
		si := &s.slots[j]
		if !e.slots[j].needed {
			continue
		}
		if si.pos < 0 {
			if _, ok := outcomes[si.name]; !ok {
				outcomes[si.name] = core.OutcomeSkipped
			}
			continue
		}
		fr := &e.fans[si.fan]
		x := &e.slots[s.fans[si.fan].expander]
		if !x.done {
			outcomes[si.name] = core.OutcomeSkipped // no task was made
			continue
		}
		for i := range x.items {
			k := core.RecordName(si.name, fr.taskID(i))
			if _, ok := outcomes[k]; !ok {
				outcomes[k] = core.OutcomeSkipped
			}
		}
	}
}

func sortedNames[M ~map[string]V, V any](m M) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// plan marks the slots (nodes and inputs) the outputs need, and the
// overridden nodes.
func (e *execution) plan(outputs []string, inputs Inputs, overrides Overrides) error {
	d, s := e.d, e.d.sched
	for name := range overrides {
		if d.nodes[name] == nil {
			return fmt.Errorf("driver: override %q is not a node", name)
		}
	}
	for name := range inputs {
		if d.nodes[name] != nil {
			return fmt.Errorf("driver: input %q is a node; give it as an override", name)
		}
	}
	for name := range overrides {
		e.slots[s.slot[name]].over = true
	}
	// visit marks what slot j needs, depth first: dependencies in order,
	// then the expander. An explicit stack (pushed in reverse) keeps the
	// goroutine's stack small on a long chain.
	type visit struct {
		slot int
		by   string
	}
	var stack []visit
	visitFrom := func(j int) error {
		stack = append(stack[:0], visit{j, ""})
		for len(stack) > 0 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			sr := &e.slots[v.slot]
			if sr.needed {
				continue
			}
			sr.needed = true
			if sr.over {
				continue
			}
			si := &s.slots[v.slot]
			if si.n == nil {
				if _, ok := inputs[si.name]; !ok {
					if v.by == "" {
						return fmt.Errorf("driver: output %q is neither a node nor an input", si.name)
					}
					return fmt.Errorf("driver: node %q needs input %q, which was not given", v.by, si.name)
				}
				continue
			}
			if si.n.expander != "" {
				stack = append(stack, visit{s.slot[si.n.expander], si.name})
			}
			for k := len(si.deps) - 1; k >= 0; k-- {
				stack = append(stack, visit{si.deps[k], si.name})
			}
		}
		return nil
	}
	for _, out := range outputs {
		j, ok := s.slot[out]
		if !ok {
			// An input no node names.
			if _, ok := inputs[out]; !ok {
				return fmt.Errorf("driver: output %q is neither a node nor an input", out)
			}
			if e.extra == nil {
				e.extra = map[string]result{}
			}
			e.extra[out] = result{}
			continue
		}
		if n := s.slots[j].n; n != nil && n.expander != "" {
			return fmt.Errorf("driver: output %q is inside the fan-out branch of %q; request the Collect node instead", out, n.expander)
		}
		if err := visitFrom(j); err != nil {
			return err
		}
	}
	// Override and input types against what they stand for.
	if len(overrides) > 0 {
		for _, name := range sortedNames(overrides) {
			n := d.nodes[name]
			if n.expand() || n.expander != "" {
				return fmt.Errorf("driver: override %q: fan-out nodes and the nodes of their branches cannot be overridden", name)
			}
			if err := core.CheckAssignable(overrides[name], n.outType); err != nil {
				return fmt.Errorf("driver: override %q: %w", name, err)
			}
		}
	}
	for _, ed := range s.inputEdges {
		if sr := &e.slots[ed.node]; !sr.needed || sr.over {
			continue
		}
		n, dep := s.slots[ed.node].n, s.slots[ed.input].name
		if err := core.CheckAssignable(inputs[dep], n.params[ed.param]); err != nil {
			return fmt.Errorf("driver: node %q: parameter %d, fed by input %q: %w", n.name, ed.param+1, dep, err)
		}
	}
	return nil
}

// ahead lists, for core.Run.LookAhead, the nodes the run will look up by
// their cache keys: the needed static nodes that are cached (see
// Driver.aheadList).
func (e *execution) ahead() []core.Ahead {
	return e.d.aheadList(func(j int) bool { return e.slots[j].needed }, func(j int) bool { return e.slots[j].over })
}
