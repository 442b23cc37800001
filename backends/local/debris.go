package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/flowcache/flowcache/core"
)

// StaleTempAge is how long a temporary file under the results directory
// must have gone unwritten before it is taken for the leftover of a writer
// that was killed, and removed: when a store opens (in the background) and
// by `flowcache evict --gc`. It is core.StaleTempAge, the age maintenance
// passes to FindDebris and RemoveDebris.
//
// A writer writes its temporary file (<result file>.<hex time>.tmp, next
// to the result file; fileblob's naming) from the first byte of the
// encoding to the rename into place without waiting for anything but the
// encoder, which encodes a value already in memory: its file's
// modification time is never more than a moment old. An hour leaves room
// for a machine under heavy load; a writer stopped for longer than that (a
// suspended process) finds its file gone and its Put fails, which costs
// the run that result's caching, never a wrong value.
const StaleTempAge = core.StaleTempAge

// ResultStore finds and removes debris (see core.DebrisFinder).
var _ core.DebrisFinder = (*ResultStore)(nil)

// FindDebris lists what sits under the results directory that is not a
// result, and that nothing would ever use or remove otherwise: non-files
// at result paths (core.DebrisNotAFile) and temporary files not written for
// staleAfter (core.DebrisStaleTemp). It first waits for the sweep that Open
// started, so a temporary file that sweep removes is not listed. It only
// reads; RemoveDebris removes.
func (r *ResultStore) FindDebris(ctx context.Context, staleAfter time.Duration) ([]core.Debris, error) {
	if r.closed.Load() || r.meta.closed.Load() {
		return nil, fmt.Errorf("local: find debris: %w", core.ErrClosed)
	}
	select {
	case <-r.sweepDone:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var out []core.Debris
	err := r.scanDebris(ctx, staleAfter, true, func(d core.Debris) error {
		out = append(out, d)
		return nil
	})
	return out, err
}

// RemoveDebris removes what FindDebris listed, each only if it is still
// debris (a temporary file not written for staleAfter, something other
// than a regular file at a result's path), and returns what it removed.
// A directory at a result's path goes with everything in it (symbolic
// links inside are removed, never followed); nothing is removed when the
// shard directory holding it is not a directory of the cache itself.
func (r *ResultStore) RemoveDebris(ctx context.Context, debris []core.Debris, staleAfter time.Duration) ([]core.Debris, error) {
	if r.closed.Load() || r.meta.closed.Load() {
		return nil, fmt.Errorf("local: remove debris: %w", core.ErrClosed)
	}
	if ro := r.meta.readOnly; ro != nil {
		return nil, fmt.Errorf("local: remove debris: %w", ro)
	}
	if r.dir == "" {
		return nil, nil
	}
	var done []core.Debris
	for _, d := range debris {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		clean := filepath.Clean(filepath.FromSlash(d.Path))
		if !filepath.IsLocal(clean) || strings.Count(filepath.ToSlash(clean), "/") != 1 {
			return done, fmt.Errorf("local: remove debris: %w: %q is not a path of a shard directory's entry", core.ErrInvalid, d.Path)
		}
		path := filepath.Join(r.dir, clean)
		var err error
		switch d.Kind {
		case core.DebrisNotAFile:
			id, ok := r.files.ParseKey(filepath.ToSlash(clean))
			if !ok || id != d.Result {
				return done, fmt.Errorf("local: remove debris: %w: %q is not the path of result %s", core.ErrInvalid, d.Path, d.Result)
			}
			if st, _, _ := r.fileAt(id); st != fileOther {
				continue
			}
			err = r.removeNotAFile(path)
		case core.DebrisStaleTemp:
			if _, ok := r.tempOf(filepath.ToSlash(clean)); !ok {
				return done, fmt.Errorf("local: remove debris: %w: %q is not the name of a temporary file", core.ErrInvalid, d.Path)
			}
			var removed bool
			removed, err = removeStale(path, time.Now().Add(-staleAfter))
			if !removed {
				continue
			}
		default:
			return done, fmt.Errorf("local: remove debris: %w: unknown kind %q", core.ErrInvalid, d.Kind)
		}
		if err != nil {
			return done, err
		}
		done = append(done, d)
	}
	return done, nil
}

// removeStale removes the temporary file at path if it is a regular file
// last written before cutoff.
func removeStale(path string, cutoff time.Time) (bool, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("local: removing a temporary file: %w", err)
	}
	if !fi.Mode().IsRegular() || !fi.ModTime().Before(cutoff) {
		return false, nil
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("local: removing a temporary file: %w", err)
	}
	return true, nil
}

