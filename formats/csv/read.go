package csv

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/internal/corrupt"
)

// reader splits CSV input into records, one at a time. Unlike encoding/csv
// it reports which cells were quoted (a quoted empty cell is an empty
// string, an unquoted one is null), keeps "\r\n" inside quoted cells,
// bounds the bytes of a record, and requires the end mark: records end
// with "\n", except the last, which ends with "\r\n".
type reader struct {
	br     *bufio.Reader
	max    int
	line   int    // lines read so far
	start  int    // the line the current record began on
	rec    []byte // the unescaped cells of the current record, back to back
	ends   []int  // ends[i] is the end of cell i in rec
	quoted []bool // quoted[i] reports whether cell i was quoted
	long   []byte // a line longer than br's buffer, assembled
	done   bool   // the last record (ending in "\r\n") was read
}

func newReader(r io.Reader, max int) *reader {
	return &reader{br: bufio.NewReaderSize(r, 64<<10), max: max}
}

// errorf returns a decoding error naming the line of the current record.
func (r *reader) errorf(format string, args ...any) error {
	return fmt.Errorf("line %d: %s", r.start, fmt.Sprintf(format, args...))
}

// readLine returns the next line, ending in '\n', valid until the next
// call. It returns io.EOF at the end of input, and an error for a last
// line without a line end or a line that would make the record longer
// than the limit.
func (r *reader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		r.long = append(r.long[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(r.rec)+len(r.long) > r.max {
				return nil, r.errorf("record longer than the limit of %d bytes", r.max)
			}
			line, err = r.br.ReadSlice('\n')
			r.long = append(r.long, line...)
		}
		line = r.long
	}
	switch {
	case err == io.EOF && len(line) == 0:
		return nil, io.EOF
	case err == io.EOF:
		r.line++
		return nil, fmt.Errorf("line %d: the input ends without a line end (truncated?)", r.line)
	case err != nil:
		return nil, err
	}
	r.line++
	if len(r.rec)+len(line) > r.max {
		return nil, r.errorf("record longer than the limit of %d bytes", r.max)
	}
	return line, nil
}

// next reads the next record. It returns io.EOF after the last record,
// when the input ends there, and an error when the input ends before the
// end mark (it was cut between records) or goes on after it.
func (r *reader) next() error {
	r.rec, r.ends, r.quoted = r.rec[:0], r.ends[:0], r.quoted[:0]
	r.start = r.line + 1
	if r.done {
		if _, err := r.br.ReadByte(); err != io.EOF {
			if err != nil {
				return err
			}
			return r.errorf("data after the end of the table")
		}
		return io.EOF
	}
	line, err := r.readLine()
	if err == io.EOF {
		if r.line == 0 {
			return errors.New("empty input")
		}
		return fmt.Errorf("the input ends after line %d, without the end mark (truncated?)", r.line)
	}
	if err != nil {
		return err
	}
	for {
		// line holds the rest of the record from the start of a cell and
		// ends with '\n'.
		if line[0] != '"' {
			last := false
			i := bytes.IndexByte(line, ',')
			var cell []byte
			if i >= 0 {
				cell, line = line[:i], line[i+1:]
			} else {
				cell, last = line[:len(line)-1], true
				if n := len(cell); n > 0 && cell[n-1] == '\r' {
					cell, r.done = cell[:n-1], true
				}
			}
			if bytes.IndexByte(cell, '"') >= 0 {
				return r.errorf("a quote inside an unquoted cell")
			}
			if bytes.IndexByte(cell, '\r') >= 0 {
				return r.errorf("a carriage return inside an unquoted cell")
			}
			r.rec = append(r.rec, cell...)
			r.ends = append(r.ends, len(r.rec))
			r.quoted = append(r.quoted, false)
			if last {
				return nil
			}
			continue
		}
		line = line[1:]
		for {
			i := bytes.IndexByte(line, '"')
			if i < 0 {
				// The cell goes on over the line end.
				r.rec = append(r.rec, line...)
				if line, err = r.readLine(); err != nil {
					if err == io.EOF {
						return r.errorf("a quoted cell of the record begun on this line is not closed")
					}
					return err
				}
				continue
			}
			r.rec = append(r.rec, line[:i]...)
			line = line[i+1:] // not empty: the line ends with '\n'
			if line[0] == '"' {
				r.rec = append(r.rec, '"')
				line = line[1:]
				continue
			}
			break
		}
		r.ends = append(r.ends, len(r.rec))
		r.quoted = append(r.quoted, true)
		switch {
		case line[0] == ',':
			line = line[1:]
		case line[0] == '\n':
			return nil
		case line[0] == '\r' && len(line) == 2:
			r.done = true
			return nil
		default:
			return r.errorf("unexpected %q after a closing quote", line[0])
		}
	}
}

// cells returns the number of cells in the current record.
func (r *reader) cells() int { return len(r.ends) }

// cell returns cell i of the current record, valid until the next call of
// next, and whether it was quoted.
func (r *reader) cell(i int) ([]byte, bool) {
	start := 0
	if i > 0 {
		start = r.ends[i-1]
	}
	return r.rec[start:r.ends[i]], r.quoted[i]
}

