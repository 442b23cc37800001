package core

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The waits of a run that finds a node's lease held: it polls the node's
// entry from leasePollMin, doubling up to leasePollMax.
const (
	leasePollMin = 20 * time.Millisecond
	leasePollMax = time.Second
)

// singleFlight executes a missing node under its lease (WithLeases), or
// waits for the run that holds it and retrieves what that run stored. done
// is false when the node is not leased (leases off, NoLease, a store
// without leases, a run that stores nothing, or a lease the store failed
// to give: a fault): the caller executes it as usual.
func (r *Run) singleFlight(ctx context.Context, spec *NodeSpec, task string, key CacheKey, id KeyID, deps []*Value, exec ExecFunc) (v *Value, done bool, err error) {
	ttl := r.c.leaseTTL
	if ttl <= 0 || spec.NoLease || r.noWrite {
		return nil, false, nil
	}
	l, ok := As[Leaser](r.c.meta)
	if !ok {
		return nil, false, nil
	}
	owner := NewLeaseOwner(r.id)
	wait := leasePollMin
	var waitedFor LeaseOwner
	var waitStart time.Time // when the run first found the lease held
	for {
		lease, held, err := l.AcquireLease(ctx, id, owner, ttl)
		if err != nil {
			if ctx.Err() != nil {
				return nil, true, ctx.Err()
			}
			r.fault(ctx, faultMeta, ActorMetadataStore, spec.Name, fmt.Errorf("flowcache: taking the lease of node %q: %w", spec.Name, err))
			return nil, false, nil
		}
		if held == nil {
			if !waitStart.IsZero() {
				r.noteWait(spec.Name, task, LeaseWait{For: waitedFor, Duration: r.c.now().Sub(waitStart)})
			}
			return r.executeLeased(ctx, l, lease, spec, task, key, id, deps, exec)
		}
		if waitStart.IsZero() {
			waitStart = r.c.now()
		}
		if held.Owner != waitedFor {
			waitedFor = held.Owner
			r.emit(ctx, spec.Name, task, ActorMetadataStore, EventLeaseWait, "",
				fmt.Sprintf("%s, until %s", held.Owner, held.Expires.UTC().Format(time.RFC3339Nano)))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, true, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, leasePollMax)
		// Noted before the look-up: the node's record, written when it is
		// retrieved, carries it.
		r.noteWait(spec.Name, task, LeaseWait{For: waitedFor, Duration: r.c.now().Sub(waitStart)})
		if v, ok := r.storedMeanwhile(ctx, spec, task, key, id, deps, exec); ok {
			return v, true, nil
		}
	}
}

// storedMeanwhile retrieves the node when its entry is stored now (by the
// run whose lease it waited for).
func (r *Run) storedMeanwhile(ctx context.Context, spec *NodeSpec, task string, key CacheKey, id KeyID, deps []*Value, exec ExecFunc) (*Value, bool) {
	e, err := r.c.meta.Get(ctx, id)
	if err != nil || e.Format != spec.Format.Name() || !e.DataVersion.Storable() {
		return nil, false
	}
	e.Key = key
	return r.retrieved(ctx, spec, task, Default, key, id, e, deps, exec, nil), true
}

// executeLeased executes the node under lease, renewing it every third of
// its time to live, and releases it once the result and entry are stored
// (the entry written at once, for the waiters to find) or the node failed.
func (r *Run) executeLeased(ctx context.Context, l Leaser, lease Lease, spec *NodeSpec, task string, key CacheKey, id KeyID, deps []*Value, exec ExecFunc) (*Value, bool, error) {
	if lease.TakenOver != nil {
		r.emit(ctx, spec.Name, task, ActorMetadataStore, EventLeaseTakeover, "",
			fmt.Sprintf("%s, expired %s", lease.TakenOver.Owner, lease.TakenOver.Expires.UTC().Format(time.RFC3339Nano)))
	}
	// The holder may have stored the node and released its lease between
	// this run's lookup and its lease.
	if v, ok := r.storedMeanwhile(ctx, spec, task, key, id, deps, exec); ok {
		r.releaseLease(ctx, l, lease, spec)
		return v, true, nil
	}
	hb := r.heartbeat(ctx, l, lease, spec)
	val, ver, err := r.executeAndStoreMode(ctx, spec, task, Default, deps, exec, true, keyRef{key, id})
	if err == nil {
		r.Flush(ctx) // its fault, if any, is reported; the lease is released anyway
	}
	lease = hb()
	r.releaseLease(ctx, l, lease, spec)
	if err != nil {
		return nil, true, err
	}
	return loadedValue(spec.Name, task, ver, val), true, nil
}

// heartbeat renews lease every third of the Cache's lease time to live
// until the returned function is called, which returns the lease as last
// renewed.
func (r *Run) heartbeat(ctx context.Context, l Leaser, lease Lease, spec *NodeSpec) func() Lease {
	ttl := r.c.leaseTTL
	stop := make(chan struct{})
	done := make(chan Lease, 1)
	go func() {
		cur := lease
		defer func() { done <- cur }()
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			renewed, err := l.RenewLease(context.WithoutCancel(ctx), cur, ttl)
			if err != nil {
				if errors.Is(err, ErrLeaseLost) {
					r.fault(ctx, faultMeta, ActorMetadataStore, spec.Name, fmt.Errorf("flowcache: the lease of node %q was taken over while it ran (it ran longer than the lease's %v without a renewal reaching the store): another run may execute it too: %w", spec.Name, ttl, err))
					return
				}
				r.fault(ctx, faultMeta, ActorMetadataStore, spec.Name, fmt.Errorf("flowcache: renewing the lease of node %q: %w", spec.Name, err))
				continue
			}
			cur = renewed
		}
	}()
	return func() Lease {
		close(stop)
		return <-done
	}
}

// releaseLease releases lease; a failure is a fault (the lease then ends
// at its expiry, and holds the others until then).
func (r *Run) releaseLease(ctx context.Context, l Leaser, lease Lease, spec *NodeSpec) {
	if err := l.ReleaseLease(context.WithoutCancel(ctx), lease); err != nil && !errors.Is(err, ErrLeaseLost) {
		r.fault(ctx, faultMeta, ActorMetadataStore, spec.Name, fmt.Errorf("flowcache: releasing the lease of node %q: %w", spec.Name, err))
	}
}

// noteWait keeps the lease wait of a node (the latest noted) for its
// record (NodeRecord.Wait), which takeWait fills in.
func (r *Run) noteWait(node, task string, w LeaseWait) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.waits == nil {
		r.waits = map[string]LeaseWait{}
	}
	r.waits[RecordName(node, task)] = w
}

// takeWait moves the wait noted for rec's node into rec. r.mu is held.
func (r *Run) takeWait(rec *NodeRecord) {
	if len(r.waits) == 0 {
		return
	}
	name := RecordName(rec.Node, rec.Task)
	if w, ok := r.waits[name]; ok {
		rec.Wait = w
		delete(r.waits, name)
	}
}
