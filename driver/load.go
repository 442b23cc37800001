package driver

import (
	"context"
	"fmt"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/inspect"
)

// Load returns the value node had in a past run of the driver's cache,
// decoded as a T: run "" is the newest run in which node appears, or a run
// id (RunResult.RunID), a unique prefix of one, or "last"; node@task names
// one task of a node inside a fan-out ("clean@files[3]", core.RecordName).
//
//	stats, err := driver.Load[Stats](ctx, dr, "statistics", "")
//
// It is inspect.Load over the driver's stores and with its hasher: the
// result is verified and checked against its data version before it is
// returned, and every error names the node and the run (a node not stored
// in that run, a damaged result, a value of another type than T: see
// inspect.Load). Any process can read a cache the same way with
// inspect.Open and inspect.Load. A Driver built without WithCache has no
// past values: an error wrapping core.ErrInvalid.
func Load[T any](ctx context.Context, d *Driver, node string, run core.RunID) (T, error) {
	c := d.Cache()
	if c == nil {
		var zero T
		return zero, fmt.Errorf("driver: %w: Load of node %q: the driver has no cache (build it WithCache)", core.ErrInvalid, node)
	}
	ic := inspect.New(c.Metadata(), c.Results(), inspect.WithHasher(c.Hasher()))
	return inspect.Load[T](ctx, ic, node, run)
}
