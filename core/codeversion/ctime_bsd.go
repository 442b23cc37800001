//go:build unix && !linux

package codeversion

import "syscall"

// statCtime is left at zero on other systems, whose Stat_t names the field
// differently; the size, modification time and inode still identify a file.
func statCtime(st *syscall.Stat_t) int64 { return 0 }
