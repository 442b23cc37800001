// Package lockedbuf is a buffer that goroutines may write and read at the
// same time: the log sink of a run whose goroutines log, the output of a
// process read while it writes. For tests.
package lockedbuf

import (
	"bytes"
	"strings"
	"sync"
)

// Buffer is a bytes.Buffer behind a mutex. The zero value is empty and
// ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what was written.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Lines returns what was written, split into lines, without empty ones.
func (l *Buffer) Lines() []string {
	var out []string
	for s := range strings.SplitSeq(l.String(), "\n") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
