package formats

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"sync"
	"unsafe"

	"github.com/flowcache/flowcache/core/fingerprint"
)

// What gob changes, and how it is restored.
//
// encoding/gob loads some values back different, in ways the type alone
// does not tell:
//
//   - a slice of length zero loads as nil, wherever it is (an empty slice
//     is sent as no elements, or not at all in a struct field, and gob
//     decodes no elements into a nil slice);
//   - a map of length zero that is not a struct field (the whole value, an
//     element, a map value, the value in an interface) loads as an empty,
//     non-nil map, a nil one included; a struct field keeps it (gob leaves
//     a nil map field out and sends an empty one);
//   - a float or complex struct field equal to zero loads as +0 (gob
//     leaves zero fields out, and -0 == 0), so a -0 field loads as +0.
//
// These are places ("sites") where a value can differ from what gob loads:
// a zero-length slice or map, a zero float field. A site is recognised by
// what gob keeps (a zero length, a float equal to 0), so the value as
// stored and as loaded have the same sites. Encode visits them in one
// order — struct fields, elements, pointers and interfaces followed, map
// entries in an order of their keys — and lists those where the value is
// not what gob will load (an empty slice, a nil map, a -0): the repair
// notes. They come before the gob value (see gobNotes); Decode visits the
// loaded value's sites in the same order and restores them. Notes are
// written only when there is something to restore, so most results carry
// none, and Decode then does no extra walk. Encode's walk costs about 6 ns
// per row of a table of floats (a pass over the float fields) and 70 ns
// per struct with slices or times, against some hundreds for gob itself.
//
// A map whose entries hold notes is visited in the order of its keys
// (their fingerprint, or their value for strings, numbers and bools). Two
// keys that cannot be told apart that way (pointers to equal values) leave
// that order undefined, and a key that holds a NaN cannot be used to store
// the restored value back: Encode refuses such a map, and so it refuses a
// map key holding a -0 struct field (a key cannot be restored in place).
//
// The cache checks every loaded value against the fingerprint it was
// stored under (core.Run), so a note that does not restore a value exactly
// is a miss, never a wrong value; the notes only make these values hits.

// gobRepairMark starts the repair notes, before the gob value. No gob
// stream starts with it: a gob message starts with its length, and 0xf7
// would announce a 9-byte integer, which gob never writes.
const gobRepairMark = 0xf7

// gobMaxDepth bounds how deep the site walk follows a value: deeper is a
// cycle, or near one (gob itself would exhaust the stack).
const gobMaxDepth = 10000

// gobHasSites tells, per type, whether values of it can hold a site.
var gobHasSites = typeMemo(gobMayHaveSites)

func gobMayHaveSites(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false // being looked at further up
	}
	seen[t] = true
	if selfEncoding(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Map, reflect.Interface:
		return true
	case reflect.Pointer, reflect.Array:
		return gobMayHaveSites(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || selfEncoding(f.Type) {
				continue
			}
			if isFloatKind(f.Type.Kind()) || gobMayHaveSites(f.Type, seen) {
				return true
			}
		}
	}
	return false
}

func isFloatKind(k reflect.Kind) bool {
	switch k {
	case reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	}
	return false
}

// gobFloatSite is a float or complex field at an offset in a struct.
type gobFloatSite struct {
	off  uintptr
	kind reflect.Kind
}

// gobFlatMax bounds the float sites of one flat plan (arrays of structs are
// unrolled into it).
const gobFlatMax = 1024

// gobStruct is how the site walk visits a struct type: its float sites
// alone when they are its only sites (flat), else the fields that can hold
// a site, in order.
type gobStruct struct {
	flat   []gobFloatSite
	isFlat bool
	fields []gobField
}

type gobField struct {
	index int
	name  string
	float gobFloatSite // kind set: a float or complex field
}

// gobStructs maps a struct type to its *gobStruct.
var gobStructs sync.Map

