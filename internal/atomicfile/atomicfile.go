// Package atomicfile writes a file whole or not at all: through a
// temporary file in the same directory, renamed into place, so that a
// reader sees the old file or the new one, never a part of one.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes data to path, with mode perm exactly (the umask does not
// apply), through a temporary file ".<name>.*.tmp" in path's directory,
// which it removes when it fails. The directory must exist. It does not
// sync: a crash may lose the new file, never leave a part of it.
func Write(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), perm)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
