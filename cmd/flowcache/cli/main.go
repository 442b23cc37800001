// Package cli is the flowcache command (see cmd/flowcache for what it
// does), as a package: Main runs it. It links the backends of this module;
// a backend of another module builds the command with its scheme linked in
// by a main package of its own that imports the backend:
//
//	package main
//
//	import (
//		"os"
//
//		_ "example.com/mybackend" // registers dir://
//		"github.com/flowcache/flowcache/cmd/flowcache/cli"
//	)
//
//	func main() { os.Exit(cli.Main(os.Args[1:])) }
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	_ "github.com/flowcache/flowcache/backends/azure"    // azblob://
	_ "github.com/flowcache/flowcache/backends/docstore" // ?metadata=dynamodb://, firestore://, mongo://
	_ "github.com/flowcache/flowcache/backends/gcs"      // gs://
	_ "github.com/flowcache/flowcache/backends/local"    // file:// and paths
	_ "github.com/flowcache/flowcache/backends/mem"      // mem:// (within one process: for tests)
	_ "github.com/flowcache/flowcache/backends/s3"       // s3://
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/inspect"
)

// The exit codes.
const (
	exitOK       = 0
	exitFailure  = 1 // the operation failed: the store could not be read or written
	exitUsage    = 2 // bad command line: unknown command or flag, bad value, ambiguous run prefix
	exitNotFound = 3 // no cache there, no such run, or the node is in no run
	exitDamaged  = 4 // verify found damaged results or entries without their result; show read a damaged result
)

// Main runs the flowcache command with args (os.Args[1:]) on the process's
// stdout, stderr and environment, until an interrupt, and returns the exit
// code.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return run(ctx, args, env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, terminal: isTerminal(os.Stderr)})
}

// env is what a command runs against, so that tests can call run.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// terminal says whether stderr is a terminal (progress bars).
	terminal bool
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// command is one subcommand.
type command struct {
	name, args, short string
	// long is the help text after the usage line: what it does, flags are
	// added after it, then the examples.
	long     string
	examples string
	// flags adds the command's own flags to fs.
	flags func(fs *flag.FlagSet, o *opts)
	// nargs is the number of positional arguments, optArgs the number of
	// optional ones that may follow.
	nargs, optArgs int
	// noCache commands work on source, not on a cache: run gets a nil
	// Cache.
	noCache bool
	run     func(ctx context.Context, e env, o *opts, c *inspect.Cache, args []string) error
}

// opts holds every flag of every command; each command registers its own.
type opts struct {
	cache string
	json  bool

	dir, output string // codeversions
	check       bool

	level    string
	jsonl    bool
	run      string
	top      int
	limit    int
	progress string
	verbose  bool

	out         string
	format      string
	topToBottom bool
	maxTasks    int
	noTimings   bool

	maxSize    string
	maxEntries int
	olderThan  string
	grace      string
	gc         bool
	damaged    bool
	dryRun     bool

	raw bool // show

	depth int // lineage

	addr       string // serve
	allowEvict bool
}

// exitError carries an exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// codeOf maps an error to an exit code.
func codeOf(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, inspect.ErrAmbiguous):
		return exitUsage
	case errors.Is(err, core.ErrNotFound):
		return exitNotFound
	}
	return exitFailure
}

func run(ctx context.Context, args []string, e env) int {
	// Global flags may come before the command.
	var o opts
	global := flag.NewFlagSet("flowcache", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	commonFlags(global, &o)
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			topUsage(e.stdout)
			return exitOK
		}
		fmt.Fprintf(e.stderr, "flowcache: %v\n\n", err)
		topUsage(e.stderr)
		return exitUsage
	}
	args = global.Args()
	if len(args) == 0 {
		topUsage(e.stderr)
		return exitUsage
	}
	name := args[0]
	if name == "help" {
		if len(args) > 1 {
			if c := findCommand(args[1]); c != nil {
				commandUsage(e.stdout, c)
				return exitOK
			}
		}
		topUsage(e.stdout)
		return exitOK
	}
	c := findCommand(name)
	if c == nil {
		fmt.Fprintf(e.stderr, "flowcache: unknown command %q\n\n", name)
		topUsage(e.stderr)
		return exitUsage
	}
	fs := flag.NewFlagSet("flowcache "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	commonFlags(fs, &o)
	if c.flags != nil {
		c.flags(fs, &o)
	}
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			commandUsage(e.stdout, c)
			return exitOK
		}
		fmt.Fprintf(e.stderr, "flowcache %s: %v\n", c.name, err)
		fmt.Fprintf(e.stderr, "usage: flowcache %s %s (flowcache help %s)\n", c.name, c.args, c.name)
		return exitUsage
	}
	if len(pos) < c.nargs || len(pos) > c.nargs+c.optArgs {
		what := "no arguments"
		if c.nargs > 0 {
			what = c.args
		}
		// An argument may be a cache given without --cache: print it
		// redacted, without its query (whose parameters we cannot tell
		// apart from secrets here), and say where it goes.
		shown := make([]string, len(pos))
		hint := ""
		for i, p := range pos {
			shown[i] = core.Redact(p)
			if j := strings.IndexByte(shown[i], '?'); j >= 0 {
				shown[i] = shown[i][:j] + "?…"
			}
			if strings.Contains(p, "://") || strings.Contains(p, "?") {
				hint = " (give the cache with --cache)"
			}
		}
		fmt.Fprintf(e.stderr, "flowcache %s: want %s, got %d argument(s) %q%s\n", c.name, what, len(pos), shown, hint)
		fmt.Fprintf(e.stderr, "usage: flowcache %s %s (flowcache help %s)\n", c.name, c.args, c.name)
		return exitUsage
	}
	err = runCommand(ctx, e, c, &o, pos)
	if err != nil {
		// The stores' errors may hold what a backend took from the URL:
		// its secrets never reach the terminal.
		err = core.RedactError(err, cacheURL(&o, e))
		fmt.Fprintf(e.stderr, "flowcache %s: %v\n", c.name, err)
	}
	return codeOf(err)
}

