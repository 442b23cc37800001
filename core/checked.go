package core

import (
	"context"
	"fmt"
	"io"
)

// CheckMetadata returns s wrapped so that the arguments of every call are
// checked against the store contract before s sees them, as gocloud's
// portable types check them above their drivers: an invalid run id
// (RunID.Validate), key id (KeyID.Validate) or batch (Batch.Validate) is
// refused with an error wrapping ErrInvalid that names what is wrong, and s
// is not called. New wraps the stores it is given, and package inspect
// too; anyone calling a store directly can wrap it the same way. Wrapping
// twice wraps once; a nil s stays nil.
//
// The wrapper implements the base interface and Unwrap (see As): the
// optional capabilities of s are found through it and called on s itself,
// unchecked.
//
// The closed state is not checked here: a store refuses calls after its
// Close itself, with an error wrapping ErrClosed. Only the store knows when
// its resources are gone: a capability is called past the wrapper (see
// As), a Close may race a call in flight (only the store can order them
// without a lock on every call), and one store may be closed by another's
// Close (the local store's results share the database of its metadata).
func CheckMetadata(s MetadataStore) MetadataStore {
	switch s.(type) {
	case nil, *checkedMetadata:
		return s
	}
	return &checkedMetadata{s: s}
}

// CheckResults returns s wrapped so that every result id is checked
// (ResultID.Validate) before s sees it, and a Put without a write
// function is refused: both with an error wrapping ErrInvalid. See
// CheckMetadata, which does the same for metadata stores.
func CheckResults(s ResultStore) ResultStore {
	switch s.(type) {
	case nil, *checkedResults:
		return s
	}
	return &checkedResults{s: s}
}

type checkedMetadata struct{ s MetadataStore }

var (
	_ MetadataStore   = (*checkedMetadata)(nil)
	_ MetadataWrapper = (*checkedMetadata)(nil)
)

func invalidMeta(op string, err error) error {
	return fmt.Errorf("flowcache: metadata store: %s: %w", op, err)
}

func (c *checkedMetadata) Unwrap() MetadataStore { return c.s }

func (c *checkedMetadata) BeginRun(ctx context.Context, run RunInfo) error {
	if err := run.ID.Validate(); err != nil {
		return invalidMeta("begin run", err)
	}
	return c.s.BeginRun(ctx, run)
}

func (c *checkedMetadata) Get(ctx context.Context, id KeyID) (Entry, error) {
	if err := id.Validate(); err != nil {
		return Entry{}, invalidMeta("get", err)
	}
	return c.s.Get(ctx, id)
}

func (c *checkedMetadata) Write(ctx context.Context, b Batch) error {
	if err := b.Validate(); err != nil {
		return invalidMeta("write", err)
	}
	return c.s.Write(ctx, b)
}

func (c *checkedMetadata) Delete(ctx context.Context, id KeyID) error {
	if err := id.Validate(); err != nil {
		return invalidMeta("delete", err)
	}
	return c.s.Delete(ctx, id)
}

func (c *checkedMetadata) DeleteAll(ctx context.Context) error { return c.s.DeleteAll(ctx) }

func (c *checkedMetadata) Runs(ctx context.Context) ([]RunInfo, error) { return c.s.Runs(ctx) }

func (c *checkedMetadata) Run(ctx context.Context, run RunID) ([]NodeRecord, error) {
	if err := run.Validate(); err != nil {
		return nil, invalidMeta("run", err)
	}
	return c.s.Run(ctx, run)
}

func (c *checkedMetadata) Close() error { return c.s.Close() }

type checkedResults struct{ s ResultStore }

var (
	_ ResultStore   = (*checkedResults)(nil)
	_ ResultWrapper = (*checkedResults)(nil)
)

func invalidResult(op string, err error) error {
	return fmt.Errorf("flowcache: result store: %s: %w", op, err)
}

func (c *checkedResults) Unwrap() ResultStore { return c.s }

func (c *checkedResults) Put(ctx context.Context, id ResultID, write func(io.Writer) error) (int64, error) {
	if err := id.Validate(); err != nil {
		return 0, invalidResult("put", err)
	}
	if write == nil {
		return 0, invalidResult("put", fmt.Errorf("%w: result %s: nil write function", ErrInvalid, id))
	}
	return c.s.Put(ctx, id, write)
}

func (c *checkedResults) Get(ctx context.Context, id ResultID) (io.ReadCloser, error) {
	if err := id.Validate(); err != nil {
		return nil, invalidResult("get", err)
	}
	return c.s.Get(ctx, id)
}

func (c *checkedResults) Exists(ctx context.Context, id ResultID) (bool, error) {
	if err := id.Validate(); err != nil {
		return false, invalidResult("exists", err)
	}
	return c.s.Exists(ctx, id)
}

func (c *checkedResults) Delete(ctx context.Context, id ResultID) error {
	if err := id.Validate(); err != nil {
		return invalidResult("delete", err)
	}
	return c.s.Delete(ctx, id)
}

func (c *checkedResults) DeleteAll(ctx context.Context) error { return c.s.DeleteAll(ctx) }

func (c *checkedResults) Close() error { return c.s.Close() }
