package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/maintain"
)

var commands []command

func init() {
	commands = []command{
		{
			name: "runs", args: "", short: "list the runs, oldest first, with what their nodes did",
			long: `Lists every run in the cache, oldest first: its id, when it started, and how
many of its nodes were retrieved, executed or failed, the time spent executing
them and the bytes of results it stored.`,
			examples: `  flowcache runs
  flowcache runs --limit 5
  flowcache runs --json | jq '.[-1].run_id'`,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.IntVar(&o.limit, "limit", 0, "list only the last `N` runs (0: all)")
			},
			run: cmdRuns,
		},
		{
			name: "nodes", args: "RUN", short: "what each node of a run did", nargs: 1,
			long: `Shows what each node of a run did: its behaviour, whether it was retrieved or
executed (or was an input or override), how long it ran, the size of its result
in the store, its data version and its cache key: the code version and the data
versions of its dependencies. A node inside a fan-out is shown once per task
(node@expander[i]); the run's requested outputs are marked with *. RUN is a
run id, a unique prefix of one, or "last".`,
			examples: `  flowcache nodes last
  flowcache nodes 01a2125c --keys
  flowcache nodes last --json`,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.BoolVar(&o.verbose, "keys", false, "print each node's whole cache key (code version and dependency versions)")
			},
			run: cmdNodes,
		},
		{
			name: "logs", args: "RUN", short: "print a run's events", nargs: 1,
			long: `Prints the events of a run: at --level info, get_result and execute_node;
at --level debug, every event. They come from the run's log in the cache when
the run kept one (driver.LogToFile("")), or from the events.jsonl file of a
local cache, and are otherwise rebuilt from the run's records (a note on stderr
says so).`,
			examples: `  flowcache logs last
  flowcache logs last --level debug
  flowcache logs 01a2125c --jsonl > run.jsonl`,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.StringVar(&o.level, "level", "info", "`info` or debug")
				fs.BoolVar(&o.jsonl, "jsonl", false, "print one JSON event per line")
			},
			run: cmdLogs,
		},
		{
			name: "why", args: "NODE", short: "why a node was executed: which part of its key changed", nargs: 1,
			long: `Explains why a node was retrieved or executed in a run (by default the newest
run that has it), by comparing its cache key with its key in the previous run
where it appeared: the code version, the value of an input, an override, the
result of an upstream node, a dependency added or removed; or, with the same
key, why it was not found: the behaviour (recompute, disable, ignore), nothing
stored then, another format, the entry evicted, the result missing. For a
changed code version it lists what changed in the code, one line each: the
functions, methods, constants, variables, types, embedded files, modules and
toolchain the code reaches, the result type, WithState values, WithCodeVersion
(from the code manifests the runs stored; --json has them under "code").
NODE is a node name, or node@task for one task of a fan-out branch. A node of
a fan-out branch named alone is explained task by task, in item order: one line
names the tasks that were retrieved, then each other task is explained (--json
has every task).`,
			examples: `  flowcache why statistics
  flowcache why statistics --run 01a2125c
  flowcache why 'parsed@files[3]' --json`,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.StringVar(&o.run, "run", "", "the `RUN` to explain (default: the newest run that has the node)")
			},
			run: cmdWhy,
		},
		{
			name: "size", args: "", short: "entries, results and bytes in the cache",
			long: `Counts what the cache holds: runs, entries (cache key → data version), stored
results and their bytes (results are content-addressed: entries may share
one), results no entry points to and entries whose result is missing (both
removed by "evict --gc"), and the bytes per node.`,
			examples: `  flowcache size
  flowcache size --top 20
  flowcache size --json`,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.IntVar(&o.top, "top", 10, "show the `N` largest nodes")
			},
			run: cmdSize,
		},
		{
			name: "verify", args: "", short: "read and check every stored result, as a run would before decoding it",
			long: `Reads every stored result whole and checks it as a run does before any decoder
sees it: its checksum and id, then its structure when its format can check
encoded bytes without the Go type (every length and count must fit in the
bytes), and code manifests against the hash that names them. Reports each
damaged or hostile result with its id, format, nodes and reason; results in a
format this program does not know (unverifiable: the checksum holds, the
structure is unchecked); entries whose result is missing; and in a cache
directory, non-files at result paths and stale temporary files.
It only reads: a run that needs a damaged result misses and replaces it;
"evict --damaged" removes damaged results now, "evict --gc" the rest.
Exits with 4 when it finds a problem.
On a terminal it draws a progress bar on stderr; otherwise it prints a progress
line every 10%.`,
			examples: `  flowcache verify
  flowcache verify --progress none --json`,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.StringVar(&o.progress, "progress", "auto", "`auto` (a bar on a terminal, else lines), bar, lines or none")
			},
			run: cmdVerify,
		},
		{
			name: "evict", args: "", short: "delete the least recently used entries and results",
			long: `Deletes entries (cache key → data version) and results, least recently used
first, until the limits hold: --max-size (bytes of results), --max-entries,
--older-than (time since last use); --gc deletes results no entry points to,
entries whose result is missing, and in a cache directory non-files at result
paths and temporary files of killed writers; --damaged reads every result as
"flowcache verify" does and deletes the damaged ones with their entries. A
result goes only when no remaining entry points to it (or it is damaged).
--dry-run lists what would go.

It is safe while pipelines run on the cache: nothing stored or used within the
grace period (--grace, default 1h) is deleted, and a deleted entry or result is
only ever a miss for a run (the node executes again), never a wrong value.
Set --grace above your longest run. Last-used times are updated at most hourly,
so ages are known to within an hour.`,
			examples: `  flowcache evict --max-size 10GB
  flowcache evict --older-than 30d --gc
  flowcache evict --max-entries 100000 --dry-run
  flowcache evict --gc --grace 0    # nothing else uses the cache now
  flowcache evict --gc --damaged    # also read every result, delete the damaged`,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.StringVar(&o.maxSize, "max-size", "", "keep at most this many bytes of results (`SIZE`: 500MB, 10GB, 2GiB, bytes)")
				fs.IntVar(&o.maxEntries, "max-entries", 0, "keep at most `N` entries")
				fs.StringVar(&o.olderThan, "older-than", "", "evict entries not used for `DURATION` (720h, 30d)")
				fs.BoolVar(&o.gc, "gc", false, "delete results no entry points to, entries whose result is missing, non-files at result paths and stale temporary files")
				fs.BoolVar(&o.damaged, "damaged", false, "read every result as verify does, and delete the damaged ones and their entries")
				fs.BoolVar(&o.dryRun, "dry-run", false, "list what would be deleted; delete nothing")
				fs.StringVar(&o.grace, "grace", "1h", "never delete what was stored or used within `DURATION` (0: no grace period)")
				fs.BoolVar(&o.verbose, "v", false, "list what was deleted (a dry run always lists)")
			},
			run: cmdEvict,
		},
		drawCommand,
		lineageCommand,
	}
	commandChecks["evict"] = func(o *opts) error {
		_, err := evictPolicy(o)
		return err
	}
	commandChecks["logs"] = func(o *opts) error {
		_, err := parseLevel(o.level)
		return err
	}
	commandChecks["verify"] = func(o *opts) error {
		switch o.progress {
		case "auto", "bar", "lines", "none":
			return nil
		}
		return usageErr("--progress %q: want auto, bar, lines or none", o.progress)
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cmdRuns(ctx context.Context, e env, o *opts, c *inspect.Cache, _ []string) error {
	runs, err := c.Runs(ctx)
	if err != nil {
		return err
	}
	if o.limit < 0 {
		return usageErr("--limit %d: want 0 or more", o.limit)
	}
	if o.limit > 0 && len(runs) > o.limit {
		runs = runs[len(runs)-o.limit:]
	}
	if o.json {
		return writeJSON(e.stdout, runs)
	}
	if len(runs) == 0 {
		fmt.Fprintln(e.stdout, "no runs")
		return nil
	}
	t := newTable("RUN", "STARTED", "NODES", "RETRIEVED", "EXECUTED", "FAILED", "EXEC TIME", "WRITTEN")
	for _, r := range runs {
		t.row(string(r.ID), r.Started.Local().Format("2006-01-02 15:04:05"), r.Nodes-r.Inputs-r.Overrides, r.Retrieved, r.Executed, r.Failed, fmtDuration(r.ExecTime), fmtBytes(r.Written))
	}
	return t.write(e.stdout)
}

func cmdNodes(ctx context.Context, e env, o *opts, c *inspect.Cache, args []string) error {
	id, err := c.ResolveRun(ctx, args[0])
	if err != nil {
		return err
	}
	nodes, err := c.Nodes(ctx, id)
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(e.stdout, struct {
			Run   core.RunID         `json:"run_id"`
			Nodes []inspect.NodeInfo `json:"nodes"`
		}{id, nodes})
	}
	fmt.Fprintf(e.stdout, "run %s\n", id)
	t := newTable("NODE", "BEHAVIOR", "OUTCOME", "DURATION", "STORED", "DATA VERSION", "CODE", "DEPENDENCIES")
	requested := false
	for _, n := range nodes {
		outcome := string(n.Outcome)
		if n.Reexecuted {
			outcome += " (result missing)"
		}
		behavior := "-"
		if n.Behavior != core.Unset {
			behavior = n.Behavior.String()
		}
		stored := "-"
		if n.Stored >= 0 {
			stored = fmtBytes(n.Stored)
		}
		dur := "-"
		if n.Duration > 0 {
			dur = fmtDuration(n.Duration)
		}
		deps := make([]string, len(n.Deps))
		for i, d := range n.Deps {
			v := d.Version.Short()
			if o.verbose {
				v = string(d.Version)
			}
			deps[i] = d.Name + "=" + v
		}
		code := n.CodeVersion.Short()
		if o.verbose {
			code = string(n.CodeVersion)
		}
		dv := n.DataVersion.Short()
		if o.verbose {
			dv = string(n.DataVersion)
		}
		name := n.Name()
		if n.Requested {
			name += " *"
			requested = true
		}
		t.row(name, behavior, outcome, dur, stored, orDash(dv), orDash(code), orDash(strings.Join(deps, " ")))
	}
	if err := t.write(e.stdout); err != nil {
		return err
	}
	if requested {
		fmt.Fprintln(e.stdout, "* a requested output of the run")
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	}
	return 0, usageErr("--level %q: want info or debug", s)
}

