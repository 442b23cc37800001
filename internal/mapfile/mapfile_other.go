//go:build !unix

package mapfile

import (
	"io"
	"os"
)

// open reads the file: this system is not mapped.
func open(f *os.File, size int64) (*File, error) {
	b := make([]byte, size)
	n, err := io.ReadFull(f, b)
	if err == io.ErrUnexpectedEOF {
		err = nil // it shrank since Stat: what there is
	}
	if err != nil {
		return nil, err
	}
	return &File{data: b[:n]}, nil
}

func unmap([]byte) error { return nil }
