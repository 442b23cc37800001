package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"syscall"

	"gocloud.dev/blob/fileblob"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/flowcache/flowcache/backends/blobstore"
	"github.com/flowcache/flowcache/core"
)

// Mode says whether Open and OpenMetadata may write the cache directory.
type Mode int

const (
	// ModeAuto, the default, opens the directory for writing, unless it
	// exists and cannot be written (a read-only file system or mount, no
	// write permission): then it is opened as with ModeReadOnly, and the
	// store's write errors (core.ErrReadOnly) say why, naming the
	// directory. A cache that cannot be written can still serve its hits,
	// and a run that fails because its cache is read-only would break the
	// promise that a cache fault never fails a run; the run says at WARN
	// that it stores nothing (see core.Cache.BeginRun), so the fallback is
	// never silent. URL form: no mode parameter.
	ModeAuto Mode = iota
	// ModeReadWrite opens the directory for writing, and fails with an
	// error wrapping core.ErrReadOnly when it cannot be written. URL form:
	// mode=rw.
	ModeReadWrite
	// ModeReadOnly opens an existing cache directory without ever writing
	// to it: reads serve hits; BeginRun, Write, Delete, DeleteAll, OpenLog,
	// DeleteLog and the result store's Put and Delete fail with an error
	// wrapping core.ErrReadOnly, so a run stores no result, entry, run
	// history, last-used time or log. A directory without a cache
	// (metadata.db) is an error wrapping core.ErrNotFound. URL form:
	// mode=ro.
	//
	// SQLite reads a database in WAL mode through its -shm and -wal
	// files. On a writable directory SQLite creates them, empty, when no
	// other process has the database open (as for any reader: they are
	// what lets a writer in another process go on safely while this one
	// reads); no byte of the cache's own files changes. On a directory that
	// cannot be written, with no -wal file there, the database is opened
	// with SQLite's immutable=1, which reads it without locks: no process
	// may write the directory through another path (a read-write mount of
	// the same files) while it is open, or reads may fail as corrupt.
	ModeReadOnly
)

// WithMode sets whether Open and OpenMetadata may write (ModeAuto by
// default; see Mode).
func WithMode(m Mode) Option { return func(o *options) { o.mode = m } }

// String returns the URL form of m: "auto", "rw" or "ro".
func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeReadWrite:
		return "rw"
	case ModeReadOnly:
		return "ro"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// readOnlyStore is why a store was opened read-only, wrapping
// core.ErrReadOnly; it is the error of every write.
type readOnlyStore struct {
	dir string
	why string
	// noImmutable forbids SQLite's immutable=1: the directory may be
	// written by another process (a full disk, not a read-only one).
	noImmutable bool
}

func (e *readOnlyStore) Error() string {
	return fmt.Sprintf("cache directory %s is read-only: %s", e.dir, e.why)
}

func (e *readOnlyStore) Unwrap() error { return core.ErrReadOnly }

// resolveMode decides how the directory dir is opened: it returns nil to
// open it for writing, or why it is opened read-only.
func resolveMode(dir string, m Mode) (*readOnlyStore, error) {
	if m == ModeReadOnly {
		return &readOnlyStore{dir: dir, why: "opened with mode=ro"}, nil // no probe: it would write
	}
	perr := probeWrite(dir)
	switch {
	case perr == nil || !notWritable(perr):
		// A full disk (ENOSPC) is not read-only: the open and the writes
		// fail or not on their own.
		return nil, nil
	case m == ModeReadWrite:
		return nil, fmt.Errorf("%w: the directory cannot be written (%v), and mode=rw was asked for (mode=ro opens it read-only)", core.ErrReadOnly, perr)
	}
	return &readOnlyStore{dir: dir, why: fmt.Sprintf("the directory cannot be written (%v), so it was opened read-only (mode=ro says so explicitly)", perr)}, nil
}

// probeWrite checks that a file can be created in dir: the only test of
// writability that holds for every reason a directory may not be (a
// read-only mount, permissions, ACLs, root's exemption from them). It
// creates and removes an empty file.
func probeWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".flowcache-probe-*")
	if err != nil {
		return err
	}
	name := f.Name()
	return errors.Join(f.Close(), os.Remove(name))
}

// diskFull reports whether err says the disk is full: SQLite's SQLITE_FULL,
// or an -shm file that could not be sized, or ENOSPC.
func diskFull(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == sqlite3.SQLITE_FULL || se.Code() == sqlite3.SQLITE_IOERR_SHMSIZE
	}
	return errors.Is(err, syscall.ENOSPC)
}

// notWritable reports whether err says that a file system or directory
// cannot be written, as opposed to failing for another reason.
func notWritable(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)
}

// openReadOnly opens the cache directory dir without writing to it.
func openReadOnly(ctx context.Context, dir string, o *options, ro *readOnlyStore) (*Store, error) {
	dbPath := filepath.Join(dir, MetadataFile)
	if _, err := os.Stat(dbPath); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("local: open %s read-only: %w: no cache there (no %s)", dir, core.ErrNotFound, MetadataFile)
		}
		return nil, fmt.Errorf("local: open %s read-only: %w", dir, err)
	}
	bucket, err := fileblob.OpenBucket(filepath.Join(dir, ResultsDir), &fileblob.Options{
		NoTempDir: true,
		Metadata:  fileblob.MetadataDontWrite,
	})
	if err != nil {
		return nil, fmt.Errorf("local: open %s read-only: %w", filepath.Join(dir, ResultsDir), err)
	}
	files := blobstore.New(bucket, blobstore.WithOwnedBucket(), blobstore.WithName("local"))
	meta, err := openMetadata(ctx, dbPath, o, ro)
	if err != nil {
		files.Close()
		return nil, err
	}
	return newStore(ctx, dir, meta, files, o)
}

// The SQLite URI parameters of a read-only store: mode=ro reads under
// SQLite's locks through the -shm and -wal files, creating them if the
// directory can be written. Where it cannot be, and they do not exist,
// mode=ro fails with SQLITE_CANTOPEN: immutable=1 is then the only way to
// read a WAL database (see ModeReadOnly for what it asks of other
// processes).
var (
	sqliteModeRO    = url.Values{"mode": {"ro"}}
	sqliteImmutable = url.Values{"mode": {"ro"}, "immutable": {"1"}}
)
