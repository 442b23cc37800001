package inspect

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats"
	fcsv "github.com/flowcache/flowcache/formats/csv"
)

// WriteValue writes the value r locates as text a person reads, without the
// program's Go types, by the format the run stored it in (what `flowcache
// show` prints):
//
//	gob, gob+zstd     JSON, indented: structs as objects by field name,
//	                  maps, slices, times in RFC 3339; an interface value
//	                  as {"type": its registered name, "value"}
//	json, json+zstd   the JSON, indented
//	csv               the CSV as stored
//	parquet, arrow    the table as CSV, a header cell per column with its type
//
// With tablesAsJSON, tables (csv, parquet, arrow) are written as JSON too:
// an array of rows, each an object of the column names and the cells as
// text (a [][]string table: an array of arrays).
//
// The result is verified before it is decoded (see OpenResult): a damaged
// result is an error wrapping core.ErrCorrupt, never a wrong value; a
// format this program does not know, or a value DecodeAny cannot read
// without its type, one wrapping core.ErrUnsupportedType. Errors name the
// node and the run.
func (c *Cache) WriteValue(ctx context.Context, w io.Writer, r *Result, tablesAsJSON bool) (err error) {
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
	f, err := formats.Lookup(r.Format)
	if err != nil {
		return fail(err)
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
		if derr != nil {
			return fail(derr)
		}
		return writeIndented(w, v)
	}
	if err != nil {
		return fail(err)
	}
	if !tablesAsJSON {
		_, err := w.Write(table)
		return err
	}
	return tableJSON(w, table, r.Type == "[][]string")
}

func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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
		return writeIndented(w, recs)
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
			rows = append(rows, orderedRow{names: header, cells: rec})
		}
	}
	return writeIndented(w, rows)
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
