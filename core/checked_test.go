package core_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
)

// spyMeta and spyResults count the calls that reach the store.
type spyMeta struct {
	core.MetadataStore
	calls int
}

func (s *spyMeta) BeginRun(ctx context.Context, r core.RunInfo) error {
	s.calls++
	return s.MetadataStore.BeginRun(ctx, r)
}
func (s *spyMeta) Get(ctx context.Context, id core.KeyID) (core.Entry, error) {
	s.calls++
	return s.MetadataStore.Get(ctx, id)
}
func (s *spyMeta) Write(ctx context.Context, b core.Batch) error {
	s.calls++
	return s.MetadataStore.Write(ctx, b)
}
func (s *spyMeta) Delete(ctx context.Context, id core.KeyID) error {
	s.calls++
	return s.MetadataStore.Delete(ctx, id)
}
func (s *spyMeta) Run(ctx context.Context, id core.RunID) ([]core.NodeRecord, error) {
	s.calls++
	return s.MetadataStore.Run(ctx, id)
}

type spyResults struct {
	core.ResultStore
	calls int
}

func (s *spyResults) Put(ctx context.Context, id core.ResultID, w func(io.Writer) error) (int64, error) {
	s.calls++
	return s.ResultStore.Put(ctx, id, w)
}
func (s *spyResults) Get(ctx context.Context, id core.ResultID) (io.ReadCloser, error) {
	s.calls++
	return s.ResultStore.Get(ctx, id)
}
func (s *spyResults) Exists(ctx context.Context, id core.ResultID) (bool, error) {
	s.calls++
	return s.ResultStore.Exists(ctx, id)
}
func (s *spyResults) Delete(ctx context.Context, id core.ResultID) error {
	s.calls++
	return s.ResultStore.Delete(ctx, id)
}

func TestCheckedStoresRefuseInvalidCalls(t *testing.T) {
	ctx := context.Background()
	st := mem.Open()
	defer st.Close()
	sm, sr := &spyMeta{MetadataStore: st.Metadata()}, &spyResults{ResultStore: st.Results()}
	meta, results := core.CheckMetadata(sm), core.CheckResults(sr)
	if core.CheckMetadata(meta) != meta || core.CheckResults(results) != results {
		t.Error("wrapping a checked store again wrapped it twice")
	}
	if core.CheckMetadata(nil) != nil || core.CheckResults(nil) != nil {
		t.Error("a nil store was wrapped")
	}
	key := core.NewCacheKey("n", "c", nil)
	bad := core.ResultID{Version: "../x", Format: "gob"}
	calls := map[string]func() error{
		"BeginRun": func() error { return meta.BeginRun(ctx, core.RunInfo{}) },
		"Get":      func() error { _, err := meta.Get(ctx, "nope"); return err },
		"Write": func() error {
			return meta.Write(ctx, core.Batch{Entries: []core.Entry{{Key: key, Format: "gob"}}})
		},
		"Delete":         func() error { return meta.Delete(ctx, "") },
		"Run":            func() error { _, err := meta.Run(ctx, ""); return err },
		"Put":            func() error { _, err := results.Put(ctx, bad, func(io.Writer) error { return nil }); return err },
		"Put nil writer": func() error { _, err := results.Put(ctx, core.ResultID{Version: "v", Format: "gob"}, nil); return err },
		"Get result":     func() error { _, err := results.Get(ctx, bad); return err },
		"Exists":         func() error { _, err := results.Exists(ctx, bad); return err },
		"Delete result":  func() error { return results.Delete(ctx, bad) },
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "flowcache: ") {
			t.Errorf("%s: %v, want an error wrapping ErrInvalid", name, err)
		}
	}
	if sm.calls != 0 || sr.calls != 0 {
		t.Errorf("%d metadata and %d result calls reached the store", sm.calls, sr.calls)
	}
	// Valid calls go through.
	if err := meta.Write(ctx, core.Batch{Run: "r", Entries: []core.Entry{{Key: key, DataVersion: "v", Format: "gob"}}}); err != nil {
		t.Fatal(err)
	}
	if e, err := meta.Get(ctx, key.ID()); err != nil || e.DataVersion != "v" {
		t.Errorf("Get = %+v, %v", e, err)
	}
	if ok, err := results.Exists(ctx, core.ResultID{Version: "v", Format: "gob"}); ok || err != nil {
		t.Errorf("Exists = %v, %v", ok, err)
	}
	if sm.calls != 2 || sr.calls != 1 {
		t.Errorf("%d metadata and %d result calls reached the store, want 2 and 1", sm.calls, sr.calls)
	}
}
