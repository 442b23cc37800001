// Package formats holds the encodings (materializers) flowcache stores node
// results in, and a registry of them by name.
//
// Gob is the default: it stores any gob-encodable Go value and, unlike
// Python's pickle, loading a result never runs code. Gob drops unexported
// struct fields without a word, so Gob().Check rejects types that have them
// (naming the field) instead of caching a value that would load back
// different.
package formats
