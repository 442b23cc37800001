package maintain

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/flowcache/flowcache/core"
)

// DefaultGrace is the grace period of eviction when Policy.Grace is zero:
// nothing stored or used within it is deleted (see the package doc).
const DefaultGrace = time.Hour

// NoGrace, as Policy.Grace, turns the grace period off: everything a
// policy selects is deleted, even what a run in progress is using. The
// values of runs stay right (a deleted result is a miss), but such a run
// executes again what it could have retrieved.
const NoGrace time.Duration = -1

// Policy says what Evict deletes. Its limits combine: an entry goes when any
// selects it. The zero value of a limit means no limit; the zero Policy
// deletes nothing.
type Policy struct {
	// MaxSize is the most bytes of results to keep: the least recently
	// used entries go first, and a result goes with the last entry that
	// points to it. Results no entry points to go before any entry.
	//
	// "Least recently used" is as exact as LastUsed, which a hit refreshes
	// at most once per core.LastUsedResolution (an hour) to spare the
	// store a write per hit: entries used within the same hour may be
	// ordered by the last refresh rather than the last use. Entries with
	// equal LastUsed go oldest first (by Created), then by key, so a plan
	// is the same however often it is computed.
	MaxSize int64
	// MaxEntries is the most entries of nodes to keep, least recently
	// used first, in the order MaxSize says (code manifests are not
	// counted: they follow the entries of their code version).
	MaxEntries int
	// OlderThan evicts the entries not used for this long (by LastUsed,
	// which the core refreshes at most once per core.LastUsedResolution).
	OlderThan time.Duration
	// GC deletes the results no entry points to and the entries whose
	// result is not stored; in a local cache directory, also what sits at
	// a result's path that is not a file (a directory) and the temporary
	// files of writers killed during a Put (not written for
	// core.StaleTempAge). It reads no result.
	GC bool
	// Damaged reads and checks every result as Verify does, and deletes
	// the damaged ones (ProblemCorrupt) with the entries that point to
	// them, whatever the grace period: a damaged result can only ever be a
	// miss. Each is checked again just before it is deleted, so a result
	// a run replaced meanwhile stays. Results in a format this program
	// does not know (ProblemUnverifiable) and results that could not be
	// read (ProblemUnreadable) are kept. It costs what Verify costs:
	// reading every result (from a bucket, downloading it).
	Damaged bool
	// Grace protects what was stored or used recently (DefaultGrace when
	// zero, nothing with NoGrace); see the package doc.
	Grace time.Duration
	// DryRun lists what would be deleted without deleting it.
	DryRun bool
}

// EvictReason says why an entry or a result is evicted.
type EvictReason string

// The reasons an entry or a result is evicted.
const (
	EvictOlderThan     EvictReason = "older_than"     // entry not used for Policy.OlderThan
	EvictMaxEntries    EvictReason = "max_entries"    // entry beyond Policy.MaxEntries, least recently used first
	EvictMaxSize       EvictReason = "max_size"       // entry evicted to bring the results under Policy.MaxSize
	EvictDangling      EvictReason = "dangling"       // entry whose result is not stored (GC)
	EvictUnreferenced  EvictReason = "unreferenced"   // result no entry points to (GC, or MaxSize)
	EvictLastReference EvictReason = "last_reference" // result whose last entry was evicted
	// EvictCodeUnused: the code manifest of a code version that no entry
	// of a node has any more (see core.CodeManifest): it goes with the
	// last of them, or with any policy when none is left.
	EvictCodeUnused EvictReason = "code_unused"
	// EvictDamaged: a result that failed its checks (Policy.Damaged), and
	// the entries that pointed to it.
	EvictDamaged EvictReason = "damaged"
)

// EvictedEntry is an entry Evict deleted (or would delete, in a dry run).
type EvictedEntry struct {
	Key         core.KeyID       `json:"key_id"`
	Node        string           `json:"node"`
	DataVersion core.DataVersion `json:"data_version"`
	Format      string           `json:"format"`
	Created     time.Time        `json:"created"`
	LastUsed    time.Time        `json:"last_used"`
	Reason      EvictReason      `json:"reason"`
	// CodeManifest says the entry maps a code version to its manifest
	// (node core.CodeManifestNode), rather than a node's inputs to a
	// result.
	CodeManifest bool `json:"code_manifest,omitempty"`
}

