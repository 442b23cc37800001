package buckettest

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/flowcache/flowcache/backends/blobmeta"
	"github.com/flowcache/flowcache/core"
)

// SharedLeases checks that leases are exclusive across metadata stores
// sharing a bucket, each with a bucket handle (an HTTP client) of its own,
// as processes on several machines have: stores acquiring one free key at
// the same instant (the service's conditional create decides), and stores
// taking over one expired lease at the same instant (its conditional
// rewrite decides), leave exactly one of them holding it. baseURL is
// scheme://bucket?params of a bucket whose backend is imported.
func SharedLeases(t *testing.T, baseURL string) {
	const (
		stores  = 8
		free    = 10 // keys acquired free
		expired = 3  // keys taken over
	)
	ctx := context.Background()
	base, err := url.Parse(baseURL)
	if err != nil {
		t.Fatal(err)
	}
	bu := url.URL{Scheme: base.Scheme, Host: base.Host, RawQuery: base.RawQuery}
	prefix := fmt.Sprintf("leases-%d/", time.Now().UnixNano())
	ms := make([]*blobmeta.MetadataStore, stores)
	for i := range ms {
		b, err := blob.OpenBucket(ctx, bu.String())
		if err != nil {
			t.Fatal(err)
		}
		ms[i] = blobmeta.New(b, prefix, blobmeta.WithOwnedBucket())
		defer ms[i].Close()
	}
	key := func(i int) core.KeyID { return core.NewCacheKey(fmt.Sprint("leased-", i), "code", nil).ID() }
	owner := func(i int) core.LeaseOwner {
		return core.LeaseOwner{Run: core.RunID(fmt.Sprint("run-", i)), Host: fmt.Sprint("machine-", i), PID: i}
	}
	// race has stores from..stores-1 acquire k at once and returns how many
	// got it and the leases they got.
	race := func(k core.KeyID, from int) []core.Lease {
		var (
			mu  sync.Mutex
			won []core.Lease
			wg  sync.WaitGroup
		)
		start := make(chan struct{})
		for i := from; i < stores; i++ {
			wg.Go(func() {
				<-start
				l, held, err := ms[i].AcquireLease(ctx, k, owner(i), time.Minute)
				if err != nil {
					t.Errorf("store %d: AcquireLease(%s): %v", i, k.Short(), err)
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
			t.Errorf("free key %d: %d of %d stores acquired it at once, want exactly 1", k, len(won), stores)
		}
	}
	var held []core.Lease
	for k := free; k < free+expired; k++ {
		l, h, err := ms[0].AcquireLease(ctx, key(k), owner(0), 300*time.Millisecond)
		if err != nil || h != nil {
			t.Fatalf("AcquireLease(%d) = held %+v, %v", k, h, err)
		}
		held = append(held, l)
	}
	time.Sleep(time.Until(held[len(held)-1].Expires.Add(core.LeaseClockMargin + 100*time.Millisecond)))
	for i, old := range held {
		won := race(old.Key, 1)
		if len(won) != 1 {
			t.Errorf("expired key %d: %d of %d stores took it over at once, want exactly 1", free+i, len(won), stores-1)
			continue
		}
		if won[0].TakenOver == nil || won[0].TakenOver.Owner != owner(0) {
			t.Errorf("expired key %d: the winner took over %+v, want the lease of store 0", free+i, won[0].TakenOver)
		}
	}
}
