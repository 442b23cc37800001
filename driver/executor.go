package driver

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/flowcache/flowcache/core"
)

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

// execution is one run: the state of every slot of the schedule, the
// fan-outs' tasks, and the ready queue its workers share.
//
// A unit (a static node, or one task of a branch node) is ready when its
// counter of unfinished dependencies reaches zero; the worker that brings
// it there takes it. A worker runs the first unit a completion makes ready
// itself and queues the others, starting a worker for each while fewer
// than the driver's parallelism are running. A worker that finds the queue
// empty ends; the run is over when the last one does.
type execution struct {
	d      *Driver
	run    *core.Run
	ctx    context.Context
	cancel context.CancelCauseFunc

	slots []slotRun // by slot of d.sched
	fans  []fanRun  // by fan-out of d.sched
	// extra are the outputs that are inputs no node names.
	extra map[string]result

	mu     sync.Mutex
	queue  []unit
	head   int
	active int           // workers running
	quiet  chan struct{} // closed when the last worker ends
}

// slotRun is the state of a node or input in one run.
type slotRun struct {
	res     result
	items   []result // Expand nodes: one per item
	pending atomic.Int32
	needed  bool
	over    bool // overridden
	done    bool // executed (or retrieved) without error
	outcome core.Outcome
}

// fanRun is a fan-out's tasks in one run, made when its Expand node is
// done.
type fanRun struct {
	mu       sync.Mutex
	expanded bool
	// gate counts, per branch node (by position), its static dependencies
	// not done yet: its tasks wait for them too.
	gate      []int32
	tasks     [][]taskRun // by branch position, then item; nil when not needed
	remaining []atomic.Int32
	ids       []string // task ids, by item
}

type taskRun struct {
	res     result
	pending atomic.Int32
	done    bool
	outcome core.Outcome
}

// unit is a node to run: a static node (item < 0), or the task of a branch
// node for one item.
type unit struct{ slot, item int32 }

// worker is the state a worker reuses from one node to the next.
type worker struct {
	ready []unit
	args  []any
	in    []reflect.Value
}

// errUpstream marks a node skipped because a dependency failed; the
// dependency's own error is what Execute returns.
var errUpstream = errors.New("upstream failed")

var errGoexit = errors.New("driver: a node's function called runtime.Goexit")

func newExecution(d *Driver, ctx context.Context, cancel context.CancelCauseFunc) *execution {
	e := &execution{d: d, ctx: ctx, cancel: cancel, slots: make([]slotRun, len(d.sched.slots))}
	if len(d.sched.fans) > 0 {
		e.fans = make([]fanRun, len(d.sched.fans))
	}
	return e
}

// runs reports whether slot j is a node this run executes (or retrieves).
func (e *execution) runs(j int) bool {
	sr := &e.slots[j]
	return sr.needed && !sr.over && e.d.sched.slots[j].n != nil
}

// execute runs the needed nodes and returns when the run is over: every
// node done, or the run stopped (a node failed, the context ended) and
// the nodes that were running returned.
func (e *execution) execute() {
	s := e.d.sched
	// Count each unit's dependencies; the static nodes with none are
	// ready.
	for f := range e.fans {
		fi := &s.fans[f]
		if !e.runs(fi.expander) {
			continue
		}
		fr := &e.fans[f]
		fr.gate = make([]int32, len(fi.branch))
		fr.tasks = make([][]taskRun, len(fi.branch))
		fr.remaining = make([]atomic.Int32, len(fi.branch))
	}
	var ready []unit
	for j := range s.nodes {
		if !e.runs(j) {
			continue
		}
		si := &s.slots[j]
		for _, u := range si.succ {
			if u >= 0 {
				if e.runs(u) {
					e.slots[u].pending.Add(1)
				}
			} else if b := -u - 1; e.runs(b) {
				e.fans[s.slots[b].fan].gate[s.slots[b].pos]++
			}
		}
		if si.n.collect() {
			for k, kind := range si.kinds {
				if kind == depJoin && e.runs(si.deps[k]) {
					e.slots[j].pending.Add(1)
				}
			}
		}
	}
	for j := range s.nodes {
		if e.runs(j) && s.slots[j].pos < 0 && e.slots[j].pending.Load() == 0 {
			ready = append(ready, unit{int32(j), -1})
		}
	}
	if len(ready) == 0 {
		return
	}
	e.quiet = make(chan struct{})
	e.active = 1
	if len(ready) > 1 {
		e.push(ready[1:])
	}
	// The calling goroutine is the first worker.
	e.work(&worker{}, ready[0])
	<-e.quiet
}

