package core_test

import (
	"context"
	"fmt"
	"time"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
)

// An executor takes the lease of a node's key before executing it: the
// first owner gets it, the second finds it held and waits; once the first
// has stored the result and released the lease, the second reads the
// entry (a hit) or, had the first failed, takes the lease itself.
func ExampleLeaser() {
	ctx := context.Background()
	store := core.CheckMetadata(mem.NewMetadataStore())
	leaser, ok := core.As[core.Leaser](store) // found through the wrapper
	if !ok {
		fmt.Println("no leases: every process executes the node")
		return
	}
	key := core.NewCacheKey("train", "code-v1", nil).ID()
	first := core.LeaseOwner{Run: "run-1", Host: "worker-a", PID: 100}
	second := core.LeaseOwner{Run: "run-2", Host: "worker-b", PID: 200}

	lease, held, err := leaser.AcquireLease(ctx, key, first, time.Minute)
	fmt.Println("first:", held == nil, err)

	_, held, err = leaser.AcquireLease(ctx, key, second, time.Minute)
	fmt.Println("second waits for:", held.Owner, err)

	// The first renews while the node runs, stores the result and the
	// entry, then releases.
	lease, err = leaser.RenewLease(ctx, lease, time.Minute)
	fmt.Println("renewed:", err)
	fmt.Println("released:", leaser.ReleaseLease(ctx, lease))

	_, held, err = leaser.AcquireLease(ctx, key, second, time.Minute)
	fmt.Println("second:", held == nil, err)
	// Output:
	// first: true <nil>
	// second waits for: run run-1 on worker-a pid 100 <nil>
	// renewed: <nil>
	// released: <nil>
	// second: true <nil>
}

// A store URL (or FLOWCACHE_URL) with lease_ttl asks whoever executes on
// the cache to take leases for that long: OpenURL takes the parameter out
// before the backend sees the URL and gives it as Stores.LeaseTTL, for
// WithLeases (the driver passes it on unless its build sets CacheLeases).
func ExampleLeaseTTLParam() {
	ctx := context.Background()
	st, err := core.OpenURL(ctx, "mem://leases-example?lease_ttl=30s")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	c, err := core.New(st.Metadata, st.Results, core.WithLeases(st.LeaseTTL))
	fmt.Println(st.LeaseTTL, c != nil, err)

	_, err = core.OpenURL(ctx, "mem://leases-example?lease_ttl=soon")
	fmt.Println(err)
	// Output:
	// 30s true <nil>
	// flowcache: invalid argument: URL parameter lease_ttl="soon" in store URL mem://leases-example?lease_ttl=soon: want a duration that is not negative, like 30s
}
