package inspect

import (
	"cmp"
	"context"
	"errors"
	"io"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/flowcache/flowcache/core"
)

// ProblemKind names what Verify found wrong.
type ProblemKind string

// The problems Verify reports.
const (
	// ProblemCorrupt: a stored result failed verification when read to its
	// end (bad header, length or checksum): a run that needs it misses and
	// executes the node again.
	ProblemCorrupt ProblemKind = "corrupt"
	// ProblemUnreadable: reading a result failed for another reason (an
	// I/O or network error).
	ProblemUnreadable ProblemKind = "unreadable"
	// ProblemMissingResult: entries point to a result that is not stored
	// (a dangling entry).
	ProblemMissingResult ProblemKind = "missing_result"
	// ProblemRunHistory: the history of a run cannot be read.
	ProblemRunHistory ProblemKind = "run_history"
)

// Problem is one thing Verify found wrong.
type Problem struct {
	Kind ProblemKind `json:"kind"`
	// Result is the result concerned (version.format), "" for run history.
	Result string `json:"result,omitempty"`
	// Run is the run whose history is unreadable.
	Run core.RunID `json:"run_id,omitempty"`
	// Nodes are the nodes whose entries point to the result ("@code (code
	// manifests)" for the entries of code manifests).
	Nodes []string `json:"nodes,omitempty"`
	// Keys are the ids of those entries.
	Keys []core.KeyID `json:"keys,omitempty"`
	Err  string       `json:"error,omitempty"`
}

// VerifyProgress is reported while Verify reads results.
type VerifyProgress struct {
	Done, Total           int
	DoneBytes, TotalBytes int64
}

// VerifyReport is what Verify checked and found.
type VerifyReport struct {
	Runs    int `json:"runs"`
	Entries int `json:"entries"`
	// Results and Bytes count the results read to their end and the bytes
	// listed for them.
	Results  int           `json:"results"`
	Bytes    int64         `json:"bytes"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	Problems []Problem     `json:"problems"`
}

// OK reports whether Verify found nothing wrong.
func (r VerifyReport) OK() bool { return len(r.Problems) == 0 }

// Verify reads every stored result to its end, so that the store checks
// its checksum, and reports the damaged ones (ProblemCorrupt, with the nodes
// whose entries point to them), the entries that point to a result that is
// not stored (ProblemMissingResult), and the runs whose history cannot be
// decoded. It only reads: a damaged result is deleted by the next run that
// needs it (and executed again), a dangling entry by `evict --gc`.
//
// progress, if not nil, is called after each result (from one goroutine at
// a time). Results are read WithParallelism at a time. A result deleted
// while Verify runs (by eviction, or a run replacing a damaged one) is
// skipped, not reported.
func (c *Cache) Verify(ctx context.Context, progress func(VerifyProgress)) (VerifyReport, error) {
	start := time.Now()
	var rep VerifyReport
	runs, err := c.meta.Runs(ctx)
	if err != nil {
		return rep, err
	}
	rep.Runs = len(runs)
	for _, r := range runs {
		if _, err := c.meta.Run(ctx, r.ID); err != nil && !errors.Is(err, core.ErrNotFound) {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			rep.Problems = append(rep.Problems, Problem{Kind: ProblemRunHistory, Run: r.ID, Err: err.Error()})
		}
	}
	s, err := c.scan(ctx)
	if err != nil {
		return rep, err
	}
	rep.Entries = len(s.entries)
	byResult := map[core.ResultID][]core.Entry{}
	for _, e := range s.entries {
		id := entryResult(e)
		byResult[id] = append(byResult[id], e)
	}

	// Dangling entries: listed before the results, so their result was
	// stored before the listing; check again in case it was stored anew.
	var missing []core.ResultID
	for id := range byResult {
		if _, ok := s.results[id]; !ok {
			missing = append(missing, id)
		}
	}
	sortIDs(missing)
	for _, id := range missing {
		ok, err := c.results.Exists(ctx, id)
		if err != nil {
			return rep, err
		}
		if !ok {
			rep.Problems = append(rep.Problems, problemFor(ProblemMissingResult, id, byResult[id], "no result stored under "+id.String()))
		}
	}

	infos := make([]core.ResultInfo, 0, len(s.results))
	var total int64
	for _, r := range s.results {
		infos = append(infos, r)
		total += r.Size
	}
	// Read big results first, so the workers finish together.
	sort.Slice(infos, func(i, j int) bool { return infos[i].Size > infos[j].Size })
	var (
		mu   sync.Mutex
		prog = VerifyProgress{Total: len(infos), TotalBytes: total}
		wg   sync.WaitGroup
		next = make(chan core.ResultInfo)
	)
	var firstErr error
	for range c.parallelism {
		wg.Go(func() {
			for r := range next {
				kind, rerr := c.readResult(ctx, r.ID)
				mu.Lock()
				switch {
				case kind == "" || errors.Is(rerr, core.ErrNotFound):
					if kind == "" {
						rep.Results++
						rep.Bytes += r.Size
					}
				case ctx.Err() != nil:
					if firstErr == nil {
						firstErr = ctx.Err()
					}
				default:
					rep.Problems = append(rep.Problems, problemFor(kind, r.ID, byResult[r.ID], rerr.Error()))
				}
				prog.Done++
				prog.DoneBytes += r.Size
				if progress != nil {
					progress(prog)
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, r := range infos {
		select {
		case next <- r:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	rep.Elapsed = time.Since(start)
	slices.SortStableFunc(rep.Problems, func(a, b Problem) int {
		if a.Kind != b.Kind {
			return cmp.Compare(string(a.Kind), string(b.Kind))
		}
		return cmp.Compare(a.Result+string(a.Run), b.Result+string(b.Run))
	})
	if rep.Problems == nil {
		rep.Problems = []Problem{}
	}
	return rep, firstErr
}

// readResult reads a result to its end. It returns "" when the result is
// whole, and otherwise the kind of problem and the error.
func (c *Cache) readResult(ctx context.Context, id core.ResultID) (ProblemKind, error) {
	rc, err := c.results.Get(ctx, id)
	if err == nil {
		_, err = io.Copy(io.Discard, rc)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
	}
	switch {
	case err == nil:
		return "", nil
	case errors.Is(err, core.ErrCorrupt):
		return ProblemCorrupt, err
	case errors.Is(err, core.ErrNotFound):
		return ProblemMissingResult, err
	}
	return ProblemUnreadable, err
}

func problemFor(kind ProblemKind, id core.ResultID, entries []core.Entry, msg string) Problem {
	p := Problem{Kind: kind, Result: id.String(), Err: msg}
	seen := map[string]bool{}
	for _, e := range entries {
		p.Keys = append(p.Keys, e.ID())
		node := e.Key.Node
		if core.IsCodeManifestKey(e.Key) {
			node += " (code manifests)"
		}
		if !seen[node] {
			seen[node] = true
			p.Nodes = append(p.Nodes, node)
		}
	}
	slices.Sort(p.Nodes)
	slices.Sort(p.Keys)
	return p
}

func sortIDs(ids []core.ResultID) {
	slices.SortFunc(ids, func(a, b core.ResultID) int { return cmp.Compare(a.String(), b.String()) })
}
