package maintain

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"time"

	"github.com/flowcache/flowcache/core"
)

// ErrUnsupported is wrapped by the error of an operation a store cannot do:
// listing entries needs a core.EntryWalker, listing results a
// core.ResultWalker.
var ErrUnsupported = fmt.Errorf("%w: store cannot list its contents", core.ErrInvalid)

// snapshot is a listing of a cache: every entry, then every result. Entries
// are listed first: a run stores a result before the entry that points to
// it, so every entry listed here had its result stored before the results
// are listed, and a result missing from the listing was deleted.
type snapshot struct {
	entries []core.Entry
	results map[core.ResultID]core.ResultInfo
}

// resultWalker is the method blobstore.ResultStore and local.ResultStore had before
// core.ResultWalker; a store with it can be listed without creation times.
type resultWalker interface {
	Walk(ctx context.Context, fn func(id core.ResultID, size int64) error) error
}

func (c *Cache) walkEntries(ctx context.Context, fn func(core.Entry) error) error {
	w, ok := core.As[core.EntryWalker](c.meta)
	if !ok {
		return fmt.Errorf("maintain: %w: the metadata store %T does not list its entries (core.EntryWalker)", ErrUnsupported, unwrapped(c.meta))
	}
	return w.WalkEntries(ctx, fn)
}

func (c *Cache) walkResults(ctx context.Context, fn func(core.ResultInfo) error) error {
	if w, ok := core.As[core.ResultWalker](c.results); ok {
		return w.WalkResults(ctx, fn)
	}
	if w, ok := core.As[resultWalker](c.results); ok {
		return w.Walk(ctx, func(id core.ResultID, size int64) error { return fn(core.ResultInfo{ID: id, Size: size}) })
	}
	return fmt.Errorf("maintain: %w: the result store %T does not list its results (core.ResultWalker)", ErrUnsupported, unwrapped(c.results))
}

// unwrapped returns the store s wraps when s is a wrapper (New wraps the
// stores), for messages that name the store's type.
func unwrapped(s any) any {
	switch w := s.(type) {
	case core.MetadataWrapper:
		return w.Unwrap()
	case core.ResultWrapper:
		return w.Unwrap()
	}
	return s
}

func (c *Cache) scan(ctx context.Context) (*snapshot, error) {
	s := &snapshot{results: map[core.ResultID]core.ResultInfo{}}
	if err := c.walkEntries(ctx, func(e core.Entry) error { s.entries = append(s.entries, e); return nil }); err != nil {
		return nil, err
	}
	if err := c.walkResults(ctx, func(r core.ResultInfo) error { s.results[r.ID] = r; return nil }); err != nil {
		return nil, err
	}
	return s, nil
}

func entryResult(e core.Entry) core.ResultID {
	return core.ResultID{Version: e.DataVersion, Format: e.Format}
}

// hasResult reports whether e's result is listed.
func (s *snapshot) hasResult(e core.Entry) bool {
	_, ok := s.results[entryResult(e)]
	return ok
}

// refs counts the entries pointing to each result.
func (s *snapshot) refs() map[core.ResultID]int {
	m := make(map[core.ResultID]int, len(s.results))
	for _, e := range s.entries {
		m[entryResult(e)]++
	}
	return m
}