// work runs u, then what it makes ready, then what the queue holds, until
// the queue is empty.
func (e *execution) work(w *worker, u unit) {
	if cap(w.in) == 0 {
		w.in = make([]reflect.Value, 0, e.d.sched.maxIn)
		w.args = make([]any, 0, e.d.sched.maxIn)
	}
	ended := false
	defer func() {
		if !ended {
			// A node's function called runtime.Goexit (t.FailNow in a
			// test, say): the run stops, and the worker still ends.
			e.cancel(errGoexit)
			e.mu.Lock()
			e.end()
			e.mu.Unlock()
		}
	}()
	for {
		if e.ctx.Err() == nil {
			w.ready = w.ready[:0]
			e.runUnit(w, u)
			if len(w.ready) > 0 {
				u = w.ready[0]
				if len(w.ready) > 1 {
					e.push(w.ready[1:])
				}
				continue
			}
		}
		e.mu.Lock()
		if e.head == len(e.queue) {
			ended = true
			e.end()
			e.mu.Unlock()
			return
		}
		u = e.queue[e.head]
		e.head++
		if e.head == len(e.queue) {
			e.queue, e.head = e.queue[:0], 0
		}
		e.mu.Unlock()
	}
}

// end ends a worker; e.mu is held.
func (e *execution) end() {
	e.active--
	if e.active == 0 {
		close(e.quiet)
	}
}

// push queues ready units and starts workers for them, up to the
// driver's parallelism.
func (e *execution) push(us []unit) {
	e.mu.Lock()
	e.queue = append(e.queue, us...)
	var start []unit
	for e.active < e.d.parallelism && e.head < len(e.queue) {
		e.active++
		start = append(start, e.queue[e.head])
		e.head++
	}
	if e.head == len(e.queue) {
		e.queue, e.head = e.queue[:0], 0
	}
	e.mu.Unlock()
	for _, u := range start {
		go e.work(&worker{}, u)
	}
}

// runUnit runs one unit and appends to w.ready what its completion makes
// ready.
func (e *execution) runUnit(w *worker, u unit) {
	s := e.d.sched
	j := int(u.slot)
	si := &s.slots[j]
	if u.item >= 0 {
		e.runTask(w, si, int(u.item))
		return
	}
	sr := &e.slots[j]
	var err error
	if si.n.expand() {
		sr.items, err = e.expand(w, si)
	} else {
		sr.res, err = e.node(w, si, -1, "")
	}
	if err != nil {
		e.fail(err)
		return
	}
	sr.done = true
	for _, v := range si.succ {
		if v >= 0 {
			if e.runs(v) && e.slots[v].pending.Add(-1) == 0 {
				w.ready = append(w.ready, unit{int32(v), -1})
			}
		} else if b := -v - 1; e.runs(b) {
			e.openGate(w, &s.slots[b])
		}
	}
	if si.n.expand() {
		e.makeTasks(w, si)
	}
}

// openGate counts down the static dependencies of branch node b.
func (e *execution) openGate(w *worker, b *slotInfo) {
	fr := &e.fans[b.fan]
	fr.mu.Lock()
	defer fr.mu.Unlock()
	fr.gate[b.pos]--
	if fr.gate[b.pos] > 0 || !fr.expanded {
		return
	}
	for i := range fr.tasks[b.pos] {
		if fr.tasks[b.pos][i].pending.Add(-1) == 0 {
			w.ready = append(w.ready, unit{int32(b.id), int32(i)})
		}
	}
}

// makeTasks makes the tasks of an Expand node's branch, one per item for
// every needed branch node.
func (e *execution) makeTasks(w *worker, x *slotInfo) {
	s := e.d.sched
	fi, fr := &s.fans[x.fan], &e.fans[x.fan]
	k := len(e.slots[fi.expander].items)
	fr.mu.Lock()
	fr.expanded = true
	fr.ids = make([]string, k)
	for i := range fr.ids {
		fr.ids[i] = core.TaskID(x.name, i)
	}
	for p, b := range fi.branch {
		if !e.runs(b) {
			continue
		}
		ts := make([]taskRun, k)
		wait := s.slots[b].branchDeps
		if fr.gate[p] > 0 {
			wait++
		}
		for i := range ts {
			ts[i].pending.Store(wait)
			if wait == 0 {
				w.ready = append(w.ready, unit{int32(b), int32(i)})
			}
		}
		fr.tasks[p] = ts
		fr.remaining[p].Store(int32(k))
	}
	fr.mu.Unlock()
	if k == 0 {
		for _, b := range fi.branch {
			if e.runs(b) {
				e.branchDone(w, &s.slots[b])
			}
		}
	}
}

// taskID returns the task id of item i.
func (fr *fanRun) taskID(i int) string { return fr.ids[i] }