func gobStructOf(t reflect.Type) *gobStruct {
	if p, ok := gobStructs.Load(t); ok {
		return p.(*gobStruct)
	}
	p := &gobStruct{}
	p.isFlat = gobFlatten(t, 0, &p.flat)
	if !p.isFlat {
		p.flat = nil
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || selfEncoding(f.Type) {
			continue
		}
		switch {
		case isFloatKind(f.Type.Kind()):
			p.fields = append(p.fields, gobField{index: i, name: f.Name, float: gobFloatSite{off: f.Offset, kind: f.Type.Kind()}})
		case gobHasSites(f.Type):
			p.fields = append(p.fields, gobField{index: i, name: f.Name})
		}
	}
	gobStructs.Store(t, p)
	return p
}

// gobFlatten appends the float sites of struct type t, at offset base, in
// the order the walk visits them; it reports false when t has other sites.
func gobFlatten(t reflect.Type, base uintptr, out *[]gobFloatSite) bool {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || selfEncoding(f.Type) {
			continue
		}
		ft := f.Type
		switch {
		case isFloatKind(ft.Kind()):
			*out = append(*out, gobFloatSite{off: base + f.Offset, kind: ft.Kind()})
		case !gobHasSites(ft):
		case ft.Kind() == reflect.Struct:
			if !gobFlatten(ft, base+f.Offset, out) {
				return false
			}
		case ft.Kind() == reflect.Array && ft.Elem().Kind() == reflect.Struct && !selfEncoding(ft.Elem()):
			for j := range ft.Len() {
				if !gobFlatten(ft.Elem(), base+f.Offset+uintptr(j)*ft.Elem().Size(), out) {
					return false
				}
			}
		default:
			return false
		}
		if len(*out) > gobFlatMax {
			return false
		}
	}
	return true
}

// gobFix is one repair note: the site's index in walk order, and for a
// float site which parts are -0 (bit 0: the float, or a complex's real
// part; bit 1: a complex's imaginary part).
type gobFix struct {
	at   uint64
	bits uint8
}

// gobRepair walks the sites of a value: to find the notes (Encode) or to
// restore them (Decode).
type gobRepair struct {
	restore  bool // Decode: restore fixes rather than find them
	counting bool // Decode: count sites only (a map's first pass)
	n        uint64
	fixes    []gobFix
	next     int // Decode: the next fix to restore
	depth    int
}

// gobRepairError is an error of the site walk, with the path to where it
// happened, built as the walk unwinds.
type gobRepairError struct {
	segs []string // innermost first
	msg  string
}

func (e *gobRepairError) Error() string {
	var b bytes.Buffer
	for i := len(e.segs) - 1; i >= 0; i-- {
		if n := len(e.segs); n > 24 && i == n-13 {
			// A path thousands of levels deep: its ends tell enough.
			fmt.Fprintf(&b, "...(%d more)...", n-24)
			i = 12
		}
		b.WriteString(e.segs[i])
	}
	if b.Len() == 0 {
		return "the value " + e.msg
	}
	return b.String() + " " + e.msg
}

func repairSeg(err error, seg string) error {
	if e, ok := err.(*gobRepairError); ok {
		e.segs = append(e.segs, seg)
	}
	return err
}

// walk visits the sites of v, which must be addressable. field tells
// whether v is a struct field (through pointers): gob keeps a nil or empty
// map there.
func (r *gobRepair) walk(v reflect.Value, field bool) error {
	if !gobHasSites(v.Type()) {
		return nil
	}
	if r.depth++; r.depth > gobMaxDepth {
		return &gobRepairError{msg: fmt.Sprintf("is nested more than %d levels deep (a cycle?)", gobMaxDepth)}
	}
	err := r.visit(v, field)
	r.depth--
	return err
}

// visit is walk for a v whose type can hold sites.
func (r *gobRepair) visit(v reflect.Value, field bool) error {
	t := v.Type()
	switch t.Kind() {
	case reflect.Slice:
		n := v.Len()
		if n == 0 {
			return r.site(v, reflect.Slice)
		}
		return r.elems(v, n)
	case reflect.Array:
		return r.elems(v, v.Len())
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return r.walk(v.Elem(), field)
	case reflect.Interface:
		if v.IsNil() {
			return nil
		}
		e := v.Elem()
		c := reflect.New(e.Type()).Elem()
		c.Set(e)
		next := r.next
		if err := r.walk(c, false); err != nil {
			return err
		}
		if r.next != next {
			v.Set(c)
		}
	case reflect.Map:
		if v.Len() == 0 {
			if field {
				return nil
			}
			return r.site(v, reflect.Map)
		}
		return r.walkMap(v)
	case reflect.Struct:
		p := gobStructOf(t)
		if p.isFlat {
			return r.floats(v.Addr().UnsafePointer(), p.flat)
		}
		base := v.Addr().UnsafePointer()
		for i := range p.fields {
			f := &p.fields[i]
			var err error
			if f.float.kind != 0 {
				err = r.floats(base, f.floatSites())
			} else {
				err = r.walk(v.Field(f.index), true)
			}
			if err != nil {
				return repairSeg(err, "."+f.name)
			}
		}
	}
	return nil
}

