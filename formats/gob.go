package formats

import (
	"bufio"
	"encoding"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"

	"github.com/flowcache/flowcache/core"
)

// Gob returns the gob format, named "gob": any value encoding/gob
// round-trips, the default format.
//
// Values with interface fields (or elements) can only be stored when every
// concrete type that flows through them was registered with gob.Register;
// that cannot be known before the values exist, so Check accepts them and
// a failure to encode shows up at run time as a failed_store_write event
// (the node's value is used, not stored). A result whose type is itself an
// interface is refused by Check: gob would store the value inside and could
// never load it back.
//
// Three things gob cannot store are caught when a value is encoded, since
// the type alone does not tell (Encode fails, naming the place; the node's
// value is used but not stored):
//
//   - a struct field that is a non-nil pointer to a zero value, like
//     Score *float64 pointing to 0, or to an empty slice or string, or to a
//     nil pointer: gob does not transmit zero fields, so it would load back
//     as a nil pointer (pointers to structs and arrays are fine);
//   - a nil pointer inside a slice, array or map (gob refuses it);
//   - a concrete type in an interface that was not registered.
//
// gob itself loads a zero-length slice as nil, a nil map that is not a
// struct field as an empty one, and a -0 float or complex struct field as
// +0. Encode notes where a value differs from that, in a few bytes before
// the gob value, and Decode restores it, so a value loads back as it was
// stored, down to what package fingerprint tells apart (see gobrepair.go).
// Encode refuses a map that needs such a note when its keys cannot be put
// in one order (a key holding a NaN, pointers to equal values) or a key
// holds a -0 field.
//
// A nil pointer or nil interface as the whole value, which gob itself
// refuses, is stored as the single byte 0x00 (no gob stream starts with it).
// Decode reads exactly one gob value and fails on trailing bytes. gob builds
// each message in memory before writing it, and reads it whole before
// decoding, so encoding or decoding a value costs about one extra copy of
// its encoding in memory.
func Gob() core.Format { return gobFormat{} }

type gobFormat struct{}

func (gobFormat) Name() string { return "gob" }

var (
	gobEncoderType   = reflect.TypeFor[gob.GobEncoder]()
	binaryMarshaler  = reflect.TypeFor[encoding.BinaryMarshaler]()
	gobDecoderType   = reflect.TypeFor[gob.GobDecoder]()
	binaryUnmarshalr = reflect.TypeFor[encoding.BinaryUnmarshaler]()
)

// Check reports types gob cannot round-trip: funcs, channels, unsafe
// pointers, structs with unexported fields (gob silently drops them), and
// an interface type as the whole result (Encode gets the value inside,
// which gob cannot decode into an interface; interfaces inside a result
// are fine). Types that encode themselves (gob.GobEncoder or
// encoding.BinaryMarshaler, e.g. time.Time) are accepted.
func (gobFormat) Check(t reflect.Type) error {
	if t == nil {
		return fmt.Errorf("%w: gob: nil type", core.ErrUnsupportedType)
	}
	if t.Kind() == reflect.Interface {
		return fmt.Errorf("%w: gob cannot store a result of interface type %v: Encode is handed the value the interface holds, which gob cannot load back into an interface, so the node would miss on every run; return a concrete type, or use the Ignore or Disable behavior",
			core.ErrUnsupportedType, t)
	}
	return checkGob(t, t.String(), map[reflect.Type]bool{})
}

func selfEncoding(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	enc := t.Implements(gobEncoderType) || pt.Implements(gobEncoderType) || t.Implements(binaryMarshaler) || pt.Implements(binaryMarshaler)
	dec := pt.Implements(gobDecoderType) || pt.Implements(binaryUnmarshalr)
	return enc && dec
}

func checkGob(t reflect.Type, path string, seen map[reflect.Type]bool) error {
	if seen[t] {
		return nil
	}
	seen[t] = true
	if selfEncoding(t) {
		return nil
	}
	switch t.Kind() {
	case reflect.Func, reflect.Chan, reflect.UnsafePointer, reflect.Uintptr:
		return fmt.Errorf("%w: gob cannot store %s (type %v); use another format, or the Ignore or Disable behavior", core.ErrUnsupportedType, path, t)
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return checkGob(t.Elem(), path+"[]", seen)
	case reflect.Map:
		if err := checkGob(t.Key(), path+"[key]", seen); err != nil {
			return err
		}
		return checkGob(t.Elem(), path+"[value]", seen)
	case reflect.Struct:
		exported := 0
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				return fmt.Errorf("%w: gob drops unexported field %s.%s (type %v), so the value would load back different; export the field, implement gob.GobEncoder, use another format, or the Ignore or Disable behavior", core.ErrUnsupportedType, path, f.Name, t)
			}
			exported++
			if err := checkGob(f.Type, path+"."+f.Name, seen); err != nil {
				return err
			}
		}
		if exported == 0 && t.NumField() == 0 {
			// gob refuses struct{} ("type has no exported fields").
			return fmt.Errorf("%w: gob cannot store %s: struct type %v has no fields", core.ErrUnsupportedType, path, t)
		}
	}
	return nil
}

// gobNil is the whole encoding of a nil pointer or nil interface.
const gobNil = 0x00

// Encode writes v with a fresh gob encoder (each result is self-describing).
// gob assembles each message in memory and writes it with one call, so no
// buffering is added here.
func (gobFormat) Encode(w io.Writer, v any) error {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || (rv.Kind() == reflect.Pointer && rv.IsNil()) {
		_, err := w.Write([]byte{gobNil})
		return err
	}
	if gobNeedsWalk(rv.Type()) {
		var path pathBuilder
		if err := gobWalk(rv, &path); err != nil {
			return fmt.Errorf("gob: encoding %T: %w", v, err)
		}
	}
	notes, err := gobNotes(rv)
	if err != nil {
		return fmt.Errorf("gob: encoding %T: %w", v, err)
	}
	if notes != nil {
		if _, err := w.Write(notes); err != nil {
			return err
		}
	}
	if err := gob.NewEncoder(w).Encode(v); err != nil {
		return fmt.Errorf("gob: encoding %T: %w", v, err)
	}
	return nil
}

var gobReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}

// Decode reads a value of type t written by Encode, and fails if anything
// follows it.
func (gobFormat) Decode(r io.Reader, t reflect.Type) (any, error) {
	if t == nil {
		return nil, fmt.Errorf("%w: gob: decoding into a nil type", core.ErrInvalid)
	}
	br := gobReaders.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() {
		br.Reset(nil)
		gobReaders.Put(br)
	}()
	if b, err := br.Peek(2); len(b) == 1 && b[0] == gobNil && err == io.EOF {
		switch t.Kind() {
		case reflect.Pointer, reflect.Interface:
			return reflect.Zero(t).Interface(), nil
		}
		return nil, fmt.Errorf("gob: decoding %v: the input holds a nil pointer", t)
	}
	var notes []gobFix
	if b, _ := br.Peek(1); len(b) == 1 && b[0] == gobRepairMark {
		br.Discard(1)
		var err error
		if notes, err = gobReadNotes(br); err != nil {
			return nil, fmt.Errorf("gob: decoding %v: %w", t, err)
		}
	}
	p := reflect.New(t)
	// gob uses br as it is (it is an io.ByteReader), so nothing is read
	// beyond what gob consumed except into br, checked next.
	if err := gob.NewDecoder(br).DecodeValue(p); err != nil {
		return nil, fmt.Errorf("gob: decoding %v: %w", t, err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		if err == nil {
			err = errors.New("trailing bytes after the value")
		}
		return nil, fmt.Errorf("gob: decoding %v: %w", t, err)
	}
	if notes != nil {
		if err := gobRestore(p.Elem(), notes); err != nil {
			return nil, fmt.Errorf("gob: decoding %v: %w", t, err)
		}
	}
	return p.Elem().Interface(), nil
}

// gobNeedsWalk tells, per type, whether values of it can hold something gob
// would drop or refuse that only the value shows (see Gob).
var gobNeedsWalk = typeMemo(gobMayHide)

// gobMayHide reports whether a value of type t can contain a struct field
// pointing to a value gob drops, a nil pointer inside a container, or an
// interface (whose dynamic value may).
func gobMayHide(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false // being looked at further up
	}
	seen[t] = true
	if selfEncoding(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer:
		return gobMayHide(t.Elem(), seen)
	case reflect.Slice, reflect.Array:
		return t.Elem().Kind() == reflect.Pointer || gobMayHide(t.Elem(), seen)
	case reflect.Map:
		return t.Elem().Kind() == reflect.Pointer || t.Key().Kind() == reflect.Pointer ||
			gobMayHide(t.Key(), seen) || gobMayHide(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			ft := t.Field(i).Type
			if ft.Kind() == reflect.Pointer && gobDropsZero(ft.Elem()) {
				return true
			}
			if gobMayHide(ft, seen) {
				return true
			}
		}
	}
	return false
}

// gobDropsZero reports whether gob leaves out a struct field of type t (or
// pointing to t) when its value is zero.
func gobDropsZero(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Struct, reflect.Array:
		return selfEncoding(t)
	}
	return true
}

// gobDropped reports whether gob leaves out v, the target of a struct
// field's pointer.
func gobDropped(v reflect.Value) bool {
	if selfEncoding(v.Type()) {
		return v.IsZero()
	}
	switch v.Kind() {
	case reflect.Struct, reflect.Array:
		return false
	case reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Map, reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return v.IsZero()
}

// gobWalk looks for what gob would drop or refuse in v (see Gob).
func gobWalk(v reflect.Value, path *pathBuilder) error {
	t := v.Type()
	if !gobNeedsWalk(t) {
		return nil
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return gobWalk(v.Elem(), path)
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			e := v.Index(i)
			if e.Kind() == reflect.Pointer && e.IsNil() {
				return fmt.Errorf("%s%s is a nil pointer, which gob cannot store inside a slice or array", path, indexSeg(i))
			}
			path.push(i, "")
			err := gobWalk(e, path)
			path.pop()
			if err != nil {
				return err
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			k, e := it.Key(), it.Value()
			if (e.Kind() == reflect.Pointer && e.IsNil()) || (k.Kind() == reflect.Pointer && k.IsNil()) {
				return fmt.Errorf("%s holds a nil pointer, which gob cannot store inside a map", path)
			}
			path.push(-1, "[key]")
			err := gobWalk(k, path)
			path.pop()
			if err != nil {
				return err
			}
			path.pushKey(k)
			err = gobWalk(e, path)
			path.pop()
			if err != nil {
				return err
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Field(i)
			name := t.Field(i).Name
			if f.Kind() == reflect.Pointer && !f.IsNil() {
				target := f.Elem()
				for target.Kind() == reflect.Pointer && !target.IsNil() {
					target = target.Elem()
				}
				if gobDropped(target) {
					return fmt.Errorf("%s.%s points to %s, which gob does not transmit: it would load back as a nil pointer; "+
						"make the field a non-pointer, set it to nil, or use another format", path, name, zeroDesc(target))
				}
			}
			path.push(-1, "."+name)
			err := gobWalk(f, path)
			path.pop()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func zeroDesc(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Interface:
		return "a nil " + v.Type().String()
	case reflect.Slice:
		return "an empty " + v.Type().String()
	case reflect.String:
		return `""`
	}
	return fmt.Sprintf("a zero %v", v.Type())
}