// Usage is what a cache holds.
type Usage struct {
	Runs int `json:"runs"`
	// Entries counts every entry, the code manifests' included.
	Entries int `json:"entries"`
	// Results and ResultBytes count the stored results and the bytes they
	// take (a file's header and trailer included). Many entries may share
	// one result.
	Results     int   `json:"results"`
	ResultBytes int64 `json:"result_bytes"`
	// SharedResults is the number of results more than one entry points to.
	SharedResults int `json:"shared_results"`
	// UnreferencedResults are stored results no entry points to (left by
	// eviction in progress, a run between writing a result and its entry,
	// or a deleted entry): `evict --gc` removes them.
	UnreferencedResults int   `json:"unreferenced_results"`
	UnreferencedBytes   int64 `json:"unreferenced_bytes"`
	// DanglingEntries point to a result that is not stored: a run that
	// looks one up misses and executes the node again. `evict --gc`
	// removes them.
	DanglingEntries int `json:"dangling_entries"`
	// OldestUse and NewestUse are the extreme LastUsed times of the
	// entries (zero without entries).
	OldestUse time.Time `json:"oldest_use,omitzero"`
	NewestUse time.Time `json:"newest_use,omitzero"`
	// DiskBytes is the size of every file in a local cache directory
	// (metadata.db and its WAL, result files, the event log), -1 for
	// other stores.
	DiskBytes int64 `json:"disk_bytes"`
	// CodeManifests counts the entries that map a code version to its
	// manifest (node core.CodeManifestNode, what `flowcache why` reads to
	// name what changed in a node's code), and CodeManifestBytes their
	// results (the manifests a run stored together share one); both are
	// included in the totals above.
	CodeManifests     int   `json:"code_manifests"`
	CodeManifestBytes int64 `json:"code_manifest_bytes"`
	// Nodes breaks the entries of nodes and their bytes down by node,
	// largest first (code manifests are not listed). A result shared by
	// entries of several nodes counts for each of them.
	Nodes []NodeUsage `json:"nodes"`
}

// NodeUsage is what the entries of one node hold.
type NodeUsage struct {
	Node    string `json:"node"`
	Entries int    `json:"entries"`
	Bytes   int64  `json:"bytes"`
}

// Usage lists the cache and counts what it holds.
func (c *Cache) Usage(ctx context.Context) (Usage, error) {
	runs, err := c.meta.Runs(ctx)
	if err != nil {
		return Usage{}, err
	}
	s, err := c.scan(ctx)
	if err != nil {
		return Usage{}, err
	}
	u := s.usage()
	u.Runs = len(runs)
	u.DiskBytes = -1
	if c.dir != "" {
		u.DiskBytes = dirSize(c.dir)
	}
	return u, nil
}

func (s *snapshot) usage() Usage {
	u := Usage{Entries: len(s.entries), Results: len(s.results), Nodes: []NodeUsage{}}
	refs := s.refs()
	byNode := map[string]*NodeUsage{}
	manifestResults := map[core.ResultID]bool{}
	for _, e := range s.entries {
		if u.OldestUse.IsZero() || e.LastUsed.Before(u.OldestUse) {
			u.OldestUse = e.LastUsed
		}
		if e.LastUsed.After(u.NewestUse) {
			u.NewestUse = e.LastUsed
		}
		if core.IsCodeManifestKey(e.Key) {
			u.CodeManifests++
			id := entryResult(e)
			if r, ok := s.results[id]; !ok {
				u.DanglingEntries++
			} else if !manifestResults[id] {
				// Manifests a run stored together share one result.
				manifestResults[id] = true
				u.CodeManifestBytes += r.Size
			}
			continue
		}
		n := byNode[e.Key.Node]
		if n == nil {
			n = &NodeUsage{Node: e.Key.Node}
			byNode[e.Key.Node] = n
		}
		n.Entries++
		r, ok := s.results[entryResult(e)]
		if !ok {
			u.DanglingEntries++
			continue
		}
		n.Bytes += r.Size
	}
	for id, r := range s.results {
		u.ResultBytes += r.Size
		switch refs[id] {
		case 0:
			u.UnreferencedResults++
			u.UnreferencedBytes += r.Size
		case 1:
		default:
			u.SharedResults++
		}
	}
	for _, n := range byNode {
		u.Nodes = append(u.Nodes, *n)
	}
	slices.SortFunc(u.Nodes, func(a, b NodeUsage) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(b.Entries, a.Entries), cmp.Compare(a.Node, b.Node))
	})
	return u
}

// dirSize sums the sizes of the regular files under dir (errors are
// skipped: files come and go while runs write).
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			n += fi.Size()
		}
		return nil
	})
	return n
}
