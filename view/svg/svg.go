// Package svg renders the drawings of package view as SVG, with Graphviz
// compiled to WebAssembly (github.com/goccy/go-graphviz): no cgo and no
// Graphviz on the system. Importing it registers the "svg" format with
// view, so view.WriteFile(ctx, meta, run, "run.svg") and view.WriteRun
// write SVG:
//
//	import _ "github.com/flowcache/flowcache/view/svg"
//
// It is a package of its own because of its cost at start: go-graphviz
// compiles its WebAssembly module when the program starts (0.5–1.2 s the
// first time on a 2-core machine, then ~0.05 s from the compilation cache
// it keeps in os.TempDir()/go-graphviz), so only programs that draw should
// import it. A graph then takes milliseconds (see the view package doc for
// figures).
package svg

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/goccy/go-graphviz"

	"github.com/flowcache/flowcache/view"
)

func init() { view.RegisterFormat("svg", Render) }

// The Graphviz instance is made once and shared; the WebAssembly module
// behind it is one per process and not safe for concurrent use, so renders
// take turns.
var (
	mu sync.Mutex
	gv *graphviz.Graphviz
)

// Render lays out the DOT graph dot with Graphviz's dot layout and writes
// it to w as SVG.
func Render(ctx context.Context, dot []byte, w io.Writer) error {
	// Parsing runs in the WebAssembly module too.
	mu.Lock()
	defer mu.Unlock()
	graph, err := graphviz.ParseBytes(dot)
	if err != nil {
		return fmt.Errorf("svg: parsing DOT: %w", err)
	}
	defer graph.Close()
	if gv == nil {
		g, err := graphviz.New(ctx)
		if err != nil {
			return fmt.Errorf("svg: starting Graphviz: %w", err)
		}
		gv = g
	}
	if err := gv.Render(ctx, graph, graphviz.SVG, w); err != nil {
		return fmt.Errorf("svg: %w", err)
	}
	return nil
}
