package codeversion

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// seal appends the CRC-32C of b to it: the trailer every table ends with.
func seal(b []byte) []byte {
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// unseal returns what lies between magic and the CRC-32C trailer of b, or
// false when b does not start with magic or its checksum is wrong.
func unseal(b []byte, magic string) ([]byte, bool) {
	if len(b) < len(magic)+4 || !bytes.HasPrefix(b, []byte(magic)) {
		return nil, false
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, false
	}
	return body[len(magic):], true
}

// wire reads the tables' encodings: uvarints and length-prefixed strings,
// every length checked against what remains. The first bad read sets bad;
// every read after it returns zero values.
type wire struct {
	d   []byte
	bad bool
	// s, when set, holds the same bytes as d (advanced with it): str
	// returns substrings of it instead of copies (see exeIndex).
	s string
}

// advance drops the first n bytes read.
func (w *wire) advance(n int) {
	w.d = w.d[n:]
	if w.s != "" {
		w.s = w.s[n:]
	}
}

func (w *wire) uv() uint64 { return varint(w, binary.Uvarint) }

// v reads a zigzag varint.
func (w *wire) v() int64 { return varint(w, binary.Varint) }

// varint reads a number with read (binary.Uvarint or binary.Varint).
func varint[T uint64 | int64](w *wire, read func([]byte) (T, int)) T {
	if w.bad {
		return 0
	}
	v, n := read(w.d)
	if n <= 0 {
		w.bad = true
		return 0
	}
	w.advance(n)
	return v
}

// count reads a number of items that take at least min bytes each, so it
// is bounded by the input left.
func (w *wire) count(min int) int {
	n := w.uv()
	if w.bad || n > uint64(len(w.d)/min) {
		w.bad = true
		return 0
	}
	return int(n)
}

func (w *wire) str() string {
	n := w.uv()
	if w.s == "" || w.bad || n > uint64(len(w.d)) {
		return string(w.bytes(n))
	}
	v := w.s[:n]
	w.advance(int(n))
	return v
}

// bytes reads n bytes, without copying them.
func (w *wire) bytes(n uint64) []byte {
	if w.bad || n > uint64(len(w.d)) {
		w.bad = true
		return nil
	}
	b := w.d[:n]
	w.advance(int(n))
	return b
}

// done reports whether everything was read, and read well.
func (w *wire) done() bool { return !w.bad && len(w.d) == 0 }
