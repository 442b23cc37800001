package conformance

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
)

// leaseTTL is the time to live of the leases the suite lets expire: short,
// so that the suite waits little, and long enough for a store's request
// or two on a loaded machine.
const leaseTTL = 500 * time.Millisecond

// TestLeaser runs the lease contract (core.Leaser) against the stores open
// returns; TestMetadataStore runs it as its Leases subtest. It is skipped
// for a store that is not a core.Leaser (found with core.As). Each case
// uses keys of its own, so leases a store keeps across DeleteAll do not
// matter. The cases that let a lease expire wait its time to live plus
// core.LeaseClockMargin: a few seconds.
//
// The suite calls one store from many goroutines; a backend shared by
// processes or machines proves its leases exclusive across them in tests
// of its own (two handles on one database, two stores on one bucket).
func TestLeaser(t *testing.T, open func(t *testing.T) core.MetadataStore) {
	ctx := context.Background()
	leaser := func(t *testing.T) core.Leaser {
		t.Helper()
		s := open(t)
		t.Cleanup(func() { _ = s.Close() })
		l, ok := core.As[core.Leaser](s)
		if !ok {
			t.Skipf("%T is not a core.Leaser", s)
		}
		return l
	}
	// Keys are unique to this run of the suite.
	nonce := rand.Text()
	key := func(t *testing.T, name string) core.KeyID {
		return testKey(t.Name() + "/" + name + "/" + nonce).ID()
	}
	owner := func(name string) core.LeaseOwner {
		return core.LeaseOwner{Run: core.RunID("run-" + name), Host: "host-" + name, PID: len(name) + 100}
	}
	a, b, c := owner("a"), owner("b"), owner("c")

	t.Run("Exclusive", func(t *testing.T) {
		s := leaser(t)
		k := key(t, "k")
		before := time.Now()
		la := mustAcquire(t, s, k, a, time.Minute)
		after := time.Now()
		if la.Key != k || la.Owner != a || la.Token == "" || la.TakenOver != nil {
			t.Errorf("AcquireLease = %+v, want the key, owner %v, a token and nothing taken over", la, a)
		}
		if la.Expires.Before(before.Add(time.Minute-core.LeaseClockMargin)) || la.Expires.After(after.Add(time.Minute+core.LeaseClockMargin)) {
			t.Errorf("lease acquired between %v and %v for 1m expires at %v", before, after, la.Expires)
		}
		if la.Acquired.After(la.Expires) {
			t.Errorf("lease acquired at %v after it expires (%v)", la.Acquired, la.Expires)
		}
		held := mustBeHeld(t, s, k, b, a)
		if !held.Expires.Equal(la.Expires) || held.Key != k {
			t.Errorf("held = %+v, want key %s expiring at %v", held, k.Short(), la.Expires)
		}
		// Not reentrant: the same owner again is held too.
		mustBeHeld(t, s, k, a, a)
		// Another key is another lease.
		mustAcquire(t, s, key(t, "other"), b, time.Minute)
	})

	t.Run("ExpiryTakeover", func(t *testing.T) {
		s := leaser(t)
		k, k2, k3 := key(t, "k"), key(t, "k2"), key(t, "k3")
		la := mustAcquire(t, s, k, a, leaseTTL)
		la2 := mustAcquire(t, s, k2, a, leaseTTL)
		la3 := mustAcquire(t, s, k3, a, leaseTTL)
		lb := waitTakeover(t, s, k, b, la)
		if lb.Owner != b || lb.Token == la.Token {
			t.Errorf("takeover = %+v, want owner %v and a new token", lb, b)
		}
		if lb.TakenOver == nil || lb.TakenOver.Owner != a || !lb.TakenOver.Expires.Equal(la.Expires) {
			t.Errorf("takeover says it took over %+v, want the lease of %v expiring at %v", lb.TakenOver, a, la.Expires)
		}
		// The old holder lost it: no renewal, no release.
		if _, err := s.RenewLease(ctx, la, time.Minute); !errors.Is(err, core.ErrLeaseLost) {
			t.Errorf("RenewLease of a lease taken over = %v, want ErrLeaseLost", err)
		}
		if err := s.ReleaseLease(ctx, la); !errors.Is(err, core.ErrLeaseLost) {
			t.Errorf("ReleaseLease of a lease taken over = %v, want ErrLeaseLost", err)
		}
		mustBeHeld(t, s, k, c, b)
		// k2 expired too, but nobody took it: its holder renews it.
		r2, err := s.RenewLease(ctx, la2, time.Minute)
		if err != nil {
			t.Fatalf("RenewLease of an expired lease nobody took: %v", err)
		}
		if r2.Token != la2.Token || r2.Owner != a || !r2.Expires.After(la2.Expires) {
			t.Errorf("renewed = %+v, want the same holding expiring after %v", r2, la2.Expires)
		}
		mustBeHeld(t, s, k2, b, a)
		// k3 expired too (acquired last, it may expire a moment after k):
		// of the owners taking it over at once, one does.
		time.Sleep(time.Until(la3.Expires.Add(core.LeaseClockMargin + 100*time.Millisecond)))
		winner := acquireAtOnce(t, s, k3, 8)
		if winner.TakenOver == nil || winner.TakenOver.Owner != a || !winner.TakenOver.Expires.Equal(la3.Expires) {
			t.Errorf("the winner of the takeover says it took over %+v, want the lease of %v expiring at %v", winner.TakenOver, a, la3.Expires)
		}
	})

	t.Run("RenewExtends", func(t *testing.T) {
		s := leaser(t)
		k := key(t, "k")
		la := mustAcquire(t, s, k, a, leaseTTL)
		renewed, err := s.RenewLease(ctx, la, time.Minute)
		if err != nil {
			t.Fatalf("RenewLease: %v", err)
		}
		if renewed.Token != la.Token || renewed.Owner != a || renewed.Key != k {
			t.Errorf("renewed = %+v, want the same holding", renewed)
		}
		if !renewed.Expires.After(la.Expires.Add(30 * time.Second)) {
			t.Errorf("renewed for 1m expires at %v, the lease acquired for %v at %v", renewed.Expires, leaseTTL, la.Expires)
		}
		// Past the first expiry, it is still held, until the new one.
		time.Sleep(time.Until(la.Expires.Add(core.LeaseClockMargin + 100*time.Millisecond)))
		held := mustBeHeld(t, s, k, b, a)
		if !held.Expires.Equal(renewed.Expires) {
			t.Errorf("held until %v, want the renewed expiry %v", held.Expires, renewed.Expires)
		}
		// The renewed lease renews and releases.
		if _, err := s.RenewLease(ctx, renewed, time.Minute); err != nil {
			t.Errorf("RenewLease of the renewed lease: %v", err)
		}
		if err := s.ReleaseLease(ctx, renewed); err != nil {
			t.Errorf("ReleaseLease of the renewed lease: %v", err)
		}
	})

	t.Run("ReleaseNext", func(t *testing.T) {
		s := leaser(t)
		k := key(t, "k")
		la := mustAcquire(t, s, k, a, time.Minute)
		if err := s.ReleaseLease(ctx, la); err != nil {
			t.Fatalf("ReleaseLease: %v", err)
		}
		lb := mustAcquire(t, s, k, b, time.Minute)
		if lb.TakenOver != nil {
			t.Errorf("a released lease was taken over from %+v: a release leaves the key free", lb.TakenOver)
		}
		// A release of the released lease is refused now that b holds it.
		if err := s.ReleaseLease(ctx, la); !errors.Is(err, core.ErrLeaseLost) {
			t.Errorf("second ReleaseLease, the key held by another = %v, want ErrLeaseLost", err)
		}
		if _, err := s.RenewLease(ctx, la, time.Minute); !errors.Is(err, core.ErrLeaseLost) {
			t.Errorf("RenewLease of a released lease = %v, want ErrLeaseLost", err)
		}
		mustBeHeld(t, s, k, c, b)
		if err := s.ReleaseLease(ctx, lb); err != nil {
			t.Fatalf("ReleaseLease: %v", err)
		}
		// Released twice, nobody holding it: no error.
		if err := s.ReleaseLease(ctx, lb); err != nil {
			t.Errorf("ReleaseLease of a lease no longer stored = %v, want nil", err)
		}
		if _, err := s.RenewLease(ctx, lb, time.Minute); !errors.Is(err, core.ErrLeaseLost) {
			t.Errorf("RenewLease of a lease no longer stored = %v, want ErrLeaseLost", err)
		}
		mustAcquire(t, s, k, c, time.Minute)
	})

	t.Run("NotTheOwner", func(t *testing.T) {
		s := leaser(t)
		k := key(t, "k")
		la := mustAcquire(t, s, k, a, time.Minute)
		forged := la
		forged.Owner, forged.Token = b, "not-the-token"
		if err := s.ReleaseLease(ctx, forged); !errors.Is(err, core.ErrLeaseLost) {
			t.Errorf("ReleaseLease by another owner = %v, want ErrLeaseLost", err)
		}
		if _, err := s.RenewLease(ctx, forged, time.Minute); !errors.Is(err, core.ErrLeaseLost) {
			t.Errorf("RenewLease by another owner = %v, want ErrLeaseLost", err)
		}
		// The same owner with another holding's token is refused too.
		forged.Owner = a
		if err := s.ReleaseLease(ctx, forged); !errors.Is(err, core.ErrLeaseLost) {
			t.Errorf("ReleaseLease with another token = %v, want ErrLeaseLost", err)
		}
		held := mustBeHeld(t, s, k, c, a)
		if !held.Expires.Equal(la.Expires) {
			t.Errorf("held until %v after refused calls, want %v", held.Expires, la.Expires)
		}
	})

	t.Run("ConcurrentAcquire", func(t *testing.T) {
		s := leaser(t)
		for r := range 4 {
			if l := acquireAtOnce(t, s, key(t, fmt.Sprint(r)), 8); l.TakenOver != nil {
				t.Errorf("round %d: a free lease was taken over from %+v", r, l.TakenOver)
			}
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		s := leaser(t)
		k := key(t, "k")
		for _, tc := range []struct {
			name  string
			key   core.KeyID
			owner core.LeaseOwner
			ttl   time.Duration
		}{
			{"bad key", "not-a-key", a, time.Minute},
			{"no run id", k, core.LeaseOwner{Host: "h"}, time.Minute},
			{"zero ttl", k, a, 0},
			{"negative ttl", k, a, -time.Second},
		} {
			if _, _, err := s.AcquireLease(ctx, tc.key, tc.owner, tc.ttl); !errors.Is(err, core.ErrInvalid) {
				t.Errorf("AcquireLease with %s = %v, want ErrInvalid", tc.name, err)
			}
		}
		la := mustAcquire(t, s, k, a, time.Minute)
		if _, err := s.RenewLease(ctx, la, 0); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("RenewLease with a zero ttl = %v, want ErrInvalid", err)
		}
	})
}

