package blobstore

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
)

// Checksum names the checksum algorithm of an object (see the package doc).
type Checksum uint8

// The checksum algorithms. Their values are stored in object headers and
// must never change.
const (
	// CRC32C is CRC-32 with the Castagnoli polynomial, hardware-accelerated;
	// the default.
	CRC32C Checksum = 1
	// SHA256 is SHA-256.
	SHA256 Checksum = 2
)

// String returns the name of c.
func (c Checksum) String() string {
	switch c {
	case CRC32C:
		return "crc32c"
	case SHA256:
		return "sha256"
	}
	return fmt.Sprintf("Checksum(%d)", uint8(c))
}

// size returns the number of bytes the checksum takes in the trailer, or 0
// for an unknown algorithm.
func (c Checksum) size() int {
	switch c {
	case CRC32C:
		return crc32.Size
	case SHA256:
		return sha256.Size
	}
	return 0
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// newHash returns a hash for c. The CRC-32C sum is stored little-endian,
// like every other integer of the layout; crc32's Sum appends big-endian, so
// it is wrapped.
func (c Checksum) newHash() hash.Hash {
	switch c {
	case CRC32C:
		return &crcLE{Hash32: crc32.New(castagnoli)}
	case SHA256:
		return sha256.New()
	}
	panic("blobstore: unknown checksum " + c.String())
}

type crcLE struct{ hash.Hash32 }

func (h *crcLE) Sum(b []byte) []byte { return binary.LittleEndian.AppendUint32(b, h.Sum32()) }

const (
	magic         = "FCRESULT"
	layoutVersion = 1
	// fixedHeader is the size of the header before the id bytes: magic,
	// layout version, checksum algorithm, two uint16 lengths.
	fixedHeader = len(magic) + 1 + 1 + 2 + 2
)

// appendHeader appends the header of an object holding a result with the
// given version and format.
func appendHeader(b []byte, alg Checksum, version, format string) []byte {
	b = append(b, magic...)
	b = append(b, layoutVersion, byte(alg))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(version)))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(format)))
	b = append(b, version...)
	return append(b, format...)
}

// trailerSize returns the size of the trailer for alg.
func trailerSize(alg Checksum) int { return 8 + alg.size() }
