package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/flowcache/flowcache/core/codeversion"
	"github.com/flowcache/flowcache/inspect"

	"github.com/flowcache/flowcache/internal/atomicfile"
)

func init() {
	commands = append(commands, command{
		name: "codeversions", args: "", short: "write the code version table a deployed binary needs",
		long: `Writes the build-time table of code versions of the main package in --dir
(default: the current directory) to ` + codeversion.TableFileName + ` there. A binary
built with the table computes, without its source, the very code versions its
source gives: run it before go build whenever the binary will run where its
source is absent, was built with -trimpath, or may be older than the source
beside it (a container image, a cluster job). Without a table such a binary
versions its code by its executable: every rebuild is a miss for every node.

Put the directive in the main package and generate before every build:

  //go:generate go run github.com/flowcache/flowcache/cmd/flowcache codeversions

--check writes nothing: it exits with 1 when the table is missing or older than
the source (for CI: go generate forgotten before a build).`,
		examples: `  flowcache codeversions
  flowcache codeversions --dir ./cmd/pipeline
  flowcache codeversions --check`,
		flags: func(fs *flag.FlagSet, o *opts) {
			fs.StringVar(&o.dir, "dir", ".", "the main package's `DIR`")
			fs.StringVar(&o.output, "o", "", "write the table to `FILE` (default: DIR/"+codeversion.TableFileName+"; - for stdout)")
			fs.BoolVar(&o.check, "check", false, "check that the table is up to date; write nothing")
		},
		noCache: true,
		run:     cmdCodeVersions,
	})
}

func cmdCodeVersions(_ context.Context, e env, o *opts, _ *inspect.Cache, _ []string) error {
	out := o.output
	if out == "" {
		out = filepath.Join(o.dir, codeversion.TableFileName)
	}
	src, err := codeversion.GenerateTable(o.dir)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	if o.check {
		old, err := os.ReadFile(out)
		if err != nil {
			return &exitError{code: exitFailure, err: fmt.Errorf("no table: %w (run flowcache codeversions)", err)}
		}
		if !bytes.Equal(old, src) {
			return &exitError{code: exitFailure, err: fmt.Errorf("%s is stale: the source changed since it was generated (run flowcache codeversions)", out)}
		}
		fmt.Fprintf(e.stdout, "%s is up to date\n", out)
		return nil
	}
	if out == "-" {
		_, err := e.stdout.Write(src)
		return err
	}
	if err := atomicfile.Write(out, src, 0o600); err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	fmt.Fprintf(e.stdout, "wrote %s (%d bytes)\n", out, len(src))
	return nil
}