// acquireAtOnce has n owners acquire k at the same moment, checks that
// exactly one gets the lease and that the others see it held by the
// winner, and returns the winner's lease.
func acquireAtOnce(t *testing.T, s core.Leaser, k core.KeyID, n int) core.Lease {
	t.Helper()
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		leases = make([]core.Lease, n)
		helds  = make([]*core.LeaseInfo, n)
		errs   = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			o := core.LeaseOwner{Run: core.RunID(fmt.Sprint("run-racer-", i)), Host: "racer", PID: i}
			leases[i], helds[i], errs[i] = s.AcquireLease(context.Background(), k, o, time.Minute)
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i := range n {
		switch {
		case errs[i] != nil:
			t.Errorf("key %s: AcquireLease of owner %d: %v", k.Short(), i, errs[i])
		case helds[i] == nil && winner >= 0:
			t.Errorf("key %s: owners %d and %d both acquired the lease", k.Short(), winner, i)
		case helds[i] == nil:
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("key %s: none of %d owners acquired a lease that was free or expired", k.Short(), n)
	}
	for i, h := range helds {
		if h != nil && h.Owner != leases[winner].Owner {
			t.Errorf("key %s: owner %d sees the lease held by %v, the winner is %v", k.Short(), i, h.Owner, leases[winner].Owner)
		}
	}
	return leases[winner]
}

func mustAcquire(t *testing.T, s core.Leaser, k core.KeyID, o core.LeaseOwner, ttl time.Duration) core.Lease {
	t.Helper()
	l, held, err := s.AcquireLease(context.Background(), k, o, ttl)
	if err != nil {
		t.Fatalf("AcquireLease(%s) by %v: %v", k.Short(), o, err)
	}
	if held != nil {
		t.Fatalf("AcquireLease(%s) by %v: held by %v until %v, want it free", k.Short(), o, held.Owner, held.Expires)
	}
	return l
}

// mustBeHeld checks that o's AcquireLease of k finds it held by holder,
// and returns what it says.
func mustBeHeld(t *testing.T, s core.Leaser, k core.KeyID, o, holder core.LeaseOwner) core.LeaseInfo {
	t.Helper()
	l, held, err := s.AcquireLease(context.Background(), k, o, time.Minute)
	if err != nil {
		t.Fatalf("AcquireLease(%s) by %v: %v", k.Short(), o, err)
	}
	if held == nil {
		t.Fatalf("AcquireLease(%s) by %v got the lease (%+v), want it held by %v", k.Short(), o, l, holder)
	}
	if held.Owner != holder {
		t.Errorf("AcquireLease(%s) by %v: held by %v, want %v", k.Short(), o, held.Owner, holder)
	}
	return *held
}

// waitTakeover polls o's AcquireLease of k, which old holds, until it gets
// the lease (at the latest its expiry plus core.LeaseClockMargin, with room
// for slow requests) and fails t if it got it before old expired.
func waitTakeover(t *testing.T, s core.Leaser, k core.KeyID, o core.LeaseOwner, old core.Lease) core.Lease {
	t.Helper()
	deadline := old.Expires.Add(core.LeaseClockMargin + 10*time.Second)
	for {
		l, held, err := s.AcquireLease(context.Background(), k, o, time.Minute)
		done := time.Now()
		if err != nil {
			t.Fatalf("AcquireLease(%s) by %v: %v", k.Short(), o, err)
		}
		if held == nil {
			if done.Before(old.Expires) {
				t.Errorf("lease taken over at %v, before it expired (%v)", done, old.Expires)
			}
			return l
		}
		if held.Owner != old.Owner {
			t.Fatalf("AcquireLease(%s) by %v: held by %v, want %v", k.Short(), o, held.Owner, old.Owner)
		}
		if done.After(deadline) {
			t.Fatalf("lease that expired at %v still held at %v", old.Expires, done)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSharedLeases checks that leases are exclusive across stores that
// share one storage, as processes on several machines do: open must return
// another handle (a client, a connection pool of its own) on the same,
// shared store at every call. Handles acquiring one free key at the same
// instant, and handles taking over one expired lease at the same instant,
// leave exactly one of them holding it. It waits for leases to expire
// once: a few seconds.
func TestSharedLeases(t *testing.T, open func(t *testing.T) core.MetadataStore) {
	const (
		handles = 6
		free    = 8 // keys acquired free
		expired = 3 // keys taken over
	)
	ctx := context.Background()
	ls := make([]core.Leaser, handles)
	for i := range ls {
		s := open(t)
		t.Cleanup(func() { _ = s.Close() })
		l, ok := core.As[core.Leaser](s)
		if !ok {
			t.Skipf("%T is not a core.Leaser", s)
		}
		ls[i] = l
	}
	nonce := rand.Text()
	key := func(i int) core.KeyID { return testKey(fmt.Sprint("shared-lease-", i, "-", nonce)).ID() }
	owner := func(i int) core.LeaseOwner {
		return core.LeaseOwner{Run: core.RunID(fmt.Sprint("run-", i)), Host: fmt.Sprint("machine-", i), PID: i}
	}
	// race has handles from..handles-1 acquire k at once and returns the
	// leases they got.
	race := func(k core.KeyID, from int) []core.Lease {
		var (
			mu  sync.Mutex
			won []core.Lease
			wg  sync.WaitGroup
		)
		start := make(chan struct{})
		for i := from; i < handles; i++ {
			wg.Go(func() {
				<-start
				l, held, err := ls[i].AcquireLease(ctx, k, owner(i), time.Minute)
				if err != nil {
					t.Errorf("handle %d: AcquireLease(%s): %v", i, k.Short(), err)
					return
				}
				if held == nil {
					mu.Lock()
					won = append(won, l)
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		return won
	}
	for k := range free {
		if won := race(key(k), 0); len(won) != 1 {
			t.Errorf("free key %d: %d of %d handles acquired it at once, want exactly 1", k, len(won), handles)
		}
	}
	var held []core.Lease
	for k := free; k < free+expired; k++ {
		held = append(held, mustAcquire(t, ls[0], key(k), owner(0), leaseTTL))
	}
	time.Sleep(time.Until(held[len(held)-1].Expires.Add(core.LeaseClockMargin + 100*time.Millisecond)))
	for i, old := range held {
		won := race(old.Key, 1)
		if len(won) != 1 {
			t.Errorf("expired key %d: %d of %d handles took it over at once, want exactly 1", free+i, len(won), handles-1)
			continue
		}
		if won[0].TakenOver == nil || won[0].TakenOver.Owner != owner(0) {
			t.Errorf("expired key %d: the winner took over %+v, want the lease of handle 0", free+i, won[0].TakenOver)
		}
		if err := ls[0].ReleaseLease(ctx, old); !errors.Is(err, core.ErrLeaseLost) {
			t.Errorf("expired key %d: ReleaseLease by the handle it was taken from = %v, want ErrLeaseLost", free+i, err)
		}
	}
}
