//go:build linux

package codeversion

import "syscall"

// statCtime returns the change time of a file in Unix nanoseconds (the
// conversions matter on 32-bit systems, where the fields are int32).
func statCtime(st *syscall.Stat_t) int64 {
	return int64(st.Ctim.Sec)*1e9 + int64(st.Ctim.Nsec)
}
