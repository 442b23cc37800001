package inspect_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/inspect"
)

func Double(x int) int { return 2 * x }

func Plus(d, y int) int { return d + y }

func Words(text string) []string { return strings.Fields(text) }

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
// any process can, long after the run. The type parameter is the node's Go
// type: another one is an error wrapping ErrWrongType, never a wrong value.
func ExampleLoad() {
	ctx := context.Background()
	st := mem.Open()
	dr, err := driver.NewBuilder().WithNodes(driver.Node("words", Words, "text")).
		WithCache(driver.CacheStores(st.Metadata(), st.Results())).Build()
	if err != nil {
		panic(err)
	}
	for _, text := range []string{"to be or not to be", "that is the question"} {
		if _, err := dr.Execute(ctx, []string{"words"}, driver.Inputs{"text": text}, nil); err != nil {
			panic(err)
		}
	}
	dr.Close()

	ic := inspect.New(st.Metadata(), st.Results())
	runs, _ := ic.Runs(ctx)
	latest, _ := inspect.Load[[]string](ctx, ic, "words", "")
	first, _ := inspect.Load[[]string](ctx, ic, "words", runs[0].ID)
	fmt.Printf("%q %q\n", latest, first)
	_, err = inspect.Load[string](ctx, ic, "words", "")
	fmt.Println(errors.Is(err, inspect.ErrWrongType))
	// Output:
	// ["that" "is" "the" "question"] ["to" "be" "or" "not" "to" "be"]
	// true
}
