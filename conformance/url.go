package conformance

import (
	"context"
	"errors"
	"testing"

	"github.com/flowcache/flowcache/core"
)

// TestURL runs TestMetadataStore and TestResultStore against the store
// rawURL names, as core.OpenURL opens it: every case opens its own stores
// by URL and empties them first (DeleteAll). The store must be empty when
// TestURL starts (it refuses one that holds runs) and dedicated to the
// test: the suites delete everything in it.
//
// Its scheme must be registered, so a backend calls it from a test of its
// own module that imports the backend:
//
//	import (
//		"testing"
//
//		_ "example.com/mybackend" // registers dir://
//		"github.com/flowcache/flowcache/conformance"
//	)
//
//	func TestConformance(t *testing.T) {
//		conformance.TestURL(t, "dir://"+t.TempDir())
//	}
func TestURL(t *testing.T, rawURL string) {
	t.Helper()
	open := OpenURLFunc(t, rawURL)
	t.Run("Metadata", func(t *testing.T) {
		TestMetadataStore(t, func(t *testing.T) core.MetadataStore { return open(t).Metadata })
	})
	t.Run("Results", func(t *testing.T) {
		TestResultStore(t, func(t *testing.T) core.ResultStore { return open(t).Results }, nil)
	})
}

// OpenURLFunc checks that the store rawURL names is empty (no runs; it
// fails t otherwise) and returns a function that opens it by URL and
// empties it, for a suite's open function (as TestURL and
// scenarios.TestURL use it). The stores it returns are closed by the
// suites; their Close func, if any, is left to the caller.
func OpenURLFunc(t *testing.T, rawURL string) func(t *testing.T) *core.Stores {
	t.Helper()
	ctx := context.Background()
	st, err := core.OpenURL(ctx, rawURL)
	if err != nil {
		t.Fatal(err)
	}
	// Refuse to wipe a store that holds anything.
	runs, err := st.Metadata.Runs(ctx)
	if st.Close != nil {
		st.Close()
	}
	if err != nil || len(runs) > 0 {
		t.Fatalf("store %s is not empty (%d runs, %v): the suites delete everything, point them at an empty, dedicated store", rawURL, len(runs), err)
	}
	return func(t *testing.T) *core.Stores {
		t.Helper()
		st, err := core.OpenURL(ctx, rawURL)
		if err != nil {
			t.Fatal(err)
		}
		if err := errors.Join(st.Metadata.DeleteAll(ctx), st.Results.DeleteAll(ctx)); err != nil {
			t.Fatalf("emptying %s: %v", rawURL, err)
		}
		return st
	}
}