func cmdLogs(ctx context.Context, e env, o *opts, c *inspect.Cache, args []string) error {
	level, err := parseLevel(o.level)
	if err != nil {
		return err
	}
	id, err := c.ResolveRun(ctx, args[0])
	if err != nil {
		return err
	}
	evs, src, err := c.Logs(ctx, id, level)
	if err != nil {
		return err
	}
	if src == inspect.SourceRecords && !o.json {
		fmt.Fprintf(e.stderr, "flowcache logs: no event log has run %s; these events are rebuilt from its records (log every event with driver.LogToFile)\n", id)
	}
	switch {
	case o.json:
		return writeJSON(e.stdout, struct {
			Run    core.RunID        `json:"run_id"`
			Source inspect.LogSource `json:"source"`
			Events []core.Event      `json:"events"`
		}{id, src, evs})
	case o.jsonl:
		enc := json.NewEncoder(e.stdout)
		for _, ev := range evs {
			if err := enc.Encode(ev); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(e.stdout, "run %s:\n", id)
	for _, ev := range evs {
		if src != inspect.SourceRecords {
			fmt.Fprintf(e.stdout, "  %s  %s\n", ev.Time.Local().Format("15:04:05.000"), ev)
		} else {
			fmt.Fprintf(e.stdout, "  %s\n", ev)
		}
	}
	return nil
}

func cmdWhy(ctx context.Context, e env, o *opts, c *inspect.Cache, args []string) error {
	var id core.RunID
	if o.run != "" {
		var err error
		if id, err = c.ResolveRun(ctx, o.run); err != nil {
			return err
		}
	}
	es, err := c.Why(ctx, id, args[0])
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(e.stdout, es)
	}
	if len(es) > 0 {
		fmt.Fprintf(e.stdout, "run %s\n", es[0].Run)
	}
	if len(es) > 1 {
		// A fan-out: one line for its tasks, the retrieved ones named
		// there, then an explanation per task that was not retrieved.
		es = fanOutSummary(e.stdout, es)
	}
	for _, x := range es {
		fmt.Fprintf(e.stdout, "%s\n", x.Text)
		if len(x.Changes) > 0 {
			t := newTable("  CHANGED", "DEPENDENCY", "BEFORE", "NOW")
			for _, ch := range x.Changes {
				t.row("  "+string(ch.Kind), orDash(ch.Dep), orDash(shortVersion(ch.Old)), orDash(shortVersion(ch.New)))
			}
			if err := t.write(e.stdout); err != nil {
				return err
			}
			// What changed in the code, one line each (the sentence
			// above names the first few).
			for _, ch := range x.Changes {
				if ch.Kind != inspect.ChangeCodeVersion {
					continue
				}
				if len(ch.Code) == 0 && ch.Detail != "" {
					fmt.Fprintf(e.stdout, "  (%s)\n", ch.Detail)
				}
				if len(ch.Code) > 0 {
					fmt.Fprintln(e.stdout, "  in its code:")
				}
				for _, c := range ch.Code {
					fmt.Fprintf(e.stdout, "    %s\n", c.Text)
				}
			}
		}
	}
	return nil
}

// fanOutSummary prints what the tasks of a fan-out node did, naming the
// retrieved ones by task id, and returns the explanations of the others.
func fanOutSummary(w io.Writer, es []inspect.Explanation) []inspect.Explanation {
	var retrieved []string
	var rest []inspect.Explanation
	for _, x := range es {
		if x.Reason == inspect.ReasonRetrieved {
			retrieved = append(retrieved, x.Task)
			continue
		}
		rest = append(rest, x)
	}
	fmt.Fprintf(w, "%s ran as %d tasks: %d retrieved, %d not", es[0].Node, len(es), len(retrieved), len(rest))
	if len(retrieved) > 0 {
		const shown = 20
		more := ""
		if len(retrieved) > shown {
			more = fmt.Sprintf(" and %d more", len(retrieved)-shown)
			retrieved = retrieved[:shown]
		}
		fmt.Fprintf(w, "\n  retrieved: %s%s", strings.Join(retrieved, ", "), more)
	}
	fmt.Fprintln(w)
	return rest
}

// maintainer returns the maintenance side of the cache a command opened:
// size, verify and evict (package maintain).
func maintainer(c *inspect.Cache) *maintain.Cache {
	return maintain.New(c.Metadata(), c.Results(), maintain.WithDir(c.Dir()))
}

func cmdSize(ctx context.Context, e env, o *opts, c *inspect.Cache, _ []string) error {
	u, err := maintainer(c).Usage(ctx)
	if err != nil {
		return err
	}
	if o.top < 0 {
		return usageErr("--top %d: want 0 or more", o.top)
	}
	if o.json {
		return writeJSON(e.stdout, u)
	}
	w := e.stdout
	fmt.Fprintf(w, "runs              %d\n", u.Runs)
	fmt.Fprintf(w, "entries           %d", u.Entries)
	if u.CodeManifests > 0 {
		fmt.Fprintf(w, ", %d of them code manifests (%s: what each code version covered, for why)", u.CodeManifests, fmtBytes(u.CodeManifestBytes))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "results           %d (%s)", u.Results, fmtBytes(u.ResultBytes))
	if u.SharedResults > 0 {
		fmt.Fprintf(w, ", %d shared by several entries", u.SharedResults)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "unreferenced      %d results (%s) no entry points to\n", u.UnreferencedResults, fmtBytes(u.UnreferencedBytes))
	fmt.Fprintf(w, "dangling          %d entries whose result is missing\n", u.DanglingEntries)
	if !u.OldestUse.IsZero() {
		fmt.Fprintf(w, "last used         %s … %s\n", u.OldestUse.Local().Format("2006-01-02 15:04"), u.NewestUse.Local().Format("2006-01-02 15:04"))
	}
	if u.DiskBytes >= 0 {
		fmt.Fprintf(w, "on disk           %s (%s)\n", fmtBytes(u.DiskBytes), c.Dir())
	}
	if u.UnreferencedResults > 0 || u.DanglingEntries > 0 {
		fmt.Fprintln(w, "(flowcache evict --gc removes unreferenced results and dangling entries)")
	}
	if o.top > 0 && len(u.Nodes) > 0 {
		fmt.Fprintln(w)
		t := newTable("NODE", "ENTRIES", "BYTES")
		for i, n := range u.Nodes {
			if i == o.top {
				break
			}
			t.row(n.Node, n.Entries, fmtBytes(n.Bytes))
		}
		if err := t.write(w); err != nil {
			return err
		}
		if len(u.Nodes) > o.top {
			fmt.Fprintf(w, "(%d more nodes; --top N)\n", len(u.Nodes)-o.top)
		}
	}
	return nil
}

func cmdVerify(ctx context.Context, e env, o *opts, c *inspect.Cache, _ []string) error {
	mode := o.progress
	if mode == "auto" {
		mode = "lines"
		if e.terminal {
			mode = "bar"
		}
	}
	p := newProgress(e.stderr, mode)
	rep, err := maintainer(c).Verify(ctx, p.update)
	p.done()
	if err != nil {
		return err
	}
	if o.json {
		if err := writeJSON(e.stdout, rep); err != nil {
			return err
		}
	} else {
		w := e.stdout
		secs := rep.Elapsed.Seconds()
		rate := ""
		if secs > 0 {
			rate = fmt.Sprintf(", %s/s", fmtBytes(int64(float64(rep.Bytes)/secs)))
		}
		fmt.Fprintf(w, "verified %d results (%s) and %d entries of %d runs in %s%s\n", rep.Results, fmtBytes(rep.Bytes), rep.Entries, rep.Runs, fmtDuration(rep.Elapsed), rate)
		if n := rep.Results - rep.Validated; n > 0 {
			fmt.Fprintf(w, "%d of them checked by checksum only: their format cannot check its bytes without the Go type\n", n)
		}
		kinds := map[maintain.ProblemKind]int{}
		for _, pr := range rep.Problems {
			kinds[pr.Kind]++
			switch pr.Kind {
			case maintain.ProblemRunHistory:
				fmt.Fprintf(w, "%-15s run %s: %s\n", pr.Kind, pr.Run, pr.Err)
			case maintain.ProblemStaleTemp:
				fmt.Fprintf(w, "%-15s %s/%s: %s\n", pr.Kind, local.ResultsDir, pr.Path, pr.Err)
			default:
				nodes := "no entry points to it"
				if len(pr.Nodes) > 0 {
					nodes = "node " + strings.Join(pr.Nodes, ", ")
				}
				format := ""
				if pr.Format != "" {
					format = ", format " + pr.Format
				}
				fmt.Fprintf(w, "%-15s %s (%s%s): %s\n", pr.Kind, pr.Result, nodes, format, pr.Err)
			}
		}
		if rep.OK() {
			fmt.Fprintln(w, "ok")
		} else {
			fmt.Fprintf(w, "problems: %d\n", len(rep.Problems))
			if n := kinds[maintain.ProblemCorrupt]; n > 0 {
				fmt.Fprintf(w, "%d damaged results: a run that needs one misses, executes the node again and replaces it; flowcache evict --damaged removes them now\n", n)
			}
			if n := kinds[maintain.ProblemUnverifiable]; n > 0 {
				fmt.Fprintf(w, "%d results in formats this program does not register: verify them with maintain.Cache.Verify in a program that imports the format\n", n)
			}
			if n := kinds[maintain.ProblemMissingResult] + kinds[maintain.ProblemNotAFile] + kinds[maintain.ProblemStaleTemp]; n > 0 {
				fmt.Fprintf(w, "flowcache evict --gc removes entries whose result is missing, non-files at result paths and stale temporary files (%d)\n", n)
			}
		}
	}
	if !rep.OK() {
		return &exitError{code: exitDamaged, err: fmt.Errorf("%d problems found", len(rep.Problems))}
	}
	return nil
}

func evictPolicy(o *opts) (maintain.Policy, error) {
	p := maintain.Policy{GC: o.gc, Damaged: o.damaged, DryRun: o.dryRun, MaxEntries: o.maxEntries}
	if o.maxEntries < 0 {
		return p, usageErr("--max-entries %d: want a positive number", o.maxEntries)
	}
	if o.maxSize != "" {
		n, err := core.ParseSize(o.maxSize)
		if err != nil {
			return p, usageErr("--max-size: %v", err)
		}
		if n == 0 {
			return p, usageErr("--max-size 0: want a positive size (to empty a cache, delete its directory)")
		}
		p.MaxSize = n
	}
	if o.olderThan != "" {
		d, err := core.ParseAge(o.olderThan)
		if err != nil || d <= 0 {
			return p, usageErr("--older-than %q: want a positive duration like 720h or 30d", o.olderThan)
		}
		p.OlderThan = d
	}
	g, err := core.ParseAge(o.grace)
	if err != nil || g < 0 {
		return p, usageErr("--grace %q: want a duration like 1h, or 0 for none", o.grace)
	}
	p.Grace = g
	if g == 0 {
		p.Grace = maintain.NoGrace
	}
	if p.MaxSize == 0 && p.MaxEntries == 0 && p.OlderThan == 0 && !p.GC && !p.Damaged {
		return p, usageErr("nothing to do: give --max-size, --max-entries, --older-than, --gc or --damaged")
	}
	return p, nil
}

func cmdEvict(ctx context.Context, e env, o *opts, c *inspect.Cache, _ []string) error {
	p, err := evictPolicy(o)
	if err != nil {
		return err
	}
	rep, err := maintainer(c).Evict(ctx, p)
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(e.stdout, rep)
	}
	w := e.stdout
	verb, verbPast := "evicted", "freed"
	if rep.DryRun {
		verb, verbPast = "would evict", "would free"
	}
	if rep.DryRun || o.verbose {
		for _, x := range rep.Entries {
			node := x.Node
			if x.CodeManifest {
				node += " (code manifest)"
			}
			fmt.Fprintf(w, "entry   %s  %-20s last used %s  (%s)\n", x.Key.Short(), node, x.LastUsed.Local().Format("2006-01-02 15:04"), x.Reason)
		}
		for _, x := range rep.Results {
			fmt.Fprintf(w, "result  %s  %s  (%s)\n", x.Result, fmtBytes(x.Size), x.Reason)
		}
		for _, d := range rep.Debris {
			fmt.Fprintf(w, "%-7s %s/%s  %s  (%s)\n", "file", local.ResultsDir, d.Path, d.What, d.Kind)
		}
	}
	fmt.Fprintf(w, "%s %d entries and %d results, %s %s; %d entries and %d results (%s) left\n",
		verb, len(rep.Entries), len(rep.Results), verbPast, fmtBytes(rep.FreedBytes), rep.After.Entries, rep.After.Results, fmtBytes(rep.After.Bytes))
	if len(rep.Debris) > 0 {
		removed := "removed"
		if rep.DryRun {
			removed = "would remove"
		}
		fmt.Fprintf(w, "%s %d files under %s/ that are not results (non-files at result paths, temporary files of killed writers)\n", removed, len(rep.Debris), local.ResultsDir)
	}
	if rep.ProtectedEntries > 0 || rep.ProtectedResults > 0 {
		fmt.Fprintf(w, "kept %d entries and %d results stored or used within the grace period (%s)\n", rep.ProtectedEntries, rep.ProtectedResults, fmtDuration(rep.Grace))
	}
	if rep.KeptEntries > 0 || rep.KeptResults > 0 {
		fmt.Fprintf(w, "kept %d entries and %d results a run stored or used while evicting\n", rep.KeptEntries, rep.KeptResults)
	}
	if p.MaxSize > 0 && rep.After.Bytes > p.MaxSize {
		fmt.Fprintf(w, "the results still take %s, over --max-size %s: the rest is within the grace period\n", fmtBytes(rep.After.Bytes), fmtBytes(p.MaxSize))
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shortVersion shortens a code or data version for a table (the JSON has
// them whole).
func shortVersion(v string) string {
	if len(v) > 12 {
		return v[:12]
	}
	return v
}
