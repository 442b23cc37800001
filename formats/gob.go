package formats

import (
	"bufio"
	"cmp"
	"encoding"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/internal/corrupt"
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
// Decode reads exactly one value and fails on trailing bytes.
//
// # Damaged and hostile bytes
//
// encoding/gob trusts the counts it reads (it sizes a map from the count in
// the stream), so gob never decodes bytes that were not checked first:
// Decode checks each message of the gob stream, without the Go type, as it
// reads it — every count and length against the bytes that remain in its
// message, messages against the bytes that remain in the reader when it
// tells (a Len method, or Size and Seek), type definitions and the type ids
// values use, nesting at most 10,000 deep — and encoding/gob gets the last
// byte of a message only once the whole message passed (see gobcheck.go).
// So decoding allocates in proportion to the input (times the size of the
// Go types decoded into); damage is an error wrapping core.ErrCorrupt,
// never a panic or an allocation bomb. Validate applies the same checks
// without decoding (core.FormatValidator: flowcache verify, evict --gc);
// it cannot see what only the Go type tells (a map chunk repeating a key).
//
// Encode refuses (ErrUnsupportedType) a value that Decode would refuse: one
// nested more than 10,000 deep (a long linked list). It sends the concrete
// types of interface values before the value (encoding/gob otherwise
// writes an interface value whose byte count a reader skipping it cannot
// trust, which Decode refuses in results older flowcaches wrote: such a
// result is a miss).
//
// # Memory
//
// encoding/gob builds each message whole before writing it and reads one
// whole before decoding it. A top-level slice or map whose encoding passes
// 4 MiB is therefore written as chunks of about 4 MiB (sub-slices; for a
// map, slices of keys and of values) after a header with the element
// count; Decode makes the slice or map once, from the count (checked
// against the bytes that remain when the reader tells, else trusted up to
// 16 MiB, and grown as the chunks come, to the whole count once an eighth
// of it is read), and decodes each chunk in place. Storing a large slice
// costs about 1.1–1.25 times its size in peak memory, loading it about
// 1.3 (Decode runs the garbage collector every quarter of a value of 64
// MiB or more; more through a reader that does not tell its length, like
// gob+zstd's, as the slice grows). The same
// value gives the same bytes, but for maps (gob writes a map's entries in
// Go's map order). Everything else is one gob value as before, and costs
// about one extra copy of its encoding each way: a struct holding one
// large slice, a pointer to a slice, a type with its own GobEncode; and a
// chunk holds one element at least, however large. Results written before chunks
// (format "gob" has kept its name) still load; an older flowcache fails on
// a chunked result rather than misreading it (a miss).
//
// # Large slices of numbers
//
// encoding/gob writes every number as a varint (a float byte-reversed
// first) and takes it apart again byte by byte, which makes loading a
// large []float64 about as slow as Python's pickle. So a large top-level
// slice of fixed-size numbers is written raw instead of in chunks: the
// header names the element type and the count, then come the elements'
// bytes, little-endian, which Decode reads straight into the slice it
// makes (checked against the bytes that remain, or grown as they come, as
// for chunks): both ways at the speed of copying memory, and in no memory
// beyond the value. It covers slices of float64, float32, int64, int32,
// int16, int8, uint64, uint32, uint16, complex128 and complex64, and of
// int, uint and uintptr (written as 64 bits; a 32-bit machine refuses an
// element that does not fit, as encoding/gob does), where the slice type,
// the element type or both may be named (type Series []float64, []Celsius)
// and Decode makes the exact type, when neither encodes itself
// (GobEncoder, BinaryMarshaler, TextMarshaler: gob calls those methods,
// and so does Encode). Large means what it means for chunks (an encoding
// past 4 MiB): a smaller slice is one gob value, the bytes encoding/gob
// writes. Not covered: []byte and other slices of a uint8 kind (gob writes
// their bytes already, in chunks), []bool, arrays, and slices inside other
// values (a struct field, a map value, a pointer to a slice). A raw slice
// is only decoded into a slice of the same element type (int and int64
// are one type there, as are uint, uint64 and uintptr); small integers
// take more room raw (8 bytes for an int) than as varints. Through
// gob+zstd, numbers stay in gob's chunks: zstd compresses gob's varints
// 1.7 to 2 times better than raw numbers (the bytes that repeat from one
// number to the next are 4 in a row there, with gob's length byte), and a
// result sent to a bucket is paid for by its size. Numeric slices written
// in chunks before raw slices still load; an older flowcache fails on a
// raw slice rather than misreading it (a miss).
func Gob() core.Format { return gobFormat{} }

type gobFormat struct{}

func (gobFormat) Name() string { return "gob" }

var _ core.FormatValidator = gobFormat{}

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

// Encode writes v with a fresh gob encoder (each result is
// self-describing), after the repair notes and the header (see
// gobReadFraming). A large top-level slice or map is written in chunks of
// about gobChunkBytes each; the concrete types of interface values are sent
// before the value (primes). gob assembles each message in memory and
// writes it with one call, so no buffering is added here.
func (gobFormat) Encode(w io.Writer, v any) error {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || (rv.Kind() == reflect.Pointer && rv.IsNil()) {
		_, err := w.Write([]byte{gobNil})
		return err
	}
	var scratch [64]byte
	if b, ok := gobAppendScalar(scratch[:0], rv); ok {
		_, err := w.Write(b)
		return err
	}
	var primes map[reflect.Type]bool
	if gobNeedsWalk(rv.Type()) {
		var path pathBuilder
		primes = map[reflect.Type]bool{}
		if err := gobWalk(rv, &path, primes); err != nil {
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
	// Through zstd (gob+zstd), numbers stay gob's varints: zstd finds the
	// bytes that repeat from number to number (the exponent, and gob's
	// length byte) at their 9-byte period, and compresses them 1.7 to 2
	// times smaller than raw numbers (45.9 MB against 78.9 MB for 80 MB of
	// square roots, 6.6 MB against 14.1 MB for i/7).
	_, compressed := w.(*zstd.Encoder)
	lay := gobPlan(rv, !compressed)
	prime := gobPrimeTypes(primes)
	lay.primes = uint64(len(prime))
	if lay.chunked != gobSingle || lay.primes > 0 {
		h := binary.AppendUvarint([]byte{gobHeaderMark}, gobHeaderVersion)
		h = binary.AppendUvarint(h, lay.primes)
		h = binary.AppendUvarint(h, uint64(lay.chunked))
		if lay.chunked != gobSingle {
			h = binary.AppendUvarint(h, lay.n)
		}
		if lay.chunked == gobRawSlice {
			h = binary.AppendUvarint(h, uint64(lay.elem))
		}
		if _, err := w.Write(h); err != nil {
			return err
		}
	}
	if lay.chunked == gobRawSlice {
		if err := gobWriteRaw(w, rv, lay.elem); err != nil {
			return fmt.Errorf("gob: encoding %T: %w", v, err)
		}
		return nil
	}
	out := w
	var check *gobCheckWriter
	if gobNeedsCheck(rv.Type()) {
		check = newGobCheckWriter(w, lay)
		defer check.close()
		out = check
	}
	enc := gob.NewEncoder(out)
	for _, t := range prime {
		if err := enc.EncodeValue(reflect.New(t).Elem()); err != nil {
			return fmt.Errorf("gob: encoding %T: sending type %v ahead: %w", v, t, err)
		}
	}
	switch lay.chunked {
	case gobSingle:
		err = enc.EncodeValue(rv)
	case gobChunkedSlice:
		err = gobChunkSlice(rv, func(lo, hi int) error { return enc.EncodeValue(rv.Slice(lo, hi)) })
	case gobChunkedMap:
		err = gobChunkMap(rv, enc)
	}
	if err == nil && check != nil {
		err = check.finish()
	}
	if err != nil {
		return fmt.Errorf("gob: encoding %T: %w", v, err)
	}
	return nil
}

var gobReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}

// Decode reads a value of type t written by Encode (or by an older
// flowcache: a gob stream, maybe after repair notes), and fails if
// anything follows it. The gob stream is checked as it is read (see
// gobParser): encoding/gob decodes no message before it was checked whole.
func (gobFormat) Decode(r io.Reader, t reflect.Type) (any, error) {
	if t == nil {
		return nil, fmt.Errorf("%w: gob: decoding into a nil type", core.ErrInvalid)
	}
	size := readerLen(r)
	src := &corrupt.Reader{R: r}
	br := gobReaders.Get().(*bufio.Reader)
	br.Reset(src)
	defer func() {
		br.Reset(nil)
		gobReaders.Put(br)
	}()
	var notes []gobFix
	lay, origin, err := gobReadFraming(br, &notes)
	if err != nil {
		if src.Err != nil {
			err = src.Err
		}
		return nil, fmt.Errorf("gob: decoding %v: %w", t, err)
	}
	if lay == nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Interface:
			return reflect.Zero(t).Interface(), nil
		}
		return nil, fmt.Errorf("gob: decoding %v: the input holds a nil pointer", t)
	}
	if size >= 0 {
		size -= origin
	}
	v, err := gobDecodeStream(br, t, *lay, origin, size)
	if err != nil {
		if src.Err != nil {
			// The reader failed (a lost connection, a disk error, or
			// damage the store found, which wraps core.ErrCorrupt
			// itself): its error, not a verdict on the bytes.
			return nil, fmt.Errorf("gob: decoding %v: %w", t, src.Err)
		}
		if !errors.Is(err, core.ErrCorrupt) {
			// encoding/gob's own errors: the bytes do not decode into t.
			err = fmt.Errorf("%w: %w", core.ErrCorrupt, err)
		}
		return nil, fmt.Errorf("gob: decoding %v: %w", t, err)
	}
	if notes != nil {
		if err := gobRestore(v, notes); err != nil {
			return nil, fmt.Errorf("gob: decoding %v: %w", t, err)
		}
	}
	return v.Interface(), nil
}

