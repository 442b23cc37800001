// Package wrapped runs the store suites on a pair of stores behind a plain
// decorator over core's contract checks, and checks that each optional
// capability of the bare store is found through the wrappers (core.As) and
// still works. Package conformance's TestWrappedStores runs it on the mem
// and local stores, conformance/urltest's on a bucket of the test S3
// server (its tests link the AWS SDK, conformance's do not).
package wrapped

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/conformance/scenarios"
	"github.com/flowcache/flowcache/core"
)

// forwardMeta and forwardResults are the plainest decorators a user may
// write (for metrics or tracing): they forward the base methods and expose
// what they wrap with Unwrap, nothing else. Every capability of the store
// below must still be found through them (core.As) and still work.
type forwardMeta struct{ core.MetadataStore }

func (f forwardMeta) Unwrap() core.MetadataStore { return f.MetadataStore }

type forwardResults struct{ core.ResultStore }

func (f forwardResults) Unwrap() core.ResultStore { return f.ResultStore }

// Pair is a pair of stores of one backend.
type Pair struct {
	Meta    core.MetadataStore
	Results core.ResultStore
}

// Wrap returns p behind core's contract checks and a plain decorator: the
// chain a store has when a user's decorator is given to core.New, which
// wraps once more.
func Wrap(p Pair) Pair {
	return Pair{forwardMeta{core.CheckMetadata(p.Meta)}, forwardResults{core.CheckResults(p.Results)}}
}

// Test runs the metadata, result and scenario suites on the stores open
// returns (a new, empty pair each call, closed when the test ends), each
// through Wrap, and then the capabilities of a bare pair against the same
// pair wrapped.
func Test(t *testing.T, open func(t *testing.T) Pair) {
	t.Run("Metadata", func(t *testing.T) {
		conformance.TestMetadataStore(t, func(t *testing.T) core.MetadataStore { return Wrap(open(t)).Meta })
	})
	t.Run("Results", func(t *testing.T) {
		conformance.TestResultStore(t, func(t *testing.T) core.ResultStore { return Wrap(open(t)).Results }, nil)
	})
	t.Run("Scenarios", func(t *testing.T) {
		scenarios.TestScenarios(t, func(t *testing.T) (core.MetadataStore, core.ResultStore) {
			p := Wrap(open(t))
			return p.Meta, p.Results
		})
	})
	t.Run("Capabilities", func(t *testing.T) {
		bare := open(t)
		testCapabilities(t, bare, Wrap(bare))
	})
}

// capability is one optional interface: whether a store is one, bare (by
// type assertion) or wrapped (by core.As).
type capability struct {
	name string
	is   func(s any) bool
	as   func(s any) bool
}

func capabilityOf[T any](name string) capability {
	return capability{
		name: name,
		is:   func(s any) bool { _, ok := s.(T); return ok },
		as:   func(s any) bool { _, ok := core.As[T](s); return ok },
	}
}

// The optional interfaces of core (see core/capabilities.go).
var (
	metaCapabilities = []capability{
		capabilityOf[core.EntryWalker]("EntryWalker"),
		capabilityOf[core.Preloader]("Preloader"),
		capabilityOf[core.IndexPreloader]("IndexPreloader"),
		capabilityOf[core.RunEnder]("RunEnder"),
		capabilityOf[core.EntryRemover]("EntryRemover"),
		capabilityOf[core.LogStore]("LogStore"),
	}
	resultCapabilities = []capability{
		capabilityOf[core.VerifiedGetter]("VerifiedGetter"),
		capabilityOf[core.ResultFlusher]("ResultFlusher"),
		capabilityOf[core.ResultWalker]("ResultWalker"),
		capabilityOf[core.ResultRemover]("ResultRemover"),
		capabilityOf[core.DebrisFinder]("DebrisFinder"),
		capabilityOf[core.LogStore]("LogStore"),
	}
)

