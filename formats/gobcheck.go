package formats

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"slices"

	"github.com/flowcache/flowcache/core"
)

// Checking a gob stream without its Go type.
//
// encoding/gob trusts the counts it reads: it sizes a map from the count in
// the stream before reading a single entry (reflect.MakeMapWithSize), so
// one flipped bit in a stored map[string]int makes it allocate hundreds of
// millions of entries. gobParser reads the gob wire format the way
// encoding/gob's decoder does — type definitions (the wireType structs),
// then values driven by them — and checks, before encoding/gob sees a
// message, that every count and length fits in the bytes that remain in its
// message (each element takes at least one byte, or more: an array of n
// ints at least n+1), that messages fit in what remains of the object,
// that type ids refer to defined types, and that values nest at most
// gobMaxDepth deep. A stream that passes decodes in encoding/gob with
// allocations bounded by its size (times the size of the Go types it
// decodes into, which the program chooses).
//
// Where the two could read the same bytes differently, the parser is
// stricter than encoding/gob, and refuses:
//
//   - a struct without its terminating zero (encoding/gob also ends a
//     struct at the end of its message);
//   - trailing bytes in a message (after a value, or after a type
//     definition), a type id gob reserves (9 to 63), a type definition
//     that describes no type or two;
//   - an interface value whose byte count is not the length of the value:
//     encoding/gob skips an interface value by that count when the field
//     holding it is unknown to the receiving type, and parses it otherwise,
//     so the two must agree. gob writes a count that does not agree when a
//     value inside an interface value holds another interface value whose
//     concrete type was not sent before (the type's definition lands inside
//     the outer value, and the count stops there); Encode primes the
//     encoder with those types first so that its streams never have one.
//
// A value that holds interface values may continue over several messages:
// encoding/gob sends a concrete type's definition when it first meets it,
// as a message of its own, in the middle of the value. Its counts cannot be
// checked against one message, so such a value is read whole, and checked,
// before encoding/gob is given any of it (see gobFeed): memory of one
// encoded value more, for such values only. Encode sends those types
// before the value (the primes, see gob.go), so its own streams never do
// this.

const (
	// gobFirstUserID is the first type id a stream may define.
	gobFirstUserID = 64
	// gobMaxMessage bounds a message's length (encoding/gob's own bound
	// on 64-bit machines).
	gobMaxMessage = 1 << 33
	// gobMaxTypeName bounds the name of an interface value's concrete
	// type, as encoding/gob does.
	gobMaxTypeName = 1024
	// gobMaxTypes bounds the number of types a stream may define.
	gobMaxTypes = 1 << 20
)

// gobKind is the kind of a wire type; the predefined ones have their type
// ids as values.
type gobKind uint8

const (
	gwBool      gobKind = 1
	gwInt       gobKind = 2
	gwUint      gobKind = 3
	gwFloat     gobKind = 4
	gwBytes     gobKind = 5
	gwString    gobKind = 6
	gwComplex   gobKind = 7
	gwInterface gobKind = 8
	gwArray     gobKind = 9
	gwSlice     gobKind = 10
	gwStruct    gobKind = 11
	gwMap       gobKind = 12
	gwEncoder   gobKind = 13 // GobEncoder, BinaryMarshaler or TextMarshaler: a byte string
)

func (k gobKind) String() string {
	switch k {
	case gwBool:
		return "bool"
	case gwInt:
		return "int"
	case gwUint:
		return "uint"
	case gwFloat:
		return "float"
	case gwBytes:
		return "[]byte"
	case gwString:
		return "string"
	case gwComplex:
		return "complex"
	case gwInterface:
		return "interface"
	case gwArray:
		return "array"
	case gwSlice:
		return "slice"
	case gwStruct:
		return "struct"
	case gwMap:
		return "map"
	case gwEncoder:
		return "self-encoded type"
	}
	return "unknown kind"
}

// gobWire is a type as the stream describes it.
type gobWire struct {
	gobDef // the name cut short, for messages; no field names

	// Worked out when a value first uses the type (see use).
	used     bool
	min      int64 // fewest bytes a value of the type takes
	iface    bool  // a value may hold an interface value
	visiting bool  // in use's work list
}

// gobBuiltin are the types every stream knows, by id.
var gobBuiltin = func() [gwInterface + 1]*gobWire {
	var b [gwInterface + 1]*gobWire
	for k := gwBool; k <= gwInterface; k++ {
		b[k] = &gobWire{gobDef: gobDef{kind: k, name: k.String()}, used: true, min: 1, iface: k == gwInterface}
	}
	b[gwComplex].min = 2
	return b
}()

// errGobStopped ends a parser whose reader was abandoned.
var errGobStopped = errors.New("gob check stopped")

