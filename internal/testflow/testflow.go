// Package testflow runs real pipelines through package driver on a local
// cache directory, for the tests of the packages that read and maintain a
// cache (inspect, maintain): each run has its own driver (and its own store
// handle) and happens at a time the test sets, so that entries are stamped
// with it and age can be tested without waiting. FanOut is the fan-out
// pipeline these tests, and those of package driver and of the command,
// share.
package testflow

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
)

// Dir is a cache directory and the clock its runs are stamped with.
type Dir struct {
	T    *testing.T
	Path string

	mu  sync.Mutex
	now time.Time
}

// NewDir returns a Dir in a new temporary directory. Entries are stamped
// from a day after the real time, so that results, whose times are the
// real ones, are older than every entry.
func NewDir(t *testing.T) *Dir {
	return &Dir{T: t, Path: t.TempDir(), now: time.Now().Add(24 * time.Hour).Truncate(time.Second)}
}

// DirAt returns a Dir on path whose runs happen at now.
func DirAt(t *testing.T, path string, now time.Time) *Dir {
	return &Dir{T: t, Path: path, now: now}
}

// Clock returns the time of the next runs.
func (c *Dir) Clock() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// SetClock sets the time of the next runs.
func (c *Dir) SetClock(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// Advance moves the time of the next runs d later.
func (c *Dir) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Result is what a run did.
type Result struct {
	ID        core.RunID
	Out       driver.Results
	Executed  []string // record names (core.RecordName) of the executed nodes
	Retrieved []string // and of the retrieved ones
	Events    []core.Event
}

// Did says what happened to name in the run: "executed", "retrieved" or
// "absent".
func (r Result) Did(name string) string {
	switch {
	case slices.Contains(r.Executed, name):
		return "executed"
	case slices.Contains(r.Retrieved, name):
		return "retrieved"
	}
	return "absent"
}

// Run builds a driver of nodes on the directory (with opts after the
// directory and the clock), executes outputs, and closes it. Every code
// manifest is stored, whatever it takes to describe the code (by default a
// run does not wait for a parse of the module).
func (c *Dir) Run(nodes []*driver.NodeDef, outputs []string, inputs driver.Inputs, overrides driver.Overrides, opts ...driver.CacheOption) Result {
	c.T.Helper()
	opts = append([]driver.CacheOption{driver.CacheDir(c.Path), driver.CacheCoreOptions(core.WithClock(c.Clock), core.WithManifestWait(time.Minute))}, opts...)
	dr, err := driver.NewBuilder().WithNodes(nodes...).WithCache(opts...).Build()
	if err != nil {
		c.T.Fatalf("Build: %v", err)
	}
	defer dr.Close()
	ctx := context.Background()
	res, err := dr.Run(ctx, outputs, inputs, overrides)
	if err != nil {
		c.T.Fatalf("Execute: %v", err)
	}
	return NewResult(res.RunID, res.Values, dr.Cache().Events(slog.LevelDebug, res.RunID))
}

// NewResult returns the Result of run id from its values and its events
// (at DEBUG level), which tell the nodes it executed and retrieved.
func NewResult(id core.RunID, out driver.Results, events []core.Event) Result {
	r := Result{ID: id, Out: out, Events: events}
	for _, e := range events {
		name := core.RecordName(e.Node, e.Task)
		switch {
		case e.Type == core.EventExecuteNode:
			r.Executed = append(r.Executed, name)
		case e.Type == core.EventGetResult && e.Actor == core.ActorAdapter && e.Message == core.MessageHit:
			r.Retrieved = append(r.Retrieved, name)
		}
	}
	return r
}

// WantDid fails t unless node did what (see Result.Did) in r.
func WantDid(t *testing.T, r Result, node, what string) {
	t.Helper()
	if got := r.Did(node); got != what {
		t.Errorf("node %s: %s, want %s (executed %v, retrieved %v)", node, got, what, r.Executed, r.Retrieved)
	}
}

// Items is the expanding node of FanOut: the items 1..n.
func Items(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// Square is the node run once per item of FanOut.
func Square(x int) int { return x * x }

// Sum collects the squares of FanOut.
func Sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// FanOut returns a fan-out pipeline: node items expands Items of input
// (one task per item), node "square" squares each item (its tasks are
// square@items[0], square@items[1], …), and node total collects their Sum
// (14 for an input of 3).
func FanOut(input, items, total string) []*driver.NodeDef {
	return []*driver.NodeDef{
		driver.Node(items, Items, input, driver.Expand()),
		driver.Node("square", Square, items),
		driver.Node(total, Sum, "square", driver.Collect()),
	}
}
