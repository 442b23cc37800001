package core

import (
	"context"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// aheadFormat is a Format for the look-ahead's tests, which cannot import
// package formats.
type aheadFormat string

func (f aheadFormat) Name() string                              { return string(f) }
func (aheadFormat) Check(reflect.Type) error                    { return nil }
func (aheadFormat) Encode(io.Writer, any) error                 { return nil }
func (aheadFormat) Decode(io.Reader, reflect.Type) (any, error) { return nil, nil }

// aheadChain returns a chain of n nodes (each depending on the one before)
// and the entries of its keys, each node's data version "dv<i>" (i from
// 0), as a store would preload them.
func aheadChain(n int) ([]Ahead, EntryMap) {
	nodes := make([]Ahead, n)
	entries := EntryMap{}
	var prev DataVersion
	for i := range n {
		spec := &NodeSpec{Name: "n" + string(rune('a'+i)), CodeVersion: CodeVersion("code" + string(rune('a'+i))), Format: aheadFormat("f")}
		nodes[i] = Ahead{Spec: spec}
		var deps []Dep
		if i > 0 {
			nodes[i].Deps = []int{i - 1}
			deps = []Dep{{Name: nodes[i-1].Spec.Name, Version: prev}}
		}
		key := NewCacheKey(spec.Name, spec.CodeVersion, deps)
		dv := DataVersion("dv" + string(rune('0'+i)))
		entries[key.ID()] = Entry{Key: key, DataVersion: dv, Format: "f", LastUsed: time.Unix(int64(i), 0)}
		prev = dv
	}
	return nodes, entries
}

// The look-ahead works out each node's key from the versions found for its
// dependencies, as Node would, and stops at the first node it cannot use:
// one whose entry is missing, in another format, or not Default.
func TestLookAheadResolve(t *testing.T) {
	nodes, entries := aheadChain(6)
	la := &lookAhead{nodes: nodes, done: make(chan struct{})}
	la.resolve(entries)
	for i := range nodes {
		s := &la.slots[i]
		if s.state.Load() != aheadHit {
			t.Fatalf("node %d: state %d, want a hit", i, s.state.Load())
		}
		var deps []Dep
		if i > 0 {
			deps = []Dep{{Name: nodes[i-1].Spec.Name, Version: la.slots[i-1].dv}}
		}
		want := NewCacheKey(nodes[i].Spec.Name, nodes[i].Spec.CodeVersion, deps)
		if s.id != want.ID() || s.key.ID() != want.ID() || s.key.String() != want.String() || s.dv != entries[want.ID()].DataVersion || !s.lastUsed.Equal(time.Unix(int64(i), 0)) {
			t.Errorf("node %d: key %v id %s dv %s, want %v %s %s", i, s.key, s.id, s.dv, want, want.ID(), entries[want.ID()].DataVersion)
		}
	}

	for _, c := range []struct {
		what  string
		alter func(nodes []Ahead, entries EntryMap)
	}{
		{"entry missing", func(nodes []Ahead, entries EntryMap) {
			for id, e := range entries {
				if e.Key.Node == nodes[2].Spec.Name {
					delete(entries, id)
				}
			}
		}},
		{"another format", func(nodes []Ahead, entries EntryMap) { nodes[2].Spec.Format = aheadFormat("g") }},
		{"Recompute", func(nodes []Ahead, entries EntryMap) { nodes[2].Spec.Behavior = Recompute }},
		{"a dependency not listed", func(nodes []Ahead, entries EntryMap) { nodes[2].Deps = []int{-1} }},
		{"a dependency listed after", func(nodes []Ahead, entries EntryMap) { nodes[2].Deps = []int{4} }},
	} {
		nodes, entries := aheadChain(6)
		c.alter(nodes, entries)
		la := &lookAhead{nodes: nodes, done: make(chan struct{})}
		la.resolve(entries)
		for i := range nodes {
			want := uint32(aheadHit)
			if i >= 2 {
				want = aheadNone // the node, and those after it through their dependencies
			}
			if got := la.slots[i].state.Load(); got != want {
				t.Errorf("%s: node %d: state %d, want %d", c.what, i, got, want)
			}
		}
	}
}

// Node takes a hit only for the dependency versions the look-ahead used,
// and claims a node the look-ahead has not reached: the look-ahead goes on
// from what Node publishes there, and waits for a node Node is working on.
func TestLookAheadTakeAndClaim(t *testing.T) {
	nodes, entries := aheadChain(4)
	la := &lookAhead{nodes: nodes, done: make(chan struct{})}
	la.prepare()

	// Node is first at node 0: it claims it, works it out and publishes.
	ready, claimed := la.take(nodes[0].Spec, nil)
	if ready != nil || claimed != &la.slots[0] || claimed.state.Load() != aheadBusy {
		t.Fatalf("take before the look-ahead: ready %v, claimed %p (state %d); want the slot claimed", ready, claimed, claimed.state.Load())
	}
	resolved := make(chan struct{})
	go func() { la.resolve(entries); close(resolved) }()
	select {
	case <-resolved:
		t.Fatal("the look-ahead went on without the node Node claimed")
	case <-time.After(20 * time.Millisecond):
	}
	key := NewCacheKey(nodes[0].Spec.Name, nodes[0].Spec.CodeVersion, nil)
	e := entries[key.ID()]
	claimed.publish(key, key.ID(), &e)
	<-resolved
	for i := range nodes {
		if la.slots[i].state.Load() != aheadHit {
			t.Fatalf("node %d: state %d after Node published node 0, want a hit", i, la.slots[i].state.Load())
		}
	}

	dep := &Value{name: nodes[0].Spec.Name, version: la.slots[0].dv}
	if ready, claimed := la.take(nodes[1].Spec, []*Value{dep}); ready != &la.slots[1] || claimed != nil {
		t.Errorf("take with the versions used: %p, %p; want the slot ready", ready, claimed)
	}
	for what, deps := range map[string][]*Value{
		"another version":   {{name: nodes[0].Spec.Name, version: "other"}},
		"another name":      {{name: "x", version: la.slots[0].dv}},
		"a dependency more": {dep, dep},
	} {
		if ready, claimed := la.take(nodes[1].Spec, deps); ready != nil || claimed != nil {
			t.Errorf("take with %s: %p, %p; want neither", what, ready, claimed)
		}
	}
	if ready, claimed := la.take(&NodeSpec{Name: "unknown"}, nil); ready != nil || claimed != nil {
		t.Errorf("take of a node not listed: %p, %p; want neither", ready, claimed)
	}
	// Before the slots are made (the look-ahead's goroutine makes them),
	// nothing is taken.
	if ready, claimed := (&lookAhead{nodes: nodes}).take(nodes[0].Spec, nil); ready != nil || claimed != nil {
		t.Errorf("take before the slots are made: %p, %p; want neither", ready, claimed)
	}
}

// A look-ahead waiting for a node Node claimed gives up when the run ends.
func TestLookAheadStopsWaiting(t *testing.T) {
	nodes, entries := aheadChain(3)
	la := &lookAhead{nodes: nodes, done: make(chan struct{})}
	la.prepare()
	if _, claimed := la.take(nodes[0].Spec, nil); claimed == nil {
		t.Fatal("node 0 not claimed")
	}
	go la.resolve(entries)
	var wg sync.WaitGroup
	wg.Go(la.end)
	wg.Wait() // a hang here is the failure
	for i := 1; i < len(nodes); i++ {
		if st := la.slots[i].state.Load(); st == aheadHit {
			t.Errorf("node %d: a hit without its dependency", i)
		}
	}
}

// A run's look-ahead serves Node the same values, events and records as
// the lookups Node makes itself; a dependency with another version than
// the one looked ahead with is looked up by Node.
func TestRunLookAheadSameAsWithout(t *testing.T) {
	nodes, entries := aheadChain(5)
	run := func(lookAhead bool, override int) ([]string, []Event, []NodeRecord, map[string]Outcome) {
		meta := &aheadMeta{entries: entries}
		r := beginAheadRun(t, meta, nodes, WithClock(func() time.Time { return time.Unix(100, 0) }), WithBackgroundStores(0, 0))
		c := r.Cache()
		if lookAhead {
			r.LookAhead(t.Context(), nodes)
			<-r.ahead.Load().done
		}
		var vals []string
		var prev *Value
		served, wantServed := 0, len(nodes)
		if override >= 0 {
			wantServed = override // those before it
		}
		for i, a := range nodes {
			var deps []*Value
			if prev != nil {
				deps = []*Value{prev}
			}
			if i == override {
				deps = []*Value{r.Input(t.Context(), nodes[i-1].Spec.Name, 42)}
			}
			v, err := r.Node(t.Context(), a.Spec, "", deps, func(context.Context, []any) (any, error) { return i, nil })
			if err != nil {
				t.Fatal(err)
			}
			vals = append(vals, string(v.Version()))
			prev = v
			if lookAhead && v == &r.ahead.Load().slots[i].v.Value {
				served++
			}
		}
		if lookAhead && served != wantServed {
			t.Errorf("override of node %d: %d hits served by the look-ahead, want %d", override, served, wantServed)
		}
		if err := r.End(t.Context()); err != nil {
			t.Fatal(err)
		}
		evs := c.Events(-8, r.ID())
		for i := range evs {
			evs[i].RunID = ""
		}
		recs := meta.records
		for i := range recs {
			recs[i].Duration = 0
		}
		return vals, evs, recs, r.Outcomes()
	}
	for _, override := range []int{-1, 2} {
		v1, e1, r1, o1 := run(false, override)
		v2, e2, r2, o2 := run(true, override)
		if !reflect.DeepEqual(v1, v2) || !reflect.DeepEqual(e1, e2) || !reflect.DeepEqual(r1, r2) || !reflect.DeepEqual(o1, o2) {
			t.Errorf("override of node %d: with LookAhead\n%v\n%v\n%v\n%v\nwithout\n%v\n%v\n%v\n%v", override, v2, e2, r2, o2, v1, e1, r1, o1)
		}
		want := 0
		for _, o := range o1 {
			if o == OutcomeExecuted {
				want++
			}
		}
		if override < 0 && want != 0 || override >= 0 && want != len(nodes)-override {
			t.Errorf("override of node %d: %d nodes executed (%v)", override, want, o1)
		}
		if override < 0 && !strings.HasPrefix(v1[len(v1)-1], "dv") {
			t.Errorf("the chain's last version %s, want the stored one", v1[len(v1)-1])
		}
	}
}

// beginAheadRun begins a run on a Cache over meta, preloading the entries
// of the nodes listed (not the given values).
func beginAheadRun(t *testing.T, meta *aheadMeta, nodes []Ahead, opts ...Option) *Run {
	t.Helper()
	c, err := New(meta, aheadResults{}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range nodes {
		if a.Spec != nil {
			names = append(names, a.Spec.Name)
		}
	}
	r, err := c.BeginRun(t.Context(), names...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// aheadMeta is a metadata store for the look-ahead's tests: it preloads
// entries and keeps the records written.
type aheadMeta struct {
	mu      sync.Mutex
	entries EntryMap
	records []NodeRecord
}

func (m *aheadMeta) BeginRun(context.Context, RunInfo) error { return nil }
func (m *aheadMeta) Get(_ context.Context, id KeyID) (Entry, error) {
	if e, ok := m.entries[id]; ok {
		return e, nil
	}
	return Entry{}, ErrNotFound
}
func (m *aheadMeta) Write(_ context.Context, b Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records = append(m.records, b.Records...)
	return nil
}
func (m *aheadMeta) Delete(context.Context, KeyID) error              { return nil }
func (m *aheadMeta) DeleteAll(context.Context) error                  { return nil }
func (m *aheadMeta) Runs(context.Context) ([]RunInfo, error)          { return nil, nil }
func (m *aheadMeta) Run(context.Context, RunID) ([]NodeRecord, error) { return nil, nil }
func (m *aheadMeta) Close() error                                     { return nil }
func (m *aheadMeta) PreloadIndex(context.Context, []string) (PreloadIndex, error) {
	return m.entries, nil
}

// aheadResults stores nothing and finds nothing.
type aheadResults struct{}

func (aheadResults) Put(_ context.Context, _ ResultID, write func(io.Writer) error) (int64, error) {
	return 0, write(io.Discard)
}
func (aheadResults) Get(context.Context, ResultID) (io.ReadCloser, error) { return nil, ErrNotFound }
func (aheadResults) Exists(context.Context, ResultID) (bool, error)       { return false, nil }
func (aheadResults) Delete(context.Context, ResultID) error               { return nil }
func (aheadResults) DeleteAll(context.Context) error                      { return nil }
func (aheadResults) Close() error                                         { return nil }

// A node that depends on a value given to the run (Input, Override) is
// worked out once the value is given: before the look-ahead starts, or
// while it waits.
func TestLookAheadGiven(t *testing.T) {
	chain, _ := aheadChain(3)
	nodes := append([]Ahead{{Given: "x"}}, chain...)
	nodes[1].Deps = []int{0}
	for i := 2; i < len(nodes); i++ {
		nodes[i].Deps = []int{i - 1}
	}
	entries := EntryMap{}
	prev := DataVersion("vx")
	for i := 1; i < len(nodes); i++ {
		key := NewCacheKey(nodes[i].Spec.Name, nodes[i].Spec.CodeVersion, []Dep{{Name: nodes[i-1].name(), Version: prev}})
		prev = DataVersion("dv" + string(rune('0'+i)))
		entries[key.ID()] = Entry{Key: key, DataVersion: prev, Format: "f"}
	}
	for _, early := range []bool{true, false} {
		la := &lookAhead{nodes: nodes, done: make(chan struct{})}
		if early {
			la.give("x", "vx")
			la.give("y", "vy") // not listed: ignored
		}
		go la.resolve(entries)
		if !early {
			time.Sleep(5 * time.Millisecond) // the look-ahead waits for x
			for !la.indexed.Load() {
				time.Sleep(time.Millisecond)
			}
			if st := la.slots[1].state.Load(); st != aheadBusy {
				t.Errorf("before x is given: node 1 state %d, want busy (waiting)", st)
			}
			la.give("x", "vx")
		}
		<-la.done
		for i := range nodes {
			if st := la.slots[i].state.Load(); st != aheadHit {
				t.Errorf("given early %v: slot %d state %d, want a hit", early, i, st)
			}
		}
		if la.slots[len(nodes)-1].dv != prev {
			t.Errorf("given early %v: last version %s, want %s", early, la.slots[len(nodes)-1].dv, prev)
		}
	}
}

// A node asked for twice in a run gets its hit from the look-ahead both
// times, in a Value of its own the second time: the first one, handed out
// already, is not written to again.
func TestLookAheadNodeTwice(t *testing.T) {
	nodes, entries := aheadChain(2)
	r := beginAheadRun(t, &aheadMeta{entries: entries}, nodes)
	r.LookAhead(t.Context(), nodes)
	<-r.ahead.Load().done
	exec := func(context.Context, []any) (any, error) { t.Error("executed"); return 0, nil }
	v1, err1 := r.Node(t.Context(), nodes[0].Spec, "", nil, exec)
	v2, err2 := r.Node(t.Context(), nodes[0].Spec, "", nil, exec)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if v1 != &r.ahead.Load().slots[0].v.Value || v2 == v1 || v1.Version() != "dv0" || v2.Version() != "dv0" {
		t.Errorf("values %p (%s), %p (%s); want the slot's, then another, both dv0", v1, v1.Version(), v2, v2.Version())
	}
	r.End(t.Context())
}

// A run's look-ahead stops when the context given to LookAhead is done,
// even while it waits for an input it is never given.
func TestLookAheadStopsWithContext(t *testing.T) {
	chain, entries := aheadChain(2)
	nodes := append([]Ahead{{Given: "x"}}, chain...)
	nodes[1].Deps = []int{0}
	r := beginAheadRun(t, &aheadMeta{entries: entries}, nodes)
	ctx, cancel := context.WithCancel(t.Context())
	r.LookAhead(ctx, nodes)
	la := r.ahead.Load()
	select {
	case <-la.done:
		t.Fatal("the look-ahead returned without its input")
	case <-time.After(10 * time.Millisecond):
	}
	cancel()
	select {
	case <-la.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the look-ahead did not stop with its context")
	}
	r.End(t.Context())
}
