package bucket_test

import (
	"context"
	"fmt"

	"gocloud.dev/blob/memblob"

	"github.com/flowcache/flowcache/backends/bucket"
	"github.com/flowcache/flowcache/driver"
)

func square(x int) int { return x * x }

// A bucket the program opened itself (here memblob; s3blob, gcsblob or
// azureblob with options of its own) holds a whole cache: a second run
// retrieves what the first stored.
func ExampleOpen() {
	ctx := context.Background()
	st := bucket.Open(memblob.OpenBucket(nil), "team/cache/")
	defer st.Close()
	for range 2 {
		dr, err := driver.NewBuilder().
			WithNodes(driver.Node("square", square, "x")).
			WithCache(driver.CacheStores(st.Metadata(), st.Results())).
			Build()
		if err != nil {
			panic(err)
		}
		out, err := dr.Execute(ctx, []string{"square"}, driver.Inputs{"x": 7}, nil)
		if err != nil {
			panic(err)
		}
		last, _ := dr.Cache().LastRunID(ctx)
		records, _ := st.Metadata().Run(ctx, last)
		fmt.Println(out["square"], records[len(records)-1].Outcome)
		dr.Close()
	}
	// Output:
	// 49 executed
	// 49 retrieved
}
