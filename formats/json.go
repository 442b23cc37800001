package formats

import (
	"bufio"
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"sync"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/internal/corrupt"
)

// JSON returns the json format, named "json": values that encoding/json
// round-trips, stored as plain JSON a person (or jq) can read: exactly what
// a json.Encoder with SetEscapeHTML(false) writes, one compact value and a
// newline.
//
// Check rejects, naming the type and the field path, what JSON cannot load
// back equal: an interface type as the whole result (Encode sees only the
// value inside), funcs, chans, complex numbers, interfaces other than `any`,
// pointers to pointers, map keys that are not strings, integers or
// encoding.TextMarshaler types (with the matching unmarshaler), struct
// fields json leaves out (unexported, tagged "-", or two fields with one
// JSON name), and types whose marshal and unmarshal methods do not pair up.
// Types with MarshalJSON/UnmarshalJSON or MarshalText/UnmarshalText are
// trusted to round-trip.
//
// Lossy values are caught when encoding, since the type alone does not
// tell; Encode then fails with a message naming the place:
//
//   - a float NaN or ±Inf (JSON has no such numbers);
//   - a string (or map key) that is not valid UTF-8 (json would replace the
//     bad bytes by U+FFFD);
//   - in an `any`, anything but nil, bool, float64, string, []any and
//     map[string]any (json loads an int back as a float64, a struct as a
//     map);
//   - a non-nil pointer to a nil slice, map or interface (written as null,
//     it would load back as a nil pointer);
//   - in a struct field tagged omitempty or omitzero, a value json leaves
//     out that is not exactly the zero value it then loads back as: a -0
//     (json calls it empty and zero), an empty slice or map (omitempty),
//     or a value the type's IsZero method calls zero.
//
// time.Time is stored as RFC 3339 with nanoseconds. It loads back as the
// same instant, without the monotonic clock reading, and a named zone other
// than UTC (or the machine's Local, on the same machine) becomes a fixed
// offset: 12:00 in "Europe/Paris" loads back as 12:00 in a zone with no
// name at +01:00, which fingerprints differently. Keep times in UTC, or use
// gob, when the zone name matters.
//
// A nil slice and an empty one are written as null and [], a nil map and
// an empty one as null and {}, and each loads back as it was (package
// fingerprint tells them apart). Encode refuses what would not: an empty
// slice or map in a field tagged omitempty (json leaves it out, so it
// would load back nil; omitzero leaves out only nil), and a nil []any or
// map[string]any held in an `any`.
//
// Encoding streams a top-level slice in batches of about 64 KiB of JSON,
// so storing a large []T costs little memory beyond the value itself
// (1.03 times a 100 MiB []float64 or []struct in peak RSS, measured).
// Decoding splits a top-level array into batches of about 1 MiB of whole
// elements and hands each to encoding/json, which checks and decodes it
// into a chunk of its exact length; the chunks are copied into the result
// at the end, so loading peaks at about twice the value (2.05 times a
// []float64, 1.84 times a []struct of 64-byte rows) and runs at the speed
// of encoding/json (about 45 MB/s of []float64 and 35 MB/s of []struct on
// the 2-core target machine). Any other value is built whole in memory by
// encoding/json. Decode reads exactly one value followed by the newline,
// fails on unknown object keys (a struct field was renamed or removed) and
// on trailing data, and allocates in proportion to its input: JSON holds
// no lengths or counts, nesting is bounded at encoding/json's 10,000
// levels before an element is buffered, and FuzzJSONDecode bounds a []T of
// 80-byte structs at 64 MiB plus 64 bytes per byte of input. Bad bytes are
// an error wrapping core.ErrCorrupt; a failing reader's error is passed
// on. Validate (core.FormatValidator) checks the JSON without the Go type.
func JSON() core.Format { return jsonFormat{} }

type jsonFormat struct{}

func (jsonFormat) Name() string { return "json" }

var (
	jsonMarshalerType   = reflect.TypeFor[json.Marshaler]()
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	anySliceType        = reflect.TypeFor[[]any]()
	anyMapType          = reflect.TypeFor[map[string]any]()
)

var jsonChecks sync.Map // reflect.Type -> error (nil: supported)

