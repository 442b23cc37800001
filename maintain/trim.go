package maintain

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/flowcache/flowcache/core"

	"github.com/flowcache/flowcache/internal/atomicfile"
)

// TrimFile is the marker Trim keeps in a local cache directory: the time of
// the last trim, in Unix seconds, as Go's build cache keeps trim.txt.
const TrimFile = "trim.txt"

// DefaultTrimInterval is how often Trim evicts when given no interval: once
// a day, as Go's build cache trims itself (cmd/go/internal/cache: entries
// are used again within days or not at all, so a daily pass keeps the cache
// near its limits for the cost of one stat on every other call).
const DefaultTrimInterval = 24 * time.Hour

// WithTrimMarker names the file Trim records its last run in, for a cache
// without a local directory (a bucket): a file of the machine that trims,
// so each machine that calls Trim evicts at most once per interval. By
// default it is TrimFile in the cache directory (see WithDir).
func WithTrimMarker(path string) Option { return func(c *Cache) { c.trimMarker = path } }

// TrimReport says what Trim did.
type TrimReport struct {
	// Evicted says Trim evicted; false when the marker showed a trim
	// within the interval (then Evict is empty).
	Evicted bool `json:"evicted"`
	// Last is the time of the previous trim the marker recorded (zero if
	// none).
	Last  time.Time   `json:"last"`
	Evict EvictReport `json:"evict"`
}

// Trim evicts what p selects (see Evict), at most once per interval
// (DefaultTrimInterval when zero), so that a program can call it each time
// it starts, or after each run, and keep its cache within limits without a
// scheduled `flowcache evict`: a marker file records the time of the last
// trim (TrimFile in the cache directory, or WithTrimMarker), and a call
// within the interval after it costs reading that file. The time is that of
// the Cache's clock (WithClock); a marker in the future by more than the
// interval (a clock set back) is ignored. The marker is written after the
// eviction succeeds, and not in a dry run. Two processes that trim at once
// may both evict, which is safe (see the package doc).
//
// A cache opened without a directory and without WithTrimMarker cannot be
// trimmed: the error wraps ErrUnsupported.
func (c *Cache) Trim(ctx context.Context, p Policy, interval time.Duration) (TrimReport, error) {
	if interval == 0 {
		interval = DefaultTrimInterval
	}
	if interval < 0 {
		return TrimReport{}, fmt.Errorf("maintain: trim: %w: negative interval %v", core.ErrInvalid, interval)
	}
	marker := c.trimMarker
	if marker == "" && c.dir != "" {
		marker = filepath.Join(c.dir, TrimFile)
	}
	if marker == "" {
		return TrimReport{}, fmt.Errorf("maintain: trim: %w: no file to record trims in (a local cache directory, or WithTrimMarker)", ErrUnsupported)
	}
	now := c.now()
	var rep TrimReport
	last, err := readTrimMarker(marker)
	if err != nil {
		return rep, err
	}
	rep.Last = last
	if !last.IsZero() && now.Sub(last) < interval && last.Sub(now) < interval {
		return rep, nil
	}
	rep.Evict, err = c.Evict(ctx, p)
	if err != nil {
		return rep, err
	}
	rep.Evicted = true
	if p.DryRun {
		return rep, nil
	}
	return rep, writeTrimMarker(marker, now)
}

// readTrimMarker returns the time the marker holds: zero when there is no
// marker or it does not hold a time (a damaged marker means trim again).
func readTrimMarker(path string) (time.Time, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("maintain: trim: %w", err)
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, nil
	}
	return time.Unix(sec, 0), nil
}

// writeTrimMarker records t in the marker, whole or not at all (a
// temporary file renamed into place).
func writeTrimMarker(path string, t time.Time) error {
	if err := atomicfile.Write(path, []byte(strconv.FormatInt(t.Unix(), 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("maintain: trim: recording the trim in %s: %w", path, err)
	}
	return nil
}
