package core

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// DataVersion identifies a value: the fingerprint of a node result, an
// input or an override. Two values with the same data version are treated as
// equal by the cache.
//
// A data version computed from a value is 64 lowercase hex digits (a
// SHA-256-sized fingerprint, see package fingerprint). Two kinds of special
// versions exist:
//
//   - a unique version ("u-" followed by a random UUID) is given to values
//     that cannot be fingerprinted and to the results of nodes with behaviour
//     Disable; no later run can produce it again, so every dependant misses;
//   - the ignored version (IgnoredVersion) is given to the results of nodes
//     with behaviour Ignore; it is the same in every run, so dependants can
//     still be retrieved.
//
// Every data version is safe to use as a file or object name.
type DataVersion string

// IgnoredVersion is the constant data version of results of nodes whose
// behaviour is Ignore.
const IgnoredVersion DataVersion = "ignored"

// NewUniqueVersion returns a data version that no other call returns.
func NewUniqueVersion() DataVersion {
	return DataVersion("u-" + uuid.NewString())
}

// IsUnique reports whether v was made by NewUniqueVersion.
func (v DataVersion) IsUnique() bool { return strings.HasPrefix(string(v), "u-") }

// Storable reports whether a result with this version may be stored: unique
// and ignored versions never are.
func (v DataVersion) Storable() bool {
	return v != "" && v != IgnoredVersion && !v.IsUnique()
}

// Short returns the first 12 characters of v, for messages.
func (v DataVersion) Short() string { return shorten(string(v)) }

// CodeVersion identifies the code of a node: by default the SHA-256 of its
// function's source without comments (see package codeversion), or a version
// the user set on the node.
type CodeVersion string

// Short returns the first 12 characters of v, for messages.
func (v CodeVersion) Short() string { return shorten(string(v)) }

func shorten(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// Dep is one dependency of a cache key: the name of the dependency (a node or
// an input) and the data version of the value it had.
type Dep struct {
	Name    string      `json:"name"`
	Version DataVersion `json:"version"`
}

// CacheKey is what decides whether a node's stored result can be reused: the
// node's name, its code version and the data versions of its dependencies.
//
// The parts are kept by the metadata store next to the mapping, so a key can
// be decoded and the dependency graph of a run rebuilt from metadata alone.
// The lookup key is ID, a hash of the parts.
type CacheKey struct {
	Node        string      `json:"node"`
	CodeVersion CodeVersion `json:"code_version"`
	// Deps are sorted by name (NewCacheKey sorts them).
	Deps []Dep `json:"deps"`
}

// NewCacheKey returns the key of node with the given code version and
// dependencies. deps is sorted by name in place.
func NewCacheKey(node string, code CodeVersion, deps []Dep) CacheKey {
	slices.SortFunc(deps, func(a, b Dep) int { return strings.Compare(a.Name, b.Name) })
	return CacheKey{Node: node, CodeVersion: code, Deps: deps}
}

// KeyID is the lookup form of a CacheKey: 64 lowercase hex digits.
type KeyID string

// Short returns the first 12 characters of id, for messages.
func (id KeyID) Short() string { return shorten(string(id)) }

// ID returns the lookup key of k: the SHA-256 of its parts, each
// length-prefixed so that no two different keys share an encoding.
func (k CacheKey) ID() KeyID {
	n := len(keyContext) + 8 + len(k.Node) + 8 + len(k.CodeVersion) + 8
	for _, d := range k.Deps {
		n += 16 + len(d.Name) + len(d.Version)
	}
	var stack [512]byte
	b := stack[:0]
	if n > len(stack) {
		b = make([]byte, 0, n)
	}
	put := func(b []byte, s string) []byte {
		b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
		return append(b, s...)
	}
	b = put(b, keyContext)
	b = put(b, k.Node)
	b = put(b, string(k.CodeVersion))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(k.Deps)))
	for _, d := range k.Deps {
		b = put(b, d.Name)
		b = put(b, string(d.Version))
	}
	sum := sha256.Sum256(b)
	var digits [2 * sha256.Size]byte
	hex.Encode(digits[:], sum[:])
	return KeyID(digits[:]) // one allocation: the string
}

// keyContext separates cache key hashes from any other use of SHA-256; it
// changes if the key encoding ever does.
const keyContext = "flowcache-key-v1"

// Dep returns the data version of the dependency named name, and whether k
// has it.
func (k CacheKey) Dep(name string) (DataVersion, bool) {
	for _, d := range k.Deps {
		if d.Name == name {
			return d.Version, true
		}
	}
	return "", false
}

// String returns a readable form of k: node@code(dep=version,...), with
// shortened versions.
func (k CacheKey) String() string {
	var b strings.Builder
	b.WriteString(k.Node)
	b.WriteString("@")
	b.WriteString(k.CodeVersion.Short())
	b.WriteString("(")
	for i, d := range k.Deps {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(d.Name)
		b.WriteString("=")
		b.WriteString(d.Version.Short())
	}
	b.WriteString(")")
	return b.String()
}

// Encode returns the parts of k as JSON, the form stores keep.
func (k CacheKey) Encode() []byte {
	deps := k.Deps
	if deps == nil {
		deps = []Dep{}
	}
	b, err := json.Marshal(CacheKey{Node: k.Node, CodeVersion: k.CodeVersion, Deps: deps})
	if err != nil {
		panic(err) // cannot happen: only strings
	}
	return b
}

// DecodeCacheKey parses the output of CacheKey.Encode.
func DecodeCacheKey(b []byte) (CacheKey, error) {
	var k CacheKey
	if err := json.Unmarshal(b, &k); err != nil {
		return CacheKey{}, fmt.Errorf("%w: cache key: %v", ErrCorrupt, err)
	}
	if k.Node == "" {
		return CacheKey{}, fmt.Errorf("%w: cache key without node name", ErrCorrupt)
	}
	return k, nil
}

// RunID identifies one execution of a dataflow. New run ids are UUIDv7, so
// they sort by start time.
type RunID string

// NewRunID returns a new run id.
func NewRunID() RunID {
	id, err := uuid.NewV7()
	if err != nil {
		return RunID(uuid.NewString())
	}
	return RunID(id.String())
}

// ResultID names a stored result: the data version of the value and the
// name of the format its bytes are encoded in. A value stored in two formats
// is two results, so changing a node's format is a miss, never a wrong
// decoding.
type ResultID struct {
	Version DataVersion
	Format  string
}

// String returns version.format, the object name stores use.
func (id ResultID) String() string { return string(id.Version) + "." + id.Format }
