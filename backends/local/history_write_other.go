//go:build !(darwin || linux || openbsd)

package local

import (
	"os"
	"slices"
)

// writeAll writes the pieces to f in one write call, through one buffer
// (run logs are used only where flock is; there, this is the systems
// without writev in golang.org/x/sys/unix).
func writeAll(f *os.File, pieces ...[]byte) error {
	_, err := f.Write(slices.Concat(pieces...))
	return err
}