// runTask runs the task of branch node si for item i.
func (e *execution) runTask(w *worker, si *slotInfo, i int) {
	fr := &e.fans[si.fan]
	task := fr.ids[i]
	tr := &fr.tasks[si.pos][i]
	res, err := e.node(w, si, i, task)
	if err != nil {
		if e.run == nil {
			tr.outcome = core.OutcomeFailed
		}
		e.fail(err)
		return
	}
	tr.res, tr.done = res, true
	if e.run == nil {
		tr.outcome = core.OutcomeExecuted
	}
	s := e.d.sched
	for _, u := range si.branchUsers {
		if e.runs(u) && fr.tasks[s.slots[u].pos][i].pending.Add(-1) == 0 {
			w.ready = append(w.ready, unit{int32(u), int32(i)})
		}
	}
	if fr.remaining[si.pos].Add(-1) == 0 {
		e.branchDone(w, si)
	}
}

// branchDone counts down the Collect nodes of a branch node whose tasks
// are all done.
func (e *execution) branchDone(w *worker, si *slotInfo) {
	for _, c := range si.collectors {
		if e.runs(c) && e.slots[c].pending.Add(-1) == 0 {
			w.ready = append(w.ready, unit{int32(c), -1})
		}
	}
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

// dep returns the value of dependency k of si, for item i (-1 for static
// nodes).
func (e *execution) dep(si *slotInfo, k, i int) result {
	j := si.deps[k]
	switch si.kinds[k] {
	case depItem:
		return e.slots[j].items[i]
	case depTask:
		m := &e.d.sched.slots[j]
		return e.fans[m.fan].tasks[m.pos][i].res
	case depJoin:
		m := &e.d.sched.slots[j]
		ts := e.fans[m.fan].tasks[m.pos]
		rs := make([]result, len(ts))
		for t := range ts {
			rs[t] = ts[t].res
		}
		return e.join(m.name, rs)
	}
	return e.slots[j].res
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

// node runs (or, with a cache, retrieves) si for item i (-1 for static
// nodes) of task task.
func (e *execution) node(w *worker, si *slotInfo, i int, task string) (result, error) {
	n := si.n
	if e.run == nil {
		args := w.args[:len(si.deps)]
		for k := range si.deps {
			args[k] = e.dep(si, k, i).raw
		}
		v, err := e.call(e.ctx, si, args, w.in[:0])
		clear(args)
		if err != nil {
			if i < 0 {
				e.slots[si.id].outcome = core.OutcomeFailed
				return result{}, &core.NodeError{Node: n.name, Err: err}
			}
			return result{}, &core.NodeError{Node: n.name, Task: task, Err: err}
		}
		if i < 0 {
			e.slots[si.id].outcome = core.OutcomeExecuted
		}
		return result{raw: v}, nil
	}
	cvs := make([]*core.Value, len(si.deps))
	for k := range si.deps {
		cvs[k] = e.dep(si, k, i).cv
	}
	v, err := e.run.Node(e.ctx, &n.spec, task, cvs, func(ctx context.Context, args []any) (any, error) {
		return e.call(ctx, si, args, nil)
	})
	if err != nil {
		return result{}, err
	}
	return result{cv: v}, nil
}

// call runs si's function on the dependency values; in, when not nil, is
// a buffer for the arguments.
func (e *execution) call(ctx context.Context, si *slotInfo, args []any, in []reflect.Value) (out any, err error) {
	n := si.n
	if n.takesCtx {
		in = append(in, reflect.ValueOf(ctx))
	}
	for i, a := range args {
		t := n.params[i]
		if si.kinds[i] == depJoin {
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
		if at := av.Type(); at != t && !at.AssignableTo(t) {
			return nil, fmt.Errorf("parameter %d (%s): value of type %v is not assignable to %v", i+1, n.deps[i], at, t)
		}
		in = append(in, av)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	outs := n.fn.Call(in)
	clear(in)
	if n.returnsErr && !outs[1].IsNil() {
		return nil, outs[1].Interface().(error)
	}
	return outs[0].Interface(), nil
}

func (e *execution) expand(w *worker, si *slotInfo) ([]result, error) {
	n := si.n
	exec := func(ctx context.Context, args []any, in []reflect.Value) ([]any, error) {
		v, err := e.call(ctx, si, args, in)
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
	j := si.id
	if e.run == nil {
		args := make([]any, len(si.deps))
		for k := range si.deps {
			args[k] = e.dep(si, k, -1).raw
		}
		items, err := exec(e.ctx, args, w.in[:0])
		if err != nil {
			e.slots[j].outcome = core.OutcomeFailed
			return nil, &core.NodeError{Node: n.name, Err: err}
		}
		e.slots[j].outcome = core.OutcomeExecuted
		out := make([]result, len(items))
		for i, it := range items {
			out[i] = result{raw: it}
		}
		return out, nil
	}
	cvs := make([]*core.Value, len(si.deps))
	for k := range si.deps {
		cvs[k] = e.dep(si, k, -1).cv
	}
	vals, err := e.run.Expand(e.ctx, &n.spec, cvs, func(ctx context.Context, args []any) ([]any, error) {
		return exec(ctx, args, nil)
	})
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
