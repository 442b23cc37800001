package driver_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
)

// Load reads a node's value from a past run: the newest run in which the
// node appears, or the run named by its id; node@task names one task of a
// fan-out.
func ExampleLoad() {
	st := mem.Open()
	dr, err := driver.NewBuilder().
		WithNodes(
			driver.Node("words", Words, "text"),
			driver.Node("count", Count, "words"),
			driver.Node("items", Range, "n", driver.Expand()),
			driver.Node("double", Double, "items"),
			driver.Node("total", Total, "double", driver.Collect()),
		).
		WithCache(driver.CacheStores(st.Metadata(), st.Results())).
		Build()
	if err != nil {
		panic(err)
	}
	defer dr.Close()
	ctx := context.Background()
	first, err := dr.Run(ctx, []string{"count", "total"}, driver.Inputs{"text": "to be or not to be", "n": 3}, nil)
	if err != nil {
		panic(err)
	}
	if _, err := dr.Execute(ctx, []string{"count"}, driver.Inputs{"text": "to be", "n": 3}, nil); err != nil {
		panic(err)
	}

	latest, _ := driver.Load[int](ctx, dr, "count", "")
	before, _ := driver.Load[int](ctx, dr, "count", first.RunID)
	words, _ := driver.Load[[]string](ctx, dr, "words", first.RunID)
	task, _ := driver.Load[int](ctx, dr, "double@items[2]", "")
	_, err = driver.Load[string](ctx, dr, "count", "")
	fmt.Println(latest, before, words, task)
	fmt.Println(err != nil)
	// Output:
	// 2 6 [to be or not to be] 4
	// true
}

func TestLoadWithoutCache(t *testing.T) {
	dr, err := driver.NewBuilder().WithNodes(driver.Node("count", Count, "words")).Build()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := driver.Load[int](context.Background(), dr, "count", ""); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("Load without a cache: %v", err)
	}
}

// Load goes through the driver's hasher: values stored with it load back.
func TestLoadUsesDriverStores(t *testing.T) {
	st := mem.Open()
	dr, err := driver.NewBuilder().
		WithNodes(driver.Node("words", Words, "text")).
		WithCache(driver.CacheStores(st.Metadata(), st.Results())).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	ctx := context.Background()
	res, err := dr.Run(ctx, []string{"words"}, driver.Inputs{"text": "a b"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := driver.Load[[]string](ctx, dr, "words", res.RunID)
	if err != nil || !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Load = %q, %v", got, err)
	}
}
