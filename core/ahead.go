package core

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Ahead is a node a run is going to be asked for, or a value it is going to
// be given (see Run.LookAhead).
type Ahead struct {
	// Spec is the node's; nil for a value given to the run with Input or
	// Override, named Given.
	Spec  *NodeSpec
	Given string
	// Deps are the dependencies Node will be given for the node, in that
	// order: for each, the index in the slice given to LookAhead of the
	// node or given value it is, or -1 for one that is neither.
	Deps []int
}

// name returns the name of the Value a is.
func (a *Ahead) name() string {
	if a.Spec != nil {
		return a.Spec.Name
	}
	return a.Given
}

// LookAhead tells the run which nodes it is going to be asked for, each
// after its dependencies (in an order in which every index in an Ahead's
// Deps is smaller than its own), before the first call of Node, and the
// inputs and overrides those depend on. It is an optimisation for
// executors, which know their graph: in a goroutine of its own, the run
// works out the cache key of each node whose dependencies were all found in
// the entries preloaded for the run (see BeginRun) or given to it (Input,
// Override: the look-ahead waits for them), and looks it up there, so that
// when Node is called with the same dependency versions it finds the key,
// its id and its entry ready. A key it could not work out, or one whose
// dependencies turned out to have other versions, is worked out by Node as
// without LookAhead; when Node gets to a node first, it works it out and
// the look-ahead goes on from there. The events, records and values of the
// run are the same either way.
//
// A warm run of a chain of a thousand nodes does most of its work on one
// core, one node after another; LookAhead moves the hashing and the lookup
// of every node (about a third of what a hit costs a fresh process) to
// another core, ahead of the executor. It does nothing for a run that has
// no preloaded entries, reads nothing (see BeginRun) or is traced, and
// nothing after the first call (nor after Prefetch.LookAhead). It stops
// when ctx is done, or the run ends.
func (r *Run) LookAhead(ctx context.Context, nodes []Ahead) {
	r.mu.Lock()
	pre := r.preloaded
	r.mu.Unlock()
	if len(nodes) == 0 || pre == nil || pre.Len() == 0 || r.noRead || r.span != nil || r.ahead.Load() != nil {
		return
	}
	la := &lookAhead{nodes: nodes, quit: ctx, done: make(chan struct{})}
	if !r.ahead.CompareAndSwap(nil, la) {
		return
	}
	go la.resolve(pre)
}

// LookAhead starts the look-ahead of Run.LookAhead for the run that
// BeginRunFrom will begin from pf, as soon as pf's entries are read: a
// driver that knows its graph when it is built has the keys of the first
// run worked out while it is still getting ready to run (the keys of nodes
// that depend on inputs once the run is given them). nodes returns the
// nodes (see Run.LookAhead); it is called on the look-ahead's goroutine,
// once the entries are read, only if there are some. LookAhead does
// nothing on a nil Prefetch, or after the first call; call it before
// BeginRunFrom. If BeginRunFrom does not use pf's entries (they are stale,
// or reading them failed), the look-ahead is dropped.
func (pf *Prefetch) LookAhead(nodes func() []Ahead) {
	if pf == nil || pf.ahead != nil {
		return
	}
	c := pf.c
	la := &lookAhead{quit: c.bgCtx, done: make(chan struct{})}
	pf.ahead = la
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		quit := false
		select {
		case <-pf.done: // pf.m and pf.err are set
		case <-c.bgCtx.Done():
			quit = true // the Cache closes: pf is not to be read
		}
		if quit || pf.err != nil || pf.m == nil || pf.m.Len() == 0 || c.bgCtx.Err() != nil || la.stopped() {
			la.abandon()
			close(la.done)
			return
		}
		la.nodes = nodes()
		la.resolve(pf.m)
	}()
}