// Check reports types JSON cannot store and load back equal (see JSON).
func (jsonFormat) Check(t reflect.Type) error {
	if t == nil {
		return fmt.Errorf("%w: json: nil type", core.ErrUnsupportedType)
	}
	if t.Kind() == reflect.Interface {
		return fmt.Errorf("%w: json cannot store a result of interface type %v: Encode is handed the value the interface holds, and json would load it back as one of its own kinds (a number as a float64, a struct as a map), so the node would miss on every run; return a concrete type (map[string]any and []any included), or use the Ignore or Disable behavior",
			core.ErrUnsupportedType, t)
	}
	if e, ok := jsonChecks.Load(t); ok {
		err, _ := e.(error)
		return err
	}
	c := jsonChecker{seen: map[reflect.Type]bool{}}
	// Encode hands encoding/json a pointer to a copy of the value, so the
	// top-level value is addressable.
	err := c.check(t, t.String(), true)
	if err != nil {
		err = fmt.Errorf("%w: %w", core.ErrUnsupportedType, err)
		jsonChecks.Store(t, err)
	} else {
		jsonChecks.Store(t, nil)
	}
	return err
}

type jsonChecker struct {
	seen map[reflect.Type]bool
}

func jsonReject(path string, t reflect.Type, why string) error {
	return fmt.Errorf("json cannot store %s (type %v): %s; use another format (gob), or the Ignore or Disable behavior", path, t, why)
}

// check checks t, found at path. addressable tells whether encoding/json
// sees values there as addressable (not inside a map value), which decides
// whether it calls marshal methods with a pointer receiver.
func (c *jsonChecker) check(t reflect.Type, path string, addressable bool) error {
	if t.Kind() == reflect.Pointer {
		if t.Elem().Kind() == reflect.Pointer {
			return jsonReject(path, t, "a pointer to a pointer whose inner pointer is nil is written as null and would load back as a nil outer pointer")
		}
		// Through a pointer, values are addressable.
		return c.check(t.Elem(), path, true)
	}
	if t.Kind() == reflect.Interface {
		if t.NumMethod() == 0 {
			return nil // any: checked value by value when encoding
		}
		return jsonReject(path, t, "json cannot load a value back into a non-empty interface")
	}
	if done, err := c.checkMethods(t, path, addressable); done {
		return err
	}
	key := t
	if c.seen[key] {
		return nil // recursive type, being checked further up
	}
	c.seen[key] = true
	defer delete(c.seen, key)

	switch t.Kind() {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return nil
	case reflect.Complex64, reflect.Complex128:
		return jsonReject(path, t, "JSON has no complex numbers")
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		return jsonReject(path, t, "it is not data")
	case reflect.Slice:
		if jsonBase64(t) {
			return nil
		}
		return c.check(t.Elem(), path+"[]", true)
	case reflect.Array:
		return c.check(t.Elem(), path+"[]", addressable)
	case reflect.Map:
		if err := jsonCheckKey(t.Key(), path); err != nil {
			return err
		}
		return c.check(t.Elem(), path+"[value]", false)
	case reflect.Struct:
		var fields []jsonField
		if err := jsonFields(t, path, &fields, map[reflect.Type]bool{}); err != nil {
			return err
		}
		names := make(map[string]string, len(fields))
		for _, f := range fields {
			if other, dup := names[f.name]; dup {
				return jsonReject(f.path, t, fmt.Sprintf("it and %s have the JSON name %q, and json then writes at most one of them", other, f.name))
			}
			names[f.name] = f.path
		}
		for _, f := range fields {
			if err := c.check(f.typ, f.path, addressable); err != nil {
				return err
			}
		}
		return nil
	}
	return jsonReject(path, t, "unknown kind")
}

// checkMethods looks at the JSON and text marshal methods of t (not a
// pointer or interface). done means t encodes itself (err nil) or cannot be
// stored (err set).
func (c *jsonChecker) checkMethods(t reflect.Type, path string, addressable bool) (done bool, err error) {
	pt := reflect.PointerTo(t)
	encJSON := t.Implements(jsonMarshalerType)
	encText := !encJSON && t.Implements(textMarshalerType)
	ptrOnly := !encJSON && !encText && (pt.Implements(jsonMarshalerType) || pt.Implements(textMarshalerType))
	if ptrOnly {
		if !addressable {
			return true, jsonReject(path, t, "its marshal method has a pointer receiver, which encoding/json does not call on a map value")
		}
		encJSON = pt.Implements(jsonMarshalerType)
		encText = !encJSON
	}
	decJSON := pt.Implements(jsonUnmarshalerType)
	decText := pt.Implements(textUnmarshalerType)
	switch {
	case encJSON && decJSON, encText && (decText || decJSON):
		return true, nil
	case encJSON:
		return true, jsonReject(path, t, "it implements json.Marshaler but not json.Unmarshaler")
	case encText:
		return true, jsonReject(path, t, "it implements encoding.TextMarshaler but not encoding.TextUnmarshaler")
	case decJSON || decText:
		return true, jsonReject(path, t, "it has an unmarshal method but no matching marshal method, so it would be written one way and read another")
	}
	return false, nil
}

