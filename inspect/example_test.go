package inspect_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/inspect"
)

func Double(x int) int { return 2 * x }

func Plus(d, y int) int { return d + y }

// Why names the part of a node's cache key that changed since the previous
// run: here the value of an input.
func ExampleCache_Why() {
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
	run(20)

	ic := inspect.New(st.Metadata(), st.Results())
	for _, node := range []string{"double", "plus"} {
		es, err := ic.Why(ctx, "", node)
		if err != nil {
			panic(err)
		}
		e := es[0]
		fmt.Print(node, ": ", e.Outcome, ", ", e.Reason)
		for _, ch := range e.Changes {
			fmt.Print(": ", ch.Kind, " ", ch.Dep)
		}
		fmt.Println()
	}
	// Output:
	// double: retrieved, retrieved
	// plus: executed, key_changed: input y
}

// Load reads the value a node had in a past run, from the stores alone:
// any process can, long after the run.
func ExampleLoad() {
	ctx := context.Background()
	st := mem.Open()
	for _, y := range []int{10, 20} {
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

	ic := inspect.New(st.Metadata(), st.Results())
	runs, _ := ic.Runs(ctx)
	latest, _ := inspect.Load[int](ctx, ic, "plus", "")
	first, _ := inspect.Load[int](ctx, ic, "plus", runs[0].ID)
	fmt.Println(latest, first)
	_, err := inspect.Load[string](ctx, ic, "plus", "")
	fmt.Println(errors.Is(err, inspect.ErrWrongType))
	// Output:
	// 22 12
	// true
}