// lookAhead is the work of LookAhead: the nodes, and for each what was
// found for it.
type lookAhead struct {
	nodes []Ahead
	// slots and index are made by the look-ahead's goroutine (prepare),
	// so that the memory of a thousand slots is new to that core, not to
	// the executor's; Node reads them once indexed is set, and never
	// changes index.
	slots   []aheadSlot
	index   map[*NodeSpec]int32
	indexed atomic.Bool
	// givenMu guards given and early: the slots of the given values by
	// name, and the versions given before the slots were made.
	givenMu sync.Mutex
	given   map[string]int32
	early   map[string]DataVersion
	stop    atomic.Bool     // set by End or abandon: resolve returns
	quit    context.Context // done when the run's context is, or the Cache closes (Prefetch's); may be nil
	done    chan struct{}   // closed when resolve returns
}

// prepare makes the slots and the indexes; once.
func (la *lookAhead) prepare() {
	if la.indexed.Load() {
		return
	}
	slots := make([]aheadSlot, len(la.nodes))
	index := make(map[*NodeSpec]int32, len(la.nodes))
	var given map[string]int32
	for i, a := range la.nodes {
		if a.Spec != nil {
			index[a.Spec] = int32(i)
			continue
		}
		if given == nil {
			given = map[string]int32{}
		}
		given[a.Given] = int32(i)
	}
	la.givenMu.Lock()
	la.slots, la.index, la.given = slots, index, given
	for name, dv := range la.early {
		if i, ok := given[name]; ok {
			slots[i].give(dv)
		}
	}
	la.early = nil
	la.givenMu.Unlock()
	la.indexed.Store(true)
}

// give publishes the version of a value given to the run (Run.Input,
// Run.Override) to the look-ahead, which may be waiting for it.
func (la *lookAhead) give(name string, dv DataVersion) {
	la.givenMu.Lock()
	defer la.givenMu.Unlock()
	if la.slots == nil {
		if la.early == nil {
			la.early = map[string]DataVersion{}
		}
		la.early[name] = dv
		return
	}
	if i, ok := la.given[name]; ok {
		la.slots[i].give(dv)
	}
}

// aheadSlot is what LookAhead found for a node: nothing yet (state
// aheadPending), nothing it could use (aheadNone), or a key and the entry
// preloaded for it (aheadHit), which are then never changed. The slot of a
// given value is a hit with its version once given.
type aheadSlot struct {
	state atomic.Uint32
	key   CacheKey
	id    KeyID
	dv    DataVersion
	// format and lastUsed are the entry's.
	format   string
	lastUsed time.Time
	// v is the Value Node returns for the hit (see Run.retrieved), once:
	// vTaken says it was (a node asked for twice gets a Value of its own
	// the second time).
	v      hitValue
	vTaken atomic.Bool
}

// value returns the slot's Value for Node to make the hit in, or nil when
// it was taken already.
func (s *aheadSlot) value() *hitValue {
	if s == nil || !s.vTaken.CompareAndSwap(false, true) {
		return nil
	}
	return &s.v
}

const (
	aheadPending = iota // nobody has worked on it yet; a given value not given yet
	aheadBusy           // the look-ahead or Node is working it out
	aheadNone
	aheadHit
)

// give makes the slot of a given value a hit with its version, once.
func (s *aheadSlot) give(dv DataVersion) {
	if s.state.CompareAndSwap(aheadPending, aheadBusy) {
		s.dv = dv
		s.state.Store(aheadHit)
	}
}

// resolve works out the keys of the nodes in order, each from the data
// versions of the entries found for its dependencies.
func (la *lookAhead) resolve(pre PreloadIndex) {
	defer close(la.done)
	la.prepare()
	for i, a := range la.nodes {
		if la.stopped() {
			return
		}
		s := &la.slots[i]
		spec := a.Spec
		if spec == nil {
			continue // a given value: its slot is filled by give
		}
		if !s.state.CompareAndSwap(aheadPending, aheadBusy) {
			continue // Node is at it: the executor caught up
		}
		ok := spec.Format != nil && (spec.Behavior == Default || spec.Behavior == Unset)
		for _, d := range a.Deps {
			if !ok {
				break
			}
			ok = d >= 0 && d < i && la.final(d) == aheadHit
		}
		if !ok {
			s.state.Store(aheadNone)
			continue
		}
		deps := make([]Dep, len(a.Deps))
		for k, d := range a.Deps {
			deps[k] = Dep{Name: la.nodes[d].name(), Version: la.slots[d].dv}
		}
		key := NewCacheKey(spec.Name, spec.CodeVersion, deps)
		id := key.ID()
		e, found := pre.Lookup(id)
		if !found || e.Format != spec.Format.Name() || !e.DataVersion.Storable() {
			s.state.Store(aheadNone)
			continue
		}
		s.key, s.id, s.dv, s.format, s.lastUsed = key, id, e.DataVersion, e.Format, e.LastUsed
		s.state.Store(aheadHit)
	}
}

