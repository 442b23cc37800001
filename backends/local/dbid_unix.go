//go:build unix

package local

import (
	"os"
	"syscall"
)

// dbID identifies the file at path by its device and inode, which SQLite
// keeps (it writes a database in place); false when there is no file.
func dbID(path string) (uint64, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 1, true
	}
	return uint64(st.Ino)*0x9E3779B97F4A7C15 ^ uint64(st.Dev), true
}
