// Package metacheck holds the rules the flowcache metadata stores share:
// what a valid batch is, and how times and record keys are normalized, so
// that every backend applies the contract of package conformance the same
// way.
package metacheck

import (
	"fmt"
	"time"

	"github.com/flowcache/flowcache/core"
)

// Validate reports the first invalid part of b as an error wrapping
// core.ErrInvalid: an entry without node name, data version or format, a
// hit without id, records without a run id, a record without node name, with
// a key of another node, or with an unknown behaviour.
func Validate(b core.Batch) error {
	for i, e := range b.Entries {
		switch {
		case e.Key.Node == "":
			return fmt.Errorf("%w: entry %d of the batch has a key without node name", core.ErrInvalid, i)
		case e.DataVersion == "":
			return fmt.Errorf("%w: entry for %s has no data version", core.ErrInvalid, e.Key)
		case e.Format == "":
			return fmt.Errorf("%w: entry for %s has no format", core.ErrInvalid, e.Key)
		}
	}
	for i, h := range b.Hits {
		if h == "" {
			return fmt.Errorf("%w: hit %d of the batch has an empty key id", core.ErrInvalid, i)
		}
	}
	if len(b.Records) > 0 && b.Run == "" {
		return fmt.Errorf("%w: batch has %d run records but no run id", core.ErrInvalid, len(b.Records))
	}
	for i, r := range b.Records {
		switch {
		case r.Node == "":
			return fmt.Errorf("%w: record %d of run %s has no node name", core.ErrInvalid, i, b.Run)
		case r.Key.Node != "" && r.Key.Node != r.Node:
			return fmt.Errorf("%w: record of node %q in run %s has the key of node %q", core.ErrInvalid, r.Node, b.Run, r.Key.Node)
		case r.Behavior < core.Unset || r.Behavior > core.Ignore:
			return fmt.Errorf("%w: record of node %q in run %s has behavior %v", core.ErrInvalid, r.Node, b.Run, r.Behavior)
		}
	}
	return nil
}

// Now returns the time of b: b.Now, or clock() when it is zero.
func Now(b core.Batch, clock func() time.Time) time.Time {
	if b.Now.IsZero() {
		return clock()
	}
	return b.Now
}

// Or returns t, or def when t is zero.
func Or(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

// RecordKey returns the key a record is stored with: zero for a zero key,
// otherwise the key with the record's node name.
func RecordKey(r core.NodeRecord) (core.CacheKey, bool) {
	k := r.Key
	if k.Node == "" && k.CodeVersion == "" && len(k.Deps) == 0 {
		return core.CacheKey{}, false
	}
	k.Node = r.Node
	return k, true
}

// Time returns t as stores keep it: nanoseconds since the Unix epoch, in
// the local time zone, without a monotonic clock reading.
func Time(t time.Time) time.Time { return time.Unix(0, t.UnixNano()) }
