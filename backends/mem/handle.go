package mem

import (
	"context"
	"io"
	"sync/atomic"

	"github.com/flowcache/flowcache/core"
)

// A named store (mem://name) is shared by every open of its name; each
// open gets handles on it, so that closing one opener's stores (as
// package conformance does at the end of every case) leaves the others, and
// the named store, open. A closed handle fails with core.ErrClosed. The
// optional capabilities are those of the shared store, found through
// Unwrap (core.As).

// metadataHandle is one open of a named metadata store.
type metadataHandle struct {
	s      *MetadataStore
	closed atomic.Bool
}

var _ core.MetadataWrapper = (*metadataHandle)(nil)

func (h *metadataHandle) check(op string) error {
	if h.closed.Load() {
		return errClosed(op)
	}
	return nil
}

func (h *metadataHandle) Unwrap() core.MetadataStore { return h.s }

func (h *metadataHandle) BeginRun(ctx context.Context, run core.RunInfo) error {
	if err := h.check("begin run"); err != nil {
		return err
	}
	return h.s.BeginRun(ctx, run)
}

func (h *metadataHandle) Get(ctx context.Context, id core.KeyID) (core.Entry, error) {
	if err := h.check("get"); err != nil {
		return core.Entry{}, err
	}
	return h.s.Get(ctx, id)
}

func (h *metadataHandle) Write(ctx context.Context, b core.Batch) error {
	if err := h.check("write"); err != nil {
		return err
	}
	return h.s.Write(ctx, b)
}

func (h *metadataHandle) Delete(ctx context.Context, id core.KeyID) error {
	if err := h.check("delete"); err != nil {
		return err
	}
	return h.s.Delete(ctx, id)
}

func (h *metadataHandle) DeleteAll(ctx context.Context) error {
	if err := h.check("delete all"); err != nil {
		return err
	}
	return h.s.DeleteAll(ctx)
}

func (h *metadataHandle) Runs(ctx context.Context) ([]core.RunInfo, error) {
	if err := h.check("runs"); err != nil {
		return nil, err
	}
	return h.s.Runs(ctx)
}

func (h *metadataHandle) Run(ctx context.Context, run core.RunID) ([]core.NodeRecord, error) {
	if err := h.check("run"); err != nil {
		return nil, err
	}
	return h.s.Run(ctx, run)
}

// Close closes the handle; the named store stays open.
func (h *metadataHandle) Close() error {
	h.closed.Store(true)
	return nil
}

// resultHandle is one open of a named result store.
type resultHandle struct {
	s      *ResultStore
	closed atomic.Bool
}

var _ core.ResultWrapper = (*resultHandle)(nil)

func (h *resultHandle) check(op string) error {
	if h.closed.Load() {
		return errClosed(op)
	}
	return nil
}

func (h *resultHandle) Unwrap() core.ResultStore { return h.s }

func (h *resultHandle) Put(ctx context.Context, id core.ResultID, write func(io.Writer) error) (int64, error) {
	if err := h.check("put"); err != nil {
		return 0, err
	}
	return h.s.Put(ctx, id, write)
}

func (h *resultHandle) Get(ctx context.Context, id core.ResultID) (io.ReadCloser, error) {
	if err := h.check("get"); err != nil {
		return nil, err
	}
	return h.s.Get(ctx, id)
}

func (h *resultHandle) Exists(ctx context.Context, id core.ResultID) (bool, error) {
	if err := h.check("exists"); err != nil {
		return false, err
	}
	return h.s.Exists(ctx, id)
}

func (h *resultHandle) Delete(ctx context.Context, id core.ResultID) error {
	if err := h.check("delete"); err != nil {
		return err
	}
	return h.s.Delete(ctx, id)
}

func (h *resultHandle) DeleteAll(ctx context.Context) error {
	if err := h.check("delete all"); err != nil {
		return err
	}
	return h.s.DeleteAll(ctx)
}

// Close closes the handle; the named store stays open.
func (h *resultHandle) Close() error {
	h.closed.Store(true)
	return nil
}
