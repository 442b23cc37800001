package formats

// Type definitions.
//
// A gob stream defines its types before values use them: a message whose
// type id is negative holds a wireType, encoding/gob's struct of seven
// optional fields of which exactly one is sent (ArrayT, SliceT, StructT,
// MapT, GobEncoderT, BinaryMarshalerT, TextMarshalerT), each a struct of
// its own whose first field is a CommonType (the type's name and id).
// gobParser (which checks a stream) and gobAny (which decodes a checked
// one without its Go type) both read them with readGobDef.

// gobDef is a type definition as the stream sends it.
type gobDef struct {
	kind       gobKind
	name       string   // the type's name, as much as the reader keeps
	elem, key  int32    // element and key type ids
	alen       int64    // array length
	fields     []int32  // struct field type ids, by field number
	fieldNames []string // their names, when the reader keeps them
	text       bool     // a TextMarshaler (else gob or binary bytes)
}

// gobDefReader is what readGobDef needs of a reader of the gob wire
// format.
type gobDefReader interface {
	uint() (uint64, error)
	int() (int64, error)
	typeID() (int32, error)
	// name reads a byte string holding a name (of a struct field when
	// field is set, else of a type), and returns as much of it as the
	// reader keeps, and whether it was empty.
	name(field bool) (kept string, empty bool, err error)
	// fieldCount reads the number of fields of the struct type def, and
	// tells whether the reader keeps their names.
	fieldCount(def *gobDef) (n int, names bool, err error)
	// defError is the error of a malformed definition.
	defError(format string, args ...any) error
}

// gobDefPart is a field of one of wireType's structs.
type gobDefPart uint8

const (
	partCommon gobDefPart = iota // CommonType: the name, and the id again
	partElem                     // the element type's id
	partKey                      // the key type's id
	partLen                      // an array's length
	partFields                   // a struct's fields: name and type id each
)

// gobWireTypes are the fields of wireType, in order: the kind each
// defines, and the fields of its struct.
var gobWireTypes = [...]struct {
	kind  gobKind
	parts []gobDefPart
}{
	{gwArray, []gobDefPart{partCommon, partElem, partLen}}, // ArrayT
	{gwSlice, []gobDefPart{partCommon, partElem}},          // SliceT
	{gwStruct, []gobDefPart{partCommon, partFields}},       // StructT
	{gwMap, []gobDefPart{partCommon, partKey, partElem}},   // MapT
	{gwEncoder, []gobDefPart{partCommon}},                  // GobEncoderT
	{gwEncoder, []gobDefPart{partCommon}},                  // BinaryMarshalerT
	{gwEncoder, []gobDefPart{partCommon}},                  // TextMarshalerT
}

// gobTextMarshalerT is the field of wireType that defines a TextMarshaler.
const gobTextMarshalerT = 6

// readGobDef reads a type definition (a wireType), and returns it with the
// number of wireType's fields sent (one, in a definition encoding/gob
// accepts; a checking reader refuses others).
func readGobDef(r gobDefReader) (def gobDef, sent int, err error) {
	err = gobWireStruct(r, len(gobWireTypes), func(f int) error {
		sent++
		wt := gobWireTypes[f]
		def.kind, def.text = wt.kind, f == gobTextMarshalerT
		return gobWireStruct(r, len(wt.parts), func(i int) error {
			var err error
			switch wt.parts[i] {
			case partCommon:
				err = gobWireStruct(r, 2, func(f int) error {
					var err error
					if f == 0 {
						def.name, _, err = r.name(false)
					} else {
						_, err = r.typeID()
					}
					return err
				})
			case partElem:
				def.elem, err = r.typeID()
			case partKey:
				def.key, err = r.typeID()
			case partLen:
				def.alen, err = r.int()
			case partFields:
				err = readGobFields(r, &def)
			}
			return err
		})
	})
	return def, sent, err
}

// readGobFields reads a struct type's fields ([]fieldType: name and type
// id each).
func readGobFields(r gobDefReader, def *gobDef) error {
	n, names, err := r.fieldCount(def)
	if err != nil {
		return err
	}
	def.fields = make([]int32, n)
	if names {
		def.fieldNames = make([]string, n)
	}
	for i := range n {
		named := false
		err := gobWireStruct(r, 2, func(f int) error {
			var err error
			if f == 0 {
				var name string
				var empty bool
				name, empty, err = r.name(true)
				named = !empty
				if names {
					def.fieldNames[i] = name
				}
			} else {
				def.fields[i], err = r.typeID()
			}
			return err
		})
		if err != nil {
			return err
		}
		if !named {
			return r.defError("struct type %q has a field without a name", def.name)
		}
	}
	return nil
}

// gobWireStruct reads a struct of the type-definition types, whose n
// fields are read by field, in the order sent (gob sends each field as the
// delta from the one before, and ends the struct with a 0). Definitions
// nest three structs deep at most (wireType, a kind's struct, CommonType
// or fieldType), whatever the bytes say.
func gobWireStruct(r gobDefReader, n int, field func(f int) error) error {
	f := -1
	for {
		d, err := r.uint()
		if err != nil {
			return err
		}
		if d == 0 {
			return nil
		}
		if d > uint64(n-1-f) {
			return r.defError("field %d of a type definition's %d", uint64(f+1)+d-1, n)
		}
		f += int(d)
		if err := field(f); err != nil {
			return err
		}
	}
}
