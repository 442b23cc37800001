//go:build darwin || linux

package local

import (
	"errors"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lowOnSpace reports whether the file system of the history directory dir
// (or of the directory it would be made in) has less than minLogSpace
// free: one statfs, about a microsecond.
func lowOnSpace(dir string) bool {
	var st unix.Statfs_t
	err := unix.Statfs(dir, &st)
	if errors.Is(err, fs.ErrNotExist) {
		err = unix.Statfs(filepath.Dir(dir), &st)
	}
	return err == nil && st.Bavail*uint64(st.Bsize) < minLogSpace
}
