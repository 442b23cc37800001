package formats

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"math"
	"math/bits"
	"strconv"
	"time"

	"github.com/flowcache/flowcache/core"
)

// Decoding a gob result without its Go type (DecodeAny).
//
// A gob stream describes its types (names, struct fields by name, element
// and key types), so a value can be read from it without the program that
// wrote it: gobAny reads the wire format as gobParser does (see
// gobcheck.go), after Validate has checked the whole result, and builds
// plain values of it. Its own reads are bounded too (a count never exceeds
// the bytes left), so it allocates in proportion to its input even on its
// own.

// GobStruct is a struct value DecodeAny read from a gob result: its type's
// name and fields as the stream describes them. gob leaves out of the
// stream the fields that hold their zero value; Fields and MarshalJSON give
// them their zero value back (0, "", false, a zero time, or nil for a
// slice, map, pointer or interface).
type GobStruct struct {
	typ  *gobAnyType
	sent []int32 // field numbers of the fields the stream holds, in order
	vals []any   // their values
}

// TypeName returns the name of the struct's type, as gob sent it ("Stats";
// gob sends the name without its package).
func (s *GobStruct) TypeName() string { return s.typ.name }

// Fields yields every field of the struct's type, in order, with its value.
func (s *GobStruct) Fields() iter.Seq2[string, any] {
	return func(yield func(string, any) bool) {
		j := 0
		for i, name := range s.typ.fieldNames {
			var v any
			if j < len(s.sent) && s.sent[j] == int32(i) {
				v = s.vals[j]
				j++
			} else if i < len(s.typ.zeros) {
				v = s.typ.zeros[i]
			}
			if !yield(name, v) {
				return
			}
		}
	}
}

// Field returns the value of the field name, and whether the type has one.
func (s *GobStruct) Field(name string) (any, bool) {
	for n, v := range s.Fields() {
		if n == name {
			return v, true
		}
	}
	return nil, false
}

// MarshalJSON writes the struct as a JSON object of its fields, in order.
func (s *GobStruct) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	for name, v := range s.Fields() {
		if !first {
			b.WriteByte(',')
		}
		first = false
		k, _ := json.Marshal(name)
		b.Write(k)
		b.WriteByte(':')
		x, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		b.Write(x)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// GobInterface is the value of an interface DecodeAny read from a gob
// result: the name the concrete type was registered under (gob.Register:
// "int", "main.Point", "*main.Point") and its value.
type GobInterface struct {
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// GobMapEntry is an entry of a map whose keys are not strings, numbers or
// bools (structs, arrays, interfaces, times), which DecodeAny returns as a
// []GobMapEntry in the stream's order.
type GobMapEntry struct {
	Key   any `json:"key"`
	Value any `json:"value"`
}

// DecodeAny decodes a result stored in format f — gob, json, or either
// compressed (gob+zstd, json+zstd) — without the Go type it was encoded
// from, for tools that show what a cache holds (flowcache show). Other
// formats are an error wrapping core.ErrUnsupportedType. The result is read
// to its end; a damaged or malformed one is an error wrapping
// core.ErrCorrupt, never a panic, and decoding allocates in proportion to
// the bytes read.
//
// A json result decodes as encoding/json decodes into an `any` (numbers
// as json.Number, keeping every digit). A gob result decodes into values
// that encoding/json writes back as JSON:
//
//   - bool, int64, uint64, float64 and string for gob's basic types (a
//     NaN or infinite float as the string "NaN", "+Inf" or "-Inf", a
//     complex number as a string like "(1+2i)"), []byte for a byte slice;
//   - []any for slices and arrays (pointers are followed: gob sends what
//     they point to);
//   - map[string]any for maps whose keys are strings, numbers or bools
//     (the key written as strconv would), []GobMapEntry for other maps;
//   - *GobStruct for structs (fields by name, in order);
//   - GobInterface for an interface value (its registered type name and
//     value), nil for a nil one;
//   - a self-encoding type (gob.GobEncoder, encoding.BinaryMarshaler):
//     time.Time for a type named Time (the encoding of time.Time; a year
//     beyond 0…9999, which JSON times cannot hold, as the string Format
//     gives with time.RFC3339Nano), its bytes otherwise;
//     encoding.TextMarshaler: its text.
//
// What gob does not send cannot be shown: a nil pointer, slice or map field
// and an empty one look alike, as do a nil pointer to a number and 0 (gob
// leaves zero fields out; Fields gives them their type's zero, nil for
// slices and maps). The repair notes Gob writes (see Gob) are not applied.
func DecodeAny(f core.Format, r io.Reader) (any, error) {
	switch x := f.(type) {
	case gobFormat:
		return decodeGobAny(r)
	case jsonFormat:
		return decodeJSONAny(r)
	case *zstdFormat:
		switch x.inner.(type) {
		case gobFormat, jsonFormat:
		default:
			return nil, fmt.Errorf("%w: format %s cannot be decoded without its Go type", core.ErrUnsupportedType, f.Name())
		}
		zr, release, err := x.stream(r)
		if err != nil {
			return nil, err
		}
		defer release()
		v, err := DecodeAny(x.inner, zr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", x.name, err)
		}
		if err := atEnd(zr); err != nil {
			return nil, err
		}
		return v, nil
	}
	return nil, fmt.Errorf("%w: format %s cannot be decoded without its Go type", core.ErrUnsupportedType, f.Name())
}

func decodeJSONAny(r io.Reader) (any, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: json: %v", core.ErrCorrupt, noEOF(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: json: data after the value", core.ErrCorrupt)
	}
	return v, nil
}