// jsonBase64 reports whether encoding/json writes slices of type t as a
// base64 string.
func jsonBase64(t reflect.Type) bool {
	if t.Elem().Kind() != reflect.Uint8 {
		return false
	}
	pe := reflect.PointerTo(t.Elem())
	return !pe.Implements(jsonMarshalerType) && !pe.Implements(textMarshalerType)
}

func jsonCheckKey(kt reflect.Type, path string) error {
	enc := kt.Implements(textMarshalerType)
	dec := reflect.PointerTo(kt).Implements(textUnmarshalerType)
	switch kt.Kind() {
	case reflect.String:
		if dec {
			return jsonReject(path+"[key]", kt, "json writes a string key as it is but reads it back with its UnmarshalText method")
		}
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if enc != dec {
			return jsonReject(path+"[key]", kt, "the key type has only one of MarshalText and UnmarshalText, so json would write it one way and read it another")
		}
		return nil
	}
	if enc && dec {
		return nil
	}
	return jsonReject(path+"[key]", kt, "JSON object keys are strings: a map key must be a string, an integer or an encoding.TextMarshaler with UnmarshalText")
}

type jsonField struct {
	name string // JSON name
	path string // Go path, for messages
	typ  reflect.Type
}

// jsonFields lists the fields encoding/json writes for struct type t,
// embedded structs flattened, or rejects a field it would leave out.
func jsonFields(t reflect.Type, path string, out *[]jsonField, visiting map[reflect.Type]bool) error {
	if visiting[t] {
		return nil
	}
	visiting[t] = true
	defer delete(visiting, t)
	for i := range t.NumField() {
		f := t.Field(i)
		fpath := path + "." + f.Name
		tag, hasTag := f.Tag.Lookup("json")
		if tag == "-" {
			return jsonReject(fpath, f.Type, `json leaves out fields tagged "-", so it would load back zero`)
		}
		name, _, _ := strings.Cut(tag, ",")
		if !hasTag || !validJSONName(name) {
			name = ""
		}
		if f.Anonymous {
			ft := f.Type
			isPtr := ft.Kind() == reflect.Pointer
			if isPtr {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && name == "" {
				if !f.IsExported() && isPtr {
					return jsonReject(fpath, f.Type, "json cannot set an embedded pointer to an unexported struct type")
				}
				if err := jsonFields(ft, fpath, out, visiting); err != nil {
					return err
				}
				continue
			}
		}
		if !f.IsExported() {
			return jsonReject(fpath, f.Type, "json leaves out unexported fields, so it would load back zero")
		}
		if name == "" {
			name = f.Name
		}
		*out = append(*out, jsonField{name: name, path: fpath, typ: f.Type})
	}
	return nil
}

// validJSONName mirrors encoding/json's rule for tag names it accepts
// (others are ignored, and the field's name is used).
func validJSONName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c > 127):
			return false
		}
	}
	return true
}

// jsonNeedsWalk tells, per type, whether its values must be looked at
// before encoding (see JSON: values in an `any`, pointers to nil slices and
// maps).
var jsonNeedsWalk = typeMemo(jsonMayHide)

func jsonMayHide(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer:
		switch t.Elem().Kind() {
		case reflect.Slice, reflect.Map, reflect.Interface:
			return true
		}
		return jsonMayHide(t.Elem(), seen)
	case reflect.Slice, reflect.Array, reflect.Map:
		return jsonMayHide(t.Elem(), seen)
	case reflect.Struct:
		if t.Implements(jsonMarshalerType) || t.Implements(textMarshalerType) {
			return false
		}
		for i := range t.NumField() {
			f := t.Field(i)
			if jsonOmitMayLose(f) || jsonMayHide(f.Type, seen) {
				return true
			}
		}
	}
	return false
}

var isZeroerType = reflect.TypeFor[interface{ IsZero() bool }]()

