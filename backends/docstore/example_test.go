package docstore_test

import (
	"context"
	"fmt"

	gcds "gocloud.dev/docstore"
	"gocloud.dev/docstore/memdocstore"

	"github.com/flowcache/flowcache/backends/docstore"
	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/driver"
)

func square(x int) int { return x * x }

// A MetadataStore keeps the metadata in any gocloud.dev/docstore collection keyed by
// DocumentID (here an in-memory one) while results go elsewhere. With a URL,
// the same is core.OpenURL("s3://bucket/cache?metadata=" +
// url.QueryEscape("dynamodb://flowcache?region=eu-west-1")), or
// driver.CacheURL with that URL.
func ExampleNew() {
	coll, err := memdocstore.OpenCollectionWithKeyFunc(func(d gcds.Document) any { return docstore.DocumentID(d) }, nil)
	if err != nil {
		panic(err)
	}
	meta := docstore.New(coll)
	defer meta.Close()
	results := mem.Open().Results()

	ctx := context.Background()
	for range 2 {
		dr, err := driver.NewBuilder().
			WithNodes(driver.Node("square", square, "x")).
			WithCache(driver.CacheStores(meta, results)).
			Build()
		if err != nil {
			panic(err)
		}
		out, err := dr.Execute(ctx, []string{"square"}, driver.Inputs{"x": 7}, nil)
		if err != nil {
			panic(err)
		}
		last, _ := dr.Cache().LastRunID(ctx)
		records, _ := meta.Run(ctx, last)
		fmt.Println(out["square"], records[len(records)-1].Node, records[len(records)-1].Outcome)
		dr.Close()
	}
	runs, _ := meta.Runs(ctx)
	fmt.Println(len(runs), "runs")
	// Output:
	// 49 square executed
	// 49 square retrieved
	// 2 runs
}