// gobParser reads and checks a gob stream. Its input comes from fill, a
// window at a time; it never looks back at a window it has left, so it
// needs no memory of its own for the stream.
type gobParser struct {
	win    []byte
	pos    int
	lim    int   // end of the bytes of win that belong to the current message
	base   int64 // stream offset of win[0]
	msgEnd int64 // stream offset of the end of the current message; -1 between messages
	fill   func() ([]byte, error)
	eof    error // what fill returned at the end

	origin int64 // bytes before the gob stream (notes, header), for messages
	size   int64 // bytes in the stream, -1 when unknown

	types map[int32]*gobWire
	depth int // of the value being read

	// hold is set while the value of a unit (one top-level value with the
	// type definitions before it) is read. When it is still set at the end
	// of a message, the value goes on in the next one (an interface value
	// met a concrete type not sent before): counts read in this message
	// are proven only by what follows, so the unit is read whole before
	// encoding/gob may decode any of it (see gobFeed).
	hold bool

	// The chunk checks of stream: the role of the unit being read, the
	// count of its top-level slice when it is read, and what was seen.
	lay     gobLayout
	role    gobRole
	atTop   bool // the next count read is the top-level value's
	onCount func(role gobRole, n uint64) error
	chunk   struct {
		ids  [2]int32 // type ids of the slices (keys, values for maps)
		sum  uint64   // elements in the chunks read
		keys uint64   // the count of the keys slice waiting for its values
	}
}

// gobRole is what a unit of a stream is, for the layout checks.
type gobRole uint8

const (
	gobRoleValue gobRole = iota // the value (not chunked)
	gobRolePrime                // a value sent to define types, skipped
	gobRoleChunk                // a chunk of a slice
	gobRoleKeys                 // the keys of a chunk of a map
	gobRoleVals                 // the values of a chunk of a map
)

func newGobParser(fill func() ([]byte, error), size int64) *gobParser {
	return &gobParser{fill: fill, size: size, msgEnd: -1}
}

func (p *gobParser) offset() int64 { return p.origin + p.base + int64(p.pos) }

func (p *gobParser) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s (at byte %d)", core.ErrCorrupt, fmt.Sprintf(format, args...), p.offset())
}

// remaining returns the bytes left in the current message.
func (p *gobParser) remaining() int64 { return p.msgEnd - p.base - int64(p.pos) }

func (p *gobParser) setLim() {
	p.lim = len(p.win)
	if p.msgEnd >= 0 && p.msgEnd-p.base < int64(p.lim) {
		p.lim = int(p.msgEnd - p.base)
	}
}

// refill is called when the bytes of the window are used up: at the end of
// the current message it fails; otherwise it gets the next window.
func (p *gobParser) refill() error {
	if p.msgEnd >= 0 && p.base+int64(p.pos) >= p.msgEnd {
		return p.corrupt("a value runs past the end of its message")
	}
	for {
		b, err := p.fill()
		if len(b) > 0 {
			p.base += int64(len(p.win))
			p.win, p.pos = b, 0
			p.setLim()
			return nil
		}
		if err == errGobStopped {
			return err
		}
		if err != nil {
			if err == io.EOF {
				p.eof = err
				return p.corrupt("the stream ends inside a message")
			}
			return err
		}
	}
}

func (p *gobParser) byte1() (byte, error) {
	if p.pos >= p.lim {
		if err := p.refill(); err != nil {
			return 0, err
		}
	}
	b := p.win[p.pos]
	p.pos++
	return b, nil
}

// uint reads an unsigned integer: a byte below 0x80, or a byte holding the
// negated count (1 to 8) of big-endian bytes that follow.
func (p *gobParser) uint() (uint64, error) {
	if p.pos < p.lim {
		b := p.win[p.pos]
		if b < 0x80 {
			p.pos++
			return uint64(b), nil
		}
		n := -int(int8(b))
		if n > 8 {
			return 0, p.corrupt("bad integer: length byte %#x", b)
		}
		if p.lim-p.pos > n {
			var x uint64
			for _, c := range p.win[p.pos+1 : p.pos+1+n] {
				x = x<<8 | uint64(c)
			}
			p.pos += 1 + n
			return x, nil
		}
	}
	b, err := p.byte1()
	if err != nil {
		return 0, err
	}
	if b < 0x80 {
		return uint64(b), nil
	}
	n := -int(int8(b))
	if n > 8 {
		return 0, p.corrupt("bad integer: length byte %#x", b)
	}
	var x uint64
	for range n {
		c, err := p.byte1()
		if err != nil {
			return 0, err
		}
		x = x<<8 | uint64(c)
	}
	return x, nil
}

func (p *gobParser) int() (int64, error) {
	x, err := p.uint()
	if x&1 != 0 {
		return ^int64(x >> 1), err
	}
	return int64(x >> 1), err
}

// skip passes over n bytes, which the caller checked are in the message.
func (p *gobParser) skip(n int64) error {
	for n > 0 {
		if p.pos >= p.lim {
			if err := p.refill(); err != nil {
				return err
			}
		}
		k := int64(p.lim - p.pos)
		if k > n {
			k = n
		}
		p.pos += int(k)
		n -= k
	}
	return nil
}

