package blobmeta_test

import (
	"context"
	"fmt"

	"gocloud.dev/blob/memblob"

	"github.com/flowcache/flowcache/backends/blobmeta"
	"github.com/flowcache/flowcache/core"
)

// Any gocloud.dev bucket becomes a metadata store: small sealed objects,
// one per entry, node index, run and batch of run history.
func ExampleNew() {
	ctx := context.Background()
	m := blobmeta.New(memblob.OpenBucket(nil), "meta/", blobmeta.WithOwnedBucket())
	defer m.Close()
	k := core.NewCacheKey("square", "code-v1", []core.Dep{{Name: "x", Version: "int:7"}})
	err := m.Write(ctx, core.Batch{Run: "r1", Entries: []core.Entry{{Key: k, DataVersion: "dv49", Format: "gob"}}})
	if err != nil {
		panic(err)
	}
	e, err := m.Get(ctx, k.ID())
	fmt.Println(e.Key.Node, e.DataVersion, e.Format, err)
	pre, err := m.Preload(ctx, []string{"square"})
	fmt.Println(len(pre), err)
	// Output:
	// square dv49 gob <nil>
	// 1 <nil>
}