// jsonOmits returns the omitempty and omitzero options of a struct field's
// json tag. An embedded struct json flattens has none.
func jsonOmits(f reflect.StructField) (empty, zero bool) {
	tag, ok := f.Tag.Lookup("json")
	if !ok {
		return false, false
	}
	name, opts, _ := strings.Cut(tag, ",")
	if f.Anonymous && name == "" {
		if ft := f.Type; ft.Kind() == reflect.Struct || ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct {
			return false, false
		}
	}
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		switch o {
		case "omitempty":
			empty = true
		case "omitzero":
			zero = true
		}
	}
	return empty, zero
}

// jsonOmit is what the tag of a struct field says about leaving it out.
type jsonOmit struct{ empty, zero, mayLose bool }

// jsonOmitPlans maps a struct type to its fields' []jsonOmit.
var jsonOmitPlans sync.Map

func jsonOmitsOf(t reflect.Type) []jsonOmit {
	if p, ok := jsonOmitPlans.Load(t); ok {
		return p.([]jsonOmit)
	}
	p := make([]jsonOmit, t.NumField())
	for i := range p {
		f := t.Field(i)
		p[i].empty, p[i].zero = jsonOmits(f)
		p[i].mayLose = jsonOmitMayLose(f)
	}
	jsonOmitPlans.Store(t, p)
	return p
}

// jsonOmitMayLose reports whether json can leave out a value of field f
// that is not exactly the zero value the field then loads back as: a -0
// is empty and zero to json, an empty slice or map is empty (and loads
// back nil), and an IsZero method may call anything zero.
func jsonOmitMayLose(f reflect.StructField) bool {
	empty, zero := jsonOmits(f)
	t := f.Type
	switch {
	case empty && (t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64 || t.Kind() == reflect.Slice || t.Kind() == reflect.Map):
		return true
	case zero && (t.Implements(isZeroerType) || reflect.PointerTo(t).Implements(isZeroerType)):
		return true
	case zero:
		switch t.Kind() {
		case reflect.Float32, reflect.Float64, reflect.Struct, reflect.Array:
			return true
		}
	}
	return false
}

// jsonOmitted reports whether encoding/json leaves out v, the value of a
// struct field with the given tag options.
func jsonOmitted(v reflect.Value, empty, zero bool) bool {
	if empty {
		switch v.Kind() {
		case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
			if v.Len() == 0 {
				return true
			}
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
			reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
			if v.IsZero() {
				return true
			}
		}
	}
	if !zero {
		return false
	}
	t := v.Type()
	switch {
	case (t.Kind() == reflect.Interface || t.Kind() == reflect.Pointer) && t.Implements(isZeroerType):
		return v.IsNil() || (v.Elem().Kind() == reflect.Pointer && v.Elem().IsNil()) || v.Interface().(interface{ IsZero() bool }).IsZero()
	case t.Implements(isZeroerType):
		return v.Interface().(interface{ IsZero() bool }).IsZero()
	case reflect.PointerTo(t).Implements(isZeroerType):
		if !v.CanAddr() {
			c := reflect.New(t).Elem()
			c.Set(v)
			v = c
		}
		return v.Addr().Interface().(interface{ IsZero() bool }).IsZero()
	}
	return v.IsZero()
}

