package core

import (
	"context"
	"time"
)

// LastUsedResolution is how stale an entry's LastUsed may be: a hit updates
// it only when it is at least this old, so that a warm run is not a metadata
// write per node (Go's build cache makes the same trade with file times). An
// entry last used at LastUsed may have been used until LastUsed plus this
// long; eviction by age and its grace period allow for it.
const LastUsedResolution = lastUsedResolution

// ResultInfo describes one stored result, as a ResultWalker lists it.
type ResultInfo struct {
	ID ResultID
	// Size is the number of bytes the result takes in the store (for a
	// file or object, its header and trailer included).
	Size int64
	// Created is when the result was stored (the modification time of its
	// file or object); zero when the store cannot tell.
	Created time.Time
}

// ResultWalker is an optional interface of result stores that can list
// their results (for inspection, verification and garbage collection).
type ResultWalker interface {
	// WalkResults calls fn for every stored result, in no particular order,
	// and stops at the first error fn returns. Results stored or deleted
	// during the walk may or may not be seen.
	WalkResults(ctx context.Context, fn func(ResultInfo) error) error
}

// EntryRemover is an optional interface of metadata stores that delete many
// entries in one request, each only if it is still as it was read: eviction
// decides from a listing that a run may change before the deletion.
type EntryRemover interface {
	// RemoveEntries deletes, for every e in entries, the stored entry of
	// e.ID() if it still maps to e.DataVersion and e.Format and its Created
	// and LastUsed are not after e's (no run stored or used it since e was
	// read). It returns the ids it deleted; a missing entry is not one and
	// not an error.
	RemoveEntries(ctx context.Context, entries []Entry) ([]KeyID, error)
}

// ResultRemover is an optional interface of result stores that delete many
// results in one request (the local store: one transaction for the inline
// ones, instead of a commit per result).
type ResultRemover interface {
	// RemoveResults deletes every result of ids, as Delete does; a missing
	// result is not an error.
	RemoveResults(ctx context.Context, ids []ResultID) error
}
