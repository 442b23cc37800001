package driver_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
)

func Words(text string) []string { return strings.Fields(text) }

func Count(words []string) int { return len(words) }

// Run a dataflow twice on one cache: the second run retrieves what the first
// executed. (WithCache() without options keeps the cache in ./.flowcache;
// the example uses in-memory stores.)
func Example() {
	st := mem.Open()
	build := func() *driver.Driver {
		dr, err := driver.NewBuilder().
			WithNodes(
				driver.Node("words", Words, "text"),
				driver.Node("count", Count, "words"),
			).
			WithCache(driver.CacheStores(st.Metadata(), st.Results())).
			Build()
		if err != nil {
			panic(err)
		}
		return dr
	}
	ctx := context.Background()
	for range 2 {
		dr := build()
		out, err := dr.Execute(ctx, []string{"count"}, driver.Inputs{"text": "to be or not to be"}, nil)
		if err != nil {
			panic(err)
		}
		run, _ := dr.Cache().LastRunID(ctx)
		fmt.Println("count =", out["count"])
		for _, e := range dr.Cache().Events(slog.LevelInfo, run) {
			fmt.Println(" ", e)
		}
	}
	// Output:
	// count = 6
	//   words::adapter::get_result::miss
	//   words::adapter::execute_node
	//   count::adapter::get_result::miss
	//   count::adapter::execute_node
	// count = 6
	//   words::adapter::get_result::hit
	//   count::adapter::get_result::hit
	//   count::result_store::get_result::loaded
}

func Double(x int) int { return 2 * x }

func Total(xs []int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}

func Range(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// A fan-out: "items" yields one task per element, "double" runs per task,
// "total" collects the results in order.
func ExampleExpand() {
	dr, err := driver.NewBuilder().
		WithNodes(
			driver.Node("items", Range, "n", driver.Expand()),
			driver.Node("double", Double, "items"),
			driver.Node("total", Total, "double", driver.Collect()),
		).
		Build()
	if err != nil {
		panic(err)
	}
	out, err := dr.Execute(context.Background(), []string{"total"}, driver.Inputs{"n": 5}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(out["total"])
	// Output: 20
}

// Behaviours can be set on a node, or for the whole build, which wins.
func ExampleWithBehavior() {
	st := mem.Open()
	dr, err := driver.NewBuilder().
		WithNodes(
			driver.Node("words", Words, "text", driver.WithBehavior(core.Recompute)),
			driver.Node("count", Count, "words"),
		).
		WithCache(driver.CacheStores(st.Metadata(), st.Results()), driver.Disable("count")).
		Build()
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for range 2 {
		if _, err := dr.Execute(ctx, []string{"count"}, driver.Inputs{"text": "a b c"}, nil); err != nil {
			panic(err)
		}
	}
	run, _ := dr.Cache().LastRunID(ctx)
	for _, e := range dr.Cache().Events(slog.LevelInfo, run) {
		fmt.Println(e)
	}
	// Output:
	// words::adapter::execute_node
	// count::adapter::execute_node
}

// Build checks the graph before anything runs; errors name the node and the
// parameter.
func ExampleBuilder_Build() {
	_, err := driver.NewBuilder().
		WithNodes(
			driver.Node("words", Words, "text"),
			driver.Node("doubled", Double, "words"),
		).
		Build()
	fmt.Println(err)
	// Output: driver: node "doubled": parameter 1 has type int, but dependency "words" gives []string
}

// Run says what each node of a run did: a warm run retrieves what the cold
// one executed.
func ExampleDriver_Run() {
	st := mem.Open()
	dr, err := driver.NewBuilder().
		WithNodes(
			driver.Node("words", Words, "text"),
			driver.Node("count", Count, "words"),
		).
		WithCache(driver.CacheStores(st.Metadata(), st.Results())).
		Build()
	if err != nil {
		panic(err)
	}
	defer dr.Close()
	ctx := context.Background()
	for _, run := range []string{"cold", "warm"} {
		res, err := dr.Run(ctx, []string{"count"}, driver.Inputs{"text": "to be or not to be"}, nil)
		if err != nil {
			panic(err)
		}
		ids, _ := dr.Cache().RunIDs(ctx)
		fmt.Println(run, "count =", res.Values["count"], "- in the run history:", res.RunID == ids[len(ids)-1])
		for _, name := range []string{"text", "words", "count"} {
			fmt.Printf("  %s: %s\n", name, res.Outcomes[name])
		}
	}
	// Output:
	// cold count = 6 - in the run history: true
	//   text: input
	//   words: executed
	//   count: executed
	// warm count = 6 - in the run history: true
	//   text: input
	//   words: retrieved
	//   count: retrieved
}
