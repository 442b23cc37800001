package csv

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// timeLayoutZ writes "Z" for a zero offset; timeLayoutOffset always writes
// the offset ("+00:00" too), so an unnamed zone at offset 0 stays one.
const (
	timeLayoutZ      = "2006-01-02T15:04:05.999999999Z07:00"
	timeLayoutOffset = "2006-01-02T15:04:05.999999999-07:00"
)

// Encode writes v, a value of a type Check accepts, as CSV: the header row
// (for struct rows), then one record per row, the last one ending with the
// end mark "\r\n". It writes through a 64 KiB buffer, one record at a
// time, so memory does not grow with the table.
func (f *format) Encode(w io.Writer, v any) error {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return fmt.Errorf("csv: cannot encode untyped nil")
	}
	t := rv.Type()
	switch v.(type) {
	case arrow.RecordBatch:
		t = recordType
	case arrow.Table:
		t = tableType
	}
	p, err := planFor(t)
	if err != nil {
		return err
	}
	e := encoder{bw: bufio.NewWriterSize(w, 64<<10), cfg: &f.cfg}
	switch {
	case p.rows == stringRows && rv.IsNil():
		// An empty line before the end mark: a nil table, which no other
		// [][]string is written as (rows without cells are refused).
		e.bw.WriteByte('\n')
	case p.rows == stringRows:
		err = e.stringRows(rv)
	case p.rows == arrowRows:
		err = e.arrowRows(v)
	case rv.IsNil():
		// The end mark alone, without a header: a nil table, which no
		// other table of structs is written as (its header is never one
		// unquoted empty cell).
	default:
		err = e.structRows(p, rv)
	}
	if err != nil {
		return err
	}
	if err := e.finish(); err != nil {
		return fmt.Errorf("csv: writing %v: %w", p.t, err)
	}
	return nil
}

type encoder struct {
	bw      *bufio.Writer
	cfg     *config
	buf     []byte // the record being built, without its line end
	started bool   // a record was written; it still lacks its line end
}

// end writes the record in e.buf. Its line end is written before the next
// record ("\n") or by finish ("\r\n"), as only the last record's differs.
func (e *encoder) end(row int) error {
	if n := len(e.buf) + 2; n > e.cfg.maxRecord {
		return fmt.Errorf("csv: row %d is %d bytes, above the record size limit of %d bytes (see MaxRecordSize)", row, n, e.cfg.maxRecord)
	}
	if e.started {
		e.bw.WriteByte('\n')
	}
	_, err := e.bw.Write(e.buf)
	e.buf, e.started = e.buf[:0], true
	return err
}

// finish ends the last record with the end mark "\r\n" (alone, for a
// table without records) and flushes.
func (e *encoder) finish() error {
	e.bw.WriteString("\r\n")
	return e.bw.Flush()
}

func (e *encoder) stringRows(rv reflect.Value) error {
	for i := range rv.Len() {
		row := rv.Index(i)
		if row.Len() == 0 {
			return fmt.Errorf("csv: row %d of %v has no cells: a CSV line cannot hold an empty row (readers skip blank lines)", i, rv.Type())
		}
		for j := range row.Len() {
			if j > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = appendString(e.buf, row.Index(j).String())
		}
		if err := e.end(i); err != nil {
			return err
		}
	}
	return nil
}

func (e *encoder) structRows(p *plan, rv reflect.Value) error {
	for j, name := range p.header {
		if j > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendString(e.buf, name)
	}
	if err := e.end(-1); err != nil {
		return err
	}
	for i := range rv.Len() {
		row := rv.Index(i)
		if p.rows == structPtrRows {
			if row.IsNil() {
				return fmt.Errorf("csv: row %d of %v is a nil pointer: a csv row cannot be nil", i, p.t)
			}
			row = row.Elem()
		}
		for j := range p.cols {
			c := &p.cols[j]
			if j > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.cell(c, row.Field(c.field)); err != nil {
				return fmt.Errorf("csv: row %d, field %s: %w", i, c.path, err)
			}
		}
		if err := e.end(i); err != nil {
			return err
		}
	}
	return nil
}

