package driver

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
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

// result is what flows along an edge: a cache value (cached runs) or a plain
// value (runs without cache).
type result struct {
	cv  *core.Value
	raw any
}

func (r result) get(ctx context.Context) (any, error) {
	if r.cv != nil {
		return r.cv.Get(ctx)
	}
	return r.raw, nil
}

// future is the eventual result of a node (or of one task of a branch node).
type future struct {
	done  chan struct{}
	res   result
	items []result // Expand nodes: one per item
	err   error
}

func newFuture() *future { return &future{done: make(chan struct{})} }

func resolved(r result) *future {
	f := newFuture()
	f.res = r
	close(f.done)
	return f
}

// errUpstream marks a node skipped because a dependency failed; the
// dependency's own error is what Execute returns.
var errUpstream = errors.New("upstream failed")

type execution struct {
	d      *Driver
	run    *core.Run
	ctx    context.Context
	cancel context.CancelCauseFunc
	sem    chan struct{}

	values   map[string]*future // inputs, overrides, and static nodes
	branch   map[string][]string
	branches sync.Map // expander name -> *branchRun
	wg       sync.WaitGroup

	// outcomes are those of a run without a cache (with one, the run's
	// own, core.Run.Outcomes), by core.RecordName.
	mu       sync.Mutex
	outcomes map[string]core.Outcome
}

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

// note keeps an outcome of a run without a cache.
func (e *execution) note(name, task string, o core.Outcome) {
	if e.run != nil {
		return // the run keeps its own
	}
	e.mu.Lock()
	e.outcomes[core.RecordName(name, task)] = o
	e.mu.Unlock()
}