// length reads a byte count that must fit in the rest of the message.
func (p *gobParser) length(what string) (int64, error) {
	n, err := p.uint()
	if err != nil {
		return 0, err
	}
	if rem := p.remaining(); n > uint64(rem) {
		return 0, p.corrupt("%s of %d bytes, but only %d remain in its message", what, n, rem)
	}
	return int64(n), nil
}

// nextMessage reads the length that starts a message. At a unit boundary
// (eofOK) the end of the stream is not an error: it returns false.
func (p *gobParser) nextMessage(eofOK bool) (bool, error) {
	p.msgEnd = -1
	p.setLim()
	if p.pos >= p.lim {
		for {
			b, err := p.fill()
			if len(b) > 0 {
				p.base += int64(len(p.win))
				p.win, p.pos = b, 0
				p.setLim()
				break
			}
			if err == io.EOF {
				p.eof = err
				if eofOK {
					return false, nil
				}
				return false, p.corrupt("the stream ends where a message should start")
			}
			if err != nil {
				return false, err
			}
		}
	}
	n, err := p.uint()
	if err != nil {
		return false, err
	}
	start := p.base + int64(p.pos)
	switch {
	case n == 0:
		return false, p.corrupt("empty message")
	case n >= gobMaxMessage:
		return false, p.corrupt("message of %d bytes", n)
	case p.size >= 0 && int64(n) > p.size-start:
		return false, p.corrupt("message of %d bytes, but only %d remain in the stream", n, p.size-start)
	}
	p.msgEnd = start + int64(n)
	p.setLim()
	return true, nil
}

// typeID reads a type id.
func (p *gobParser) typeID() (int32, error) {
	x, err := p.int()
	if err != nil {
		return 0, err
	}
	if x < math.MinInt32 || x > math.MaxInt32 {
		return 0, p.corrupt("type id %d out of range", x)
	}
	return int32(x), nil
}

// wire returns the type of id, which must be predefined or defined.
func (p *gobParser) wire(id int32) (*gobWire, error) {
	if id > 0 && id <= int32(gwInterface) {
		return gobBuiltin[id], nil
	}
	if w := p.types[id]; w != nil {
		return w, nil
	}
	if id > int32(gwInterface) && id < gobFirstUserID {
		return nil, p.corrupt("type id %d is reserved", id)
	}
	return nil, p.corrupt("type id %d is not defined", id)
}

// defineType reads a type definition (the wireType struct) for id.
func (p *gobParser) defineType(id int64) error {
	if id < gobFirstUserID || id > math.MaxInt32 {
		return p.corrupt("definition of type id %d, outside the ids a stream defines", id)
	}
	if p.types[int32(id)] != nil {
		return p.corrupt("type id %d defined twice", id)
	}
	if len(p.types) >= gobMaxTypes {
		return p.corrupt("more than %d types", gobMaxTypes)
	}
	if p.types == nil {
		p.types = map[int32]*gobWire{}
	}
	def, set, err := readGobDef(p)
	if err != nil {
		return err
	}
	if set != 1 {
		return p.corrupt("definition of type id %d describes %d types, not one", id, set)
	}
	if def.kind == gwArray && (def.alen < 0 || def.alen >= gobMaxMessage) {
		return p.corrupt("array type %q of length %d", def.name, def.alen)
	}
	p.types[int32(id)] = &gobWire{gobDef: def}
	return nil
}

// name reads a name of a type definition (see gobDefReader): it keeps
// the first 64 bytes of a type's name, for messages, and nothing of a
// field's.
func (p *gobParser) name(field bool) (string, bool, error) {
	what := "type name"
	if field {
		what = "field name"
	}
	n, err := p.length(what)
	if err != nil {
		return "", false, err
	}
	keep := min(n, 64)
	if field {
		keep = 0
	}
	name := make([]byte, 0, keep)
	for range keep {
		b, err := p.byte1()
		if err != nil {
			return "", false, err
		}
		name = append(name, b)
	}
	return string(name), n == 0, p.skip(n - keep)
}

// fieldCount reads the number of fields of a struct type. A field takes
// at least 4 bytes (delta and a name of one byte, the terminator).
func (p *gobParser) fieldCount(def *gobDef) (int, bool, error) {
	n, err := p.uint()
	if err != nil {
		return 0, false, err
	}
	if rem := p.remaining(); n > uint64(rem)/4 {
		return 0, false, p.corrupt("struct type %q with %d fields in %d bytes", def.name, n, rem)
	}
	return int(n), false, nil
}

func (p *gobParser) defError(format string, args ...any) error { return p.corrupt(format, args...) }