func testCapabilities(t *testing.T, bare, wrapped Pair) {
	ctx := context.Background()
	for _, c := range metaCapabilities {
		if c.is(wrapped.Meta) {
			t.Errorf("the decorator itself is a %s", c.name)
		}
		if c.is(bare.Meta) != c.as(wrapped.Meta) {
			t.Errorf("metadata store %T: %s bare %v, through the wrappers %v", bare.Meta, c.name, c.is(bare.Meta), c.as(wrapped.Meta))
		}
	}
	for _, c := range resultCapabilities {
		if c.is(wrapped.Results) {
			t.Errorf("the decorator itself is a %s", c.name)
		}
		if c.is(bare.Results) != c.as(wrapped.Results) {
			t.Errorf("result store %T: %s bare %v, through the wrappers %v", bare.Results, c.name, c.is(bare.Results), c.as(wrapped.Results))
		}
	}

	// Store a result and its entry through the wrappers, then use every
	// capability through them.
	data := bytes.Repeat([]byte("wrapped "), 1000)
	rid := core.ResultID{Version: core.DataVersion(fmt.Sprintf("%064x", 42)), Format: "gob"}
	if _, err := wrapped.Results.Put(ctx, rid, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
		t.Fatal(err)
	}
	key := core.NewCacheKey("wrapped", "code", nil)
	run := core.NewRunID()
	now := time.Unix(1_700_000_000, 0)
	if f, ok := core.As[core.ResultFlusher](wrapped.Results); ok {
		if err := f.FlushResults(ctx); err != nil {
			t.Errorf("FlushResults: %v", err)
		}
	}
	b := core.Batch{Run: run, Now: now, Entries: []core.Entry{{Key: key, DataVersion: rid.Version, Format: rid.Format}},
		Records: []core.NodeRecord{{Node: "wrapped", Key: key, DataVersion: rid.Version, Format: rid.Format, Outcome: core.OutcomeExecuted, Size: int64(len(data))}}}
	if err := wrapped.Meta.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	entry, err := wrapped.Meta.Get(ctx, key.ID())
	if err != nil {
		t.Fatal(err)
	}

	if f, ok := core.As[core.DebrisFinder](wrapped.Results); ok {
		if debris, err := f.FindDebris(ctx, core.StaleTempAge); err != nil || len(debris) != 0 {
			t.Errorf("FindDebris = %+v, %v; want nothing", debris, err)
		}
		if removed, err := f.RemoveDebris(ctx, nil, core.StaleTempAge); err != nil || len(removed) != 0 {
			t.Errorf("RemoveDebris(nil) = %+v, %v; want nothing", removed, err)
		}
	}
	if _, ok := core.As[core.VerifiedGetter](wrapped.Results); ok {
		rc, err := core.GetVerified(ctx, wrapped.Results, rid)
		if err != nil {
			t.Fatalf("GetVerified: %v", err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("GetVerified read %d bytes (equal %v), %v", len(got), bytes.Equal(got, data), err)
		}
	}
	if w, ok := core.As[core.EntryWalker](wrapped.Meta); ok {
		var ids []core.KeyID
		if err := w.WalkEntries(ctx, func(e core.Entry) error { ids = append(ids, e.ID()); return nil }); err != nil || !slices.Contains(ids, key.ID()) {
			t.Errorf("WalkEntries listed %v, %v; want %s among them", ids, err, key.ID())
		}
	}
	if p, ok := core.As[core.Preloader](wrapped.Meta); ok {
		if got, err := p.Preload(ctx, []string{"wrapped"}); err != nil || got[key.ID()].DataVersion != rid.Version {
			t.Errorf("Preload = %v, %v; want the entry of %s", got, err, key.ID())
		}
	}
	if p, ok := core.As[core.IndexPreloader](wrapped.Meta); ok {
		idx, err := p.PreloadIndex(ctx, []string{"wrapped"})
		if err != nil {
			t.Errorf("PreloadIndex: %v", err)
		} else if e, ok := idx.Lookup(key.ID()); !ok || e.DataVersion != rid.Version {
			t.Errorf("PreloadIndex: Lookup = %v, %v; want the entry of %s", e, ok, key.ID())
		}
	}
	if w, ok := core.As[core.ResultWalker](wrapped.Results); ok {
		var ids []core.ResultID
		if err := w.WalkResults(ctx, func(r core.ResultInfo) error { ids = append(ids, r.ID); return nil }); err != nil || !slices.Contains(ids, rid) {
			t.Errorf("WalkResults listed %v, %v; want %s among them", ids, err, rid)
		}
	}
	if ls := core.LogStoreOf(wrapped.Meta, wrapped.Results); ls != nil {
		line := []byte(`{"run_id":"` + string(run) + `","node":"wrapped","event_type":"execute_node"}` + "\n")
		w, err := ls.OpenLog(ctx, run)
		if err != nil {
			t.Fatalf("OpenLog: %v", err)
		}
		if _, err := w.Write(line); err != nil {
			t.Fatalf("writing the log: %v", err)
		}
		if err := w.Close(ctx); err != nil {
			t.Fatalf("closing the log: %v", err)
		}
		rc, err := ls.ReadLog(ctx, run)
		if err != nil {
			t.Fatalf("ReadLog: %v", err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, line) {
			t.Errorf("ReadLog = %q, %v; want %q", got, err, line)
		}
	} else if core.LogStoreOf(bare.Meta, bare.Results) != nil {
		t.Error("the bare stores keep run logs, the wrapped ones do not")
	}
	if r, ok := core.As[core.EntryRemover](wrapped.Meta); ok {
		if ids, err := r.RemoveEntries(ctx, []core.Entry{entry}); err != nil || !slices.Equal(ids, []core.KeyID{key.ID()}) {
			t.Errorf("RemoveEntries = %v, %v; want [%s]", ids, err, key.ID())
		}
	}
	if r, ok := core.As[core.ResultRemover](wrapped.Results); ok {
		if err := r.RemoveResults(ctx, []core.ResultID{rid}); err != nil {
			t.Errorf("RemoveResults: %v", err)
		}
		if ok, err := wrapped.Results.Exists(ctx, rid); ok || err != nil {
			t.Errorf("after RemoveResults Exists = %v, %v; want false", ok, err)
		}
	}
}
