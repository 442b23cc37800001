package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats"
	fcsv "github.com/flowcache/flowcache/formats/csv"
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
	rc, err := c.OpenResult(ctx, r)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := rc.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	fail := func(err error) error {
		return fmt.Errorf("node %q of run %s: %w", r.Name(), r.Run, err)
	}
	if o.raw {
		_, err := io.Copy(w, rc)
		return err
	}
	f, err := formats.Lookup(r.Format)
	if err != nil {
		return fail(fmt.Errorf("%w (--raw prints its bytes)", err))
	}
	var table []byte
	switch r.Format {
	case "csv":
		if table, err = io.ReadAll(rc); err == nil {
			err = f.(core.FormatValidator).Validate(bytes.NewReader(table))
		}
	case "parquet", "arrow":
		table, err = arrowCSV(f, rc)
	default:
		v, derr := formats.DecodeAny(f, rc)
		if errors.Is(derr, core.ErrUnsupportedType) {
			return fail(fmt.Errorf("%w (--raw prints its bytes)", derr))
		}
		if derr != nil {
			return fail(derr)
		}
		return writeJSON(w, v)
	}
	if err != nil {
		return fail(err)
	}
	if !o.json {
		_, err := w.Write(table)
		return err
	}
	return tableJSON(w, table, r.Type == "[][]string")
}

// arrowCSV decodes an Arrow table (parquet, arrow) and writes it as CSV.
func arrowCSV(f core.Format, r io.Reader) ([]byte, error) {
	v, err := f.Decode(r, reflect.TypeFor[arrow.Table]())
	if err != nil {
		return nil, err
	}
	tbl, ok := v.(arrow.Table)
	if !ok {
		return nil, fmt.Errorf("%w: format %s decoded a %T, not a table", core.ErrCorrupt, f.Name(), v)
	}
	defer tbl.Release()
	// A CSV header holds names and types: the metadata flowcache keeps in
	// a schema (nil slices, see formats/arrow) or a user put there is not
	// shown.
	fields := tbl.Schema().Fields()
	cols := make([]arrow.Column, len(fields))
	for i := range fields {
		fields[i].Metadata = arrow.Metadata{}
		cols[i] = *arrow.NewColumn(fields[i], tbl.Column(i).Data())
	}
	plain := array.NewTable(arrow.NewSchema(fields, nil), cols, tbl.NumRows())
	for i := range cols {
		cols[i].Release()
	}
	defer plain.Release()
	var buf bytes.Buffer
	if err := fcsv.New().Encode(&buf, plain); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tableJSON writes CSV as JSON: rows as objects of the header's column
// names (without the Arrow type flowcache's CSV adds), or, without a
// header, as arrays.
func tableJSON(w io.Writer, table []byte, noHeader bool) error {
	cr := csv.NewReader(bytes.NewReader(table))
	cr.FieldsPerRecord = -1
	recs, err := cr.ReadAll()
	if err != nil {
		return fmt.Errorf("%w: reading the CSV: %v", core.ErrCorrupt, err)
	}
	if noHeader {
		if recs == nil {
			recs = [][]string{}
		}
		return writeJSON(w, recs)
	}
	rows := []any{}
	if len(recs) > 0 {
		header := recs[0]
		for i, h := range header {
			if j := strings.Index(h, " ["); j > 0 && strings.HasSuffix(h, "]") {
				header[i] = h[:j]
			}
		}
		for _, rec := range recs[1:] {
			row := orderedRow{names: header, cells: rec}
			rows = append(rows, row)
		}
	}
	return writeJSON(w, rows)
}

// orderedRow is a table row as a JSON object, its columns in order.
type orderedRow struct {
	names, cells []string
}

func (r orderedRow) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, name := range r.names {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		b.Write(k)
		b.WriteByte(':')
		cell := ""
		if i < len(r.cells) {
			cell = r.cells[i]
		}
		v, _ := json.Marshal(cell)
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