// Decode reads a value of type t written by Encode (or any CSV file of the
// same shape), one record at a time. Malformed CSV and cells that do not
// fit their columns are errors wrapping core.ErrCorrupt; a failure of r
// itself is passed on.
func (f *format) Decode(r io.Reader, t reflect.Type) (any, error) {
	p, err := planFor(t)
	if err != nil {
		return nil, err
	}
	src := &corrupt.Reader{R: r}
	what := fmt.Sprintf("csv: decoding %v", t)
	rd := newReader(src, f.cfg.maxRecord)
	if p.rows == arrowRows {
		v, err := decodeArrow(rd, t, memory.DefaultAllocator)
		if err != nil {
			return nil, src.Wrap(what, err)
		}
		return v, nil
	}
	out := &rowSink{t: t}
	if p.rows == stringRows {
		err = decodeStringRows(rd, out)
	} else {
		err = decodeStructRows(rd, p, out)
	}
	if err != nil {
		return nil, src.Wrap(what, err)
	}
	if out.isNil {
		return reflect.Zero(t).Interface(), nil
	}
	return out.finish().Interface(), nil
}

// Validate checks the framing of a CSV file without its Go type (see
// core.FormatValidator): quotes closed, no stray quotes or carriage
// returns, records within the record size limit, the end mark ("\r\n")
// on the last record and nothing after it. CSV holds no lengths or counts
// to check, and which cells are valid depends on the type (a header row
// and a [][]string row look alike), so cells are not parsed: Decode may
// still refuse a file Validate accepts, never the other way round.
// Validate holds one record in memory at a time.
func (f *format) Validate(r io.Reader) error {
	src := &corrupt.Reader{R: r}
	rd := newReader(src, f.cfg.maxRecord)
	for {
		switch err := rd.next(); {
		case err == io.EOF:
			return nil
		case err != nil:
			return src.Wrap("csv: validating", err)
		}
	}
}

var _ core.FormatValidator = (*format)(nil)

// emptyRecord reports whether the record read is one unquoted empty cell:
// an empty line.
func emptyRecord(rd *reader) bool {
	b, q := rd.cell(0)
	return rd.cells() == 1 && len(b) == 0 && !q
}

// nilTable reads what follows the first record, an empty line, of a
// [][]string: the end mark alone, for a nil table.
func nilTable(rd *reader) error {
	if err := rd.next(); err != nil {
		if err == io.EOF {
			err = rd.errorf("an empty line")
		}
		return err
	}
	if !emptyRecord(rd) || !rd.done {
		return rd.errorf("an empty line")
	}
	if err := rd.next(); err != io.EOF {
		if err == nil {
			err = rd.errorf("data after the end of the table")
		}
		return err
	}
	return nil
}

// rowSink collects decoded rows in chunks and builds the slice at the
// end, so a table of unknown length costs one copy of its rows instead of
// the four or so that growing one slice by 1.25× costs, and holds at most
// the table plus one chunk (or one table's worth while the final slice is
// filled) in memory.
type rowSink struct {
	t      reflect.Type // the slice type
	isNil  bool         // the input is a nil table
	chunks []reflect.Value
	cur    reflect.Value
	used   int // rows used in cur
	total  int
}

// sinkChunkBytes bounds the size of one chunk (so of the memory a chunk
// can waste), sinkChunkRows its rows.
const (
	sinkChunkBytes = 4 << 20
	sinkChunkRows  = 1 << 16
)

// next returns the zero element the next row is decoded into.
func (s *rowSink) next() reflect.Value {
	if !s.cur.IsValid() || s.used == s.cur.Len() {
		if s.cur.IsValid() {
			s.chunks = append(s.chunks, s.cur)
		}
		limit := max(64, min(sinkChunkRows, sinkChunkBytes/max(1, int(s.t.Elem().Size()))))
		n := min(limit, max(64, s.total))
		s.cur, s.used = reflect.MakeSlice(s.t, n, n), 0
	}
	s.used++
	s.total++
	return s.cur.Index(s.used - 1)
}

// finish returns the rows as one slice of type s.t: empty, not nil, when
// there are none.
func (s *rowSink) finish() reflect.Value {
	if len(s.chunks) == 0 && s.cur.IsValid() && s.used == s.cur.Len() {
		return s.cur
	}
	out := reflect.MakeSlice(s.t, s.total, s.total)
	at := 0
	for i, c := range s.chunks {
		at += reflect.Copy(out.Slice(at, s.total), c)
		s.chunks[i] = reflect.Value{} // let the chunk go as soon as it is copied
	}
	if s.cur.IsValid() {
		reflect.Copy(out.Slice(at, s.total), s.cur.Slice(0, s.used))
	}
	return out
}