// exactlyZero reports whether v is its type's zero value bit for bit (a -0
// is not).
func exactlyZero(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		return math.Float64bits(v.Float()) == 0
	case reflect.Complex64, reflect.Complex128:
		c := v.Complex()
		return math.Float64bits(real(c)) == 0 && math.Float64bits(imag(c)) == 0
	case reflect.Struct:
		for i := range v.NumField() {
			if !exactlyZero(v.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Array:
		for i := range v.Len() {
			if !exactlyZero(v.Index(i)) {
				return false
			}
		}
		return true
	}
	return v.IsZero()
}

// jsonWalk finds what JSON would load back different in v (see JSON).
func jsonWalk(v reflect.Value, path *pathBuilder) error {
	if !jsonNeedsWalk(v.Type()) {
		return nil
	}
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return nil
		}
		e := v.Elem()
		switch e.Type() {
		case reflect.TypeFor[bool](), reflect.TypeFor[float64](), reflect.TypeFor[string]():
			return nil
		case anySliceType, anyMapType:
			if e.IsNil() {
				return fmt.Errorf("%s holds a nil %v, which json writes as null: it would load back as a nil `any`", path, e.Type())
			}
			return jsonWalk(e, path)
		}
		return fmt.Errorf("%s holds a %v, which json would load back as another type: an `any` can hold only nil, bool, float64, string, []any and map[string]any", path, e.Type())
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		e := v.Elem()
		switch e.Kind() {
		case reflect.Slice, reflect.Map, reflect.Interface:
			if e.IsNil() {
				return fmt.Errorf("%s points to a nil %v, which json writes as null: it would load back as a nil pointer", path, e.Type())
			}
		}
		return jsonWalk(e, path)
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			path.push(i, "")
			err := jsonWalk(v.Index(i), path)
			path.pop()
			if err != nil {
				return err
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			path.pushKey(it.Key())
			err := jsonWalk(it.Value(), path)
			path.pop()
			if err != nil {
				return err
			}
		}
	case reflect.Struct:
		t := v.Type()
		omits := jsonOmitsOf(t)
		for i := range v.NumField() {
			sf := t.Field(i)
			f := v.Field(i)
			if o := omits[i]; o.mayLose {
				if jsonOmitted(f, o.empty, o.zero) && !exactlyZero(f) {
					return fmt.Errorf("%s.%s is %s, which json leaves out (the field is tagged omitempty or omitzero), so it would load back as the zero %v; drop the option from the tag, or use gob",
						path, sf.Name, jsonOmitDesc(f), sf.Type)
				}
			}
			path.push(-1, "."+sf.Name)
			err := jsonWalk(f, path)
			path.pop()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func jsonOmitDesc(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		return "-0"
	case reflect.Slice, reflect.Map:
		return "an empty " + v.Type().String()
	}
	return fmt.Sprintf("%+v (zero to json, but not the zero value)", v)
}

// jsonStreams reports whether values of t are encoded and decoded element
// by element: slices encoding/json writes as arrays, with no marshal
// method of their own.
func jsonStreams(t reflect.Type) bool {
	if t.Kind() != reflect.Slice || jsonBase64(t) {
		return false
	}
	pt := reflect.PointerTo(t)
	for _, m := range []reflect.Type{jsonMarshalerType, textMarshalerType, jsonUnmarshalerType, textUnmarshalerType} {
		if t.Implements(m) || pt.Implements(m) {
			return false
		}
	}
	return true
}

// jsonBatch is about how many bytes of JSON are encoded per batch of
// elements of a streamed slice.
const jsonBatch = 64 << 10

var jsonWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// Encode writes v as JSON and a newline.
func (f jsonFormat) Encode(w io.Writer, v any) (err error) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		_, err := io.WriteString(w, "null\n")
		return err
	}
	t := rv.Type()
	if err := f.Check(t); err != nil {
		return err
	}
	if jsonNeedsWalk(t) {
		var path pathBuilder
		if err := jsonWalk(rv, &path); err != nil {
			return fmt.Errorf("json: encoding %v: %w", t, err)
		}
	}
	g := &utf8Guard{w: w}
	bw := jsonWriters.Get().(*bufio.Writer)
	bw.Reset(g)
	defer func() {
		bw.Reset(nil)
		jsonWriters.Put(bw)
	}()
	if jsonStreams(t) && !rv.IsNil() {
		err = encodeJSONSlice(bw, rv)
	} else {
		// A pointer to a copy, so that marshal methods with pointer
		// receivers are called on the top-level value too.
		p := reflect.New(t)
		p.Elem().Set(rv)
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		err = enc.Encode(p.Interface())
	}
	if err == nil {
		err = bw.Flush()
	}
	if g.bad {
		err = errors.New("a string is not valid UTF-8: json would replace the bad bytes with U+FFFD (or a MarshalJSON method wrote \\ufffd); store it as []byte, or use gob")
	}
	if err != nil {
		if _, ok := errors.AsType[*json.UnsupportedValueError](err); ok {
			err = fmt.Errorf("%w (JSON has no NaN or ±Inf: replace them, or use gob)", err)
		}
		return fmt.Errorf("json: encoding %v: %w", t, err)
	}
	return nil
}