// decodeGobAny reads a gob result whole, checks it (Validate), and decodes
// it.
func decodeGobAny(r io.Reader) (any, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if err := (gobFormat{}).Validate(bytes.NewReader(b)); err != nil {
		return nil, err
	}
	br := bufio.NewReader(bytes.NewReader(b))
	lay, origin, err := gobReadFraming(br, nil)
	if err != nil {
		return nil, fmt.Errorf("gob: %w", err)
	}
	if lay == nil {
		return nil, nil
	}
	d := &gobAny{b: b[origin:], types: map[int32]*gobAnyType{}}
	v, err := d.stream(*lay)
	if err != nil {
		return nil, fmt.Errorf("gob: %w (at byte %d)", err, origin+int64(d.pos))
	}
	return v, nil
}

// gobAnyType is a type as the stream describes it.
type gobAnyType struct {
	gobDef
	zeros []any // a struct's fields' values when gob left them out
}

var gobAnyBuiltin = func() [gwInterface + 1]*gobAnyType {
	var b [gwInterface + 1]*gobAnyType
	for k := gwBool; k <= gwInterface; k++ {
		b[k] = &gobAnyType{gobDef: gobDef{kind: k, name: k.String()}}
	}
	return b
}()

// gobAny decodes a checked gob stream held whole.
type gobAny struct {
	b     []byte
	pos   int
	end   int // end of the current message
	types map[int32]*gobAnyType
	// fresh are the struct types defined since their fields' zero values
	// were last set.
	fresh []*gobAnyType
	depth int
}

func gobAnyErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", core.ErrCorrupt, fmt.Sprintf(format, args...))
}

func (d *gobAny) uint() (uint64, error) {
	if d.pos >= d.end {
		return 0, gobAnyErr("a number past the end of its message")
	}
	c := d.b[d.pos]
	d.pos++
	if c < 0x80 {
		return uint64(c), nil
	}
	n := -int(int8(c))
	if n > 8 || n > d.end-d.pos {
		return 0, gobAnyErr("bad number")
	}
	var x uint64
	for _, c := range d.b[d.pos : d.pos+n] {
		x = x<<8 | uint64(c)
	}
	d.pos += n
	return x, nil
}

func (d *gobAny) int() (int64, error) {
	u, err := d.uint()
	if u&1 != 0 {
		return ^int64(u >> 1), err
	}
	return int64(u >> 1), err
}

func (d *gobAny) float() (float64, error) {
	u, err := d.uint()
	return math.Float64frombits(bits.ReverseBytes64(u)), err
}