// tempOf returns the result whose write a temporary file of that key
// ("<shard>/<result name>.<hex>.tmp", fileblob's naming) belongs to.
func (r *ResultStore) tempOf(key string) (core.ResultID, bool) {
	rest, ok := strings.CutSuffix(key, ".tmp")
	if !ok {
		return core.ResultID{}, false
	}
	dot := strings.LastIndexByte(rest, '.')
	if dot < 0 {
		return core.ResultID{}, false
	}
	hex := rest[dot+1:]
	if len(hex) == 0 || len(hex) > 16 {
		return core.ResultID{}, false
	}
	if _, err := strconv.ParseUint(hex, 16, 64); err != nil {
		return core.ResultID{}, false
	}
	return r.files.ParseKey(rest[:dot])
}

// scanDebris calls fn for the debris under the results directory: stale
// temporary files, and (when notFiles) non-files at result paths. It reads
// the names of every shard directory, and looks further only at names that
// are a temporary file's or, for a non-regular entry, a result's.
func (r *ResultStore) scanDebris(ctx context.Context, staleAfter time.Duration, notFiles bool, fn func(core.Debris) error) error {
	if r.dir == "" {
		return nil
	}
	cutoff := time.Now().Add(-staleAfter)
	return r.eachShardEntry(ctx, "scanning "+r.dir, func(key string, e fs.DirEntry) error {
		kind := core.DebrisNotAFile
		id, ok := r.tempOf(key)
		if ok {
			kind = core.DebrisStaleTemp
		} else if !notFiles || e.Type().IsRegular() {
			return nil
		} else if id, ok = r.files.ParseKey(key); !ok {
			return nil
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // renamed into place or removed meanwhile
		}
		if err != nil {
			return fmt.Errorf("local: scanning %s: %w", r.dir, err)
		}
		d := core.Debris{Kind: kind, Path: key, Result: id, What: describeMode(fi.Mode()), Size: fi.Size(), ModTime: fi.ModTime()}
		switch {
		case kind == core.DebrisStaleTemp && (!fi.Mode().IsRegular() || !fi.ModTime().Before(cutoff)):
			return nil // a live writer's
		case kind == core.DebrisStaleTemp:
			d.What = "temporary file"
		case fi.Mode().IsRegular():
			return nil
		}
		return fn(d)
	})
}

// eachShardEntry calls fn with the key ("ab/name") and directory entry of
// everything in the shard directories of the results directory, in name
// order, and stops at fn's first error. Shards are read one at a time: a
// shard or the directory that disappears meanwhile is skipped, and a
// symbolic link in a shard's place is not looked into. op names what the
// caller does, in its errors.
func (r *ResultStore) eachShardEntry(ctx context.Context, op string, fn func(key string, e fs.DirEntry) error) error {
	shards, err := os.ReadDir(r.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("local: %s: %w", op, err)
	}
	for _, sh := range shards {
		if !sh.IsDir() {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		names, err := os.ReadDir(filepath.Join(r.dir, sh.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("local: %s: %w", op, err)
		}
		for _, e := range names {
			if err := fn(sh.Name()+"/"+e.Name(), e); err != nil {
				return err
			}
		}
	}
	return nil
}

// startSweep removes, in the background, the temporary files that writers
// killed during a Put left (older than StaleTempAge). Failures are ignored
// (a directory that cannot be written keeps them; FindDebris lists them).
// A store opened read-only (ModeReadOnly) does not sweep.
func (r *ResultStore) startSweep() {
	if r.meta.readOnly != nil {
		r.sweepDone = make(chan struct{})
		close(r.sweepDone)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.sweepStop, r.sweepDone = cancel, make(chan struct{})
	go func() {
		defer close(r.sweepDone)
		_ = r.scanDebris(ctx, StaleTempAge, false, func(d core.Debris) error {
			_, _ = removeStale(filepath.Join(r.dir, filepath.FromSlash(d.Path)), time.Now().Add(-StaleTempAge))
			return nil
		})
	}()
}

// stopSweep stops the sweep and waits for it.
func (r *ResultStore) stopSweep() {
	if r.sweepStop != nil {
		r.sweepStop()
		<-r.sweepDone
	}
}
