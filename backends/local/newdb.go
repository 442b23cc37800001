package local

import (
	"context"
	"crypto/rand"
	_ "embed" // newDB
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// createDatabase makes the database at path, with the schema, when there is
// no file there, and reports whether it did. It writes the database to a
// temporary file beside path and links it into place only if path still
// does not exist, so that a process opening path sees either no file (and
// creates the database as it always could, in migrate) or a whole one.
//
// Made in place, a new database cost a cold run 8 fsyncs, 5–7 ms on this
// machine class, most of the cost of creating it: SQLite's switch of a new
// file to WAL is a transaction in rollback-journal mode, with the
// journal, its directory and the database synced at the default
// synchronous=FULL (6 fsyncs), before the connection's synchronous=NORMAL
// applies. The temporary file is nobody's until it is linked: it is synced
// once, whole, before the link, so that a power loss leaves either no
// database at path or this one; a process killed before the link leaves
// the temporary file, which removeStaleNew removes later.
//
// The file is newDB, the bytes SQLite makes of the schema (see newDB), not
// made by SQLite each time: a connection of its own, which parsed and ran
// the schema and checkpointed, cost a cold process about 4 ms of CPU
// (BenchmarkColdRun: 890 → 800 ms of CPU for 21 runs).
//
// Any failure (a file system without hard links, a full disk) only means
// that the caller creates the database in place.
func createDatabase(ctx context.Context, path string) (bool, error) {
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	// Not os.CreateTemp, whose files are 0600: the database gets the
	// permissions SQLite would give it (0644 less the umask).
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := path + ".new-" + hex.EncodeToString(rnd[:])
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	_, err = f.Write(newDB)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil // another process made it first
		}
		return false, err
	}
	return true, nil
}

// newDB is a new database of schema version schemaVersion in WAL mode:
// what SQLite makes of schema, genSchema and the version on an empty file,
// with page size 4096. TestNewDBImage checks that it still is, and makes
// it again with -update-newdb (go test -run TestNewDBImage -update-newdb).
//
//go:embed newdb.db
var newDB []byte

// removeStaleNew removes the temporary files of createDatabase beside path
// that a process killed while making a database left, once older than
// StaleTempAge (a younger one may be another process's, still making it).
func removeStaleNew(path string) {
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return
	}
	prefix := filepath.Base(path) + ".new-"
	cutoff := time.Now().Add(-StaleTempAge)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			_, _ = removeStale(filepath.Join(filepath.Dir(path), e.Name()), cutoff)
		}
	}
}