// bytes returns the next n bytes of the message.
func (d *gobAny) bytes() ([]byte, error) {
	n, err := d.uint()
	if err != nil {
		return nil, err
	}
	if n > uint64(d.end-d.pos) {
		return nil, gobAnyErr("%d bytes, but %d remain in the message", n, d.end-d.pos)
	}
	b := d.b[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return b, nil
}

// count reads a count of elements of at least one byte each.
func (d *gobAny) count() (int, error) {
	n, err := d.uint()
	if err != nil {
		return 0, err
	}
	if n > uint64(len(d.b)-d.pos) {
		return 0, gobAnyErr("%d elements, but %d bytes remain", n, len(d.b)-d.pos)
	}
	return int(n), nil
}

func (d *gobAny) nextMessage() error {
	d.end = len(d.b)
	n, err := d.uint()
	if err != nil {
		return err
	}
	if n == 0 || n > uint64(len(d.b)-d.pos) {
		return gobAnyErr("a message of %d bytes, but %d remain", n, len(d.b)-d.pos)
	}
	d.end = d.pos + int(n)
	return nil
}

func (d *gobAny) typeID() (int32, error) {
	x, err := d.int()
	if err != nil {
		return 0, err
	}
	if x < math.MinInt32 || x > math.MaxInt32 {
		return 0, gobAnyErr("type id %d", x)
	}
	return int32(x), nil
}

func (d *gobAny) typ(id int32) (*gobAnyType, error) {
	if id > 0 && id <= int32(gwInterface) {
		return gobAnyBuiltin[id], nil
	}
	if t := d.types[id]; t != nil {
		return t, nil
	}
	return nil, gobAnyErr("type id %d is not defined", id)
}

// name reads a name of a type definition, whole (see gobDefReader).
func (d *gobAny) name(bool) (string, bool, error) {
	b, err := d.bytes()
	return string(b), len(b) == 0, err
}

// fieldCount reads the number of fields of a struct type, and keeps their
// names.
func (d *gobAny) fieldCount(*gobDef) (int, bool, error) {
	n, err := d.count()
	return n, true, err
}

func (d *gobAny) defError(format string, args ...any) error { return gobAnyErr(format, args...) }

// defineType reads a type definition (encoding/gob's wireType).
func (d *gobAny) defineType(id int32) error {
	def, _, err := readGobDef(d)
	if err != nil {
		return err
	}
	t := &gobAnyType{gobDef: def}
	d.types[id] = t
	if t.kind == gwStruct {
		d.fresh = append(d.fresh, t)
	}
	return nil
}

// zeros sets the zero values of the fields of the struct types defined
// since it last ran (their field types may be defined after them, but
// before a value uses them).
func (d *gobAny) zeros() error {
	defer func() { d.fresh = d.fresh[:0] }()
	for _, t := range d.fresh {
		t.zeros = make([]any, len(t.fields))
		for i, id := range t.fields {
			ft, err := d.typ(id)
			if err != nil {
				return err
			}
			t.zeros[i] = gobAnyZero(ft)
		}
	}
	return nil
}

func gobAnyZero(t *gobAnyType) any {
	switch t.kind {
	case gwBool:
		return false
	case gwInt:
		return int64(0)
	case gwUint:
		return uint64(0)
	case gwFloat:
		return float64(0)
	case gwComplex:
		return gobComplex(0, 0)
	case gwString:
		return ""
	case gwEncoder:
		if t.text {
			return ""
		}
		if t.name == "Time" {
			return time.Time{}
		}
	}
	return nil
}

// stream decodes the stream framed by l.
func (d *gobAny) stream(l gobLayout) (any, error) {
	for range l.primes {
		if _, err := d.unit(); err != nil {
			return nil, err
		}
	}
	switch l.chunked {
	case gobRawSlice:
		v, err := gobRawAny(d.b, l)
		if err == nil {
			d.pos = len(d.b)
		}
		return v, err
	case gobChunkedSlice:
		var all []any
		var allBytes []byte
		for n := uint64(0); n < l.n; {
			v, err := d.unit()
			if err != nil {
				return nil, err
			}
			var k int
			switch x := v.(type) {
			case []any:
				all, k = append(all, x...), len(x)
			case []byte:
				allBytes, k = append(allBytes, x...), len(x)
			default:
				return nil, gobAnyErr("a chunk of %T", v)
			}
			if k == 0 {
				return nil, gobAnyErr("an empty chunk")
			}
			n += uint64(k)
		}
		if allBytes != nil {
			return allBytes, nil
		}
		return all, nil
	case gobChunkedMap:
		var m *gobAnyMap
		for n := uint64(0); n < l.n; {
			keys, kt, err := d.chunk()
			if err != nil {
				return nil, err
			}
			vals, _, err := d.chunk()
			if err != nil {
				return nil, err
			}
			if len(keys) != len(vals) || len(keys) == 0 {
				return nil, gobAnyErr("a map chunk of %d keys and %d values", len(keys), len(vals))
			}
			if m == nil {
				m = newGobAnyMap(kt, int(l.n))
			}
			for i := range keys {
				m.add(keys[i], vals[i])
			}
			n += uint64(len(keys))
		}
		return m.value(), nil
	}
	return d.unit()
}

// chunk decodes a unit that is a slice, and returns it with the type of its
// elements.
func (d *gobAny) chunk() ([]any, *gobAnyType, error) {
	var et *gobAnyType
	v, err := d.unitWith(func(t *gobAnyType) error {
		switch t.kind {
		case gwSlice:
			var err error
			et, err = d.typ(t.elem)
			return err
		case gwBytes: // the keys or values of a map of uint8
			et = gobAnyBuiltin[gwUint]
			return nil
		}
		return gobAnyErr("a map chunk of %s", t.kind)
	})
	if err != nil {
		return nil, nil, err
	}
	switch x := v.(type) {
	case []any:
		return x, et, nil
	case []byte:
		s := make([]any, len(x))
		for i, b := range x {
			s[i] = uint64(b)
		}
		return s, et, nil
	}
	return nil, nil, gobAnyErr("a map chunk of %T", v)
}

func (d *gobAny) unit() (any, error) { return d.unitWith(nil) }

// unitWith reads a top-level value and the type definitions before it;
// check, when not nil, looks at the value's type first.
func (d *gobAny) unitWith(check func(*gobAnyType) error) (any, error) {
	t, err := d.valueType()
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(t); err != nil {
			return nil, err
		}
	}
	d.depth = 0
	v, err := d.top(t)
	if err != nil {
		return nil, err
	}
	if d.pos != d.end {
		return nil, gobAnyErr("bytes after the value in its message")
	}
	return v, nil
}

