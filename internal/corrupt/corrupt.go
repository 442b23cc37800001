// Package corrupt tells a decoder's two kinds of failure apart: damaged
// bytes, which wrap core.ErrCorrupt (the stored result is bad: a miss, and
// removed), and a failing reader (a network or disk fault, or the store's
// own verification), which is passed on as it is.
package corrupt

import (
	"errors"
	"fmt"
	"io"

	"github.com/flowcache/flowcache/core"
)

// Reader passes reads through and keeps the first error of its source
// other than io.EOF.
type Reader struct {
	R   io.Reader
	Err error
}

func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.R.Read(p)
	if err != nil && err != io.EOF && r.Err == nil {
		r.Err = err
	}
	return n, err
}

// Wrap returns err, a decoder's error about the bytes read through r,
// prefixed by what (e.g. "json: decoding []T"): as the reader's own error
// if the reader failed, else wrapping core.ErrCorrupt.
func (r *Reader) Wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	if r.Err != nil {
		if errors.Is(err, r.Err) {
			return fmt.Errorf("%s: %w", what, err)
		}
		return fmt.Errorf("%s: %w (%v)", what, r.Err, err)
	}
	return Errorf("%s: %w", what, err)
}

// Errorf formats an error wrapping core.ErrCorrupt (and whatever the
// format wraps with %w).
func Errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %w", core.ErrCorrupt, fmt.Errorf(format, args...))
}