// cell appends the cell of field value v of column c.
func (e *encoder) cell(c *column, v reflect.Value) error {
	if c.nullable {
		if v.IsNil() {
			return nil // null: an empty cell without quotes
		}
		v = v.Elem()
	}
	switch c.kind {
	case cellBool:
		e.buf = strconv.AppendBool(e.buf, v.Bool())
	case cellInt:
		e.buf = strconv.AppendInt(e.buf, v.Int(), 10)
	case cellUint:
		e.buf = strconv.AppendUint(e.buf, v.Uint(), 10)
	case cellFloat32:
		e.buf = strconv.AppendFloat(e.buf, v.Float(), 'g', -1, 32)
	case cellFloat64:
		e.buf = appendFloat64(e.buf, v.Float())
	case cellString:
		e.buf = appendString(e.buf, v.String())
	case cellBytes:
		if v.IsNil() {
			return nil
		}
		b := v.Bytes()
		if len(b) == 0 {
			e.buf = append(e.buf, `""`...)
			return nil
		}
		e.buf = base64.StdEncoding.AppendEncode(e.buf, b)
	case cellTime:
		var err error
		var t time.Time
		if v.CanAddr() {
			t = *v.Addr().Interface().(*time.Time) // no allocation
		} else {
			t = v.Interface().(time.Time)
		}
		e.buf, err = appendTime(e.buf, t, e.cfg.lossyZones)
		return err
	}
	return nil
}

func appendFloat64(b []byte, f float64) []byte {
	// Integral values below 2^53 are written as integers ("1000000" rather
	// than 'g''s "1e+06"): they parse back to the same float, and AppendInt
	// is several times faster than the shortest-float search.
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 && (f != 0 || !math.Signbit(f)) {
		return strconv.AppendInt(b, int64(f), 10)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// needsQuotes reports whether s must be written between quotes: when it is
// empty (an unquoted empty cell is null), holds a separator, a quote or a
// line end, or has white space at an edge (which some readers trim).
func needsQuotes(s string) bool {
	if s == "" {
		return true
	}
	if c := s[0]; c == ' ' || c == '\t' {
		return true
	}
	if c := s[len(s)-1]; c == ' ' || c == '\t' {
		return true
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', '"', '\r', '\n':
			return true
		}
	}
	return false
}

func appendString(b []byte, s string) []byte {
	if !needsQuotes(s) {
		return append(b, s...)
	}
	b = append(b, '"')
	for {
		i := indexQuote(s)
		if i < 0 {
			break
		}
		b = append(b, s[:i+1]...)
		b = append(b, '"')
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, '"')
}

func indexQuote(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			return i
		}
	}
	return -1
}

var errYear = errors.New("year outside 0..9999 cannot be written in RFC 3339")

// appendTime writes t in RFC 3339 with nanoseconds. Times in UTC and in
// unnamed fixed zones round-trip exactly; others are refused unless lossy.
func appendTime(b []byte, t time.Time, lossy bool) ([]byte, error) {
	name := t.Location().String()
	_, off := t.Zone()
	var layout string
	switch {
	case name == "UTC" && off == 0:
		layout = timeLayoutZ
	case name == "" && off%60 == 0:
		layout = timeLayoutOffset
	case !lossy:
		return b, fmt.Errorf("time %v is in the zone %q, which a csv file cannot name: it would load back as a fixed offset and fingerprint differently; convert it with .UTC(), or use the LossyTimeZones option", t, name)
	case off%60 == 0:
		layout = timeLayoutZ
	default:
		t, layout = t.UTC(), timeLayoutZ
	}
	if y := t.Year(); y < 0 || y > 9999 {
		return b, fmt.Errorf("time %v: %w", t, errYear)
	}
	return t.AppendFormat(b, layout), nil
}