// encodeJSONSlice writes a slice as encoding/json would, in batches of
// elements, so that no whole copy of the encoding is held in memory.
func encodeJSONSlice(bw *bufio.Writer, rv reflect.Value) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := bw.WriteByte('['); err != nil {
		return err
	}
	n, batch := rv.Len(), 1
	for i := 0; i < n; {
		j := min(n, i+batch)
		buf.Reset()
		if err := enc.Encode(rv.Slice(i, j).Interface()); err != nil {
			return fmt.Errorf("elements [%d:%d]: %w", i, j, err)
		}
		b := buf.Bytes() // "[e,...,e]\n"
		if i > 0 {
			if err := bw.WriteByte(','); err != nil {
				return err
			}
		}
		if _, err := bw.Write(b[1 : len(b)-2]); err != nil {
			return err
		}
		perElem := max(1, len(b)/(j-i))
		batch = min(max(jsonBatch/perElem, 1), 1<<16)
		i = j
	}
	_, err := bw.WriteString("]\n")
	return err
}

// utf8Guard passes JSON through and notes a \ufffd escape: encoding/json
// writes one for every invalid UTF-8 byte in a string (a real U+FFFD is
// written as itself), so seeing one means the string would load back
// different. Backslashes only start escapes in JSON, so a state machine
// over escapes is enough.
type utf8Guard struct {
	w     io.Writer
	state int // 0: plain; 1: after a backslash; 2..5: matched that many of "ufff"
	bad   bool
}

func (g *utf8Guard) Write(p []byte) (int, error) {
	g.scan(p)
	if g.bad {
		return 0, errors.New("invalid UTF-8")
	}
	return g.w.Write(p)
}

func (g *utf8Guard) scan(p []byte) {
	const want = "ufffd"
	for len(p) > 0 {
		if g.state == 0 {
			i := bytes.IndexByte(p, '\\')
			if i < 0 {
				return
			}
			g.state, p = 1, p[i+1:]
			continue
		}
		c := p[0]
		p = p[1:]
		if c == want[g.state-1] {
			g.state++
			if g.state == len(want)+1 {
				g.bad = true
				g.state = 0
			}
		} else {
			g.state = 0 // the escaped character (another backslash included)
		}
	}
}

// Decode reads a value of type t written by Encode. Malformed JSON, a
// value of another shape and trailing data are errors wrapping
// core.ErrCorrupt; a failure of r itself is passed on.
func (jsonFormat) Decode(r io.Reader, t reflect.Type) (any, error) {
	if t == nil {
		return nil, fmt.Errorf("%w: json: decoding into a nil type", core.ErrInvalid)
	}
	src := &corrupt.Reader{R: r}
	what := fmt.Sprintf("json: decoding %v", t)
	if jsonStreams(t) {
		a := newJSONArray(src)
		v, err := a.decode(t)
		if err != nil {
			return nil, src.Wrap(what, err)
		}
		return v.Interface(), nil
	}
	er := &lastByteReader{r: src}
	dec := json.NewDecoder(er)
	dec.DisallowUnknownFields()
	p := reflect.New(t)
	err := dec.Decode(p.Interface())
	if err == nil {
		err = jsonEnd(dec, er)
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, src.Wrap(what, err)
	}
	return p.Elem().Interface(), nil
}

