package core_test

import (
	"context"
	"fmt"
	"os"
	"reflect"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats"
)

// An executor that knows its graph tells the run which nodes it will ask
// for, in order, with the index of each one's dependencies (and the inputs
// they take): the run works their keys out and looks them up on another
// core while the executor goes node by node. Nothing else changes: Node
// returns the same values, events and records.
func ExampleRun_LookAhead() {
	dir, err := os.MkdirTemp("", "lookahead")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := local.Open(ctx, dir)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	c, err := core.New(st.Metadata(), st.Results())
	if err != nil {
		panic(err)
	}
	spec := func(name string) *core.NodeSpec {
		return &core.NodeSpec{Name: name, CodeVersion: "v1", Format: formats.Gob(), Type: reflect.TypeFor[int]()}
	}
	a, b := spec("a"), spec("b")
	nodes := []core.Ahead{
		{Given: "x"},              // 0: an input
		{Spec: a, Deps: []int{0}}, // 1: a(x)
		{Spec: b, Deps: []int{1}}, // 2: b(a)
	}
	inc := func(ctx context.Context, args []any) (any, error) { return args[0].(int) + 1, nil }
	for range 2 {
		run, err := c.BeginRun(ctx, "a", "b") // preloads the entries of a and b
		if err != nil {
			panic(err)
		}
		run.LookAhead(ctx, nodes)
		x := run.Input(ctx, "x", 40)
		va, err := run.Node(ctx, a, "", []*core.Value{x}, inc)
		if err != nil {
			panic(err)
		}
		vb, err := run.Node(ctx, b, "", []*core.Value{va}, inc)
		if err != nil {
			panic(err)
		}
		out, err := run.Final(ctx, vb)
		if err != nil {
			panic(err)
		}
		run.End(ctx)
		o := run.Outcomes()
		fmt.Println("b =", out, "a:", o["a"], "b:", o["b"])
	}
	// Output:
	// b = 42 a: executed b: executed
	// b = 42 a: retrieved b: retrieved
}
