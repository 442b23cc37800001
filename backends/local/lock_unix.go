//go:build unix

package local

import (
	"errors"
	"os"
	"syscall"
)

// fileLocks says whether run logs are used: they need flock.
const fileLocks = true

// tryLock takes an exclusive flock of f without waiting: false when
// another open file description holds it. The lock goes with the file's
// close, or the process's end.
func tryLock(f *os.File) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		case errors.Is(err, syscall.EINTR):
			continue
		}
		return false, err
	}
}
