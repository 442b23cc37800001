package maintain_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/maintain"
)

// cacheDir runs real pipelines through package driver on a local cache
// directory, each run with its own driver (and its own store handle), at a
// time the test sets: entries are stamped with it, so eviction by age can be
// tested without waiting.
type cacheDir struct {
	t   *testing.T
	dir string

	mu  sync.Mutex
	now time.Time
}

func newCacheDir(t *testing.T) *cacheDir {
	// Entries are stamped from a day after the real time, so that results,
	// whose times are the real ones, are older than every entry.
	return &cacheDir{t: t, dir: t.TempDir(), now: time.Now().Add(24 * time.Hour).Truncate(time.Second)}
}

func (c *cacheDir) clock() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// at sets the time of the next runs to d after the start.
func (c *cacheDir) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type runResult struct {
	id        core.RunID
	out       driver.Results
	executed  []string
	retrieved []string
	events    []core.Event
}

func (r runResult) did(name string) string {
	switch {
	case slices.Contains(r.executed, name):
		return "executed"
	case slices.Contains(r.retrieved, name):
		return "retrieved"
	}
	return "absent"
}

func (c *cacheDir) run(nodes []*driver.NodeDef, outputs []string, inputs driver.Inputs, overrides driver.Overrides, opts ...driver.CacheOption) runResult {
	c.t.Helper()
	// The code manifests are stored whatever it takes to describe the code
	// (by default a run does not wait for a parse of the module).
	opts = append([]driver.CacheOption{driver.CacheDir(c.dir), driver.CacheCoreOptions(core.WithClock(c.clock), core.WithManifestWait(time.Minute))}, opts...)
	dr, err := driver.NewBuilder().WithNodes(nodes...).WithCache(opts...).Build()
	if err != nil {
		c.t.Fatalf("Build: %v", err)
	}
	defer dr.Close()
	ctx := context.Background()
	out, err := dr.Execute(ctx, outputs, inputs, overrides)
	if err != nil {
		c.t.Fatalf("Execute: %v", err)
	}
	r := runResult{out: out}
	r.id, _ = dr.Cache().LastRunID(ctx)
	r.events = dr.Cache().Events(slog.LevelDebug, r.id)
	for _, e := range r.events {
		name := core.RecordName(e.Node, e.Task)
		switch {
		case e.Type == core.EventExecuteNode:
			r.executed = append(r.executed, name)
		case e.Type == core.EventGetResult && e.Actor == core.ActorAdapter && e.Message == "hit":
			r.retrieved = append(r.retrieved, name)
		}
	}
	return r
}

// open opens the cache directory for inspection, with a clock after the
// entries' times.
func (c *cacheDir) open(opts ...maintain.Option) *maintain.Cache {
	c.t.Helper()
	ic, err := maintain.Open(context.Background(), c.dir, opts...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { ic.Close() })
	return ic
}

func wantDid(t *testing.T, r runResult, node, what string) {
	t.Helper()
	if got := r.did(node); got != what {
		t.Errorf("node %s: %s, want %s (executed %v, retrieved %v)", node, got, what, r.executed, r.retrieved)
	}
}
