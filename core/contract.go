package core

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// This file holds the rules of the store contract that are the same for
// every store, as exported API: what a valid batch, key id, run id and
// result id are (the Validate methods), and how a store derives the times it
// keeps from a batch (Batch.Time, Entry.TimesAt, RunInfo.StartTime,
// StoredTime) and the key it keeps with a run record
// (NodeRecord.StoredKey). CheckMetadata and CheckResults apply the Validate
// methods above any store; a store applies them too where they protect it
// (a result id that would name a path outside its directory) and the time
// rules where it writes (see MetadataStore.Write).

// LastUsedResolution is how stale an entry's LastUsed may be: a hit updates
// it only when it is at least this old, so that a warm run is not a metadata
// write per node (Go's build cache makes the same trade with file times). An
// entry last used at LastUsed may have been used until LastUsed plus this
// long; eviction by age and its grace period allow for it.
const LastUsedResolution = time.Hour

// MaxResultIDPart bounds the data version and the format name of a
// ResultID, in bytes, so that a store can prefix each with a 16-bit length.
const MaxResultIDPart = 1<<16 - 1

// Validate reports the first invalid part of b as an error wrapping
// ErrInvalid that names it: an entry without node name, data version or
// format, a hit without key id, records without a run id, a record without
// node name, with the key of another node, or with an unknown behaviour.
// A store refuses such a batch whole (see MetadataStore.Write).
func (b Batch) Validate() error {
	for i, e := range b.Entries {
		switch {
		case e.Key.Node == "":
			return fmt.Errorf("%w: entry %d of the batch has a key without node name", ErrInvalid, i)
		case e.DataVersion == "":
			return fmt.Errorf("%w: entry for %s has no data version", ErrInvalid, e.Key)
		case e.Format == "":
			return fmt.Errorf("%w: entry for %s has no format", ErrInvalid, e.Key)
		}
	}
	for i, h := range b.Hits {
		if h == "" {
			return fmt.Errorf("%w: hit %d of the batch has an empty key id", ErrInvalid, i)
		}
	}
	if len(b.Records) > 0 && b.Run == "" {
		return fmt.Errorf("%w: batch has %d run records but no run id", ErrInvalid, len(b.Records))
	}
	for i, r := range b.Records {
		switch {
		case r.Node == "":
			return fmt.Errorf("%w: record %d of run %s has no node name", ErrInvalid, i, b.Run)
		case r.Key.Node != "" && r.Key.Node != r.Node:
			return fmt.Errorf("%w: record of node %q in run %s has the key of node %q", ErrInvalid, r.Node, b.Run, r.Key.Node)
		case r.Behavior < Unset || r.Behavior > Ignore:
			return fmt.Errorf("%w: record of node %q in run %s has behavior %v", ErrInvalid, r.Node, b.Run, r.Behavior)
		}
	}
	return nil
}

// Validate reports, as an error wrapping ErrInvalid, an id that
// CacheKey.ID cannot return: anything but 64 lowercase hex digits.
func (id KeyID) Validate() error {
	if len(id) != 64 {
		return fmt.Errorf("%w: key id %.70q has %d bytes, want 64 hex digits", ErrInvalid, string(id), len(id))
	}
	for i := range len(id) {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%w: key id %q is not lowercase hex", ErrInvalid, string(id))
		}
	}
	return nil
}

// Validate reports, as an error wrapping ErrInvalid, an empty run id or
// one that is not valid UTF-8 (stores keep run ids as text).
func (id RunID) Validate() error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty run id", ErrInvalid)
	case !utf8.ValidString(string(id)):
		return fmt.Errorf("%w: run id %q is not valid UTF-8", ErrInvalid, string(id))
	}
	return nil
}

// Validate reports, as an error wrapping ErrInvalid that names id, an id
// whose name (String, "version.format") would be ambiguous or unsafe as a
// file or object name: an empty data version or format name, a part longer
// than MaxResultIDPart bytes, text that is not valid UTF-8 or holds control
// characters, a data version containing '.', '/' or '\', a format name
// containing '/' or '\' or ending in ".tmp" (the suffix of temporary
// files). Every data version flowcache makes is valid, and every format
// name it ships.
func (id ResultID) Validate() error {
	v, f := string(id.Version), id.Format
	switch {
	case v == "":
		return fmt.Errorf("%w: result %q has an empty data version", ErrInvalid, id.String())
	case f == "":
		return fmt.Errorf("%w: result %q has an empty format name", ErrInvalid, id.String())
	case len(v) > MaxResultIDPart || len(f) > MaxResultIDPart:
		return fmt.Errorf("%w: result %.40q…: data version or format name longer than %d bytes", ErrInvalid, id.String(), MaxResultIDPart)
	case !utf8.ValidString(v) || !utf8.ValidString(f):
		return fmt.Errorf("%w: result %q is not valid UTF-8", ErrInvalid, id.String())
	case strings.ContainsAny(v, "./\\"):
		return fmt.Errorf("%w: result %q: a data version may not contain '.', '/' or '\\'", ErrInvalid, id.String())
	case strings.ContainsAny(f, "/\\"):
		return fmt.Errorf("%w: result %q: a format name may not contain '/' or '\\'", ErrInvalid, id.String())
	case strings.HasSuffix(f, ".tmp"):
		return fmt.Errorf("%w: result %q: a format name may not end in \".tmp\"", ErrInvalid, id.String())
	case strings.ContainsFunc(v, isControl) || strings.ContainsFunc(f, isControl):
		return fmt.Errorf("%w: result %q contains control characters", ErrInvalid, id.String())
	}
	return nil
}

// StoredTime returns t as stores keep it: nanoseconds since the Unix epoch,
// in the local time zone, without a monotonic clock reading. Times read
// back from a store equal (==) the StoredTime of what was written.
func StoredTime(t time.Time) time.Time { return time.Unix(0, t.UnixNano()) }

// Time returns the time of b as a store records it (StoredTime): b.Now, or
// clock() when b.Now is zero (clock is the store's clock, time.Now unless a
// test injects another).
func (b Batch) Time(clock func() time.Time) time.Time {
	if b.Now.IsZero() {
		return StoredTime(clock())
	}
	return StoredTime(b.Now)
}

// TimesAt returns the Created and LastUsed times a store records for e,
// written in a batch at now (see Batch.Time): each e's own when set, else
// now, as StoredTime. A store keeps the Created time it already has instead
// when the entry's key already maps to the same data version and format.
func (e Entry) TimesAt(now time.Time) (created, lastUsed time.Time) {
	return StoredTime(timeOr(e.Created, now)), StoredTime(timeOr(e.LastUsed, now))
}

// StartTime returns the start time a store records for run (StoredTime):
// run.Started, or clock() when it is zero.
func (run RunInfo) StartTime(clock func() time.Time) time.Time {
	if run.Started.IsZero() {
		return StoredTime(clock())
	}
	return StoredTime(run.Started)
}

// StoredKey returns the key a store keeps with r: the zero key when r.Key
// is zero (an input or override may have none), otherwise r.Key with r's
// node name.
func (r NodeRecord) StoredKey() CacheKey {
	k := r.Key
	if k.Node == "" && k.CodeVersion == "" && len(k.Deps) == 0 {
		return CacheKey{}
	}
	k.Node = r.Node
	return k
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func timeOr(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}
