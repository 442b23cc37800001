package inspect_test

import (
	"context"
	"fmt"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/inspect"
)

// Lineage reads the run history once and answers from memory: which runs
// produced and retrieved a value, what it was computed from, and how a
// node's value changed from run to run, and why.
func ExampleCache_Lineage() {
	ctx := context.Background()
	st := mem.Open()
	run := func(y int) {
		dr, err := driver.NewBuilder().
			WithNodes(driver.Node("double", Double, "x"), driver.Node("plus", Plus, "double", "y")).
			WithCache(driver.CacheStores(st.Metadata(), st.Results())).
			Build()
		if err != nil {
			panic(err)
		}
		if _, err := dr.Execute(ctx, []string{"plus"}, driver.Inputs{"x": 1, "y": y}, nil); err != nil {
			panic(err)
		}
	}
	run(10)
	run(10)
	run(20)

	ic := inspect.New(st.Metadata(), st.Results())
	l, err := ic.Lineage(ctx)
	if err != nil {
		panic(err)
	}
	// How plus changed, run after run.
	hs, err := l.History(ctx, "plus")
	if err != nil {
		panic(err)
	}
	for _, s := range hs[0].Steps {
		fmt.Printf("%d run(s), executed %d, retrieved %d: %s\n", s.Runs, s.Executed, s.Retrieved, s.Why.Reason)
	}
	// Where the value of plus in the last run came from.
	vl, err := l.Version(string(hs[0].Steps[1].Version))
	if err != nil {
		panic(err)
	}
	fmt.Println("produced by", vl.Produced[0].Node, "in", len(vl.Produced), "run(s)")
	for _, k := range vl.Upstream {
		fmt.Printf("upstream %d: %s (%s of %s)\n", k.Depth, k.Node, k.Kind, k.OfNode)
	}
	// Output:
	// 2 run(s), executed 1, retrieved 1: first_run
	// 1 run(s), executed 1, retrieved 0: key_changed
	// produced by plus in 1 run(s)
	// upstream 1: double (dependency of plus)
	// upstream 1: y (dependency of plus)
	// upstream 2: x (dependency of double)
}
