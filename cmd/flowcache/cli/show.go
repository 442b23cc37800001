package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/inspect"

	"github.com/flowcache/flowcache/internal/atomicfile"
)

func init() {
	commands = append(commands, command{
		name: "show", args: "NODE [RUN]", short: "print a node's stored value", nargs: 1, optArgs: 1,
		long: `Prints the value a node had in a run, as the run stored it: by default the
newest run in which the node appears, else RUN (a full run id, a unique prefix
of one, or "last"). NODE is a node name, or node@task for one task of a fan-out
branch (flowcache nodes lists them).

The result is read as a run would read it: verified before it is decoded, so a
damaged result is an error (exit code 4), never a wrong value. How it prints
depends on the format the run stored it in:

  gob, gob+zstd     JSON, without the program's Go types: structs as objects
                    by field name, maps, slices, times in RFC 3339; an
                    interface value as {"type": its registered name, "value"}
  json, json+zstd   the JSON, indented
  csv               the CSV as stored
  parquet, arrow    the table as CSV, a header cell per column with its type

--json prints tables as JSON too: an array of rows, each an object of the
column names and the cells as text ([][]string tables: an array of arrays).
-o FILE writes what would be printed to FILE instead of stdout. --raw prints
(or writes) the stored bytes as the format wrote them, for any format.
-v says which run, format, type and data version the value comes from, on
stderr.

Fields gob leaves out of a stream (zero values) print as their type's zero:
nil and empty slices or maps, and a nil pointer to a number and 0, look alike.
A node that has no stored value in the run (an input, behaviour disable or
ignore, failed) is an error saying so (exit code 3).`,
		examples: `  flowcache show statistics
  flowcache show statistics 01a2125c
  flowcache show 'parsed@files[3]' last
  flowcache show table --json -o table.json
  flowcache show model --raw -o model.gob`,
		flags: func(fs *flag.FlagSet, o *opts) {
			fs.StringVar(&o.out, "o", "", "write the value to `FILE` instead of stdout")
			fs.BoolVar(&o.raw, "raw", false, "print the stored bytes as the format wrote them")
			fs.BoolVar(&o.verbose, "v", false, "say where the value comes from, on stderr")
		},
		run: cmdShow,
	})
}

func cmdShow(ctx context.Context, e env, o *opts, c *inspect.Cache, args []string) error {
	var run core.RunID
	if len(args) > 1 {
		run = core.RunID(args[1])
	}
	r, err := c.FindResult(ctx, args[0], run)
	if err != nil {
		if errors.Is(err, core.ErrInvalid) {
			return &exitError{code: exitUsage, err: err}
		}
		return err
	}
	if o.verbose {
		typ := r.Type
		if typ == "" {
			typ = "unknown type"
		}
		fmt.Fprintf(e.stderr, "node %s of run %s: %s, format %s, data version %s\n", r.Name(), r.Run, typ, r.Format, r.DataVersion)
	}
	var out bytes.Buffer
	if err := showValue(ctx, &out, c, r, o); err != nil {
		if errors.Is(err, core.ErrCorrupt) {
			return &exitError{code: exitDamaged, err: err}
		}
		return err
	}
	if o.out == "" {
		_, err := e.stdout.Write(out.Bytes())
		return err
	}
	if err := atomicfile.Write(o.out, out.Bytes(), 0o600); err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	fmt.Fprintf(e.stdout, "wrote node %s of run %s to %s (%s)\n", r.Name(), r.Run, o.out, fmtBytes(int64(out.Len())))
	return nil
}

// showValue writes r's value to w as show prints it.
func showValue(ctx context.Context, w *bytes.Buffer, c *inspect.Cache, r *inspect.Result, o *opts) (err error) {
	if !o.raw {
		err := c.WriteValue(ctx, w, r, o.json)
		if errors.Is(err, core.ErrUnsupportedType) || errors.Is(err, core.ErrInvalid) {
			return fmt.Errorf("%w (--raw prints its bytes)", err)
		}
		return err
	}
	rc, err := c.OpenResult(ctx, r)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := rc.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	_, err = io.Copy(w, rc)
	return err
}