// stopped reports whether the look-ahead is to stop: the run ended or
// dropped it, or the Cache is closing.
func (la *lookAhead) stopped() bool {
	return la.stop.Load() || la.quit != nil && la.quit.Err() != nil
}

// final waits until slot i is worked out (by either side: neither
// blocks while it works one out) or given, and returns its state.
//
// A node's slot is busy for the time of a key's hash and a lookup in the
// preloaded entries (a microsecond or two), or, claimed by Node, for as
// long as Node's lookup takes, which may go to the store; a given value's
// is pending until the run is given it: after a few yields final waits in
// sleeps of 20 µs, and it gives up (none) once the look-ahead is stopped.
func (la *lookAhead) final(i int) uint32 {
	s := &la.slots[i]
	for spin := 0; ; spin++ {
		st := s.state.Load()
		if st == aheadNone || st == aheadHit {
			return st
		}
		if st == aheadPending && la.nodes[i].Spec != nil {
			// Only the look-ahead asks for a node's slot, after its own
			// turn at it (dependencies come first): pending then cannot
			// be; Node claims a pending slot rather than wait for it.
			return aheadNone
		}
		if la.stopped() {
			return aheadNone
		}
		if spin < 64 {
			runtime.Gosched()
		} else {
			time.Sleep(20 * time.Microsecond)
		}
	}
}

// take returns, for Node, what LookAhead found for spec when it is a hit
// for these dependencies (their names and versions those it worked the key
// out from). When the look-ahead has not reached spec yet (the executor
// caught up with it), take claims it instead: claimed is then the slot
// Node is to fill (see publish) once it has looked the key up itself, so
// that the look-ahead goes on from there rather than stop.
func (la *lookAhead) take(spec *NodeSpec, deps []*Value) (ready, claimed *aheadSlot) {
	if !la.indexed.Load() {
		return nil, nil
	}
	i, ok := la.index[spec]
	if !ok {
		return nil, nil
	}
	s := &la.slots[i]
	if s.state.CompareAndSwap(aheadPending, aheadBusy) {
		return nil, s
	}
	if la.final(int(i)) != aheadHit {
		return nil, nil
	}
	a := &la.nodes[i]
	if len(deps) != len(a.Deps) {
		return nil, nil
	}
	for k, d := range deps {
		j := a.Deps[k]
		if d.name != la.nodes[j].name() || d.Version() != la.slots[j].dv {
			return nil, nil
		}
	}
	return s, nil
}

// publish fills a slot Node claimed (see take): with the key and entry of
// a hit, or as nothing (e nil) for anything else.
func (s *aheadSlot) publish(key CacheKey, id KeyID, e *Entry) {
	if s == nil {
		return
	}
	if e == nil {
		s.state.Store(aheadNone)
		return
	}
	s.key, s.id, s.dv, s.format, s.lastUsed = key, id, e.DataVersion, e.Format, e.LastUsed
	s.state.Store(aheadHit)
}

// end stops the look-ahead and waits for it to return.
func (la *lookAhead) end() {
	if la == nil {
		return
	}
	la.stop.Store(true)
	<-la.done
}

// abandon stops a look-ahead that no run uses (its goroutine returns
// soon); it does not wait.
func (la *lookAhead) abandon() {
	if la == nil {
		return
	}
	la.stop.Store(true)
}
