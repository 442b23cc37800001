package inspect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flowcache/flowcache/core"
)

// ErrAmbiguous is wrapped by the error of a run reference that is the prefix
// of several run ids.
var ErrAmbiguous = errors.New("ambiguous")

// localMetadataFile is the file that makes a directory a local cache
// (backends/local.MetadataFile; a test holds them equal): package inspect
// depends on the store interfaces, not on a backend.
const localMetadataFile = "metadata.db"

// LogFileName is the name of the event log the driver writes in a cache
// directory with driver.LogToFile("").
const LogFileName = "events.jsonl"

// Cache looks into a pair of stores. It only reads: package maintain
// counts, verifies and evicts. A Cache is safe for concurrent use.
type Cache struct {
	meta    core.MetadataStore
	results core.ResultStore
	hasher  core.Hasher
	logFile string
	dir     string
	close   func() error
}

// Option configures a Cache.
type Option func(*Cache)

// WithLogFile names the JSONL event log (see driver.LogToFile) that Logs
// reads. Open sets it to events.jsonl in a local cache directory.
func WithLogFile(path string) Option { return func(c *Cache) { c.logFile = path } }

// New returns a Cache over a metadata store and a result store. It does not
// own them: Close does not close them. It calls them through
// core.CheckMetadata and core.CheckResults.
func New(meta core.MetadataStore, results core.ResultStore, opts ...Option) *Cache {
	c := &Cache{meta: core.CheckMetadata(meta), results: core.CheckResults(results), hasher: defaultHasher{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Open opens the stores a URL names, as the driver does, and returns a
// Cache that owns them: rawURL is a path or a store URL (see
// core.ParseStoreURL; the backends of its scheme must be imported), and ""
// names the cache the driver uses by default: $FLOWCACHE_URL, else
// ./.flowcache (see core.ResolveCacheURL). A path or file:// URL must name
// an existing cache directory: Open does not create one, and a directory
// without metadata.db is an error wrapping core.ErrNotFound. Errors show
// the URL redacted (see core.Redact), never its secrets.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Cache, error) {
	rawURL = core.ResolveCacheURL(rawURL, nil)
	su, err := core.ParseStoreURL(rawURL)
	if err != nil {
		return nil, err
	}
	dir := su.Dir()
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, localMetadataFile)); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("inspect: %w: no flowcache cache at %s (it has no %s)", core.ErrNotFound, core.Redact(dir), localMetadataFile)
			}
			return nil, fmt.Errorf("inspect: %w", core.RedactError(err, rawURL))
		}
	}
	st, err := su.Open(ctx)
	if err != nil {
		return nil, err
	}
	var pre []Option
	if dir != "" {
		pre = append(pre, WithLogFile(filepath.Join(dir, LogFileName)))
	}
	c := New(st.Metadata, st.Results, append(pre, opts...)...)
	c.dir, c.close = dir, st.Close
	return c, nil
}

// Close releases the stores when Open opened them.
func (c *Cache) Close() error {
	if c.close == nil {
		return nil
	}
	f := c.close
	c.close = nil
	return f()
}

// Metadata returns the metadata store.
func (c *Cache) Metadata() core.MetadataStore { return c.meta }

// Results returns the result store.
func (c *Cache) Results() core.ResultStore { return c.results }

// Dir returns the local cache directory, or "" when the Cache was not
// opened from one.
func (c *Cache) Dir() string { return c.dir }

// ResolveRun returns the id of the run ref names: a full run id, a prefix
// of exactly one run id, or "last" (also "") for the newest run. An unknown
// run is an error wrapping core.ErrNotFound, a prefix of several run ids one
// wrapping ErrAmbiguous that names them.
func (c *Cache) ResolveRun(ctx context.Context, ref string) (core.RunID, error) {
	runs, err := c.meta.Runs(ctx)
	if err != nil {
		return "", err
	}
	return resolveRun(runs, ref)
}

