//go:build unix

package mapfile

import (
	"fmt"
	"math"
	"os"
	"syscall"
)

func open(f *os.File, size int64) (*File, error) {
	if size > math.MaxInt {
		return nil, fmt.Errorf("mapfile: %s: %d bytes is too large to map", f.Name(), size)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mapfile: mapping %s: %w", f.Name(), err)
	}
	return &File{data: b, mapped: true}, nil
}

func unmap(b []byte) error { return syscall.Munmap(b) }