// Validate checks that r holds one well-formed JSON value and the newline
// Encode writes after it, and nothing else (see core.FormatValidator). A
// top-level array is checked in batches of elements, so it costs about
// 1 MiB of memory whatever its size; any other value is read whole into
// memory (its size, no more). Nesting is bounded by encoding/json's limit
// of 10,000 levels.
func (jsonFormat) Validate(r io.Reader) error {
	src := &corrupt.Reader{R: r}
	a := newJSONArray(src)
	err := a.skipSpace()
	if err == nil && a.peek() == '[' {
		err = a.validate()
	} else if err == nil {
		er := &lastByteReader{r: a.rest()}
		dec := json.NewDecoder(er)
		var raw json.RawMessage
		if err = dec.Decode(&raw); err == nil {
			err = jsonEnd(dec, er)
		}
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return src.Wrap("json: validating", err)
}

var _ core.FormatValidator = jsonFormat{}

// jsonEnd checks that only whitespace follows the value dec read, and that
// the input ends with a newline.
func jsonEnd(dec *json.Decoder, er *lastByteReader) error {
	tok, err := dec.Token()
	switch {
	case err == io.EOF:
		if er.last != '\n' {
			return errors.New("the input does not end with the newline Encode writes (truncated?)")
		}
		return nil
	case err == nil:
		return fmt.Errorf("trailing data after the value (%v)", tok)
	}
	return fmt.Errorf("trailing data after the value: %w", err)
}

// jsonChunk is about how many bytes of JSON elements jsonArray decodes at
// once.
const jsonChunk = 1 << 20

// jsonMaxDepth is encoding/json's limit on nesting, which jsonArray
// applies before buffering an element.
const jsonMaxDepth = 10000

// jsonArray reads a top-level JSON array (or null) in batches of whole
// elements: it finds where each element ends (outside strings, at a comma
// or the closing bracket at depth zero) and hands about jsonChunk bytes of
// elements at a time, as the array "[e,e,...]", to encoding/json, which
// checks them and decodes them into a slice of their exact count. Unlike
// a json.Decoder reading element by element, this costs one call of
// encoding/json per batch instead of one per element. Every batch is
// valid exactly when the elements in it are, so the whole array is checked.
type jsonArray struct {
	r     io.Reader
	buf   []byte // read from r
	pos   int    // next byte of buf
	err   error  // r's error after buf
	last  byte   // the last byte consumed
	batch []byte // "[" and the elements of the batch being gathered
	n     int    // elements in batch
	comma bool   // a comma between elements has been read
}

func newJSONArray(r io.Reader) *jsonArray {
	return &jsonArray{r: r, buf: make([]byte, 0, 64<<10)}
}

// fill reads more input when buf is consumed; io.EOF at the end.
func (a *jsonArray) fill() error {
	for a.pos == len(a.buf) {
		if a.err != nil {
			return a.err
		}
		var n int
		n, a.err = a.r.Read(a.buf[:cap(a.buf)])
		a.buf, a.pos = a.buf[:n], 0
	}
	return nil
}

func (a *jsonArray) peek() byte { return a.buf[a.pos] }

// skipSpace consumes whitespace up to the next byte or the end (io.EOF).
func (a *jsonArray) skipSpace() error {
	for {
		if err := a.fill(); err != nil {
			return err
		}
		switch c := a.buf[a.pos]; c {
		case ' ', '\t', '\r', '\n':
			a.last = c
			a.pos++
		default:
			return nil
		}
	}
}

// rest returns a reader of what a has not consumed.
func (a *jsonArray) rest() io.Reader {
	return io.MultiReader(bytes.NewReader(a.buf[a.pos:]), errorAfter{a.r, a.err})
}

// errorAfter reads r, or returns err if it is set.
type errorAfter struct {
	r   io.Reader
	err error
}

func (e errorAfter) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return e.r.Read(p)
}

var errJSONNotArray = errors.New("want an array")

// open consumes the start of the array: true after "[", false after
// "null" (a nil slice).
func (a *jsonArray) open() (bool, error) {
	if err := a.skipSpace(); err != nil {
		return false, err
	}
	if c := a.peek(); c == '[' {
		a.pos++
		a.batch = append(a.batch[:0], '[')
		return true, nil
	} else if c != 'n' {
		return false, fmt.Errorf("%w, found %q", errJSONNotArray, c)
	}
	for _, want := range []byte("null") {
		if err := a.fill(); err != nil {
			return false, err
		}
		if a.peek() != want {
			return false, fmt.Errorf("%w, found %q", errJSONNotArray, a.peek())
		}
		a.pos++
	}
	a.last = 'l'
	return false, nil
}

// next gathers the next batch of elements into a.batch (without its
// closing bracket). It returns false once the array's closing bracket has
// been consumed and the last batch gathered.
func (a *jsonArray) next() (more bool, err error) {
	a.batch, a.n = a.batch[:1], 0
	depth := 0
	inString, escaped := false, false
	content := false // the current element has a non-space byte
	space := false   // the last byte kept at depth 0 was whitespace
	for {
		if err := a.fill(); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return false, err
		}
		buf, start := a.buf, a.pos
		for i := start; i < len(buf); i++ {
			c := buf[i]
			if inString {
				switch {
				case escaped:
					escaped = false
				case c == '\\':
					escaped = true
				case c == '"':
					inString = false
				}
				continue
			}
			switch c {
			case ' ', '\t', '\r', '\n':
				if depth == 0 {
					// A run of whitespace between tokens is kept as one
					// byte: a stream of spaces costs no memory.
					if space {
						a.batch = append(a.batch, buf[start:i]...)
						start = i + 1
					}
					space = true
				}
				continue
			case '"':
				inString = true
			case '[', '{':
				if depth++; depth > jsonMaxDepth {
					return false, fmt.Errorf("nested deeper than %d", jsonMaxDepth)
				}
			case ']', '}':
				if depth > 0 {
					depth--
					break
				}
				if c == '}' {
					return false, errors.New("unexpected '}' in an array")
				}
				// The end of the array.
				a.batch = append(a.batch, buf[start:i]...)
				a.pos, a.last = i+1, c
				if content {
					a.n++
				} else if a.comma {
					return false, errors.New("a comma before the end of an array")
				}
				return false, nil
			case ',':
				if depth > 0 {
					break
				}
				if !content {
					return false, errors.New("an empty array element")
				}
				a.n++
				content, a.comma = false, true
				if len(a.batch)+i-start >= jsonChunk {
					a.batch = append(a.batch, buf[start:i]...)
					a.pos, a.last = i+1, c
					return true, nil
				}
				continue
			}
			content, space = true, false
		}
		a.batch = append(a.batch, buf[start:]...)
		a.pos = len(buf)
		if len(a.batch) > 1<<31-1 {
			return false, errors.New("an array element longer than 2 GiB")
		}
	}
}

