package core_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
)

// failingResults refuses every write.
type failingResults struct{ core.ResultStore }

func (failingResults) Put(context.Context, core.ResultID, func(io.Writer) error) (int64, error) {
	return 0, errors.New("disk full")
}

func one() int        { return 1 }
func plus(a int) int  { return a + 1 }
func twice(a int) int { return 2 * a }

// A result store that cannot write does not fail the run: the values are
// right, the failure is an event and a warning, and no entry points to the
// missing result.
func TestStoreWriteFailureDoesNotFailRun(t *testing.T) {
	st := mem.New()
	var logBuf syncBuffer
	logger := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dr, err := driver.NewBuilder().WithNodes(driver.Node("a", one), driver.Node("b", plus, "a")).
		WithCache(driver.CacheStores(st.Metadata(), failingResults{st.Results()}), driver.CacheLogger(logger)).Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	out, err := dr.Execute(ctx, []string{"b"}, nil, nil)
	if err != nil || out["b"] != 2 {
		t.Fatalf("Execute = %v, %v", out, err)
	}
	run, _ := dr.Cache().LastRunID(ctx)
	failed := 0
	for _, e := range dr.Cache().Events(slog.LevelDebug, run) {
		if e.Type == core.EventFailedStoreWrite && strings.Contains(e.Value, "disk full") {
			failed++
		}
	}
	if failed != 2 {
		t.Fatalf("failed_store_write events = %d, want 2", failed)
	}
	if !strings.Contains(logBuf.String(), "failed_store_write") {
		t.Errorf("warning not logged: %q", logBuf.String())
	}
	n := 0
	st.Metadata().WalkEntries(ctx, func(core.Entry) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d entries point at results that were never written", n)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The data version of an executed node is recorded, and a changed format is
// a miss, not a wrong decoding.
func TestRunHistoryAndKeys(t *testing.T) {
	st := mem.New()
	ctx := context.Background()
	build := func() *driver.Driver {
		dr, err := driver.NewBuilder().WithNodes(driver.Node("a", one), driver.Node("b", twice, "a")).
			WithCache(driver.CacheStores(st.Metadata(), st.Results())).Build()
		if err != nil {
			t.Fatal(err)
		}
		return dr
	}
	dr := build()
	if _, err := dr.Execute(ctx, []string{"b"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	run, _ := dr.Cache().LastRunID(ctx)
	recs, err := st.Metadata().Run(ctx, run)
	if err != nil || len(recs) != 2 {
		t.Fatalf("Run = %v, %v", recs, err)
	}
	var a, b core.NodeRecord
	for _, r := range recs {
		switch r.Node {
		case "a":
			a = r
		case "b":
			b = r
		}
	}
	if a.Outcome != core.OutcomeExecuted || b.Outcome != core.OutcomeExecuted || a.Size <= 0 {
		t.Fatalf("records %+v %+v", a, b)
	}
	// B's key names A's data version: the graph can be rebuilt from metadata.
	if v, ok := b.Key.Dep("a"); !ok || v != a.DataVersion {
		t.Fatalf("b's key %v does not hold a's version %s", b.Key, a.DataVersion)
	}
	e, err := st.Metadata().Get(ctx, b.Key.ID())
	if err != nil || e.DataVersion != b.DataVersion || e.Format != "gob" {
		t.Fatalf("entry of b = %+v, %v", e, err)
	}
	if _, err := st.Metadata().Run(ctx, "no-such-run"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("unknown run: %v", err)
	}
}
