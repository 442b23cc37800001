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
