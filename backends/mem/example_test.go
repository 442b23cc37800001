package mem_test

import (
	"context"
	"fmt"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/driver"
)

func square(x int) int { return x * x }

// In-memory stores give a test a real cache that vanishes with the process.
func ExampleOpen() {
	st := mem.Open()
	dr, err := driver.NewBuilder().
		WithNodes(driver.Node("square", square, "x")).
		WithCache(driver.CacheStores(st.Metadata(), st.Results())).
		Build()
	if err != nil {
		panic(err)
	}
	out, err := dr.Execute(context.Background(), []string{"square"}, driver.Inputs{"x": 7}, nil)
	if err != nil {
		panic(err)
	}
	runs, _ := st.Metadata().Runs(context.Background())
	fmt.Println(out["square"], len(runs))
	// Output: 49 1
}