func decodeStringRows(rd *reader, out *rowSink) error {
	rowType := out.t.Elem()
	for {
		if err := rd.next(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		n := rd.cells() // at least 1: an empty line is one unquoted empty cell
		if emptyRecord(rd) {
			// No row is written so (rows without cells are refused; [""]
			// is written `""`): it is the end mark alone, of an empty
			// table, or an empty line and the end mark, of a nil one.
			switch {
			case rd.start != 1:
				return rd.errorf("an empty line")
			case !rd.done:
				out.isNil = true
				return nilTable(rd)
			}
			continue
		}
		row := reflect.MakeSlice(rowType, n, n)
		for i := range n {
			b, _ := rd.cell(i)
			row.Index(i).SetString(string(b))
		}
		out.next().Set(row)
	}
}

func decodeStructRows(rd *reader, p *plan, out *rowSink) error {
	if err := rd.next(); err != nil {
		return err // not io.EOF: the first record is never missing
	}
	if emptyRecord(rd) && rd.done {
		// The end mark alone, no header: a nil table.
		out.isNil = true
		if err := rd.next(); err != io.EOF {
			if err == nil {
				err = rd.errorf("data after the end of the table")
			}
			return err
		}
		return nil
	}
	if err := checkHeader(rd, p); err != nil {
		return err
	}
	d := cellDecoder{zones: map[int]*time.Location{}}
	// Rows of []*T are allocated in slabs of up to 1024, not one by one.
	var slab reflect.Value
	used := 0
	for row := 0; ; row++ {
		if err := rd.next(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if rd.cells() != len(p.cols) {
			return rd.errorf("row %d has %d cells, want %d", row, rd.cells(), len(p.cols))
		}
		dst := out.next()
		if p.rows == structPtrRows {
			if !slab.IsValid() || used == slab.Len() {
				n := min(1024, max(16, row))
				slab, used = reflect.MakeSlice(reflect.SliceOf(p.row), n, n), 0
			}
			e := slab.Index(used)
			used++
			dst.Set(e.Addr())
			dst = e
		}
		for j := range p.cols {
			c := &p.cols[j]
			b, q := rd.cell(j)
			if err := d.cell(c, dst.Field(c.field), b, q); err != nil {
				return rd.errorf("row %d, column %q: %v", row, c.name, err)
			}
		}
	}
}

func checkHeader(rd *reader, p *plan) error {
	ok := rd.cells() == len(p.header)
	for i := 0; ok && i < len(p.header); i++ {
		b, _ := rd.cell(i)
		ok = string(b) == p.header[i]
	}
	if ok {
		return nil
	}
	got := make([]string, rd.cells())
	for i := range got {
		b, _ := rd.cell(i)
		got[i] = string(b)
		if len(got[i]) > 64 {
			got[i] = got[i][:61] + "..."
		}
	}
	if len(got) > 32 {
		got = append(got[:32], "...")
	}
	return rd.errorf("header %q does not match the columns of %v %q", got, p.row, p.header)
}

type cellDecoder struct {
	zones map[int]*time.Location // unnamed fixed zones by offset
}

var errEmpty = errors.New("empty cell in a column that cannot be null")

// cell decodes cell b (quoted or not) of column c into field v.
func (d *cellDecoder) cell(c *column, v reflect.Value, b []byte, quoted bool) error {
	null := len(b) == 0 && !quoted
	if c.nullable {
		if null {
			v.SetZero()
			return nil
		}
		p := reflect.New(c.elem)
		v.Set(p)
		v = p.Elem()
	}
	switch c.kind {
	case cellString:
		v.SetString(string(b))
		return nil
	case cellBytes:
		if null {
			v.SetZero()
			return nil
		}
		out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
		n, err := base64.StdEncoding.Decode(out, b)
		if err != nil {
			return err
		}
		v.SetBytes(out[:n:n])
		return nil
	}
	if len(b) == 0 {
		return errEmpty
	}
	switch c.kind {
	case cellBool:
		x, err := strconv.ParseBool(string(b))
		if err != nil {
			return err
		}
		v.SetBool(x)
	case cellInt:
		x, err := strconv.ParseInt(string(b), 10, c.bits)
		if err != nil {
			return err
		}
		v.SetInt(x)
	case cellUint:
		x, err := strconv.ParseUint(string(b), 10, c.bits)
		if err != nil {
			return err
		}
		v.SetUint(x)
	case cellFloat32, cellFloat64:
		bits := 64
		if c.kind == cellFloat32 {
			bits = 32
		}
		x, err := strconv.ParseFloat(string(b), bits)
		if err != nil {
			return err
		}
		v.SetFloat(x)
	case cellTime:
		t, err := d.time(b)
		if err != nil {
			return err
		}
		*v.Addr().Interface().(*time.Time) = t
	}
	return nil
}

// time parses an RFC 3339 time: in time.UTC when it ends in "Z", else in
// an unnamed fixed zone (never time.Local, which time.Parse picks when the
// offset matches the machine's zone).
func (d *cellDecoder) time(b []byte) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}, err
	}
	if b[len(b)-1] == 'Z' {
		return t.UTC(), nil
	}
	_, off := t.Zone()
	loc, ok := d.zones[off]
	if !ok {
		if len(d.zones) > 64 {
			clear(d.zones)
		}
		loc = time.FixedZone("", off)
		d.zones[off] = loc
	}
	return t.In(loc), nil
}