// EvictedResult is a result Evict deleted (or would delete).
type EvictedResult struct {
	Result  string      `json:"result"`
	Size    int64       `json:"size"`
	Created time.Time   `json:"created,omitzero"`
	Reason  EvictReason `json:"reason"`
}

// Totals counts entries, results and their bytes.
type Totals struct {
	Entries int   `json:"entries"`
	Results int   `json:"results"`
	Bytes   int64 `json:"bytes"`
}

// EvictReport is what Evict did, or would do in a dry run.
type EvictReport struct {
	DryRun bool `json:"dry_run"`
	// Grace is the grace period applied (0 for none).
	Grace   time.Duration   `json:"grace_ns"`
	Entries []EvictedEntry  `json:"entries"`
	Results []EvictedResult `json:"results"`
	// Debris is what GC removed (or would remove) from a local cache
	// directory that is neither an entry nor a result: non-files at
	// result paths and stale temporary files.
	Debris []core.Debris `json:"debris"`
	// FreedBytes is the size of the results deleted.
	FreedBytes int64 `json:"freed_bytes"`
	// Protected counts the entries and results a policy selected but the
	// grace period kept.
	ProtectedEntries int `json:"protected_entries"`
	ProtectedResults int `json:"protected_results"`
	// Kept counts the entries and results selected and kept after all
	// because a run stored or used them between the listing and the
	// deletion (not in a dry run).
	KeptEntries int `json:"kept_entries"`
	KeptResults int `json:"kept_results"`
	// Before and After are the cache's totals before and after (expected
	// after, in a dry run).
	Before  Totals        `json:"before"`
	After   Totals        `json:"after"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// removeChunk is how many entries one RemoveEntries call deletes: one
// transaction of the local store, short enough not to hold up a run's
// metadata write for long (10,000 deletions in one transaction took about
// 0.1 s here).
const removeChunk = 1000

// Evict deletes what p selects, never what the grace period protects, and
// reports it. See the package doc for the rule that makes it safe while
// other processes run pipelines on the cache. In a dry run it only lists.
func (c *Cache) Evict(ctx context.Context, p Policy) (EvictReport, error) {
	start := time.Now()
	rep := EvictReport{DryRun: p.DryRun, Entries: []EvictedEntry{}, Results: []EvictedResult{}, Debris: []core.Debris{}}
	if p.MaxSize < 0 || p.MaxEntries < 0 || p.OlderThan < 0 {
		return rep, fmt.Errorf("maintain: evict: %w: negative limit (max size %d, max entries %d, older than %v)", core.ErrInvalid, p.MaxSize, p.MaxEntries, p.OlderThan)
	}
	grace := p.Grace
	switch {
	case grace == 0:
		grace = DefaultGrace
	case grace < 0:
		grace = 0
	}
	rep.Grace = grace
	s, err := c.scan(ctx)
	if err != nil {
		return rep, err
	}
	plan := c.plan(s, p, grace)
	if p.Damaged {
		damaged, err := c.findDamaged(ctx, s)
		if err != nil {
			return rep, err
		}
		plan.addDamaged(s, damaged)
	}
	var debris []core.Debris
	if p.GC {
		if debris, err = c.findDebris(ctx); err != nil {
			return rep, err
		}
	}
	rep.ProtectedEntries, rep.ProtectedResults = plan.protectedEntries, plan.protectedResults
	rep.Before = Totals{Entries: len(s.entries), Results: len(s.results)}
	for _, r := range s.results {
		rep.Before.Bytes += r.Size
	}

	entries := make([]core.Entry, 0, len(plan.entries))
	for _, pe := range plan.entries {
		entries = append(entries, pe.entry)
	}
	results := plan.results
	if !p.DryRun {
		removed, err := c.removeEntries(ctx, entries)
		if err != nil {
			return rep, err
		}
		kept := entries[:0:0]
		for _, e := range entries {
			if !removed[e.ID()] {
				kept = append(kept, e)
			}
		}
		rep.KeptEntries = len(kept)
		// List the entries again: a run may have stored an entry pointing
		// to a result selected here since the first listing (its Put found
		// the result stored and did not write it again). A damaged result
		// is checked again instead: a run may have replaced it.
		if len(results) > 0 {
			live := map[core.ResultID]bool{}
			if err := c.walkEntries(ctx, func(e core.Entry) error { live[entryResult(e)] = true; return nil }); err != nil {
				return rep, err
			}
			n := len(results)
			var byResult map[core.ResultID][]core.Entry
			if p.Damaged {
				byResult = s.byResult()
			}
			results = slices.DeleteFunc(slices.Clone(results), func(r plannedResult) bool {
				if r.reason == EvictDamaged {
					return c.checkResult(ctx, r.info, byResult[r.info.ID]).kind != ProblemCorrupt
				}
				return live[r.info.ID]
			})
			rep.KeptResults = n - len(results)
		}
		if err := c.deleteResults(ctx, results); err != nil {
			return rep, err
		}
		plan.entries = slices.DeleteFunc(plan.entries, func(pe plannedEntry) bool { return !removed[pe.entry.ID()] })
		if len(debris) > 0 {
			f, _ := core.As[core.DebrisFinder](c.results) // debris was found by it
			if debris, err = f.RemoveDebris(ctx, debris, core.StaleTempAge); err != nil {
				return rep, err
			}
		}
	}
	rep.Debris = append(rep.Debris, debris...)
	for _, pe := range plan.entries {
		e := pe.entry
		rep.Entries = append(rep.Entries, EvictedEntry{Key: e.ID(), Node: e.Key.Node, DataVersion: e.DataVersion, Format: e.Format, Created: e.Created, LastUsed: e.LastUsed, Reason: pe.reason,
			CodeManifest: core.IsCodeManifestKey(e.Key)})
	}
	for _, r := range results {
		rep.Results = append(rep.Results, EvictedResult{Result: r.info.ID.String(), Size: r.info.Size, Created: r.info.Created, Reason: r.reason})
		rep.FreedBytes += r.info.Size
	}
	rep.After = Totals{Entries: rep.Before.Entries - len(rep.Entries), Results: rep.Before.Results - len(rep.Results), Bytes: rep.Before.Bytes - rep.FreedBytes}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

type plannedEntry struct {
	entry  core.Entry
	reason EvictReason
}

type plannedResult struct {
	info   core.ResultInfo
	reason EvictReason
}

type evictPlan struct {
	entries                            []plannedEntry
	results                            []plannedResult
	protectedEntries, protectedResults int
}

// plan selects what p evicts from a listing.
func (c *Cache) plan(s *snapshot, p Policy, grace time.Duration) evictPlan {
	now := c.now()
	// An entry is protected when it was stored within the grace period, or
	// may have been used within it: LastUsed lags the last use by up to
	// core.LastUsedResolution.
	protectedEntry := func(e core.Entry) bool {
		return grace > 0 && (now.Sub(e.Created) < grace || now.Sub(e.LastUsed) < grace+core.LastUsedResolution)
	}
	// A result is protected when it was stored within the grace period (a
	// run stores a result before the entry pointing to it) or when the
	// store cannot tell when.
	protectedResult := func(r core.ResultInfo) bool {
		return grace > 0 && (r.Created.IsZero() || now.Sub(r.Created) < grace)
	}

	var pl evictPlan
	refs := s.refs()
	gone := map[core.KeyID]bool{}
	goneRes := map[core.ResultID]bool{}
	// What the grace period kept, counted once however many policies
	// selected it.
	kept := map[core.KeyID]bool{}
	keptRes := map[core.ResultID]bool{}
	protect := func(id core.ResultID) {
		if !keptRes[id] {
			keptRes[id] = true
			pl.protectedResults++
		}
	}
	bytes := int64(0)
	for _, r := range s.results {
		bytes += r.Size
	}
	evictEntry := func(e core.Entry, id core.KeyID, reason EvictReason) {
		gone[id] = true
		pl.entries = append(pl.entries, plannedEntry{e, reason})
		rid := entryResult(e)
		r, stored := s.results[rid]
		if !stored {
			return
		}
		refs[rid]--
		if refs[rid] > 0 || goneRes[rid] {
			return
		}
		if protectedResult(r) {
			protect(rid)
			return
		}
		goneRes[rid] = true
		pl.results = append(pl.results, plannedResult{r, EvictLastReference})
		bytes -= r.Size
	}
	// Code manifests are not selected by the policies: one goes when no
	// entry of a node has its code version any more (why compares code
	// versions of runs whose entries exist; a manifest is small), so it is
	// not the first to go for never being used (LastUsed is its creation).
	users := map[core.CodeVersion]int{}
	manifests := map[core.CodeVersion]core.Entry{}
	var nodeEntries []core.Entry
	for _, e := range s.entries {
		if core.IsCodeManifestKey(e.Key) {
			manifests[e.Key.CodeVersion] = e
			continue
		}
		users[e.Key.CodeVersion]++
		nodeEntries = append(nodeEntries, e)
	}
	// protectEntry counts an entry the grace period keeps.
	protectEntry := func(id core.KeyID) {
		if !kept[id] {
			kept[id] = true
			pl.protectedEntries++
		}
	}
	// dropManifest evicts the manifest of v when no entry has v.
	dropManifest := func(v core.CodeVersion) {
		m, ok := manifests[v]
		if !ok || users[v] > 0 {
			return
		}
		id := m.ID()
		if gone[id] {
			return
		}
		if protectedEntry(m) {
			protectEntry(id)
			return
		}
		evictEntry(m, id, EvictCodeUnused)
	}
	// select offers an entry to a policy: it is evicted unless protected.
	selectEntry := func(e core.Entry, reason EvictReason) bool {
		id := e.ID()
		if gone[id] {
			return false
		}
		if protectedEntry(e) {
			protectEntry(id)
			return false
		}
		evictEntry(e, id, reason)
		if !core.IsCodeManifestKey(e.Key) {
			users[e.Key.CodeVersion]--
			dropManifest(e.Key.CodeVersion)
		}
		return true
	}

	// The least recently used first; ties by age, then key, so plans are
	// reproducible.
	lru := slices.Clone(nodeEntries)
	slices.SortFunc(lru, func(a, b core.Entry) int {
		return cmp.Or(a.LastUsed.Compare(b.LastUsed), a.Created.Compare(b.Created), cmp.Compare(a.ID(), b.ID()))
	})
	// Unreferenced results, oldest first.
	var orphans []core.ResultInfo
	for id, r := range s.results {
		if refs[id] == 0 {
			orphans = append(orphans, r)
		}
	}
	slices.SortFunc(orphans, func(a, b core.ResultInfo) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID.String(), b.ID.String()))
	})
	dropOrphan := func(r core.ResultInfo) {
		if goneRes[r.ID] {
			return
		}
		if protectedResult(r) {
			protect(r.ID)
			return
		}
		goneRes[r.ID] = true
		pl.results = append(pl.results, plannedResult{r, EvictUnreferenced})
		bytes -= r.Size
	}

	codeVersions := slices.Sorted(maps.Keys(manifests))
	if p.GC || p.OlderThan > 0 || p.MaxEntries > 0 || p.MaxSize > 0 {
		// Manifests of code versions no entry has (their entries deleted
		// otherwise) go with any policy.
		for _, v := range codeVersions {
			dropManifest(v)
		}
	}
	if p.GC {
		for _, e := range lru {
			if _, ok := s.results[entryResult(e)]; !ok {
				selectEntry(e, EvictDangling)
			}
		}
		for _, v := range codeVersions {
			if m := manifests[v]; !s.hasResult(m) {
				selectEntry(m, EvictDangling)
			}
		}
		for _, r := range orphans {
			dropOrphan(r)
		}
	}
	if p.OlderThan > 0 {
		for _, e := range lru {
			if now.Sub(e.LastUsed) >= p.OlderThan {
				selectEntry(e, EvictOlderThan)
			}
		}
	}
	if p.MaxEntries > 0 {
		left := len(nodeEntries)
		for _, e := range nodeEntries {
			if gone[e.ID()] {
				left--
			}
		}
		for _, e := range lru {
			if left <= p.MaxEntries {
				break
			}
			if selectEntry(e, EvictMaxEntries) {
				left--
			}
		}
	}
	if p.MaxSize > 0 && bytes > p.MaxSize {
		for _, r := range orphans {
			if bytes <= p.MaxSize {
				break
			}
			dropOrphan(r)
		}
		for _, e := range lru {
			if bytes <= p.MaxSize {
				break
			}
			selectEntry(e, EvictMaxSize)
		}
	}
	return pl
}

// findDamaged checks every listed result as Verify does and returns the
// damaged ones.
func (c *Cache) findDamaged(ctx context.Context, s *snapshot) (map[core.ResultID]bool, error) {
	infos := make([]core.ResultInfo, 0, len(s.results))
	for _, r := range s.results {
		infos = append(infos, r)
	}
	checked, err := c.checkResults(ctx, infos, s.byResult(), nil)
	if err != nil {
		return nil, err
	}
	damaged := map[core.ResultID]bool{}
	for _, ch := range checked {
		if ch.kind == ProblemCorrupt {
			damaged[ch.info.ID] = true
		}
	}
	return damaged, nil
}

// addDamaged adds the damaged results to the plan, and the entries that
// point to them.
func (pl *evictPlan) addDamaged(s *snapshot, damaged map[core.ResultID]bool) {
	if len(damaged) == 0 {
		return
	}
	planned := map[core.ResultID]bool{}
	for _, r := range pl.results {
		planned[r.info.ID] = true
	}
	gone := map[core.KeyID]bool{}
	for _, pe := range pl.entries {
		gone[pe.entry.ID()] = true
	}
	ids := slices.SortedFunc(maps.Keys(damaged), func(a, b core.ResultID) int { return cmp.Compare(a.String(), b.String()) })
	for _, id := range ids {
		if !planned[id] {
			pl.results = append(pl.results, plannedResult{s.results[id], EvictDamaged})
		}
	}
	for _, e := range s.entries {
		if damaged[entryResult(e)] && !gone[e.ID()] {
			gone[e.ID()] = true
			pl.entries = append(pl.entries, plannedEntry{e, EvictDamaged})
		}
	}
}

// removeEntries deletes entries that did not change since they were listed,
// and returns the ids deleted.
func (c *Cache) removeEntries(ctx context.Context, entries []core.Entry) (map[core.KeyID]bool, error) {
	removed := make(map[core.KeyID]bool, len(entries))
	if r, ok := core.As[core.EntryRemover](c.meta); ok {
		for chunk := range slices.Chunk(entries, removeChunk) {
			ids, err := r.RemoveEntries(ctx, chunk)
			if err != nil {
				return removed, err
			}
			for _, id := range ids {
				removed[id] = true
			}
		}
		return removed, nil
	}
	// Without RemoveEntries: read each entry again and delete it when it is
	// as listed. A run may store or use it between the two calls; that
	// costs the run an execution, never a wrong value.
	for _, e := range entries {
		id := e.ID()
		cur, err := c.meta.Get(ctx, id)
		if errors.Is(err, core.ErrNotFound) {
			continue
		}
		if err != nil {
			return removed, err
		}
		if cur.DataVersion != e.DataVersion || cur.Format != e.Format || cur.Created.After(e.Created) || cur.LastUsed.After(e.LastUsed) {
			continue
		}
		if err := c.meta.Delete(ctx, id); err != nil {
			return removed, err
		}
		removed[id] = true
	}
	return removed, nil
}

// deleteResults deletes results: in chunks when the store can
// (core.ResultRemover), otherwise several at once (remote stores take a
// round trip per deletion).
func (c *Cache) deleteResults(ctx context.Context, results []plannedResult) error {
	if r, ok := core.As[core.ResultRemover](c.results); ok {
		for chunk := range slices.Chunk(results, removeChunk) {
			ids := make([]core.ResultID, len(chunk))
			for i, p := range chunk {
				ids[i] = p.info.ID
			}
			if err := r.RemoveResults(ctx, ids); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan core.ResultID)
	)
	for range min(8, max(1, len(results))) {
		wg.Go(func() {
			for id := range next {
				if err := c.results.Delete(ctx, id); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, r := range results {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		next <- r.info.ID
	}
	close(next)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}