func (f *gobField) floatSites() []gobFloatSite { return unsafe.Slice(&f.float, 1) }

// elems visits the first n elements of a slice or array.
func (r *gobRepair) elems(v reflect.Value, n int) error {
	et := v.Type().Elem()
	if !gobHasSites(et) {
		return nil
	}
	if et.Kind() == reflect.Struct {
		if p := gobStructOf(et); p.isFlat {
			// Elements in a row: one pass over their floats.
			var base unsafe.Pointer
			if v.Kind() == reflect.Slice {
				base = v.UnsafePointer()
			} else {
				base = v.Addr().UnsafePointer()
			}
			size := et.Size()
			for i := range n {
				if err := r.floats(unsafe.Add(base, uintptr(i)*size), p.flat); err != nil {
					return repairSeg(err, indexSeg(i))
				}
			}
			return nil
		}
	}
	for i := range n {
		if err := r.walk(v.Index(i), false); err != nil {
			return repairSeg(err, indexSeg(i))
		}
	}
	return nil
}

// site notes or restores a zero-length slice or map.
func (r *gobRepair) site(v reflect.Value, kind reflect.Kind) error {
	at := r.n
	r.n++
	switch {
	case r.counting:
	case !r.restore:
		// gob loads a zero-length slice as nil and a map that is not a
		// struct field as a non-nil one.
		if v.IsNil() == (kind == reflect.Map) {
			r.fixes = append(r.fixes, gobFix{at: at})
		}
	case r.next < len(r.fixes) && r.fixes[r.next].at == at:
		if r.fixes[r.next].bits != 0 {
			return &gobRepairError{msg: "has a repair note that does not fit it (corrupt data)"}
		}
		r.next++
		if kind == reflect.Map {
			v.Set(reflect.Zero(v.Type()))
		} else {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		}
	}
	return nil
}

const (
	sign64 = 1 << 63
	sign32 = 1 << 31
)

// floats notes or restores the -0s among the float fields at p.
func (r *gobRepair) floats(p unsafe.Pointer, sites []gobFloatSite) error {
	for _, s := range sites {
		q := unsafe.Add(p, s.off)
		var bits uint8
		switch s.kind {
		case reflect.Float64:
			u := *(*uint64)(q)
			if u&^sign64 != 0 {
				continue
			}
			bits = uint8(u >> 63)
		case reflect.Float32:
			u := *(*uint32)(q)
			if u&^sign32 != 0 {
				continue
			}
			bits = uint8(u >> 31)
		case reflect.Complex128:
			re, im := *(*uint64)(q), *(*uint64)(unsafe.Add(q, 8))
			if re&^sign64 != 0 || im&^sign64 != 0 {
				continue
			}
			bits = uint8(re>>63) | uint8(im>>63)<<1
		case reflect.Complex64:
			re, im := *(*uint32)(q), *(*uint32)(unsafe.Add(q, 4))
			if re&^sign32 != 0 || im&^sign32 != 0 {
				continue
			}
			bits = uint8(re>>31) | uint8(im>>31)<<1
		}
		// A zero: a site.
		at := r.n
		r.n++
		switch {
		case r.counting:
		case !r.restore:
			if bits != 0 {
				r.fixes = append(r.fixes, gobFix{at: at, bits: bits})
			}
		case r.next < len(r.fixes) && r.fixes[r.next].at == at:
			f := r.fixes[r.next]
			complexKind := s.kind == reflect.Complex64 || s.kind == reflect.Complex128
			if f.bits == 0 || (!complexKind && f.bits != 1) {
				return &gobRepairError{msg: "has a repair note that does not fit it (corrupt data)"}
			}
			r.next++
			re, im := f.bits&1 != 0, f.bits&2 != 0
			switch s.kind {
			case reflect.Float64:
				*(*uint64)(q) = sign64
			case reflect.Float32:
				*(*uint32)(q) = sign32
			case reflect.Complex128:
				*(*uint64)(q), *(*uint64)(unsafe.Add(q, 8)) = signBit64(re), signBit64(im)
			case reflect.Complex64:
				*(*uint32)(q), *(*uint32)(unsafe.Add(q, 4)) = signBit32(re), signBit32(im)
			}
		}
	}
	return nil
}