// use checks that every type a value of id can hold is defined, and works
// out what the checks of its values need (min and iface), for id and every
// type it refers to that no value used before.
func (p *gobParser) use(id int32) (*gobWire, error) {
	w, err := p.wire(id)
	if err != nil || w.used {
		return w, err
	}
	// The types to work out: those reachable from w not used before.
	todo := []*gobWire{w}
	w.visiting = true
	defer func() {
		for _, x := range todo {
			x.visiting = false
		}
	}()
	for i := 0; i < len(todo); i++ {
		for _, r := range todo[i].refs() {
			s, err := p.wire(r)
			if err != nil {
				return nil, err
			}
			if !s.used && !s.visiting {
				s.visiting = true
				todo = append(todo, s)
			}
		}
	}
	// iface: a type can hold an interface value if it refers to the
	// interface type or to a type that can. Spread it backwards from
	// those, over the edges between the new types.
	holders := map[*gobWire][]*gobWire{}
	var spread []*gobWire
	for _, x := range todo {
		for _, r := range x.refs() {
			s, _ := p.wire(r)
			switch {
			case s.kind == gwInterface || (s.used && s.iface):
				if !x.iface {
					x.iface = true
					spread = append(spread, x)
				}
			case !s.used:
				holders[s] = append(holders[s], x)
			}
		}
	}
	for len(spread) > 0 {
		x := spread[len(spread)-1]
		spread = spread[:len(spread)-1]
		for _, h := range holders[x] {
			if !h.iface {
				h.iface = true
				spread = append(spread, h)
			}
		}
	}
	for _, x := range todo {
		if err := p.arrayMin(x, 0); err != nil {
			return nil, err
		}
	}
	for _, x := range todo {
		x.used = true
	}
	return w, nil
}

// arrayMin works out the fewest bytes a value of x takes: one for
// everything (an empty string, slice or map, a struct's end, a nil
// interface) but arrays, which send every element. Arrays cannot hold
// themselves but through another kind of type.
func (p *gobParser) arrayMin(x *gobWire, depth int) error {
	if x.used || x.min > 0 {
		return nil
	}
	if x.kind != gwArray {
		x.min = 1
		return nil
	}
	if depth > gobMaxDepth {
		return p.corrupt("array types nested more than %d deep", gobMaxDepth)
	}
	if x.min < 0 {
		return p.corrupt("array type %q holds itself", x.name)
	}
	x.min = -1 // being worked out
	e, err := p.wire(x.elem)
	if err != nil {
		return err
	}
	if err := p.arrayMin(e, depth+1); err != nil {
		return err
	}
	x.min = satAdd(1, satMul(x.alen, e.min))
	return nil
}

