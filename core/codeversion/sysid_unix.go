//go:build unix

package codeversion

import (
	"io/fs"
	"syscall"
)

// sysID returns the change time (Unix nanoseconds) and inode of a file.
func sysID(fi fs.FileInfo) (ctime int64, ino uint64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}
	return statCtime(st), uint64(st.Ino)
}