func signBit64(neg bool) uint64 {
	if neg {
		return sign64
	}
	return 0
}

func signBit32(neg bool) uint32 {
	if neg {
		return sign32
	}
	return 0
}

// walkMap visits the sites of a non-empty map: its values (keys hold no
// slices or maps, and a -0 field in a key is refused), in iteration order
// first, and again in key order when the map holds notes.
func (r *gobRepair) walkMap(v reflect.Value) error {
	t := v.Type()
	if !r.restore && gobHasSites(t.Key()) {
		// Keys are not restored: refuse a key gob would change.
		k := reflect.New(t.Key()).Elem()
		it := v.MapRange()
		for it.Next() {
			k.SetIterKey(it)
			kr := gobRepair{}
			if err := kr.walk(k, false); err != nil {
				return repairSeg(err, keySeg(it.Key())+"(key)")
			}
			if len(kr.fixes) > 0 {
				return &gobRepairError{segs: []string{keySeg(it.Key()) + "(key)"}, msg: "holds a -0 float field, which gob stores as +0 and a map key cannot be restored; use another format"}
			}
		}
	}
	if !gobHasSites(t.Elem()) {
		return nil
	}
	n0, f0, next0, counting := r.n, len(r.fixes), r.next, r.counting
	e := reflect.New(t.Elem()).Elem()
	it := v.MapRange()
	if r.restore {
		r.counting = true
	}
	for it.Next() {
		e.SetIterValue(it)
		if err := r.walk(e, false); err != nil {
			r.counting = counting
			return repairSeg(err, keySeg(it.Key()))
		}
	}
	r.counting = counting
	switch {
	case counting:
		return nil
	case !r.restore && len(r.fixes) == f0:
		return nil // nothing to note in this map
	case r.restore && (r.next >= len(r.fixes) || r.fixes[r.next].at >= r.n):
		return nil // nothing to restore in this map
	}
	// Notes in this map: visit its entries in key order, which Encode and
	// Decode agree on.
	entries, err := gobSortedEntries(v)
	if err != nil {
		return err
	}
	r.n, r.next = n0, next0
	if !r.restore {
		r.fixes = r.fixes[:f0]
	}
	for _, en := range entries {
		e.Set(en.v)
		next := r.next
		if err := r.walk(e, false); err != nil {
			return repairSeg(err, keySeg(en.k))
		}
		if r.restore && r.next != next {
			v.SetMapIndex(en.k, e)
		}
	}
	return nil
}

type gobEntry struct {
	k, v reflect.Value
	sum  fingerprint.Sum
}

