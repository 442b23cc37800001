package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// SpoolMemory is how many bytes of a result ReadVerified (and so
// GetVerified, for a store that cannot verify a result before handing it
// over) keeps in memory; a larger result is spooled to a temporary file, so
// that reading it costs about its size in memory once (what its decoder
// builds), not twice. 4 MiB holds every result a small node produces (a
// warm run of small results never touches the disk) and is read from a
// bucket in milliseconds.
const SpoolMemory = 4 << 20

// spoolChunk is the size of the reads that fill a spool.
const spoolChunk = 256 << 10

// GetVerified opens the result stored under id so that every byte read from
// it has passed the store's verification: a decoder given this reader never
// sees a byte that was not checked first. It uses the store's own
// GetVerified when it implements VerifiedGetter (the stores of flowcache
// do); otherwise it reads the reader Get returns to its end, where the
// store verifies it, into a spool (see ReadVerified) and returns a reader of
// the spool. A missing result is an error wrapping ErrNotFound, a damaged
// one an error wrapping ErrCorrupt, from GetVerified itself.
func GetVerified(ctx context.Context, s ResultStore, id ResultID) (io.ReadCloser, error) {
	if vg, ok := As[VerifiedGetter](s); ok {
		return vg.GetVerified(ctx, id)
	}
	rc, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	spool, err := ReadVerified(rc, -1, "")
	if cerr := rc.Close(); err == nil && cerr != nil {
		if spool != nil {
			spool.Close()
		}
		return nil, cerr
	}
	if err != nil {
		return nil, fmt.Errorf("result %s: %w", id, err)
	}
	return spool, nil
}

// ReadVerified reads r to its end into a spool and returns a reader of the
// spooled bytes, once r has reached io.EOF: r is a result reader that
// verifies what it read when it reaches its end (as ResultStore.Get's
// does), so a Read error — damage is one wrapping ErrCorrupt — is returned
// by ReadVerified and no byte of a damaged result is ever handed on.
//
// size is the number of bytes r holds when the caller knows it (a bucket
// object's size), else -1. Up to SpoolMemory bytes are kept in memory;
// beyond, the bytes go to a temporary file in dir (os.TempDir() when dir is
// ""), which is unlinked at once where the system allows it (Unix: nothing
// is left behind even if the process is killed) and otherwise removed by
// Close. The returned reader also implements io.ReaderAt, io.Seeker and
// Size() int64, for formats that need random access (Parquet).
func ReadVerified(r io.Reader, size int64, dir string) (io.ReadCloser, error) {
	initial := 64 << 10
	switch {
	case size > SpoolMemory:
		return spoolFile(r, nil, dir)
	case size >= 0:
		initial = int(size) + 1 // room for the read that finds the end
	}
	buf := make([]byte, 0, initial)
	for {
		if len(buf) == cap(buf) {
			if len(buf) > SpoolMemory {
				return spoolFile(r, buf, dir)
			}
			grown := make([]byte, len(buf), min(2*cap(buf), SpoolMemory+1))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return memSpool{bytes.NewReader(buf)}, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// memSpool is a result spooled in memory.
type memSpool struct{ *bytes.Reader }

func (memSpool) Close() error { return nil }

// spoolFile copies head and then the rest of r to a temporary file in dir
// and returns a reader of it.
func spoolFile(r io.Reader, head []byte, dir string) (_ io.ReadCloser, err error) {
	f, err := os.CreateTemp(dir, "flowcache-spool-*")
	if err != nil {
		return nil, fmt.Errorf("spooling a result: %w", err)
	}
	fs := &fileSpool{f: f}
	// Unlinked now, the file goes away with its descriptor, whatever
	// happens to the process; where that is not allowed (Windows), Close
	// removes it.
	fs.removed = os.Remove(f.Name()) == nil
	defer func() {
		if err != nil {
			fs.Close()
		}
	}()
	n, err := f.Write(head)
	if err != nil {
		return nil, fmt.Errorf("spooling a result: %w", err)
	}
	total := int64(n)
	buf := make([]byte, spoolChunk)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				return nil, fmt.Errorf("spooling a result: %w", err)
			}
			total += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, rerr
		}
	}
	fs.SectionReader = io.NewSectionReader(f, 0, total)
	return fs, nil
}

// fileSpool is a result spooled to a temporary file.
type fileSpool struct {
	*io.SectionReader
	f       *os.File
	removed bool
}

func (s *fileSpool) Close() error {
	err := s.f.Close()
	if !s.removed {
		if rerr := os.Remove(s.f.Name()); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
		s.removed = true
	}
	return err
}
