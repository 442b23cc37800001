// Command flowcache looks into a flowcache cache: the runs it holds, what
// each node did in a run and why it missed, the values it stored, its size,
// whether every stored result is whole, and eviction.
//
//	flowcache runs                       # every run, oldest first
//	flowcache nodes last                 # what each node of the newest run did
//	flowcache why statistics             # why a node missed: which part of its key changed
//	flowcache show statistics            # a node's stored value, as JSON (tables as CSV)
//	flowcache logs last --level debug    # a run's events
//	flowcache size                       # entries, results, bytes
//	flowcache verify                     # read every result to its end (checksums)
//	flowcache evict --max-size 10GB --gc # least recently used first
//	flowcache draw last -o run.svg       # the run's dataflow, retrieved nodes outlined
//	flowcache lineage statistics         # a node's values across runs, or a value's lineage
//	flowcache serve                      # a web view of the cache on 127.0.0.1:8080
//
// The cache is the one --cache names (a directory, a directory with query
// parameters, or a store URL), else $FLOWCACHE_URL, else ./.flowcache, and
// the string is read as the driver reads it (core.ParseStoreURL), so the
// command opens the cache a pipeline used. A URL is only ever printed
// redacted (core.Redact): no password or secret parameter reaches stdout or
// stderr. Every command prints text for people, or JSON with --json. Run `flowcache help` for the
// commands, their flags and the exit codes.
//
// The command is package cli (Main) linked with this module's backends; to
// open a store of another scheme, build it with that backend linked in (see
// package cli).
package main

import (
	"os"

	"github.com/flowcache/flowcache/cmd/flowcache/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
