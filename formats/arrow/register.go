package arrow

import (
	"github.com/flowcache/flowcache/core/fingerprint"
	"github.com/flowcache/flowcache/formats"
)

// Importing this package registers the "arrow" format, and makes Arrow
// records and tables first-class values for fingerprints: their data
// versions hash the schema and the logical column contents (Fingerprint,
// FingerprintTable), whatever the slicing or chunking.
func init() {
	formats.Register(New())
	fingerprint.RegisterInterface(fingerprint.DefaultRegistry, Fingerprint)
	fingerprint.RegisterInterface(fingerprint.DefaultRegistry, FingerprintTable)
}
