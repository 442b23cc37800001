package formats

import (
	"encoding"
	"encoding/gob"
	"fmt"
	"io"
	"reflect"

	"github.com/flowcache/flowcache/core"
)

// Gob returns the gob format, named "gob".
//
// Values of interface type (or with interface fields) can only be stored when
// every concrete type that flows through them was registered with
// gob.Register; that cannot be known before the values exist, so Check
// accepts interface types and a failure to encode shows up at run time as a
// failed_store_write event (the node's value is used, not stored).
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
// pointers, and structs with unexported fields (gob silently drops them).
// Types that encode themselves (gob.GobEncoder or encoding.BinaryMarshaler,
// e.g. time.Time) are accepted.
func (gobFormat) Check(t reflect.Type) error {
	if t == nil {
		return fmt.Errorf("%w: gob: nil type", core.ErrUnsupportedType)
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

// Encode writes v with a fresh gob encoder (each result is self-describing).
// gob assembles each message in memory and writes it with one call, so no
// buffering is added here.
func (gobFormat) Encode(w io.Writer, v any) error {
	if err := gob.NewEncoder(w).Encode(v); err != nil {
		return fmt.Errorf("gob: encoding %T: %w", v, err)
	}
	return nil
}

// Decode reads a value of type t written by Encode.
func (gobFormat) Decode(r io.Reader, t reflect.Type) (any, error) {
	p := reflect.New(t)
	if err := gob.NewDecoder(r).DecodeValue(p); err != nil {
		return nil, fmt.Errorf("gob: decoding %v: %w", t, err)
	}
	return p.Elem().Interface(), nil
}
