package core_test

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats"
)

// An executor drives the cache node by node: begin a run, version the
// inputs, ask the cache to retrieve or execute each node, read the outputs,
// end the run. This is what package driver does for a whole graph.
func Example() {
	st := mem.Open()
	c, err := core.New(st.Metadata(), st.Results())
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	double := &core.NodeSpec{Name: "double", CodeVersion: "v1", Format: formats.Gob(), Type: reflect.TypeFor[int]()}
	for range 2 {
		run, err := c.BeginRun(ctx)
		if err != nil {
			panic(err)
		}
		x := run.Input(ctx, "x", 21)
		v, err := run.Node(ctx, double, "", []*core.Value{x}, func(ctx context.Context, args []any) (any, error) {
			return args[0].(int) * 2, nil
		})
		if err != nil {
			panic(err)
		}
		out, err := run.Final(ctx, v)
		if err != nil {
			panic(err)
		}
		if err := run.End(ctx); err != nil {
			panic(err)
		}
		fmt.Println("double =", out)
		for _, e := range c.Events(slog.LevelInfo, run.ID()) {
			fmt.Println(" ", e)
		}
	}
	// Output:
	// double = 42
	//   double::adapter::get_result::miss
	//   double::adapter::execute_node
	// double = 42
	//   double::adapter::get_result::hit
	//   double::result_store::get_result::loaded
}

// Behaviours set for the whole build win over a node's own.
func ExampleBehaviorConfig_Resolve() {
	cfg := core.BehaviorConfig{Recompute: []string{"load"}, DefaultBehavior: core.Disable, Default: []string{"train"}}
	b, err := cfg.Resolve([]string{"load", "clean", "train"}, map[string]core.Behavior{"load": core.Ignore})
	if err != nil {
		panic(err)
	}
	fmt.Println(b["load"], b["clean"], b["train"])
	// Output: recompute disable default
}

func ExampleCacheKey() {
	k := core.NewCacheKey("train", "c0de", []core.Dep{{Name: "data", Version: "d474"}})
	back, _ := core.DecodeCacheKey(k.Encode())
	fmt.Println(k, back.ID() == k.ID())
	// Output: train@c0de(data=d474) true
}
