package maintain

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/internal/corrupt"
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
	// ProblemUnverifiable: the result's checksum is right, but its format
	// is not registered in this program (see WithFormats), so its
	// structure could not be checked: a program that registers the format
	// may still fail to decode it (a miss, never a crash, by the format's
	// own bounds).
	ProblemUnverifiable ProblemKind = "unverifiable"
	// ProblemNotAFile: something other than a regular file (a directory, a
	// symbolic link) sits at the path of a result's file, in a local cache
	// directory. A run that needs the result deletes it and stores the
	// result again; `evict --gc` removes it.
	ProblemNotAFile ProblemKind = "not_a_file"
	// ProblemStaleTemp: a temporary file left by a writer killed during a
	// Put, older than core.StaleTempAge, that the local store could not
	// remove when it opened (a read-only directory). `evict --gc` removes
	// it.
	ProblemStaleTemp ProblemKind = "stale_temp"
)

// Problem is one thing Verify found wrong.
type Problem struct {
	Kind ProblemKind `json:"kind"`
	// Result is the result concerned (version.format), "" for run history.
	Result string `json:"result,omitempty"`
	// Format is the result's format.
	Format string `json:"format,omitempty"`
	// Path is the path under a local cache's results directory of a
	// non-file or a temporary file.
	Path string `json:"path,omitempty"`
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
	// Results and Bytes count the results read whole and found sound, and
	// the bytes listed for them.
	Results int   `json:"results"`
	Bytes   int64 `json:"bytes"`
	// Validated counts the results among them whose format checked their
	// structure (core.FormatValidator) besides their checksum, or that are
	// code manifests, checked against the hash that names them. The others
	// are in formats that cannot check without the Go type.
	Validated int           `json:"validated"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	Problems  []Problem     `json:"problems"`
}

// OK reports whether Verify found nothing wrong.
func (r VerifyReport) OK() bool { return len(r.Problems) == 0 }

// Verify reads every stored result whole and checks it as a run would
// before decoding it — its checksum, its id, and (when its format
// implements core.FormatValidator) its structure: that every length and
// count in it fits in its bytes, so no decoder can be made to allocate
// beyond them. It reports the damaged and hostile ones (ProblemCorrupt,
// with the format and the reason, and the nodes whose entries point to
// them), the results whose format this program does not know
// (ProblemUnverifiable), the entries that point to a result that is not
// stored (ProblemMissingResult), the runs whose history cannot be decoded,
// and, in a local cache directory, non-files at result paths
// (ProblemNotAFile) and stale temporary files (ProblemStaleTemp). Code
// manifests are checked against the hash that names them.
//
// It only reads. A damaged result is a miss for a run: the run that needs
// it executes the node again and replaces it; Evict removes damaged
// results (Policy.Damaged), dangling entries, non-files and stale
// temporary files (Policy.GC) at once.
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
	byResult := s.byResult()

	debris, err := c.findDebris(ctx)
	if err != nil {
		return rep, err
	}
	notFiles := map[core.ResultID]bool{}
	for _, d := range debris {
		kind := ProblemStaleTemp
		msg := fmt.Sprintf("temporary file of %s left by a writer that was killed, %s old", d.Result, time.Since(d.ModTime).Round(time.Minute))
		if d.Kind == core.DebrisNotAFile {
			kind = ProblemNotAFile
			notFiles[d.Result] = true
			msg = fmt.Sprintf("a %s sits at the path of the result's file", d.What)
		}
		p := problemFor(kind, d.Result, byResult[d.Result], msg)
		p.Path = d.Path
		if kind == ProblemStaleTemp {
			p.Nodes, p.Keys = nil, nil
		}
		rep.Problems = append(rep.Problems, p)
	}

	// Dangling entries: listed before the results, so their result was
	// stored before the listing; check again in case it was stored anew.
	var missing []core.ResultID
	for id := range byResult {
		if _, ok := s.results[id]; !ok && !notFiles[id] {
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
	for id, r := range s.results {
		if !notFiles[id] {
			infos = append(infos, r)
		}
	}
	checked, err := c.checkResults(ctx, infos, byResult, progress)
	for _, ch := range checked {
		switch {
		case ch.kind == "":
			rep.Results++
			rep.Bytes += ch.info.Size
			if ch.validated {
				rep.Validated++
			}
		default:
			rep.Problems = append(rep.Problems, ch.problem(byResult))
		}
	}
	rep.Elapsed = time.Since(start)
	slices.SortStableFunc(rep.Problems, func(a, b Problem) int {
		if a.Kind != b.Kind {
			return cmp.Compare(string(a.Kind), string(b.Kind))
		}
		return cmp.Compare(a.Result+string(a.Run)+a.Path, b.Result+string(b.Run)+b.Path)
	})
	if rep.Problems == nil {
		rep.Problems = []Problem{}
	}
	return rep, err
}

// byResult groups the listed entries by the result they point to.
func (s *snapshot) byResult() map[core.ResultID][]core.Entry {
	m := map[core.ResultID][]core.Entry{}
	for _, e := range s.entries {
		id := entryResult(e)
		m[id] = append(m[id], e)
	}
	return m
}

// findDebris lists the debris of a result store that keeps files, a
// core.DebrisFinder (none for other stores).
func (c *Cache) findDebris(ctx context.Context) ([]core.Debris, error) {
	f, ok := core.As[core.DebrisFinder](c.results)
	if !ok {
		return nil, nil
	}
	return f.FindDebris(ctx, core.StaleTempAge)
}

// checked is what checking one result found.
type checked struct {
	info      core.ResultInfo
	kind      ProblemKind // "" when sound
	err       error
	validated bool
}

func (ch checked) problem(byResult map[core.ResultID][]core.Entry) Problem {
	p := problemFor(ch.kind, ch.info.ID, byResult[ch.info.ID], ch.err.Error())
	p.Format = ch.info.ID.Format
	return p
}

// checkResults checks results, WithParallelism at a time, and returns what
// it found for each, except those deleted meanwhile. It stops early only
// when ctx is done, returning what it checked and ctx's error.
func (c *Cache) checkResults(ctx context.Context, infos []core.ResultInfo, byResult map[core.ResultID][]core.Entry, progress func(VerifyProgress)) ([]checked, error) {
	var total int64
	for _, r := range infos {
		total += r.Size
	}
	// Read big results first, so the workers finish together.
	infos = slices.Clone(infos)
	sort.Slice(infos, func(i, j int) bool { return infos[i].Size > infos[j].Size })
	var (
		mu   sync.Mutex
		out  []checked
		prog = VerifyProgress{Total: len(infos), TotalBytes: total}
		wg   sync.WaitGroup
		next = make(chan core.ResultInfo)
	)
	var firstErr error
	for range c.parallelism {
		wg.Go(func() {
			for r := range next {
				ch := c.checkResult(ctx, r, byResult[r.ID])
				mu.Lock()
				switch {
				case ch.kind == ProblemMissingResult: // deleted meanwhile
				case ch.kind != "" && ctx.Err() != nil:
					if firstErr == nil {
						firstErr = ctx.Err()
					}
				default:
					out = append(out, ch)
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
	return out, firstErr
}

// checkResult reads a result whole, verified before anything looks at its
// bytes, and has its format validate them (or, for a code manifest, checks
// it against its hash).
func (c *Cache) checkResult(ctx context.Context, info core.ResultInfo, entries []core.Entry) checked {
	ch := checked{info: info}
	fail := func(kind ProblemKind, err error) checked {
		ch.kind, ch.err = kind, err
		return ch
	}
	id := info.ID
	rc, err := core.GetVerified(ctx, c.results, id)
	if err != nil {
		return fail(classify(err), err)
	}
	defer rc.Close()
	src := &corrupt.Reader{R: rc}
	manifest, node := core.CodeVersion(""), false
	for _, e := range entries {
		if core.IsCodeManifestKey(e.Key) {
			manifest = e.Key.CodeVersion
		} else {
			node = true
		}
	}
	// A bundle of code manifests no entry points to (a run stopped between
	// storing it and writing its entries) is JSON without the newline the
	// JSON format ends with: it is told from a damaged JSON result by the
	// hash that names it.
	var bundle hash.Hash
	var r io.Reader = src
	if len(entries) == 0 && id.Format == core.CodeManifestFormat {
		bundle = core.NewCodeManifestHash()
		r = io.TeeReader(src, bundle)
	}
	var verr error
	if node || manifest == "" {
		f, lerr := c.formats(id.Format)
		switch v, ok := core.As[core.FormatValidator](f); {
		case lerr != nil:
			if err := drainAll(src); err != nil {
				return fail(classify(err), err)
			}
			return fail(ProblemUnverifiable, fmt.Errorf("checksum verified, but format %q is not registered in this program: its structure was not checked", id.Format))
		case ok:
			verr = validate(v, r)
			ch.validated = true
		}
	}
	if err := drainAll(r); err != nil {
		return fail(classify(err), err)
	}
	if src.Err != nil { // Validate failed because reading failed
		return fail(classify(src.Err), src.Err)
	}
	if verr != nil && bundle != nil && hex.EncodeToString(bundle.Sum(nil)) == string(id.Version) {
		verr = nil // a bundle of code manifests, whole
	}
	if verr != nil {
		return fail(ProblemCorrupt, fmt.Errorf("format %s: %w", id.Format, verr))
	}
	if manifest != "" {
		if _, err := core.ReadCodeManifest(ctx, c.meta, c.results, manifest); err != nil {
			return fail(classify(err), err) // not found: deleted meanwhile
		}
		ch.validated = true
	}
	return ch
}

// validate runs a format's Validate, turning a panic into an error.
func validate(v core.FormatValidator, r io.Reader) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: Validate panicked: %v", core.ErrCorrupt, p)
		}
	}()
	return v.Validate(r)
}

// drainAll reads r to its end (where a result read twice is checked again).
func drainAll(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

func classify(err error) ProblemKind {
	switch {
	case errors.Is(err, core.ErrCorrupt):
		return ProblemCorrupt
	case errors.Is(err, core.ErrNotFound):
		return ProblemMissingResult
	}
	return ProblemUnreadable
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