type branchRun struct {
	once    sync.Once
	futures map[string][]*future // branch node -> one per item
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
	needed, err := d.plan(outputs, inputs, overrides)
	if err != nil {
		return nil, invalid(err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	e := &execution{d: d, ctx: ctx, cancel: cancel, sem: make(chan struct{}, d.parallelism),
		values: map[string]*future{}, branch: map[string][]string{}, outcomes: map[string]core.Outcome{}}
	if d.cache != nil {
		var lookups []string
		for _, name := range d.order {
			n := d.nodes[name]
			if _, over := overrides[name]; needed[name] && !over && n.spec.Behavior <= core.Default && !n.expand() {
				lookups = append(lookups, name)
			}
		}
		var run *core.Run
		var err error
		if pf := d.prefetch.Swap(nil); pf != nil {
			run, err = d.cache.BeginRunFrom(ctx, pf)
		} else {
			run, err = d.cache.BeginRun(ctx, lookups...)
		}
		if err != nil {
			return nil, fmt.Errorf("driver: %w", err)
		}
		e.run = run
		run.RequestOutputs(outputs...)
		for _, name := range d.order {
			if n := d.nodes[name]; needed[name] && !n.code.FromSource {
				run.CodeVersionFallback(ctx, name, n.code.Fallback)
			}
		}
	}
	// Inputs and overrides (sorted, so events come in a stable order).
	for _, name := range sortedNames(inputs) {
		if !needed[name] {
			continue
		}
		if e.run != nil {
			e.values[name] = resolved(result{cv: e.run.Input(ctx, name, inputs[name])})
		} else {
			e.values[name] = resolved(result{raw: inputs[name]})
			e.note(name, "", core.OutcomeInput)
		}
	}
	for _, name := range sortedNames(overrides) {
		if !needed[name] {
			continue
		}
		if e.run != nil {
			e.values[name] = resolved(result{cv: e.run.Override(ctx, name, overrides[name])})
		} else {
			e.values[name] = resolved(result{raw: overrides[name]})
			e.note(name, "", core.OutcomeOverride)
		}
	}
	for _, name := range d.topo {
		n := d.nodes[name]
		if !needed[name] || e.values[name] != nil {
			continue
		}
		if n.expander != "" {
			e.branch[n.expander] = append(e.branch[n.expander], name)
			continue
		}
		e.values[name] = newFuture()
	}
	for _, name := range d.topo {
		n := d.nodes[name]
		if f := e.values[name]; f != nil && n.expander == "" && !isDone(f) {
			e.wg.Add(1)
			go e.runNode(n, f)
		}
	}

	res := Results{}
	var firstErr error
	for _, out := range outputs {
		f := e.values[out]
		select {
		case <-f.done:
		case <-ctx.Done():
		}
		if !isDone(f) {
			break
		}
		if f.err != nil {
			break
		}
		var v any
		var err error
		switch {
		case d.nodes[out] != nil && d.nodes[out].expand():
			v, err = e.collectItems(d.nodes[out], f.items)
		case e.run != nil:
			v, err = e.run.Final(ctx, f.res.cv)
		default:
			v = f.res.raw
		}
		if err != nil {
			firstErr = fmt.Errorf("driver: output %q: %w", out, err)
			cancel(firstErr)
			break
		}
		res[out] = v
	}
	e.wg.Wait()
	if firstErr == nil {
		firstErr = e.rootError()
	}
	if firstErr == nil && ctx.Err() != nil {
		firstErr = context.Cause(ctx)
	}
	out := &RunResult{Outcomes: e.outcomes}
	if e.run != nil {
		// A store that failed is not the run's error: the outputs are
		// right, and the run said once at WARN what it could not store
		// (see core.Run.Faults).
		_ = e.run.End(ctx)
		out.RunID, out.Outcomes, out.Faults = e.run.ID(), e.run.Outcomes(), e.run.Faults()
	}
	e.markSkipped(needed, out.Outcomes)
	if firstErr != nil {
		return out, firstErr
	}
	out.Values = res
	return out, nil
}

// markSkipped gives core.OutcomeSkipped to the needed nodes (and the tasks
// of the fan-outs that ran) that have no outcome: the run stopped before
// them.
func (e *execution) markSkipped(needed map[string]bool, outcomes map[string]core.Outcome) {
	for _, name := range e.d.topo {
		n := e.d.nodes[name]
		if !needed[name] {
			continue
		}
		if n.expander == "" {
			if _, ok := outcomes[name]; !ok {
				outcomes[name] = core.OutcomeSkipped
			}
			continue
		}
		f := e.values[n.expander]
		if f == nil || !isDone(f) || f.err != nil {
			outcomes[name] = core.OutcomeSkipped // no task was made
			continue
		}
		for i := range f.items {
			k := core.RecordName(name, core.TaskID(n.expander, i))
			if _, ok := outcomes[k]; !ok {
				outcomes[k] = core.OutcomeSkipped
			}
		}
	}
}

func isDone(f *future) bool {
	select {
	case <-f.done:
		return true
	default:
		return false
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

// plan returns the names (nodes and inputs) the outputs need.
func (d *Driver) plan(outputs []string, inputs Inputs, overrides Overrides) (map[string]bool, error) {
	for name := range overrides {
		if d.nodes[name] == nil {
			return nil, fmt.Errorf("driver: override %q is not a node", name)
		}
	}
	for name := range inputs {
		if d.nodes[name] != nil {
			return nil, fmt.Errorf("driver: input %q is a node; give it as an override", name)
		}
	}
	needed := map[string]bool{}
	var visit func(name, by string) error
	visit = func(name, by string) error {
		if needed[name] {
			return nil
		}
		needed[name] = true
		if _, ok := overrides[name]; ok {
			return nil
		}
		n := d.nodes[name]
		if n == nil {
			if _, ok := inputs[name]; !ok {
				if by == "" {
					return fmt.Errorf("driver: output %q is neither a node nor an input", name)
				}
				return fmt.Errorf("driver: node %q needs input %q, which was not given", by, name)
			}
			return nil
		}
		for _, dep := range n.deps {
			if err := visit(dep, name); err != nil {
				return err
			}
		}
		if n.expander != "" {
			return visit(n.expander, name)
		}
		return nil
	}
	for _, out := range outputs {
		if n := d.nodes[out]; n != nil && n.expander != "" {
			return nil, fmt.Errorf("driver: output %q is inside the fan-out branch of %q; request the Collect node instead", out, n.expander)
		}
		if err := visit(out, ""); err != nil {
			return nil, err
		}
	}
	// Override and input types against what they stand for.
	for _, name := range sortedNames(overrides) {
		n := d.nodes[name]
		if n.expand() || n.expander != "" {
			return nil, fmt.Errorf("driver: override %q: fan-out nodes and the nodes of their branches cannot be overridden", name)
		}
		if err := core.CheckAssignable(overrides[name], n.outType); err != nil {
			return nil, fmt.Errorf("driver: override %q: %w", name, err)
		}
	}
	for _, name := range sortedNames(needed) {
		n := d.nodes[name]
		if n == nil {
			continue
		}
		if _, ok := overrides[name]; ok {
			continue
		}
		for i, dep := range n.deps {
			if d.nodes[dep] != nil {
				continue
			}
			if err := core.CheckAssignable(inputs[dep], n.params[i]); err != nil {
				return nil, fmt.Errorf("driver: node %q: parameter %d, fed by input %q: %w", name, i+1, dep, err)
			}
		}
	}
	return needed, nil
}

// fail records err as the reason the run stops.
func (e *execution) fail(err error) {
	if !errors.Is(err, errUpstream) {
		e.cancel(err)
	}
}

func (e *execution) rootError() error {
	if err := context.Cause(e.ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// wait returns the results of a node's dependencies, for task item (-1 for
// static nodes).
func (e *execution) deps(n *node, item int) ([]result, error) {
	out := make([]result, len(n.deps))
	for i, dep := range n.deps {
		var f *future
		m := e.d.nodes[dep]
		switch {
		case e.values[dep] != nil && (m == nil || m.expander == ""):
			f = e.values[dep]
		case m != nil && m.expander != "" && n.collect():
			br, err := e.branchOf(m.expander)
			if err != nil {
				return nil, err
			}
			fs := br.futures[dep]
			rs := make([]result, len(fs))
			for j, f := range fs {
				if err := e.await(f); err != nil {
					return nil, err
				}
				rs[j] = f.res
			}
			out[i] = e.join(dep, rs)
			continue
		case m != nil && m.expander != "":
			br, err := e.branchOf(m.expander)
			if err != nil {
				return nil, err
			}
			f = br.futures[dep][item]
		default:
			return nil, fmt.Errorf("driver: internal error: no value for %q (needed by %q)", dep, n.name)
		}
		if err := e.await(f); err != nil {
			return nil, err
		}
		if m != nil && m.expand() {
			out[i] = f.items[item]
		} else {
			out[i] = f.res
		}
	}
	return out, nil
}

func (e *execution) await(f *future) error {
	select {
	case <-f.done:
		if f.err != nil {
			return errUpstream
		}
		return nil
	case <-e.ctx.Done():
		return errUpstream
	}
}

func (e *execution) join(name string, rs []result) result {
	if e.run != nil {
		cvs := make([]*core.Value, len(rs))
		for i, r := range rs {
			cvs[i] = r.cv
		}
		return result{cv: e.run.Join(name, cvs)}
	}
	raws := make([]any, len(rs))
	for i, r := range rs {
		raws[i] = r.raw
	}
	return result{raw: raws}
}

// branchOf waits for the expander and starts its branch tasks once.
func (e *execution) branchOf(expander string) (*branchRun, error) {
	f := e.values[expander]
	if err := e.await(f); err != nil {
		return nil, err
	}
	v, _ := e.branches.LoadOrStore(expander, &branchRun{})
	br := v.(*branchRun)
	br.once.Do(func() {
		br.futures = map[string][]*future{}
		names := e.branch[expander]
		for _, name := range names {
			fs := make([]*future, len(f.items))
			for i := range fs {
				fs[i] = newFuture()
			}
			br.futures[name] = fs
		}
		for _, name := range names {
			for i, bf := range br.futures[name] {
				e.wg.Add(1)
				go e.runTask(e.d.nodes[name], i, bf, core.TaskID(expander, i))
			}
		}
	})
	return br, nil
}

func (e *execution) runNode(n *node, f *future) {
	e.runTask(n, -1, f, "")
}

func (e *execution) runTask(n *node, item int, f *future, task string) {
	defer e.wg.Done()
	defer close(f.done)
	deps, err := e.deps(n, item)
	if err != nil {
		f.err = err
		e.fail(err)
		return
	}
	select {
	case e.sem <- struct{}{}:
	case <-e.ctx.Done():
		f.err = errUpstream
		return
	}
	defer func() { <-e.sem }()
	if n.expand() {
		f.items, f.err = e.expand(n, deps)
	} else {
		f.res, f.err = e.node(n, task, deps)
	}
	if f.err != nil {
		e.fail(f.err)
	}
}

// call runs n's function on the dependency values.
func (e *execution) call(ctx context.Context, n *node, args []any) (out any, err error) {
	in := make([]reflect.Value, 0, len(args)+1)
	if n.takesCtx {
		in = append(in, reflect.ValueOf(ctx))
	}
	for i, a := range args {
		t := n.params[i]
		if dep := e.d.nodes[n.deps[i]]; n.collect() && dep != nil && dep.expander != "" {
			items, _ := a.([]any)
			s := reflect.MakeSlice(t, len(items), len(items))
			for j, it := range items {
				if it != nil {
					s.Index(j).Set(reflect.ValueOf(it))
				}
			}
			in = append(in, s)
			continue
		}
		if a == nil {
			in = append(in, reflect.Zero(t))
			continue
		}
		av := reflect.ValueOf(a)
		if !av.Type().AssignableTo(t) {
			return nil, fmt.Errorf("parameter %d (%s): value of type %v is not assignable to %v", i+1, n.deps[i], av.Type(), t)
		}
		in = append(in, av)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	outs := n.fn.Call(in)
	if n.returnsErr && !outs[1].IsNil() {
		return nil, outs[1].Interface().(error)
	}
	return outs[0].Interface(), nil
}

func (e *execution) node(n *node, task string, deps []result) (result, error) {
	if e.run == nil {
		args := make([]any, len(deps))
		for i, d := range deps {
			args[i] = d.raw
		}
		v, err := e.call(e.ctx, n, args)
		if err != nil {
			e.note(n.name, task, core.OutcomeFailed)
			if task != "" {
				return result{}, &core.NodeError{Node: n.name, Task: task, Err: err}
			}
			return result{}, &core.NodeError{Node: n.name, Err: err}
		}
		e.note(n.name, task, core.OutcomeExecuted)
		return result{raw: v}, nil
	}
	cvs := make([]*core.Value, len(deps))
	for i, d := range deps {
		cvs[i] = d.cv
	}
	v, err := e.run.Node(e.ctx, &n.spec, task, cvs, func(ctx context.Context, args []any) (any, error) {
		return e.call(ctx, n, args)
	})
	if err != nil {
		return result{}, err
	}
	return result{cv: v}, nil
}

func (e *execution) expand(n *node, deps []result) ([]result, error) {
	exec := func(ctx context.Context, args []any) ([]any, error) {
		v, err := e.call(ctx, n, args)
		if err != nil {
			return nil, err
		}
		s := reflect.ValueOf(v)
		items := make([]any, s.Len())
		for i := range items {
			items[i] = s.Index(i).Interface()
		}
		return items, nil
	}
	if e.run == nil {
		args := make([]any, len(deps))
		for i, d := range deps {
			args[i] = d.raw
		}
		items, err := exec(e.ctx, args)
		if err != nil {
			e.note(n.name, "", core.OutcomeFailed)
			return nil, &core.NodeError{Node: n.name, Err: err}
		}
		e.note(n.name, "", core.OutcomeExecuted)
		out := make([]result, len(items))
		for i, it := range items {
			out[i] = result{raw: it}
		}
		return out, nil
	}
	cvs := make([]*core.Value, len(deps))
	for i, d := range deps {
		cvs[i] = d.cv
	}
	vals, err := e.run.Expand(e.ctx, &n.spec, cvs, exec)
	if err != nil {
		return nil, err
	}
	out := make([]result, len(vals))
	for i, v := range vals {
		out[i] = result{cv: v}
	}
	return out, nil
}

// collectItems returns an Expand node's items as its declared slice type,
// when the Expand node itself is an output.
func (e *execution) collectItems(n *node, items []result) (any, error) {
	s := reflect.MakeSlice(n.outType, len(items), len(items))
	for i, it := range items {
		v, err := it.get(e.ctx)
		if err != nil {
			return nil, err
		}
		if v != nil {
			s.Index(i).Set(reflect.ValueOf(v))
		}
	}
	return s.Interface(), nil
}