func resolveRun(runs []core.RunInfo, ref string) (core.RunID, error) {
	if len(runs) == 0 {
		return "", fmt.Errorf("%w: the cache has no runs", core.ErrNotFound)
	}
	if ref == "" || ref == "last" {
		return runs[len(runs)-1].ID, nil
	}
	var matches []core.RunID
	for _, r := range runs {
		if string(r.ID) == ref {
			return r.ID, nil
		}
		if strings.HasPrefix(string(r.ID), ref) {
			matches = append(matches, r.ID)
		}
	}
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("%w: no run %q in the cache (%d runs; `flowcache runs` lists them)", core.ErrNotFound, ref, len(runs))
	case 1:
		return matches[0], nil
	}
	shown := matches
	if len(shown) > 5 {
		shown = shown[:5]
	}
	ids := make([]string, len(shown))
	for i, m := range shown {
		ids[i] = string(m)
	}
	more := ""
	if len(matches) > len(shown) {
		more = fmt.Sprintf(" and %d more", len(matches)-len(shown))
	}
	return "", fmt.Errorf("%w: run prefix %q matches %d runs: %s%s", ErrAmbiguous, ref, len(matches), strings.Join(ids, ", "), more)
}

// RunSummary counts what the nodes of one run did.
type RunSummary struct {
	ID      core.RunID `json:"run_id"`
	Started time.Time  `json:"started"`
	// Nodes counts the node records (a node inside a fan-out once per task;
	// a node executed again after its result was found missing once).
	Nodes     int `json:"nodes"`
	Retrieved int `json:"retrieved"`
	Executed  int `json:"executed"`
	Failed    int `json:"failed"`
	Inputs    int `json:"inputs"`
	Overrides int `json:"overrides"`
	Skipped   int `json:"skipped"`
	// ExecTime is the time spent executing nodes, summed over nodes (more
	// than the run's wall time when nodes ran in parallel).
	ExecTime time.Duration `json:"exec_time_ns"`
	// Written is the number of result bytes the run stored.
	Written int64 `json:"written_bytes"`
	// Waits are the runs this one waited for (single-flight: a node's
	// lease held by another run), one per holder, in the order first
	// waited for; empty when it waited for none.
	Waits []RunWait `json:"waits,omitempty"`
}

// RunWait is the waits of one run for the leases of another.
type RunWait struct {
	// For is the holder: its run, host and process.
	For core.LeaseOwner `json:"for"`
	// Nodes counts the nodes (tasks) that waited for it.
	Nodes int `json:"nodes"`
	// Time is the time those nodes waited, summed over nodes.
	Time time.Duration `json:"time_ns"`
}

// Runs returns a summary of every run, oldest first.
func (c *Cache) Runs(ctx context.Context) ([]RunSummary, error) {
	runs, err := c.meta.Runs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]RunSummary, 0, len(runs))
	for _, r := range runs {
		recs, err := c.meta.Run(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, summarize(r, recs))
	}
	return out, nil
}

func summarize(r core.RunInfo, recs []core.NodeRecord) RunSummary {
	s := RunSummary{ID: r.ID, Started: r.Started}
	for _, n := range mergeRecords(recs) {
		s.Nodes++
		switch n.Outcome {
		case core.OutcomeRetrieved:
			s.Retrieved++
		case core.OutcomeExecuted:
			s.Executed++
		case core.OutcomeFailed:
			s.Failed++
		case core.OutcomeInput:
			s.Inputs++
		case core.OutcomeOverride:
			s.Overrides++
		case core.OutcomeSkipped:
			s.Skipped++
		}
		s.ExecTime += n.Duration
		if n.Written > 0 {
			s.Written += n.Written
		}
		if n.Wait.Waited() {
			i := slices.IndexFunc(s.Waits, func(w RunWait) bool { return w.For == n.Wait.For })
			if i < 0 {
				i = len(s.Waits)
				s.Waits = append(s.Waits, RunWait{For: n.Wait.For})
			}
			s.Waits[i].Nodes++
			s.Waits[i].Time += n.Wait.Duration
		}
	}
	return s
}

// runIndex finds a run in the list.
func runIndex(runs []core.RunInfo, id core.RunID) int {
	return slices.IndexFunc(runs, func(r core.RunInfo) bool { return r.ID == id })
}
