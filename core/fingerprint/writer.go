package fingerprint

import (
	"encoding/binary"
	"math"
	"reflect"

	"github.com/zeebo/blake3"
)

// valueContext is the BLAKE3 derive-key context of value sums. Bump the
// version whenever the encoding changes, so old sums can never match new ones.
const valueContext = "flowcache fingerprint v3"

// bufSize is the size of a Writer's pending buffer: small writes are
// gathered here so the hash sees few, larger writes.
const bufSize = 512

// Writer receives the data that makes up a value's fingerprint. It is handed
// to [Fingerprinter] methods and registered functions, which feed it typed
// items; each item is tagged with its kind and, for strings and bytes, its
// length, so the item sequence is hashed unambiguously ("ab","c" differs from
// "a","bc"; Int(1) differs from Uint(1)). A Writer must not be retained or
// used after the function it was given to returns, nor used concurrently.
type Writer struct {
	h     *blake3.Hasher
	buf   []byte // pending bytes, not yet written to h
	st    *state
	depth int // depth of the custom value being hashed, for Value
	out   [32]byte
}

// Tags of the items a hook writes.
const (
	tagBool byte = iota + 1
	tagInt
	tagUint
	tagFloat
	tagString
	tagBytes
	tagValue
	tagEnd // closes a custom value's items
)

func (w *Writer) init(st *state) {
	w.st = st
	w.h = blake3.NewDeriveKey(valueContext)
	w.buf = make([]byte, 0, bufSize)
}

func (w *Writer) reset() {
	w.h.Reset()
	w.buf = w.buf[:0]
	w.depth = 0
}

func (w *Writer) flush() {
	if len(w.buf) > 0 {
		_, _ = w.h.Write(w.buf)
		w.buf = w.buf[:0]
	}
}

func (w *Writer) sum() Sum {
	w.flush()
	w.h.Sum(w.out[:0])
	return w.out
}

func (w *Writer) byte1(b byte) {
	if len(w.buf) == cap(w.buf) {
		w.flush()
	}
	w.buf = append(w.buf, b)
}

func (w *Writer) u64(x uint64) {
	if len(w.buf)+8 > cap(w.buf) {
		w.flush()
	}
	w.buf = binary.LittleEndian.AppendUint64(w.buf, x)
}

// uN writes the low n bytes of x, little-endian.
func (w *Writer) uN(x uint64, n int) {
	if len(w.buf)+8 > cap(w.buf) {
		w.flush()
	}
	l := len(w.buf)
	w.buf = binary.LittleEndian.AppendUint64(w.buf, x)[:l+n]
}

func (w *Writer) bytes(p []byte) {
	if len(w.buf)+len(p) <= cap(w.buf) {
		w.buf = append(w.buf, p...)
		return
	}
	w.flush()
	_, _ = w.h.Write(p)
}

func (w *Writer) str(s string) {
	if len(w.buf)+len(s) <= cap(w.buf) {
		w.buf = append(w.buf, s...)
		return
	}
	w.flush()
	_, _ = w.h.WriteString(s)
}

// canonical float bits: every NaN is one NaN; everything else, -0 included,
// is its own bits (1/-0 is -Inf, 1/+0 is +Inf: they are different values).
func canon64(f float64) uint64 {
	if f != f {
		return 0x7ff8000000000000
	}
	return math.Float64bits(f)
}

func canon32(f float32) uint32 {
	if f != f {
		return 0x7fc00000
	}
	return math.Float32bits(f)
}

// Bool adds a bool.
func (w *Writer) Bool(b bool) {
	var x byte
	if b {
		x = 1
	}
	w.byte1(tagBool)
	w.byte1(x)
}

// Int adds a signed integer.
func (w *Writer) Int(i int64) {
	w.byte1(tagInt)
	w.u64(uint64(i))
}

// Uint adds an unsigned integer.
func (w *Writer) Uint(u uint64) {
	w.byte1(tagUint)
	w.u64(u)
}

// Float adds a float: all NaNs are one NaN; -0 and +0 differ.
func (w *Writer) Float(f float64) {
	w.byte1(tagFloat)
	w.u64(canon64(f))
}

// String adds a string, with its length.
func (w *Writer) String(s string) {
	w.byte1(tagString)
	w.u64(uint64(len(s)))
	w.str(s)
}

// Bytes adds a byte slice, with its length. A nil and an empty slice are
// the same here (unlike for the built-in rules, which tell them apart): a
// hook writes what it decides is the identity of its value, and Value keeps
// the difference when it matters.
func (w *Writer) Bytes(p []byte) {
	w.byte1(tagBytes)
	w.u64(uint64(len(p)))
	w.bytes(p)
}

// Value adds v with its type, hashed by the same rules as [Hasher.Sum]
// (registry, hooks, depth one below the hooked value, cycle detection).
// If v cannot be hashed, Value returns an error wrapping [ErrUnhashable];
// the hook should return it.
func (w *Writer) Value(v any) error {
	w.byte1(tagValue)
	return w.top(reflect.ValueOf(v), w.depth+1)
}