// valueType reads the type definitions before a value, each a message of
// its own, and the value's type id; it returns the value's type. At the end
// of a message it reads the next one's length (a unit's value, too, starts
// a message).
func (d *gobAny) valueType() (*gobAnyType, error) {
	for {
		if d.pos == d.end {
			if err := d.nextMessage(); err != nil {
				return nil, err
			}
		}
		id, err := d.typeID()
		if err != nil {
			return nil, err
		}
		if id >= 0 {
			if err := d.zeros(); err != nil {
				return nil, err
			}
			return d.typ(id)
		}
		if err := d.defineType(-id); err != nil {
			return nil, err
		}
		if d.pos != d.end {
			return nil, gobAnyErr("bytes after a type definition")
		}
	}
}

// top reads a value sent as gob sends a top-level one.
func (d *gobAny) top(t *gobAnyType) (any, error) {
	if t.kind != gwStruct {
		delta, err := d.uint()
		if err != nil {
			return nil, err
		}
		if delta != 0 {
			return nil, gobAnyErr("a value of %s starts with field delta %d", t.kind, delta)
		}
	}
	return d.value(t)
}

func (d *gobAny) value(t *gobAnyType) (any, error) {
	switch t.kind {
	case gwBool:
		u, err := d.uint()
		return u != 0, err
	case gwInt:
		return d.int()
	case gwUint:
		return d.uint()
	case gwFloat:
		f, err := d.float()
		return gobFloat(f), err
	case gwComplex:
		re, err := d.float()
		if err != nil {
			return nil, err
		}
		im, err := d.float()
		return gobComplex(re, im), err
	case gwBytes:
		b, err := d.bytes()
		return bytes.Clone(b), err
	case gwString:
		b, err := d.bytes()
		return string(b), err
	case gwEncoder:
		b, err := d.bytes()
		if err != nil {
			return nil, err
		}
		return gobSelfEncoded(t, b), nil
	}
	if d.depth++; d.depth > gobMaxDepth {
		return nil, gobAnyErr("values nested more than %d deep", gobMaxDepth)
	}
	defer func() { d.depth-- }()
	switch t.kind {
	case gwInterface:
		return d.iface()
	case gwStruct:
		return d.structValue(t)
	case gwArray, gwSlice:
		n, err := d.count()
		if err != nil {
			return nil, err
		}
		et, err := d.typ(t.elem)
		if err != nil {
			return nil, err
		}
		s := make([]any, n)
		for i := range s {
			if s[i], err = d.value(et); err != nil {
				return nil, err
			}
		}
		return s, nil
	case gwMap:
		n, err := d.count()
		if err != nil {
			return nil, err
		}
		kt, err := d.typ(t.key)
		if err != nil {
			return nil, err
		}
		et, err := d.typ(t.elem)
		if err != nil {
			return nil, err
		}
		m := newGobAnyMap(kt, n)
		for range n {
			k, err := d.value(kt)
			if err != nil {
				return nil, err
			}
			v, err := d.value(et)
			if err != nil {
				return nil, err
			}
			m.add(k, v)
		}
		return m.value(), nil
	}
	return nil, gobAnyErr("a value of unknown kind %d", t.kind)
}

