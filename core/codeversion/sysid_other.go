//go:build !unix

package codeversion

import "io/fs"

// sysID returns zeros where the change time and inode are not known: the
// size and modification time identify a file.
func sysID(fi fs.FileInfo) (ctime int64, ino uint64) { return 0, 0 }
