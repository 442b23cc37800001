// Package mapfile reads a file by mapping it into memory, read-only, on
// systems that can (unix), and by reading it whole on the others.
//
// A fresh process pays for each page of heap the first time it touches it
// (a page fault: about 12 µs on the virtual machines flowcache is measured
// on): a 150 KB file read into the heap costs about 37 of them and a copy,
// while its mapping shares the page cache's pages, mapped a batch at a time.
// That is what a warm run's preload snapshot and the executable's table of
// code versions are read through.
//
// The bytes of a mapping are the file's own. A process that truncates the
// file while it is mapped makes the pages past its new end fault (SIGBUS);
// so every access to the bytes goes through Guard, which turns that fault
// into an error wrapping ErrFault, and whatever a reader keeps of them
// (strings, slices) is copied out before Close, after which the bytes must
// not be touched. The files flowcache maps are written whole to a
// temporary file and renamed into place, never changed in place: a fault is
// someone else's doing, and costs a miss, not the process.
package mapfile

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync/atomic"
)

// ErrFault is wrapped by the error of Guard when the function it guards
// touched a page the mapped file no longer has.
var ErrFault = errors.New("mapfile: the mapped file shrank while it was read")

// File is a file's bytes, mapped or read.
type File struct {
	data   []byte
	mapped bool
}

// Open maps the file at path (or reads it, where mapping is not supported
// or the file is empty).
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("mapfile: %s is not a regular file", path)
	}
	if fi.Size() == 0 {
		return &File{}, nil
	}
	return open(f, fi.Size())
}

// Bytes returns the file's bytes: not to be written to, and not to be
// touched after Close; read them inside Guard.
func (f *File) Bytes() []byte { return f.data }

// Mapped reports whether the bytes are a mapping of the file (rather than
// a copy read into memory).
func (f *File) Mapped() bool { return f.mapped }

// Close releases the mapping. It is safe to call more than once.
func (f *File) Close() error {
	if f == nil || f.data == nil {
		return nil
	}
	data, mapped := f.data, f.mapped
	f.data, f.mapped = nil, false
	if !mapped {
		return nil
	}
	return unmap(data)
}

// Guard calls fn, and returns an error wrapping ErrFault if fn touched a
// page of a mapping whose file was truncated under it (instead of the
// process crashing). Any other panic goes on.
func Guard(fn func()) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if f, ok := r.(interface{ Addr() uintptr }); ok {
				err = fmt.Errorf("%w (at address %#x)", ErrFault, f.Addr())
				return
			}
			panic(r)
		}
	}()
	fn()
	return nil
}

// Reader is the state of an index over a mapping that stops reading it at
// its first fault (or when its owner finds the bytes changed: Break), and
// then acts as empty for the rest of its life. Embed it in the value that
// owns the File, whose cleanup (runtime.AddCleanup) closes the File once
// the value is unreachable: Read keeps the value reachable until its
// function has returned (a pointer into a value keeps all of it), so the
// cleanup never unmaps the bytes under a reader.
type Reader struct{ broken atomic.Bool }

// Read calls fn, which reads the mapping, inside Guard; a fault breaks r.
func (r *Reader) Read(fn func()) error {
	err := Guard(fn)
	runtime.KeepAlive(r)
	if err != nil {
		r.broken.Store(true)
	}
	return err
}

// Break stops r for good: its owner found the bytes are not what it read
// before.
func (r *Reader) Break() { r.broken.Store(true) }

// Broken reports whether a read faulted or r was broken.
func (r *Reader) Broken() bool { return r.broken.Load() }