func (d *gobAny) structValue(t *gobAnyType) (any, error) {
	s := &GobStruct{typ: t}
	f := -1
	for {
		delta, err := d.uint()
		if err != nil {
			return nil, err
		}
		if delta == 0 {
			return s, nil
		}
		if delta > uint64(len(t.fields)-1-f) {
			return nil, gobAnyErr("field %d of struct %q, which has %d", uint64(f+1)+delta-1, t.name, len(t.fields))
		}
		f += int(delta)
		ft, err := d.typ(t.fields[f])
		if err != nil {
			return nil, err
		}
		v, err := d.value(ft)
		if err != nil {
			return nil, err
		}
		s.sent = append(s.sent, int32(f))
		s.vals = append(s.vals, v)
	}
}

// iface reads an interface value (see gobParser.iface).
func (d *gobAny) iface() (any, error) {
	name, err := d.bytes()
	if err != nil {
		return nil, err
	}
	if len(name) == 0 {
		return nil, nil
	}
	t, err := d.valueType()
	if err != nil {
		return nil, err
	}
	if _, err := d.uint(); err != nil { // the value's byte count
		return nil, err
	}
	v, err := d.top(t)
	if err != nil {
		return nil, err
	}
	return GobInterface{Type: string(name), Value: v}, nil
}

// gobAnyMap builds a map: map[string]any when its keys are basic, else
// []GobMapEntry.
type gobAnyMap struct {
	m       map[string]any
	entries []GobMapEntry
}

func newGobAnyMap(kt *gobAnyType, n int) *gobAnyMap {
	switch kt.kind {
	case gwBool, gwInt, gwUint, gwFloat, gwString:
		return &gobAnyMap{m: make(map[string]any, n)}
	}
	return &gobAnyMap{entries: make([]GobMapEntry, 0, n)}
}

func (m *gobAnyMap) add(k, v any) {
	if m.m == nil {
		m.entries = append(m.entries, GobMapEntry{Key: k, Value: v})
		return
	}
	var s string
	switch x := k.(type) {
	case string:
		s = x
	case int64:
		s = strconv.FormatInt(x, 10)
	case uint64:
		s = strconv.FormatUint(x, 10)
	case float64:
		s = strconv.FormatFloat(x, 'g', -1, 64)
	default:
		s = fmt.Sprint(x)
	}
	m.m[s] = v
}

func (m *gobAnyMap) value() any {
	if m.m != nil {
		return m.m
	}
	return m.entries
}

// gobFloat keeps a float JSON can hold, and names the others.
func gobFloat(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return f
}

func gobComplex(re, im float64) string {
	return strconv.FormatComplex(complex(re, im), 'g', -1, 128)
}

// gobSelfEncoded returns the value of a self-encoding type: a time for
// time.Time's encoding, text for a TextMarshaler, else the bytes.
func gobSelfEncoded(t *gobAnyType, b []byte) any {
	if t.text {
		return string(b)
	}
	if t.name == "Time" {
		var tm time.Time
		if tm.UnmarshalBinary(b) == nil {
			if y := tm.Year(); y < 0 || y > 9999 {
				// Beyond RFC 3339 (and encoding/json's time): its text.
				return tm.Format(time.RFC3339Nano)
			}
			return tm
		}
	}
	return bytes.Clone(b)
}
