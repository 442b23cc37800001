package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/view"
	_ "github.com/flowcache/flowcache/view/svg" // the svg format (Graphviz in WebAssembly, compiled on first use)
)

var drawCommand = command{
	name: "draw", args: "RUN", short: "draw a run's dataflow (SVG or DOT)", nargs: 1,
	long: `Draws the dataflow of a run from the metadata alone, as Hamilton's view_run
does: nodes retrieved from the cache are outlined, executed ones are not;
inputs, overrides and requested outputs are marked, fan-outs boxed, with a
legend (package view). With -o the format is the file's extension (.svg, .dot
or .gv); without it, DOT (or --format svg) goes to stdout. With --json and no
-o it prints the graph (nodes, edges, fan-outs) as JSON.`,
	examples: `  flowcache draw last -o run.svg
  flowcache draw 01a2125c -o run.dot --top-to-bottom
  flowcache draw last | dot -Tpng > run.png
  flowcache draw last --json | jq '.nodes[] | select(.outcome == "executed") | .id'`,
	flags: func(fs *flag.FlagSet, o *opts) {
		fs.StringVar(&o.out, "o", "", "write the drawing to `FILE` (.svg, .dot, .gv)")
		fs.StringVar(&o.format, "format", "dot", "the format written to stdout without -o: `dot` or svg")
		fs.BoolVar(&o.topToBottom, "top-to-bottom", false, "lay the graph out from top to bottom (default left to right)")
		fs.IntVar(&o.maxTasks, "max-tasks", view.DefaultMaxTasks, "draw a fan-out of up to `N` tasks one node per task, larger ones grouped with counts")
		fs.BoolVar(&o.noTimings, "no-timings", false, "leave durations and sizes out of the labels")
	},
	run: cmdDraw,
}

func init() {
	commandChecks["draw"] = func(o *opts) error {
		if o.maxTasks < 0 {
			return usageErr("--max-tasks %d: want 0 or more", o.maxTasks)
		}
		if o.out != "" {
			ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(o.out)), ".")
			if ext != "gv" && !known(ext) {
				return usageErr("-o %s: the extension names the format: want .%s or .gv", o.out, strings.Join(view.Formats(), ", ."))
			}
			return nil
		}
		if !known(o.format) {
			return usageErr("--format %q: want %s", o.format, strings.Join(view.Formats(), " or "))
		}
		return nil
	}
}

func known(format string) bool {
	for _, f := range view.Formats() {
		if f == format {
			return true
		}
	}
	return false
}

func cmdDraw(ctx context.Context, e env, o *opts, c *inspect.Cache, args []string) error {
	id, err := c.ResolveRun(ctx, args[0])
	if err != nil {
		return err
	}
	vopts := []view.Option{view.WithMaxTasks(o.maxTasks)}
	if o.topToBottom {
		vopts = append(vopts, view.TopToBottom())
	}
	if o.noTimings {
		vopts = append(vopts, view.WithoutTimings())
	}
	if o.out != "" {
		if err := view.WriteFile(ctx, c.Metadata(), id, o.out, vopts...); err != nil {
			return err
		}
		fi, err := os.Stat(o.out)
		if err != nil {
			return err
		}
		if o.json {
			return writeJSON(e.stdout, struct {
				Run   core.RunID `json:"run_id"`
				File  string     `json:"file"`
				Bytes int64      `json:"bytes"`
			}{id, o.out, fi.Size()})
		}
		fmt.Fprintf(e.stdout, "drew run %s to %s (%s)\n", id, o.out, fmtBytes(fi.Size()))
		return nil
	}
	g, err := view.Load(ctx, c.Metadata(), id, vopts...)
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(e.stdout, g) // view.Graph.MarshalJSON
	}
	var buf bytes.Buffer
	if err := g.Render(ctx, &buf, o.format); err != nil {
		return err
	}
	_, err = e.stdout.Write(buf.Bytes())
	return err
}