// gobCollector runs the garbage collector while a large chunked value is
// decoded. encoding/gob reads each message into a new buffer, garbage once
// the chunk is decoded: as much garbage as the value is large in all. The
// collector, left to itself, lets the heap grow to twice what was live at
// its last cycle — the whole value, made up front — before it runs again,
// so loading would peak near twice the value. Collecting each time the
// chunks read since the last collection pass a quarter of the value keeps
// the peak near 1.25 times the value, for four collections or so (cheap
// for values without pointers, which the collector does not scan).
type gobCollector struct {
	f     *gobFeed
	value int64 // bytes of the value being filled
	last  int64 // f.fed at the last collection
}

// gobCollectMin is the smallest value gobCollector collects for.
const gobCollectMin = 64 << 20

func (c *gobCollector) chunkDone() {
	if c.value < gobCollectMin {
		return
	}
	if c.f.fed-c.last > c.value/4 {
		runtime.GC()
		c.last = c.f.fed
	}
}

// gobTrustBytes is how much memory Decode sets aside for a chunked value
// from the element count in its header alone, when the reader does not
// tell how many bytes remain (so the count cannot be checked against them
// first): beyond it, the value grows as its chunks are read.
const gobTrustBytes = 16 << 20

// gobDecodeStream decodes the gob stream of br, framed by lay, into a new
// value of type t; size is the stream's length, -1 when unknown.
func gobDecodeStream(br *bufio.Reader, t reflect.Type, lay gobLayout, origin, size int64) (reflect.Value, error) {
	if lay.chunked == gobRawSlice {
		return gobReadRaw(br, t, lay, origin, size)
	}
	p := newGobParser(nil, size)
	p.origin = origin
	if b, err := br.Peek(br.Size()); err == io.EOF && lay.chunked == gobSingle {
		// Small: all of it is in br's buffer; check it there, then let
		// encoding/gob read it.
		if err := checkWhole(b, origin, lay); err != nil {
			return reflect.Value{}, err
		}
	} else {
		f := newGobFeed(br, p, lay)
		defer f.close()
		v, err := gobDecodeFed(f, p, t, lay)
		if err != nil {
			return reflect.Value{}, err
		}
		if err := f.finish(); err != nil {
			return reflect.Value{}, err
		}
		return v, nil
	}
	dec := gob.NewDecoder(br)
	for range lay.primes {
		if err := dec.DecodeValue(reflect.Value{}); err != nil {
			return reflect.Value{}, err
		}
	}
	ptr := reflect.New(t)
	// gob uses br as it is (it is an io.ByteReader), so nothing is read
	// beyond what gob consumed except into br, checked next.
	if err := dec.DecodeValue(ptr); err != nil {
		return reflect.Value{}, err
	}
	if _, err := br.ReadByte(); err != io.EOF {
		if err == nil {
			err = p.corrupt("trailing bytes after the value")
		}
		return reflect.Value{}, err
	}
	return ptr.Elem(), nil
}

