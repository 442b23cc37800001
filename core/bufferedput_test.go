package core_test

import (
	"context"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats"
)

// gatedResults holds every Put of a node's result until release is closed;
// as a core.BufferedPutter, it says Puts of up to limit bytes are copies.
type gatedResults struct {
	core.ResultStore
	release chan struct{}
	limit   int
}

func (g *gatedResults) Put(ctx context.Context, id core.ResultID, write func(io.Writer) error) (int64, error) {
	if id.Format != core.CodeManifestFormat {
		<-g.release
	}
	return g.ResultStore.Put(ctx, id, write)
}

func (g *gatedResults) BufferedPutLimit() int { return g.limit }

// wrappedGated is gatedResults behind a wrapper, which does not say its own
// Put is a copy.
type wrappedGated struct{ *gatedResults }

func (w wrappedGated) Unwrap() core.ResultStore { return w.gatedResults }
func (wrappedGated) BufferedPutLimit()          {} // not the interface's method: hides it

// A result no larger than a core.BufferedPutter's limit is stored on the
// node's goroutine (Node returns once it is stored); a larger one, or one
// for a store that does not say so itself (only through a wrapper), in the
// background (Node returns while the Put waits).
func TestBufferedPutOnNodeGoroutine(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		what   string
		limit  int
		wrap   bool
		inline bool
	}{
		{"small result", 1 << 10, false, true},
		{"result over the limit", 2, false, false},
		{"store behind a wrapper", 1 << 10, true, false},
	} {
		st := mem.Open()
		g := &gatedResults{ResultStore: st.Results(), release: make(chan struct{}), limit: c.limit}
		var results core.ResultStore = g
		if c.wrap {
			results = wrappedGated{g}
		}
		cache, err := core.New(st.Metadata(), results)
		if err != nil {
			t.Fatal(err)
		}
		run, err := cache.BeginRun(ctx)
		if err != nil {
			t.Fatal(err)
		}
		spec := &core.NodeSpec{Name: "n", CodeVersion: "v1", Format: formats.Gob(), Type: reflect.TypeFor[int]()}
		returned := make(chan struct{})
		go func() {
			defer close(returned)
			if _, err := run.Node(ctx, spec, "", nil, func(context.Context, []any) (any, error) { return 1234567, nil }); err != nil {
				t.Error(err)
			}
		}()
		select {
		case <-returned:
			if c.inline {
				t.Errorf("%s: Node returned before the result was stored", c.what)
			}
		case <-time.After(50 * time.Millisecond):
			if !c.inline {
				t.Errorf("%s: Node waited for the store", c.what)
			}
		}
		close(g.release)
		<-returned
		if err := run.End(ctx); err != nil {
			t.Fatal(err)
		}
		stored := 0
		st.Metadata().WalkEntries(ctx, func(e core.Entry) error {
			if e.Key.Node == "n" {
				stored++
			}
			return nil
		})
		if stored != 1 {
			t.Errorf("%s: %d entries of n after the run, want 1", c.what, stored)
		}
		cache.Close()
	}
}
