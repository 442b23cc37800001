package core_test

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats"
)

// slowNode is a node whose execution takes d and counts itself.
func slowNode(d time.Duration, calls *atomic.Int64, fail *atomic.Bool) core.ExecFunc {
	return func(_ context.Context, args []any) (any, error) {
		calls.Add(1)
		time.Sleep(d)
		if fail != nil && fail.Swap(false) {
			return nil, errors.New("boom")
		}
		return args[0].(int) * 10, nil
	}
}

// runOnce runs node n on input x in a run of c and returns its value, the
// run's events and whether it executed.
func runOnce(t *testing.T, c *core.Cache, exec core.ExecFunc) (any, []core.Event, error) {
	t.Helper()
	ctx := context.Background()
	run, err := c.BeginRun(ctx, "n")
	if err != nil {
		t.Fatal(err)
	}
	spec := &core.NodeSpec{Name: "n", CodeVersion: "v1", Format: formats.Gob(), Type: reflect.TypeFor[int]()}
	v, err := run.Node(ctx, spec, "", []*core.Value{run.Input(ctx, "x", 4)}, exec)
	var got any
	if err == nil {
		got, err = run.Final(ctx, v)
	}
	if eerr := run.End(ctx); eerr != nil {
		t.Fatal(eerr)
	}
	return got, c.Events(slog.LevelDebug, run.ID()), err
}

func eventsOf(evs []core.Event, typ core.EventType) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// Eight caches over one store (eight processes) reach a missing node at
// once: it executes once, the other seven wait for it and retrieve it.
func TestSingleFlight(t *testing.T) {
	st := mem.Open()
	var calls atomic.Int64
	exec := slowNode(150*time.Millisecond, &calls, nil)
	var wg sync.WaitGroup
	var waited atomic.Int64
	for range 8 {
		c, err := core.New(st.Metadata(), st.Results(), core.WithLeases(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			got, evs, err := runOnce(t, c, exec)
			if err != nil || got != 40 {
				t.Errorf("value %v, %v; want 40", got, err)
			}
			waited.Add(int64(min(eventsOf(evs, core.EventLeaseWait), 1)))
		})
	}
	wg.Wait()
	// The runs that retrieved the node after a wait say for whom: the run
	// that executed it.
	ctx := context.Background()
	runs, err := st.Metadata().Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var executor core.RunID
	waits := map[core.RunID]core.LeaseWait{}
	for _, run := range runs {
		recs, err := st.Metadata().Run(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			switch {
			case r.Node == "n" && r.Outcome == core.OutcomeExecuted:
				executor = run.ID
			case r.Node == "n" && r.Wait.Waited():
				waits[run.ID] = r.Wait
			}
		}
	}
	if len(waits) < int(waited.Load()) {
		t.Errorf("%d runs waited, %d records say so", waited.Load(), len(waits))
	}
	for run, w := range waits {
		if w.For != core.NewLeaseOwner(executor) || w.Duration <= 0 {
			t.Errorf("run %s: %v, want a wait for %s", run, w, executor)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("the node executed %d times across 8 runs, want once", calls.Load())
	}
	if waited.Load() < 1 {
		t.Errorf("%d runs said they waited for the lease, want at least one", waited.Load())
	}
}

// A holder that never releases (killed) keeps the node for its lease's
// time to live; then a waiter takes the lease over and executes it.
func TestSingleFlightTakeover(t *testing.T) {
	st := mem.Open()
	c, err := core.New(st.Metadata(), st.Results(), core.WithLeases(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// The key of n on x=4: a run that is not leased computes it.
	probe, _ := core.New(mem.Open().Metadata(), mem.Open().Results())
	_, pevs, _ := runOnce(t, probe, slowNode(0, new(atomic.Int64), nil))
	var key core.KeyID
	for _, e := range pevs {
		if e.Type == core.EventGetCacheKey {
			key = core.KeyID(e.Value)
		}
	}
	l, ok := core.As[core.Leaser](st.Metadata())
	if !ok {
		t.Fatal("mem keeps no leases")
	}
	dead := core.LeaseOwner{Run: core.NewRunID(), Host: "lost-machine", PID: 1}
	if _, held, err := l.AcquireLease(context.Background(), key, dead, 300*time.Millisecond); err != nil || held != nil {
		t.Fatalf("the dead holder's lease: %v %v", held, err)
	}
	var calls atomic.Int64
	start := time.Now()
	got, evs, err := runOnce(t, c, slowNode(0, &calls, nil))
	if err != nil || got != 40 || calls.Load() != 1 {
		t.Fatalf("value %v, %v, %d executions; want 40, once", got, err, calls.Load())
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("the run took the lease after %v, before it expired", d)
	}
	if eventsOf(evs, core.EventLeaseWait) != 1 || eventsOf(evs, core.EventLeaseTakeover) != 1 {
		t.Errorf("events: %d lease_wait, %d lease_takeover; want 1 and 1", eventsOf(evs, core.EventLeaseWait), eventsOf(evs, core.EventLeaseTakeover))
	}
	// The node's record says whom the run waited for, and how long.
	ctx := context.Background()
	id, err := c.LastRunID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := st.Metadata().Run(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		switch {
		case r.Node == "n" && (r.Wait.For != dead || r.Wait.Duration < 250*time.Millisecond || r.Outcome != core.OutcomeExecuted):
			t.Errorf("record of n: %+v, want executed after a wait of 250 ms or more for %v", r, dead)
		case r.Node != "n" && r.Wait.Waited():
			t.Errorf("record of %s has a wait: %+v", r.Node, r)
		}
	}
}

// A holder whose node fails releases the lease without an entry: one
// waiter executes the node instead.
func TestSingleFlightHolderFails(t *testing.T) {
	st := mem.Open()
	var calls atomic.Int64
	var fail atomic.Bool
	fail.Store(true)
	exec := slowNode(100*time.Millisecond, &calls, &fail)
	var wg sync.WaitGroup
	var failed, ok atomic.Int64
	for range 4 {
		c, err := core.New(st.Metadata(), st.Results(), core.WithLeases(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			got, _, err := runOnce(t, c, exec)
			switch {
			case err != nil:
				failed.Add(1)
			case got == 40:
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if calls.Load() != 2 || failed.Load() != 1 || ok.Load() != 3 {
		t.Errorf("%d executions, %d runs failed, %d right; want 2, 1, 3", calls.Load(), failed.Load(), ok.Load())
	}
}