// gobDecodeFed decodes through the feed f, whose parser p calls back with
// the element count of each chunk before encoding/gob decodes it: a chunk
// is decoded in place, into the slice Decode sized from the header.
func gobDecodeFed(f *gobFeed, p *gobParser, t reflect.Type, lay gobLayout) (reflect.Value, error) {
	dec := gob.NewDecoder(f)
	for range lay.primes {
		if err := dec.DecodeValue(reflect.Value{}); err != nil {
			return reflect.Value{}, err
		}
	}
	// The room the header's count may take before the chunks prove it:
	// all of it when the bytes that remain can hold that many elements
	// (each takes a byte at least, a map entry two), else gobTrustBytes.
	trusted := func(per int64, minBytes uint64) (int, error) {
		n := lay.n
		if p.size >= 0 {
			if n > uint64(p.size)/minBytes {
				return 0, p.corrupt("a header of %d elements before %d bytes", n, p.size)
			}
			return int(n), nil
		}
		return int(min(n, uint64(max(1, gobTrustBytes/max(per, 1))))), nil
	}
	switch lay.chunked {
	case gobSingle:
		ptr := reflect.New(t)
		if err := dec.DecodeValue(ptr); err != nil {
			return reflect.Value{}, err
		}
		return ptr.Elem(), nil
	case gobChunkedSlice:
		if t.Kind() != reflect.Slice {
			return reflect.Value{}, fmt.Errorf("%w: a chunked slice, not a %v", core.ErrCorrupt, t)
		}
		n, esize := int(lay.n), int64(t.Elem().Size())
		room, err := trusted(esize, 1)
		if err != nil {
			return reflect.Value{}, err
		}
		dst := reflect.MakeSlice(t, room, room)
		cur := reflect.New(t)
		off := 0
		p.onCount = func(role gobRole, c uint64) error {
			need := off + int(c)
			if need > dst.Len() {
				// Unknown size: grow as the chunks prove the count, to all
				// of it once an eighth is read (so at most eight times the
				// elements read are ever set aside).
				size := min(n, max(need, 2*dst.Len()))
				if off >= n/8 {
					size = n
				}
				grown := reflect.MakeSlice(t, size, size)
				reflect.Copy(grown, dst.Slice(0, off))
				dst = grown
			}
			cur.Elem().Set(dst.Slice3(off, off, need))
			return nil
		}
		gc := gobCollector{f: f, value: int64(n) * esize}
		for off < n {
			if err := dec.DecodeValue(cur); err != nil {
				return reflect.Value{}, err
			}
			gc.chunkDone()
			got := cur.Elem()
			c := got.Len()
			if c == 0 || off+c > dst.Len() || (esize > 0 && got.UnsafePointer() != dst.Index(off).Addr().UnsafePointer()) {
				return reflect.Value{}, fmt.Errorf("%w: a chunk of %d elements was not decoded in place", core.ErrCorrupt, c)
			}
			off += c
		}
		return dst.Slice(0, n), nil
	case gobChunkedMap:
		if t.Kind() != reflect.Map {
			return reflect.Value{}, fmt.Errorf("%w: a chunked map, not a %v", core.ErrCorrupt, t)
		}
		hint, err := trusted(int64(t.Key().Size()+t.Elem().Size()), 2)
		if err != nil {
			return reflect.Value{}, err
		}
		m := reflect.MakeMapWithSize(t, hint)
		ks, vs := reflect.New(reflect.SliceOf(t.Key())), reflect.New(reflect.SliceOf(t.Elem()))
		var kbuf, vbuf reflect.Value
		p.onCount = func(role gobRole, c uint64) error {
			buf, cur := &kbuf, ks
			if role == gobRoleVals {
				buf, cur = &vbuf, vs
			}
			if !buf.IsValid() || buf.Cap() < int(c) {
				*buf = reflect.MakeSlice(cur.Elem().Type(), int(c), int(c))
			}
			cur.Elem().Set(buf.Slice3(0, 0, int(c)))
			return nil
		}
		gc := gobCollector{f: f, value: int64(lay.n) * int64(t.Key().Size()+t.Elem().Size())}
		for added := uint64(0); added < lay.n; {
			if err := dec.DecodeValue(ks); err != nil {
				return reflect.Value{}, err
			}
			if err := dec.DecodeValue(vs); err != nil {
				return reflect.Value{}, err
			}
			gc.chunkDone()
			k, e := ks.Elem(), vs.Elem()
			if k.Len() != e.Len() || k.Len() == 0 {
				return reflect.Value{}, fmt.Errorf("%w: a map chunk of %d keys and %d values", core.ErrCorrupt, k.Len(), e.Len())
			}
			for i := range k.Len() {
				m.SetMapIndex(k.Index(i), e.Index(i))
			}
			added += uint64(k.Len())
			k.Clear() // gob decodes into what is there: start from zeros
			e.Clear()
		}
		if m.Len() != int(lay.n) {
			return reflect.Value{}, fmt.Errorf("%w: a map of %d entries holds %d distinct keys", core.ErrCorrupt, lay.n, m.Len())
		}
		return m, nil
	}
	return reflect.Value{}, fmt.Errorf("%w: unknown layout %d", core.ErrCorrupt, lay.chunked)
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

// gobWalk looks for what gob would drop or refuse in v (see Gob), and
// notes in primes the concrete types of the interface values it meets that
// gob sends a definition of.
func gobWalk(v reflect.Value, path *pathBuilder, primes map[reflect.Type]bool) error {
	t := v.Type()
	if !gobNeedsWalk(t) {
		return nil
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		if v.Kind() == reflect.Interface {
			if pt := gobPrimeType(v.Elem().Type()); pt != nil {
				primes[pt] = true
			}
		}
		return gobWalk(v.Elem(), path, primes)
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			e := v.Index(i)
			if e.Kind() == reflect.Pointer && e.IsNil() {
				return fmt.Errorf("%s%s is a nil pointer, which gob cannot store inside a slice or array", path, indexSeg(i))
			}
			path.push(i, "")
			err := gobWalk(e, path, primes)
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
			err := gobWalk(k, path, primes)
			path.pop()
			if err != nil {
				return err
			}
			path.pushKey(k)
			err = gobWalk(e, path, primes)
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
			err := gobWalk(f, path, primes)
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

// Chunks.
//
// gob builds a whole message in memory before writing it, and reads one
// whole before decoding it: a large value costs its encoding once more in
// memory each way, and more while the buffers grow. Encode writes a
// top-level slice or map whose encoding would pass gobChunkBytes as a
// series of gob values of about that size each — sub-slices of the slice,
// or for a map a slice of keys then a slice of values — after a header
// giving the element count; Decode makes the slice (or map) from the count
// once (checked against the bytes that remain, when the reader tells) and
// decodes each chunk into its place. Chunks are cut where an estimate of
// the elements' encoded size (gobEstimate) passes gobChunkBytes, so the
// same value gives the same chunks. Anything else — a struct holding one
// large slice, a pointer to a slice, a single huge element — is one gob
// value, as before.

// gobChunkBytes is the size a chunk aims at (a variable for tests).
var gobChunkBytes int64 = 4 << 20

// gobPlan chooses the layout of v: chunked when v is a slice or map whose
// encoding would pass gobChunkBytes, a raw slice when it may be (see
// gobRawOf) and raw is set.
func gobPlan(v reflect.Value, raw bool) gobLayout {
	t := v.Type()
	if k := t.Kind(); (k != reflect.Slice && k != reflect.Map) || v.Len() < 2 || gobCustom(t) {
		return gobLayout{}
	}
	switch t.Kind() {
	case reflect.Slice:
		n := v.Len()
		if n < 2 {
			return gobLayout{}
		}
		et := t.Elem()
		var big bool
		switch f := gobFlat(et); {
		case et.Kind() == reflect.Uint8:
			big = int64(n) > gobChunkBytes
		case f > 0:
			big = satMul(int64(n), f) > gobChunkBytes
		default:
			big = gobEstimate(v, gobChunkBytes, 0) > gobChunkBytes
		}
		if big {
			if e, ok := gobRawOf(t); ok && raw {
				return gobLayout{chunked: gobRawSlice, n: uint64(n), elem: e}
			}
			return gobLayout{chunked: gobChunkedSlice, n: uint64(n)}
		}
	case reflect.Map:
		n := v.Len()
		if n < 2 {
			return gobLayout{}
		}
		fk, fv := gobFlat(t.Key()), gobFlat(t.Elem())
		var big bool
		if fk > 0 && fv > 0 {
			big = satMul(int64(n), fk+fv) > gobChunkBytes
		} else {
			big = gobEstimate(v, gobChunkBytes, 0) > gobChunkBytes
		}
		if big {
			return gobLayout{chunked: gobChunkedMap, n: uint64(n)}
		}
	}
	return gobLayout{}
}

// gobChunkSlice calls emit with the bounds of each chunk of the slice v.
func gobChunkSlice(v reflect.Value, emit func(lo, hi int) error) error {
	n, et := v.Len(), v.Type().Elem()
	step := 0
	if et.Kind() == reflect.Uint8 {
		step = int(gobChunkBytes)
	} else if f := gobFlat(et); f > 0 {
		step = int(max(1, gobChunkBytes/f))
	}
	for lo := 0; lo < n; {
		hi := min(n, lo+step)
		if step == 0 {
			size := int64(0)
			for hi = lo; hi < n; hi++ {
				e := gobEstimate(v.Index(hi), gobChunkBytes, 0)
				if hi > lo && size+e > gobChunkBytes {
					break
				}
				size += e
			}
		}
		if err := emit(lo, hi); err != nil {
			return err
		}
		lo = hi
	}
	return nil
}

// gobChunkMap writes the map v with enc as chunks: each a slice of keys and
// a slice of their values, in the map's iteration order (which varies from
// run to run, as it does for gob's own maps).
func gobChunkMap(v reflect.Value, enc *gob.Encoder) error {
	t := v.Type()
	fk, fv := gobFlat(t.Key()), gobFlat(t.Elem())
	ks := reflect.New(reflect.SliceOf(t.Key())).Elem()
	vs := reflect.New(reflect.SliceOf(t.Elem())).Elem()
	it := v.MapRange()
	more := it.Next()
	for more {
		size, c := int64(0), 0
		for more && (c == 0 || size < gobChunkBytes) {
			if c == ks.Len() {
				ks.Grow(1)
				ks.SetLen(c + 1)
				vs.Grow(1)
				vs.SetLen(c + 1)
			}
			k, e := ks.Index(c), vs.Index(c)
			k.SetIterKey(it)
			e.SetIterValue(it)
			if fk > 0 && fv > 0 {
				size += fk + fv
			} else {
				size += gobEstimate(k, gobChunkBytes, 0) + gobEstimate(e, gobChunkBytes, 0)
			}
			c++
			more = it.Next()
		}
		if err := enc.EncodeValue(ks.Slice(0, c)); err != nil {
			return err
		}
		if err := enc.EncodeValue(vs.Slice(0, c)); err != nil {
			return err
		}
		ks.Slice(0, c).Clear()
		vs.Slice(0, c).Clear()
	}
	return nil
}

// gobCustom reports whether gob encodes values of t with their own
// methods (GobEncoder, BinaryMarshaler or TextMarshaler).
var gobCustom = typeMemo(func(t reflect.Type, _ map[reflect.Type]bool) bool {
	pt := reflect.PointerTo(t)
	for _, i := range []reflect.Type{gobEncoderType, binaryMarshaler, textMarshaler} {
		if t.Implements(i) || pt.Implements(i) {
			return true
		}
	}
	return false
})

var textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()

// gobFlatSizes memoises gobFlat.
var gobFlatSizes sync.Map // reflect.Type -> int64

// gobFlat returns the most bytes gob takes for a value of t (as an
// element: with no field number) when t has no part of variable size —
// numbers, and arrays and structs of them — and 0 otherwise.
func gobFlat(t reflect.Type) int64 {
	if f, ok := gobFlatSizes.Load(t); ok {
		return f.(int64)
	}
	f := gobFlatOf(t, 0)
	gobFlatSizes.Store(t, f)
	return f
}

func gobFlatOf(t reflect.Type, depth int) int64 {
	if depth > 100 || gobCustom(t) {
		return 0
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return 9
	case reflect.Complex64, reflect.Complex128:
		return 18
	case reflect.Array:
		e := gobFlatOf(t.Elem(), depth+1)
		if e == 0 && t.Len() > 0 {
			return 0
		}
		return satAdd(9, satMul(int64(t.Len()), e))
	case reflect.Struct:
		size := int64(1)
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			e := gobFlatOf(f.Type, depth+1)
			if e == 0 {
				return 0
			}
			size = satAdd(size, 1+e)
		}
		return size
	}
	return 0
}

// gobEstimate estimates the bytes gob takes for v, stopping once past
// budget: exact enough to cut chunks, and only a function of the value.
func gobEstimate(v reflect.Value, budget int64, depth int) int64 {
	switch v.Kind() {
	case reflect.String:
		return int64(v.Len()) + 1
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return 9
	}
	t := v.Type()
	if f := gobFlat(t); f > 0 {
		return f
	}
	if depth > gobMaxDepth {
		return budget + 1
	}
	if gobCustom(t) {
		return int64(t.Size()) + 2
	}
	switch v.Kind() {
	case reflect.String:
		return int64(v.Len()) + 1
	case reflect.Slice, reflect.Array:
		n := v.Len()
		if t.Elem().Kind() == reflect.Uint8 {
			return int64(n) + 1
		}
		if f := gobFlat(t.Elem()); f > 0 {
			return satAdd(1, satMul(int64(n), f))
		}
		size := int64(1)
		for i := 0; i < n && size <= budget; i++ {
			size += gobEstimate(v.Index(i), budget, depth+1)
		}
		return size
	case reflect.Map:
		kt, et := t.Key(), t.Elem()
		fk, fe := gobFlat(kt), gobFlat(et)
		if fk > 0 && fe > 0 {
			return satAdd(1, satMul(int64(v.Len()), fk+fe))
		}
		size := int64(1)
		k, e := reflect.New(kt).Elem(), reflect.New(et).Elem()
		it := v.MapRange()
		for size <= budget && it.Next() {
			size++
			if fk > 0 {
				size += fk
			} else {
				k.SetIterKey(it)
				size += gobEstimate(k, budget, depth+1)
			}
			if fe > 0 {
				size += fe
			} else {
				e.SetIterValue(it)
				size += gobEstimate(e, budget, depth+1)
			}
		}
		return size
	case reflect.Struct:
		size := int64(1)
		for i := 0; i < v.NumField() && size <= budget; i++ {
			if t.Field(i).IsExported() {
				size += 1 + gobEstimate(v.Field(i), budget, depth+1)
			}
		}
		return size
	case reflect.Pointer:
		if v.IsNil() {
			return 0
		}
		return gobEstimate(v.Elem(), budget, depth+1)
	case reflect.Interface:
		if v.IsNil() {
			return 1
		}
		return 16 + gobEstimate(v.Elem(), budget, depth+1)
	}
	return int64(t.Size()) + 1
}

// Primes.
//
// gob sends the definition of an interface value's concrete type when it
// first meets it. Inside another interface value, that definition lands in
// the middle of the outer value, whose byte count then stops there:
// encoding/gob, skipping the outer value by its count (as it does for a
// field the receiving type lacks), would read the rest as something else,
// so gobParser refuses such streams. Encode sends a zero value of each of
// those types first (the primes, which Decode skips), so that every
// definition comes before the value.

// gobPrimeType returns the type gob defines for a concrete type t in an
// interface value (t without its pointers), or nil when gob sends no
// definition for it (numbers, strings, []byte).
func gobPrimeType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if gobCustom(t) {
		return t
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Array, reflect.Map:
		return t
	case reflect.Slice:
		if t.Elem().Kind() != reflect.Uint8 {
			return t
		}
	}
	return nil
}

// gobPrimeTypes returns the primes in an order that depends on the types
// alone (package path and name).
func gobPrimeTypes(primes map[reflect.Type]bool) []reflect.Type {
	if len(primes) == 0 {
		return nil
	}
	ts := make([]reflect.Type, 0, len(primes))
	for t := range primes {
		ts = append(ts, t)
	}
	slices.SortStableFunc(ts, func(a, b reflect.Type) int {
		return cmp.Or(cmp.Compare(a.PkgPath(), b.PkgPath()), cmp.Compare(a.String(), b.String()))
	})
	return ts
}

// gobNeedsCheck tells whether values of t can nest without a bound
// (recursive types) or hold interface values: Encode then checks what gob
// writes with gobParser, so that it never stores what Decode would refuse.
var gobNeedsCheck = func() func(reflect.Type) bool {
	var m sync.Map
	return func(t reflect.Type) bool {
		if v, ok := m.Load(t); ok {
			return v.(bool)
		}
		v := gobMayNest(t, map[reflect.Type]int{})
		m.Store(t, v)
		return v
	}
}()

// gobMayNest reports whether t holds an interface or itself; state is 1
// for the types being looked at, 2 for those found not to.
func gobMayNest(t reflect.Type, state map[reflect.Type]int) bool {
	switch state[t] {
	case 1:
		return true // t holds itself
	case 2:
		return false
	}
	if gobCustom(t) {
		return false
	}
	state[t] = 1
	found := false
	switch t.Kind() {
	case reflect.Interface:
		found = true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		found = gobMayNest(t.Elem(), state)
	case reflect.Map:
		found = gobMayNest(t.Key(), state) || gobMayNest(t.Elem(), state)
	case reflect.Struct:
		for i := 0; i < t.NumField() && !found; i++ {
			if t.Field(i).IsExported() {
				found = gobMayNest(t.Field(i).Type, state)
			}
		}
	}
	if found {
		return true
	}
	state[t] = 2
	return false
}

// gobCheckWriter checks the gob stream written through it with a
// gobParser fed as the bytes go by.
type gobCheckWriter struct {
	w io.Writer
	f *gobFeed
}

func newGobCheckWriter(w io.Writer, lay gobLayout) *gobCheckWriter {
	p := newGobParser(nil, -1)
	return &gobCheckWriter{w: w, f: newGobFeed(nil, p, lay)}
}

func (c *gobCheckWriter) Write(b []byte) (int, error) {
	if err := c.f.feed(b); err != nil {
		return 0, gobUnreadable(err)
	}
	return c.w.Write(b)
}

func (c *gobCheckWriter) finish() error {
	c.f.srcErr = io.EOF
	if !c.f.done {
		c.f.next()
	}
	if c.f.err != nil {
		return gobUnreadable(c.f.err)
	}
	return nil
}

func (c *gobCheckWriter) close() { c.f.close() }

// gobUnreadable is the error of a value whose gob stream Decode would
// refuse.
func gobUnreadable(err error) error {
	return fmt.Errorf("%w: gob would write it in a form Decode refuses as unsafe to read (%v); use another format, or the Ignore or Disable behavior",
		core.ErrUnsupportedType, strings.TrimPrefix(err.Error(), core.ErrCorrupt.Error()+": "))
}