// refs returns the type ids w refers to.
func (w *gobWire) refs() []int32 {
	switch w.kind {
	case gwArray, gwSlice:
		return []int32{w.elem}
	case gwMap:
		return []int32{w.key, w.elem}
	case gwStruct:
		return w.fields
	}
	return nil
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func satMul(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}

// fits checks that n values of at least min bytes each fit in the rest of
// the message.
func (p *gobParser) fits(what string, n uint64, min int64) error {
	rem := p.remaining()
	if n > uint64(rem) || satMul(int64(n), min) > rem {
		return p.corrupt("%s of %d elements (at least %d bytes each), but only %d bytes remain in its message", what, n, min, rem)
	}
	return nil
}

// value reads a value of type w.
func (p *gobParser) value(w *gobWire) error {
	switch w.kind {
	case gwBool, gwInt, gwUint, gwFloat:
		_, err := p.uint()
		return err
	case gwComplex:
		if _, err := p.uint(); err != nil {
			return err
		}
		_, err := p.uint()
		return err
	case gwBytes, gwString, gwEncoder:
		n, err := p.uint()
		if err != nil {
			return err
		}
		if err := p.topCount(n); err != nil {
			return err
		}
		if rem := p.remaining(); n > uint64(rem) {
			if w.kind == gwEncoder {
				return p.corrupt("self-encoded %q of %d bytes, but only %d remain in its message", w.name, n, rem)
			}
			return p.corrupt("%s of %d bytes, but only %d remain in its message", w.kind, n, rem)
		}
		return p.skip(int64(n))
	}
	if p.depth++; p.depth > gobMaxDepth {
		return p.corrupt("values nested more than %d deep", gobMaxDepth)
	}
	var err error
	switch w.kind {
	case gwInterface:
		err = p.iface()
	case gwStruct:
		err = p.structValue(w)
	case gwArray, gwSlice:
		err = p.elems(w)
	case gwMap:
		err = p.mapValue(w)
	default:
		err = p.corrupt("value of unknown kind %d", w.kind)
	}
	p.depth--
	return err
}

// topCount hands the count of a unit's top-level slice to the chunk checks.
func (p *gobParser) topCount(n uint64) error {
	if !p.atTop {
		return nil
	}
	p.atTop = false
	return p.chunkCount(n)
}

func (p *gobParser) structValue(w *gobWire) error {
	f := -1
	for {
		if p.remaining() <= 0 {
			return p.corrupt("struct %q without its end", w.name)
		}
		d, err := p.uint()
		if err != nil {
			return err
		}
		if d == 0 {
			return nil
		}
		if d > uint64(len(w.fields)-1-f) {
			return p.corrupt("field %d of struct %q, which has %d", uint64(f+1)+d-1, w.name, len(w.fields))
		}
		f += int(d)
		id := w.fields[f]
		if id >= int32(gwBool) && id <= int32(gwFloat) {
			// A number: the common field, read here.
			if _, err := p.uint(); err != nil {
				return err
			}
			continue
		}
		e, err := p.wire(id)
		if err != nil {
			return err
		}
		if err := p.value(e); err != nil {
			return err
		}
	}
}

func (p *gobParser) elems(w *gobWire) error {
	n, err := p.uint()
	if err != nil {
		return err
	}
	if err := p.topCount(n); err != nil {
		return err
	}
	e, err := p.wire(w.elem)
	if err != nil {
		return err
	}
	if w.kind == gwArray && n != uint64(w.alen) {
		return p.corrupt("array %q of %d elements, not %d", w.name, n, w.alen)
	}
	if !w.iface {
		// No interface inside: the elements are all in this message.
		if err := p.fits(w.kind.String(), n, e.min); err != nil {
			return err
		}
		switch e.kind {
		case gwBool, gwInt, gwUint, gwFloat:
			return p.numbers(n)
		}
	}
	for range n {
		// encoding/gob checks this before each element.
		if p.remaining() <= 0 {
			return p.corrupt("%s of %d elements ends early", w.kind, n)
		}
		if err := p.value(e); err != nil {
			return err
		}
	}
	return nil
}

// numbers reads n unsigned integers (bools, ints, uints, floats).
func (p *gobParser) numbers(n uint64) error {
	for n > 0 {
		// Whole integers in the window: no refill inside the loop.
		win, pos := p.win[:p.lim], p.pos
		for n > 0 && len(win)-pos >= 9 {
			b := win[pos]
			if b < 0x80 {
				pos++
			} else {
				k := -int(int8(b))
				if k > 8 {
					p.pos = pos
					return p.corrupt("bad integer: length byte %#x", b)
				}
				pos += 1 + k
			}
			n--
		}
		p.pos = pos
		if n > 0 {
			if _, err := p.uint(); err != nil {
				return err
			}
			n--
		}
	}
	return nil
}

func (p *gobParser) mapValue(w *gobWire) error {
	n, err := p.uint()
	if err != nil {
		return err
	}
	k, err := p.wire(w.key)
	if err != nil {
		return err
	}
	e, err := p.wire(w.elem)
	if err != nil {
		return err
	}
	if !w.iface {
		if err := p.fits("map", n, satAdd(k.min, e.min)); err != nil {
			return err
		}
	}
	for range n {
		if err := p.value(k); err != nil {
			return err
		}
		if err := p.value(e); err != nil {
			return err
		}
	}
	return nil
}

// iface reads an interface value: the concrete type's name, its type id
// (after definitions of the types it needs), and the value, preceded by
// its byte count.
func (p *gobParser) iface() error {
	n, err := p.uint()
	if err != nil {
		return err
	}
	if n == 0 {
		return nil // a nil interface
	}
	if n > gobMaxTypeName {
		return p.corrupt("interface value of a type named with %d bytes", n)
	}
	if rem := p.remaining(); n > uint64(rem) {
		return p.corrupt("interface type name of %d bytes, but only %d remain in its message", n, rem)
	}
	if err := p.skip(int64(n)); err != nil {
		return err
	}
	for {
		if p.remaining() == 0 {
			// The definitions come in messages of their own.
			if ok, err := p.nextMessage(false); !ok {
				return err
			}
		}
		id, err := p.typeID()
		if err != nil {
			return err
		}
		if id >= 0 {
			w, err := p.use(id)
			if err != nil {
				return err
			}
			count, err := p.length("interface value")
			if err != nil {
				return err
			}
			start := p.base + int64(p.pos)
			end := p.msgEnd
			if err := p.top(w); err != nil {
				return err
			}
			if got := p.base + int64(p.pos) - start; p.msgEnd != end || got != count {
				return p.corrupt("interface value of %q says %d bytes, holds %d", w.name, count, got)
			}
			return nil
		}
		if err := p.defineType(-int64(id)); err != nil {
			return err
		}
		if p.remaining() != 0 {
			return p.corrupt("a type defined inside a value nested in an interface value (encoding/gob's count of that value cannot be trusted)")
		}
	}
}

// top reads a value the way gob sends a top-level one: a struct as it is,
// anything else as the single field of a struct.
func (p *gobParser) top(w *gobWire) error {
	if w.kind == gwStruct {
		return p.value(w)
	}
	d, err := p.uint()
	if err != nil {
		return err
	}
	if d != 0 {
		return p.corrupt("a value of %s starts with field delta %d, not 0", w.kind, d)
	}
	return p.value(w)
}

// unit reads one top-level value and the type definitions before it, as
// one call of encoding/gob's Decoder.Decode reads them. At the end of the
// stream it returns false.
func (p *gobParser) unit(role gobRole) (bool, error) {
	first := true
	for {
		ok, err := p.nextMessage(first)
		if !ok {
			return false, err
		}
		id, err := p.typeID()
		if err != nil {
			return false, err
		}
		if id < 0 {
			if err := p.defineType(-int64(id)); err != nil {
				return false, err
			}
			if p.remaining() != 0 {
				return false, p.corrupt("%d bytes after a type definition", p.remaining())
			}
			first = false
			continue
		}
		w, err := p.use(id)
		if err != nil {
			return false, err
		}
		p.role = role
		p.hold = true
		p.atTop = false
		if err := p.chunkType(id, w); err != nil {
			return false, err
		}
		p.depth = 0
		if err := p.top(w); err != nil {
			return false, err
		}
		if p.atTop {
			return false, p.corrupt("a chunk that is not a slice")
		}
		if p.remaining() != 0 {
			return false, p.corrupt("%d bytes after the value in its message", p.remaining())
		}
		p.hold = false
		return true, nil
	}
}

// chunkType checks the type of a chunk against the chunks before it.
func (p *gobParser) chunkType(id int32, w *gobWire) error {
	var slot int
	switch p.role {
	case gobRoleChunk, gobRoleKeys:
	case gobRoleVals:
		slot = 1
	default:
		return nil
	}
	if w.kind != gwSlice && w.kind != gwBytes {
		return p.corrupt("a chunk of %s, not a slice", w.kind)
	}
	switch p.chunk.ids[slot] {
	case 0:
		p.chunk.ids[slot] = id
	case id:
	default:
		return p.corrupt("a chunk of type id %d after chunks of type id %d", id, p.chunk.ids[slot])
	}
	p.atTop = true
	return nil
}

// chunkCount checks the element count of a chunk.
func (p *gobParser) chunkCount(n uint64) error {
	if p.chunk.sum > p.layoutN() {
		return p.corrupt("more elements than the header says")
	}
	left := p.layoutN() - p.chunk.sum
	switch p.role {
	case gobRoleChunk, gobRoleKeys:
		if n == 0 || n > left {
			return p.corrupt("a chunk of %d elements where %d remain", n, left)
		}
		if p.role == gobRoleChunk {
			p.chunk.sum += n
		} else {
			p.chunk.keys = n
		}
	case gobRoleVals:
		if n != p.chunk.keys {
			return p.corrupt("a chunk of %d map values for %d keys", n, p.chunk.keys)
		}
		p.chunk.sum += n
	}
	if p.onCount != nil {
		return p.onCount(p.role, n)
	}
	return nil
}

// gobLayout is how a stream is framed (see the header in gob.go).
type gobLayout struct {
	primes  uint64     // values that define types first, skipped
	chunked byte       // gobSingle, gobChunkedSlice, gobChunkedMap or gobRawSlice
	n       uint64     // elements of a chunked value or raw slice
	elem    gobRawElem // the elements of a raw slice
}

// layoutN is the element count of the layout stream reads.
func (p *gobParser) layoutN() uint64 { return p.lay.n }

// stream reads a whole gob stream framed by l, to its end.
func (p *gobParser) stream(l gobLayout) error {
	p.lay = l
	for range l.primes {
		if err := p.mustUnit(gobRolePrime); err != nil {
			return err
		}
	}
	switch l.chunked {
	case gobSingle:
		if err := p.mustUnit(gobRoleValue); err != nil {
			return err
		}
	case gobChunkedSlice:
		for p.chunk.sum < l.n {
			if err := p.mustUnit(gobRoleChunk); err != nil {
				return err
			}
		}
	case gobChunkedMap:
		for p.chunk.sum < l.n {
			if err := p.mustUnit(gobRoleKeys); err != nil {
				return err
			}
			if err := p.mustUnit(gobRoleVals); err != nil {
				return err
			}
		}
	default:
		return p.corrupt("unknown layout %d", l.chunked)
	}
	return p.end()
}

// end checks that the stream ends here.
func (p *gobParser) end() error {
	p.msgEnd = -1
	p.setLim()
	for p.pos >= p.lim {
		b, err := p.fill()
		if len(b) > 0 {
			p.base += int64(len(p.win))
			p.win, p.pos = b, 0
			p.setLim()
			break
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return p.corrupt("trailing bytes after the value")
}

func (p *gobParser) mustUnit(role gobRole) error {
	ok, err := p.unit(role)
	if err == nil && !ok {
		err = p.corrupt("the stream ends before its last value")
	}
	return err
}

// Validate checks that r holds a result Encode could have written, without
// its Go type: the framing (nil, repair notes, header) and the gob stream
// (see gobParser), every count and length against the bytes that remain.
// Its error wraps core.ErrCorrupt.
func (gobFormat) Validate(r io.Reader) error {
	size := readerLen(r)
	br := gobReaders.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() {
		br.Reset(nil)
		gobReaders.Put(br)
	}()
	lay, origin, err := gobReadFraming(br, nil)
	if err != nil {
		return fmt.Errorf("gob: %w", err)
	}
	if lay == nil {
		return nil // nil
	}
	if lay.chunked == gobRawSlice {
		if err := gobSkipRaw(br, *lay, origin); err != nil {
			return fmt.Errorf("gob: %w", err)
		}
		return nil
	}
	buf := make([]byte, 32<<10)
	p := newGobParser(func() ([]byte, error) {
		n, err := br.Read(buf)
		return buf[:n], err
	}, -1)
	if size >= 0 {
		p.size = size - origin
	}
	p.origin = origin
	if err := p.stream(*lay); err != nil {
		return fmt.Errorf("gob: %w", err)
	}
	return nil
}

// readerLen returns how many bytes r has left, when r tells (-1 when not):
// a Len method (bytes.Reader, strings.Reader, bytes.Buffer), or a Size and
// a Seek (io.SectionReader, os.File is not trusted: it may grow).
func readerLen(r io.Reader) int64 {
	switch x := r.(type) {
	case interface{ Len() int }:
		return int64(x.Len())
	case interface {
		Size() int64
		io.Seeker
	}:
		if off, err := x.Seek(0, io.SeekCurrent); err == nil && off <= x.Size() {
			return x.Size() - off
		}
	}
	return -1
}

// gobFeed is the reader encoding/gob decodes from. It reads the stream from
// src and hands every byte to a gobParser that runs alongside (a
// coroutine); encoding/gob reads a message whole before it decodes any of
// it, and gets a message's last byte only once the parser has checked the
// whole message. When the value goes on after that message (the parser's
// hold), the rest of the unit is read ahead into memory and checked before
// the last byte is given. So encoding/gob never decodes a byte the parser
// has not checked, and the check costs no copy of the stream.
type gobFeed struct {
	src     *bufio.Reader
	p       *gobParser
	next    func() (struct{}, bool)
	stop    func()
	in      []byte // bytes for the parser
	srcErr  error  // the end of src, for the parser
	stopped bool
	done    bool  // the parser returned
	err     error // what it returned
	fed     int64 // bytes handed to the parser
	held    []byte
	heldOff int
}

func newGobFeed(src *bufio.Reader, p *gobParser, lay gobLayout) *gobFeed {
	f := &gobFeed{src: src, p: p}
	f.next, f.stop = iter.Pull(func(yield func(struct{}) bool) {
		p.fill = func() ([]byte, error) {
			for len(f.in) == 0 {
				if f.srcErr != nil {
					return nil, f.srcErr
				}
				if f.stopped || !yield(struct{}{}) {
					f.stopped = true
					return nil, errGobStopped
				}
			}
			b := f.in
			f.in = nil
			return b, nil
		}
		defer func() {
			if r := recover(); r != nil {
				f.err = fmt.Errorf("%w: checking the stream failed: %v", core.ErrCorrupt, r)
			}
			f.done = true
		}()
		f.err = p.stream(lay)
	})
	f.next() // the parser runs until it wants bytes
	return f
}

// close ends the parser if it has not ended.
func (f *gobFeed) close() { f.stop() }

// feed hands b to the parser, which reads all of it before it returns.
func (f *gobFeed) feed(b []byte) error {
	if f.done {
		if f.err != nil {
			return f.err
		}
		return f.p.corrupt("bytes after the end")
	}
	f.in = b
	f.fed += int64(len(b))
	f.next()
	if f.done && f.err != nil {
		return f.err
	}
	return nil
}

func (f *gobFeed) ReadByte() (byte, error) {
	var b [1]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return 0, err
	}
	return b[0], nil
}

// Read gives encoding/gob checked bytes: held ones first, else bytes read
// from src now, up to the last byte of the current message, which comes
// alone, once the rest of its unit has been checked when the value goes
// on beyond it.
func (f *gobFeed) Read(b []byte) (int, error) {
	if f.heldOff < len(f.held) {
		n := copy(b, f.held[f.heldOff:])
		f.heldOff += n
		return n, nil
	}
	if len(b) == 0 {
		return 0, nil
	}
	want, last := 1, false // between messages: a length, a byte at a time
	if end := f.p.msgEnd; end >= 0 && f.fed < end {
		if left := end - f.fed; left > 1 {
			want = int(min(int64(len(b)), left-1))
		} else {
			last = true
		}
	}
	n, err := f.src.Read(b[:want])
	if n > 0 {
		if err := f.feed(b[:n]); err != nil {
			return 0, err
		}
		if last && f.p.hold {
			if err := f.holdUnit(); err != nil {
				return 0, err
			}
		}
		return n, nil
	}
	if err == io.EOF {
		// The parser says where the stream ended short.
		f.srcErr = io.EOF
		if !f.done {
			f.next()
		}
		if f.err != nil {
			return 0, f.err
		}
		err = io.ErrUnexpectedEOF
	}
	return 0, err
}

// holdUnit reads the rest of the current unit into held, checking it.
func (f *gobFeed) holdUnit() error {
	f.held, f.heldOff = f.held[:0], 0
	for f.p.hold {
		want := 1
		if end := f.p.msgEnd; end >= 0 && f.fed < end {
			want = int(min(end-f.fed, 1<<20))
		}
		f.held = slices.Grow(f.held, want)
		k := len(f.held)
		n, err := f.src.Read(f.held[k : k+want])
		if n > 0 {
			f.held = f.held[:k+n]
			if err := f.feed(f.held[k : k+n]); err != nil {
				return err
			}
			continue
		}
		if err == io.EOF {
			f.srcErr = io.EOF
			f.next()
			if f.err != nil {
				return f.err
			}
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// finish checks, once encoding/gob has decoded every value, that nothing
// follows in src and that the parser saw the whole stream as it should be.
func (f *gobFeed) finish() error {
	if f.heldOff < len(f.held) {
		return f.p.corrupt("checked bytes left undecoded")
	}
	if _, err := f.src.ReadByte(); err != io.EOF {
		if err == nil {
			err = f.p.corrupt("trailing bytes after the value")
		}
		return err
	}
	f.srcErr = io.EOF
	if !f.done {
		f.next()
	}
	if !f.done {
		return f.p.corrupt("the check did not end")
	}
	return f.err
}

// checkWhole checks a stream held whole in b.
func checkWhole(b []byte, origin int64, lay gobLayout) error {
	done := false
	p := newGobParser(func() ([]byte, error) {
		if done {
			return nil, io.EOF
		}
		done = true
		return b, nil
	}, int64(len(b)))
	p.origin = origin
	return p.stream(lay)
}

// The framing around the gob stream. A result starts with
//
//	0x00                  a nil pointer or interface (the whole result), or
//	0xf7 notes            repair notes (see gobrepair.go), then
//	0xf6 header           optionally: the layout of what follows, then
//	gob stream            one value, or primes and chunks (see Encode).
//
// A gob stream starts with a message length: a byte up to 0x7f, or 0xf8 to
// 0xff (the negated count of the bytes that follow); 0x80 to 0xf7 never
// start one, so old results (a gob stream, maybe after notes) still read,
// and an old reader fails on a new result rather than misreading it. The
// header is uvarints: version (1), primes, layout (0: one value, 1: a
// chunked slice, 2: a chunked map, 3: a raw slice), for a chunked layout or
// a raw slice its element count, and for a raw slice the type of its
// elements (a gobRawElem; no primes, and no gob stream: the elements'
// bytes follow, see gobraw.go). A flowcache from before raw slices fails
// on one ("unknown layout 3"): a miss, not a misreading.
const (
	gobHeaderMark    = 0xf6
	gobHeaderVersion = 1

	gobSingle       = 0
	gobChunkedSlice = 1
	gobChunkedMap   = 2
	gobRawSlice     = 3
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// gobReadFraming reads the framing before the gob stream: nil (a nil
// layout), the repair notes (into notes, when not nil) and the header. It
// returns the layout of the stream and the bytes read.
func gobReadFraming(br *bufio.Reader, notes *[]gobFix) (*gobLayout, int64, error) {
	if b, err := br.Peek(2); len(b) == 1 && b[0] == gobNil && err == io.EOF {
		br.Discard(1)
		return nil, 1, nil
	}
	cr := &countingReader{r: br}
	bad := func(format string, args ...any) (*gobLayout, int64, error) {
		return nil, 0, fmt.Errorf("%w: %s (at byte %d)", core.ErrCorrupt, fmt.Sprintf(format, args...), cr.n)
	}
	if b, _ := br.Peek(1); len(b) == 1 && b[0] == gobRepairMark {
		cr.ReadByte()
		fixes, err := gobReadNotes(cr)
		if err != nil {
			return bad("%v", err)
		}
		if notes != nil {
			*notes = fixes
		}
	}
	lay := &gobLayout{}
	if b, _ := br.Peek(1); len(b) == 1 && b[0] == gobHeaderMark {
		cr.ReadByte()
		var h [3]uint64
		for i := range h {
			x, err := binary.ReadUvarint(cr)
			if err != nil {
				return bad("header: %v", noEOF(err))
			}
			h[i] = x
		}
		if h[0] != gobHeaderVersion {
			return bad("header of version %d (this flowcache reads version %d; a newer one wrote it?)", h[0], gobHeaderVersion)
		}
		lay.primes, lay.chunked = h[1], byte(h[2])
		switch h[2] {
		case gobSingle:
		case gobChunkedSlice, gobChunkedMap, gobRawSlice:
			n, err := binary.ReadUvarint(cr)
			if err != nil {
				return bad("header: %v", noEOF(err))
			}
			if n == 0 {
				return bad("header: a chunked value of no elements")
			}
			lay.n = n
			if h[2] != gobRawSlice {
				break
			}
			e, err := binary.ReadUvarint(cr)
			if err != nil {
				return bad("header: %v", noEOF(err))
			}
			if e == 0 || e >= uint64(rawElems) {
				return bad("header: a raw slice of unknown element type %d", e)
			}
			if lay.primes != 0 {
				return bad("header: %d primes before a raw slice", lay.primes)
			}
			lay.elem = gobRawElem(e)
		default:
			return bad("header: unknown layout %d", h[2])
		}
	}
	return lay, cr.n, nil
}