// gobSortedEntries returns the entries of v sorted by key: by value for
// strings, integers, floats (their bits) and bools, by fingerprint
// otherwise. Two keys that sort equal are an error.
func gobSortedEntries(v reflect.Value) ([]gobEntry, error) {
	entries := make([]gobEntry, 0, v.Len())
	it := v.MapRange()
	for it.Next() {
		k := it.Key()
		if !k.Equal(k) {
			return nil, &gobRepairError{segs: []string{keySeg(k)},
				msg: "is a key that is not equal to itself (it holds a NaN), in a map whose values gob would change: its value cannot be restored; use another format"}
		}
		entries = append(entries, gobEntry{k: k, v: it.Value()})
	}
	var c func(a, b *gobEntry) int
	switch v.Type().Key().Kind() {
	case reflect.String:
		c = func(a, b *gobEntry) int { return cmp.Compare(a.k.String(), b.k.String()) }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		c = func(a, b *gobEntry) int { return cmp.Compare(a.k.Int(), b.k.Int()) }
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		c = func(a, b *gobEntry) int { return cmp.Compare(a.k.Uint(), b.k.Uint()) }
	case reflect.Float32, reflect.Float64:
		c = func(a, b *gobEntry) int {
			return cmp.Compare(math.Float64bits(a.k.Float()), math.Float64bits(b.k.Float()))
		}
	case reflect.Bool:
		c = func(a, b *gobEntry) int { return cmp.Compare(b2i(a.k.Bool()), b2i(b.k.Bool())) }
	default:
		for i := range entries {
			s, err := fingerprint.Of(entries[i].k.Interface())
			if err != nil {
				return nil, &gobRepairError{msg: fmt.Sprintf("has a key that cannot be ordered: %v", err)}
			}
			entries[i].sum = s
		}
		c = func(a, b *gobEntry) int { return bytes.Compare(a.sum[:], b.sum[:]) }
	}
	// Sorted through pointers: c(&a, &b) on copies would put every pair
	// compared on the heap.
	ptrs := make([]*gobEntry, len(entries))
	for i := range entries {
		ptrs[i] = &entries[i]
	}
	slices.SortFunc(ptrs, c)
	sorted := make([]gobEntry, len(entries))
	for i, e := range ptrs {
		sorted[i] = *e
	}
	entries = sorted
	for i := 1; i < len(entries); i++ {
		if c(&entries[i-1], &entries[i]) == 0 {
			return nil, &gobRepairError{segs: []string{keySeg(entries[i].k)},
				msg: "is a key that cannot be told apart from another (pointers to equal values), in a map whose values gob would change; use another format"}
		}
	}
	return entries, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// gobNotes returns the repair notes of v, as the header Encode writes
// before the gob value, or nil when there is nothing to restore. The
// header is the mark (a byte no gob stream starts with), the number of
// notes, and each note as a uvarint: the gap since the previous note's
// site, shifted left by two, and its float bits. The notes come first so
// that a result cut anywhere fails to decode.
func gobNotes(v reflect.Value) ([]byte, error) {
	if !gobHasSites(v.Type()) {
		return nil, nil
	}
	if !v.CanAddr() {
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		v = c
	}
	var r gobRepair
	if err := r.walk(v, false); err != nil {
		return nil, err
	}
	if len(r.fixes) == 0 {
		return nil, nil
	}
	b := binary.AppendUvarint([]byte{gobRepairMark}, uint64(len(r.fixes)))
	prev := uint64(0)
	for i, f := range r.fixes {
		gap := f.at - prev
		if i > 0 {
			gap = f.at - prev - 1
		}
		b = binary.AppendUvarint(b, gap<<2|uint64(f.bits))
		prev = f.at
	}
	return b, nil
}

// errGobNotes reports repair notes that do not fit the value they come with.
var errGobNotes = errors.New("repair notes that do not fit the value (corrupt data)")

// gobReadNotes reads the repair notes after the mark. Nothing is allocated
// from the count before the notes are read: a damaged count fails at the
// end of the input.
func gobReadNotes(br io.ByteReader) ([]gobFix, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, fmt.Errorf("repair notes: %w", noEOF(err))
	}
	if n == 0 {
		return nil, errGobNotes
	}
	var fixes []gobFix
	prev := uint64(0)
	for i := uint64(0); i < n; i++ {
		x, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, fmt.Errorf("repair notes: %w", noEOF(err))
		}
		gap, bits := x>>2, uint8(x&3)
		at := gap
		if i > 0 {
			at = prev + gap + 1
		}
		if gap > 1<<56 || at < prev {
			return nil, errGobNotes
		}
		fixes = append(fixes, gobFix{at: at, bits: bits})
		prev = at
	}
	return fixes, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// gobRestore restores the notes in v, which must be addressable.
func gobRestore(v reflect.Value, fixes []gobFix) error {
	r := gobRepair{restore: true, fixes: fixes}
	if err := r.walk(v, false); err != nil {
		return err
	}
	if r.next != len(r.fixes) {
		return errGobNotes
	}
	return nil
}
