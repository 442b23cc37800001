package mem_test

import (
	"context"
	"errors"
	"testing"

	_ "github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/conformance/scenarios"
	"github.com/flowcache/flowcache/core"
)

// TestURL runs the suites by URL, as a backend of another module does: each
// case opens mem://name again and closes what it opened.
func TestURL(t *testing.T) {
	conformance.TestURL(t, "mem://conformance-url")
	t.Run("Scenarios", func(t *testing.T) {
		scenarios.TestURL(t, "mem://conformance-url-scenarios")
	})
}

// TestURLCloseOneHandle checks that closing the stores of one open of a
// name closes that handle only: the store stays open for the others.
func TestURLCloseOneHandle(t *testing.T) {
	ctx := context.Background()
	const u = "mem://close-one-handle"
	a, err := core.OpenURL(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	b, err := core.OpenURL(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Metadata.BeginRun(ctx, core.RunInfo{ID: "r1"}); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(a.Metadata.Close(), a.Results.Close()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Metadata.Runs(ctx); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Runs on the closed handle = %v, want ErrClosed", err)
	}
	if _, err := a.Results.Exists(ctx, core.ResultID{}); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Exists on the closed handle = %v, want ErrClosed", err)
	}
	runs, err := b.Metadata.Runs(ctx)
	if err != nil || len(runs) != 1 {
		t.Fatalf("Runs on the other handle = %v, %v, want the run r1", runs, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := core.OpenURL(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if runs, err := c.Metadata.Runs(ctx); err != nil || len(runs) != 1 {
		t.Fatalf("Runs after reopening = %v, %v, want the run r1", runs, err)
	}
	if _, ok := core.As[core.EntryWalker](c.Metadata); !ok {
		t.Error("a handle does not expose the store's EntryWalker")
	}
}