func runCommand(ctx context.Context, e env, c *command, o *opts, pos []string) error {
	// Flags are checked before the cache is opened.
	if v, ok := commandChecks[c.name]; ok {
		if err := v(o); err != nil {
			return err
		}
	}
	if c.noCache {
		return c.run(ctx, e, o, nil, pos)
	}
	// The cache is picked and opened as the driver does it: the string from
	// core.ResolveCacheURL, read by core.ParseStoreURL in inspect.Open.
	ic, err := inspect.Open(ctx, cacheURL(o, e))
	if err != nil {
		hint := fmt.Errorf("%v\n(pick a cache with --cache PATH|URL or $%s; the default is ./%s)", err, driver.EnvURL, driver.DefaultCacheDir)
		switch {
		case errors.Is(err, core.ErrNotFound):
			return &exitError{code: exitNotFound, err: hint}
		case errors.Is(err, core.ErrInvalid):
			return &exitError{code: exitUsage, err: hint}
		}
		return &exitError{code: exitFailure, err: err}
	}
	defer ic.Close()
	return c.run(ctx, e, o, ic, pos)
}

// commandChecks validate a command's flags before the cache is opened.
var commandChecks = map[string]func(o *opts) error{}

// cacheURL returns the cache to open: --cache, else $FLOWCACHE_URL, else
// ./.flowcache (core.ResolveCacheURL).
func cacheURL(o *opts, e env) string { return core.ResolveCacheURL(o.cache, e.getenv) }

func commonFlags(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.cache, "cache", o.cache, "the cache: a directory or a store URL (default $"+driver.EnvURL+", else ./"+driver.DefaultCacheDir+")")
	fs.BoolVar(&o.json, "json", o.json, "print JSON for scripts instead of text")
}

// parseInterleaved parses flags that may come after positional arguments
// ("nodes last --json"), which package flag alone stops at.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func findCommand(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

func topUsage(w io.Writer) {
	fmt.Fprintf(w, `flowcache looks into a flowcache cache.

usage: flowcache [--cache PATH|URL] [--json] <command> [flags] [arguments]

commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %-28s %s\n", c.name, c.args, c.short)
	}
	fmt.Fprintf(w, `
The cache is --cache (a directory like ./.flowcache, or a URL: file:///abs/dir,
s3://bucket/prefix?region=..., gs://..., azblob://..., with metadata elsewhere
by ?metadata=dynamodb://..., firestore://..., mongo://...), else $%s, else
./%s. RUN is a full run id, a unique prefix of one, or "last".
Every command takes --json to print JSON for scripts.

examples:
  flowcache runs
  flowcache nodes last
  flowcache why statistics
  flowcache show statistics
  flowcache logs last --level debug
  flowcache --cache /var/cache/flow size --json
  flowcache verify
  flowcache evict --older-than 30d --gc --dry-run
  flowcache evict --max-size 10GB
  flowcache draw last -o run.svg
  flowcache lineage statistics
  flowcache serve

exit codes:
  0  success
  1  the operation failed (the store could not be read or written)
  2  bad command line (unknown command or flag, bad value, ambiguous run prefix)
  3  not found: no cache there, no such run, or the node is in no run
  4  verify found damaged results or entries whose result is missing,
     or show found the result damaged

Run "flowcache help <command>" for a command's flags and examples.
`, driver.EnvURL, driver.DefaultCacheDir)
}

func commandUsage(w io.Writer, c *command) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", strings.TrimSpace("flowcache "+c.name+" [flags] "+c.args), strings.TrimSpace(c.long))
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	var o opts
	commonFlags(fs, &o)
	if c.flags != nil {
		c.flags(fs, &o)
	}
	fmt.Fprintf(w, "\nflags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	if c.examples != "" {
		fmt.Fprintf(w, "\nexamples:\n%s\n", strings.TrimRight(c.examples, "\n"))
	}
}
