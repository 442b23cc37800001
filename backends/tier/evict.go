package tier

import (
	"context"
	"os"
	"slices"

	"github.com/flowcache/flowcache/core"
)

// added counts n bytes written to the directory and evicts when the
// directory may be over its maximum.
func (s *Store) added(ctx context.Context, n int64) {
	s.mu.Lock()
	if s.used >= 0 {
		s.used += n
	}
	s.sinceWalk += n
	// Other processes' writes are seen by listing the directory: list it
	// again once this Store wrote a tenth of the maximum, or a minute
	// after the last listing, so that several processes writing at once
	// overshoot by a tenth of the maximum each at most (for a minute).
	need := s.used < 0 || s.used > s.max || s.sinceWalk >= s.max/10 || s.now().Sub(s.lastWalk) >= RewalkInterval
	s.mu.Unlock()
	if need {
		if _, err := s.Evict(ctx); err != nil && ctx.Err() == nil {
			s.fault("evicting", err)
		}
	}
}

// EvictReport is what one Evict did.
type EvictReport struct {
	// Results and Bytes are what the directory held before.
	Results int
	Bytes   int64
	// Removed and RemovedBytes are what was evicted.
	Removed      []core.ResultID
	RemovedBytes int64
}

// Evict lists the directory and, when its results take more than the
// maximum, removes the least recently used ones (the oldest modification
// times: see TouchInterval) until they take at most 90% of it. Puts and
// reads call it when needed; a program may call it at any time. Concurrent
// calls of one Store run one after the other.
func (s *Store) Evict(ctx context.Context) (EvictReport, error) {
	var rep EvictReport
	if s.local == nil {
		return rep, s.localErr
	}
	s.evicting.Lock()
	defer s.evicting.Unlock()
	lr := s.local.Results()
	var all []core.ResultInfo
	err := lr.WalkResults(ctx, func(ri core.ResultInfo) error {
		all = append(all, ri)
		rep.Bytes += ri.Size
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.Results = len(all)
	used := rep.Bytes
	if used > s.max {
		// Least recently used first; ties by id, so that processes sharing
		// the directory agree on the order.
		slices.SortFunc(all, func(a, b core.ResultInfo) int {
			if c := a.Created.Compare(b.Created); c != 0 {
				return c
			}
			return compareIDs(a.ID, b.ID)
		})
		target := int64(float64(s.max) * lowWater)
		for _, ri := range all {
			if used <= target {
				break
			}
			rep.Removed = append(rep.Removed, ri.ID)
			rep.RemovedBytes += ri.Size
			used -= ri.Size
		}
		if err := lr.RemoveResults(ctx, rep.Removed); err != nil {
			return rep, err
		}
	}
	s.mu.Lock()
	s.used = used
	s.sinceWalk = 0
	s.lastWalk = s.now()
	s.mu.Unlock()
	return rep, nil
}

func compareIDs(a, b core.ResultID) int {
	if a.Version != b.Version {
		if a.Version < b.Version {
			return -1
		}
		return 1
	}
	switch {
	case a.Format < b.Format:
		return -1
	case a.Format > b.Format:
		return 1
	}
	return 0
}

// stamp sets the last-use time of a result just written to the Store's
// clock, when a clock was given (WithClock); the file system's own time
// is the right one otherwise.
func (s *Store) stamp(id core.ResultID) {
	if !s.clockSet {
		return
	}
	now := s.now()
	_ = os.Chtimes(s.path(id), now, now)
}
