package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/inspect"
)

var lineageCommand = command{
	name: "lineage", args: "NODE|VERSION", short: "where a value came from and went; a node's values across runs", nargs: 1,
	long: `For a data version (a full one, or a unique prefix of one, as "flowcache nodes"
shows them): the runs and nodes that produced it (executed it), retrieved it
or were given it (inputs, overrides), the data versions it was computed from
(upstream, recursively) and those computed from it (downstream), each with its
depth, the node that had it and the runs that recorded the link.
For a node (or node@task, one task of a fan-out branch): its history across
runs, one step per change of its data version or cache key, each explained
as "flowcache why" explains the run where it began. A fan-out branch node
named alone is shown one line per task (--json has every task's history).
An argument that is a node name is read as a node, else as a data version.
It reads the run history once, from the metadata alone (one read per run).`,
	examples: `  flowcache lineage statistics
  flowcache lineage 'parsed@files[3]'
  flowcache lineage 3f2a9c01b7e4
  flowcache lineage 3f2a9c01b7e4 --depth 1
  flowcache lineage 3f2a9c01b7e4 --json | jq '.version.downstream[].node'`,
	flags: func(fs *flag.FlagSet, o *opts) {
		fs.IntVar(&o.depth, "depth", 0, "show upstream and downstream only up to `N` links away (0: all)")
	},
	run: cmdLineage,
}

func init() {
	commandChecks["lineage"] = func(o *opts) error {
		if o.depth < 0 {
			return usageErr("--depth %d: want 0 or more", o.depth)
		}
		return nil
	}
}

// lineageJSON is what lineage --json prints: kind "node" with the history
// of each task (one for a plain node), or kind "data_version" with the
// version's lineage.
type lineageJSON struct {
	Kind    string                  `json:"kind"`
	History []inspect.NodeHistory   `json:"history,omitempty"`
	Version *inspect.VersionLineage `json:"version,omitempty"`
}

func cmdLineage(ctx context.Context, e env, o *opts, c *inspect.Cache, args []string) error {
	ref := args[0]
	l, err := c.Lineage(ctx)
	if err != nil {
		return err
	}
	node, _, _ := strings.Cut(ref, "@")
	if l.HasNode(node) {
		hs, err := l.History(ctx, ref)
		if err != nil {
			return err
		}
		if o.json {
			return writeJSON(e.stdout, lineageJSON{Kind: "node", History: hs})
		}
		return printHistory(e.stdout, hs)
	}
	vl, err := l.Version(ref)
	if errors.Is(err, core.ErrNotFound) {
		return fmt.Errorf("%w: %q is neither a node nor a data version in the %d runs of the cache", core.ErrNotFound, ref, len(l.Runs()))
	}
	if err != nil {
		return err
	}
	if o.depth > 0 {
		vl.Upstream, vl.Downstream = upTo(vl.Upstream, o.depth), upTo(vl.Downstream, o.depth)
	}
	if o.json {
		return writeJSON(e.stdout, lineageJSON{Kind: "data_version", Version: vl})
	}
	return printVersionLineage(e.stdout, vl)
}

// upTo keeps the links at most depth away (they are sorted by depth).
func upTo(links []inspect.Link, depth int) []inspect.Link {
	for i, k := range links {
		if k.Depth > depth {
			return links[:i]
		}
	}
	return links
}

func printHistory(w io.Writer, hs []inspect.NodeHistory) error {
	if len(hs) > 1 {
		// A fan-out node named alone: one line per task (--json has
		// every step of every task).
		fmt.Fprintf(w, "%s ran as %d tasks across runs\n", hs[0].Node, len(hs))
		t := newTable("TASK", "STEPS", "RUNS", "DATA VERSION NOW", "LAST CHANGE")
		for _, h := range hs {
			runs := 0
			for _, s := range h.Steps {
				runs += s.Runs
			}
			last := h.Steps[len(h.Steps)-1]
			t.row(core.RecordName(h.Node, h.Task), len(h.Steps), runs, orDash(last.Version.Short()), last.Why.Reason)
		}
		if err := t.write(w); err != nil {
			return err
		}
		fmt.Fprintf(w, "(flowcache lineage '%s' shows the history of one task)\n", core.RecordName(hs[0].Node, hs[0].Task))
		return nil
	}
	for _, h := range hs {
		runs := 0
		for _, s := range h.Steps {
			runs += s.Runs
		}
		fmt.Fprintf(w, "history of %s: %d step(s) in %d run(s)\n", core.RecordName(h.Node, h.Task), len(h.Steps), runs)
		t := newTable("STEP", "DATA VERSION", "FIRST RUN", "RUNS", "EXECUTED", "RETRIEVED", "REASON")
		for j, s := range h.Steps {
			t.row(j+1, orDash(s.Version.Short()), s.First, s.Runs, s.Executed, s.Retrieved, s.Why.Reason)
		}
		if err := t.write(w); err != nil {
			return err
		}
		fmt.Fprintln(w, "why:")
		for j, s := range h.Steps {
			fmt.Fprintf(w, "  %d. %s\n", j+1, s.Why.Text)
		}
	}
	return nil
}

func printVersionLineage(w io.Writer, vl *inspect.VersionLineage) error {
	fmt.Fprintf(w, "data version %s of %s\n", vl.Version, strings.Join(vl.Nodes, ", "))
	uses := func(title string, us []inspect.Use) error {
		if len(us) == 0 {
			fmt.Fprintf(w, "\n%s: none\n", title)
			return nil
		}
		fmt.Fprintf(w, "\n%s in %d record(s):\n", title, len(us))
		t := newTable("  RUN", "STARTED", "NODE", "BEHAVIOR", "FORMAT", "WRITTEN")
		for _, u := range us {
			written := "-"
			if u.Written >= 0 {
				written = fmtBytes(u.Written)
			}
			behavior := "-"
			if u.Behavior != core.Unset {
				behavior = u.Behavior.String()
			}
			t.row("  "+string(u.Run), u.Started.Local().Format("2006-01-02 15:04:05"), u.Name(), behavior, orDash(u.Format), written)
		}
		return t.write(w)
	}
	links := func(title string, ks []inspect.Link, of string) error {
		if len(ks) == 0 {
			fmt.Fprintf(w, "\n%s: none\n", title)
			return nil
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		t := newTable("  DEPTH", "NODE", "DATA VERSION", "KIND", strings.ToUpper(of), "RUNS")
		for _, k := range ks {
			t.row(fmt.Sprintf("  %d", k.Depth), k.Node, k.Version.Short(), k.Kind, k.OfNode+"="+k.Of.Short(), len(k.Runs))
		}
		return t.write(w)
	}
	for _, step := range []func() error{
		func() error { return uses("produced (executed)", vl.Produced) },
		func() error { return uses("retrieved", vl.Retrieved) },
		func() error { return uses("given (input or override)", vl.Given) },
		func() error { return links("upstream (computed from)", vl.Upstream, "for") },
		func() error { return links("downstream (computed from it)", vl.Downstream, "from") },
	} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}