// decode reads the array (or null) into a slice of type t. The length is
// not known until the end, so batches decode into chunks, copied into a
// slice of the exact length at the end: at most twice the value's size is
// held at once, and the result has no spare capacity.
func (a *jsonArray) decode(t reflect.Type) (reflect.Value, error) {
	ok, err := a.open()
	if err != nil || !ok {
		if err == nil {
			err = a.end()
		}
		return reflect.Zero(t), err
	}
	var chunks []reflect.Value
	total := 0
	// One decoder for all batches, so that its buffer is reused.
	feed := &batchFeed{}
	dec := json.NewDecoder(feed)
	dec.DisallowUnknownFields()
	for more := true; more; {
		if more, err = a.next(); err != nil {
			return reflect.Value{}, fmt.Errorf("after element [%d]: %w", total, err)
		}
		if a.n == 0 {
			break
		}
		a.batch = append(a.batch, ']')
		feed.b = a.batch
		p := reflect.New(t)
		p.Elem().Set(reflect.MakeSlice(t, 0, a.n))
		if err := dec.Decode(p.Interface()); err != nil {
			return reflect.Value{}, fmt.Errorf("elements [%d:%d]: %w", total, total+a.n, err)
		}
		if got := p.Elem().Len(); got != a.n || len(feed.b) > 0 || dec.More() {
			return reflect.Value{}, fmt.Errorf("elements [%d:%d]: malformed", total, total+a.n)
		}
		chunks = append(chunks, p.Elem())
		total += a.n
	}
	if err := a.end(); err != nil {
		return reflect.Value{}, err
	}
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	s := reflect.MakeSlice(t, total, total)
	at := 0
	for i, c := range chunks {
		at += reflect.Copy(s.Slice(at, total), c)
		chunks[i] = reflect.Value{} // let the chunk go
	}
	return s, nil
}

// batchFeed hands a json.Decoder one batch at a time: a decoder that
// wants more than the batch holds is reading a malformed one.
type batchFeed struct{ b []byte }

func (f *batchFeed) Read(p []byte) (int, error) {
	if len(f.b) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, f.b)
	f.b = f.b[n:]
	return n, nil
}

// validate checks the array batch by batch.
func (a *jsonArray) validate() error {
	if _, err := a.open(); err != nil {
		return err
	}
	for more := true; more; {
		var err error
		if more, err = a.next(); err != nil {
			return err
		}
		a.batch = append(a.batch, ']')
		if !json.Valid(a.batch) {
			var v []json.RawMessage
			err := json.Unmarshal(a.batch, &v) // for its message
			return fmt.Errorf("invalid array elements: %v", err)
		}
	}
	return a.end()
}

// end checks that only whitespace follows the array, ending in the newline
// Encode writes.
func (a *jsonArray) end() error {
	switch err := a.skipSpace(); {
	case err == io.EOF:
		if a.last != '\n' {
			return errors.New("the input does not end with the newline Encode writes (truncated?)")
		}
		return nil
	case err != nil:
		return err
	}
	return fmt.Errorf("trailing data after the value (%q)", a.peek())
}

// lastByteReader remembers the last byte read.
type lastByteReader struct {
	r    io.Reader
	last byte
}

func (l *lastByteReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if n > 0 {
		l.last = p[n-1]
	}
	return n, err
}
