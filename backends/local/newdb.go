package local

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// createDatabase makes the database at path, with the schema, when there is
// no file there, and reports whether it did. It builds the database in a
// temporary file beside path and links it into place only if path still
// does not exist, so that a process opening path sees either no file (and
// creates the database as it always could, in migrate) or a whole one.
//
// Made in place, a new database cost a cold run 8 fsyncs, 5–7 ms on this
// machine class, most of the cost of creating it: SQLite's switch of a new
// file to WAL is a transaction in rollback-journal mode, with the
// journal, its directory and the database synced at the default
// synchronous=FULL (6 fsyncs), before the connection's synchronous=NORMAL
// applies. The temporary file is nobody's until it is linked: it is
// written with synchronous=OFF and synced once, whole, before the link, so
// that a power loss leaves either no database at path or this one; a
// process killed before the link leaves the temporary file, which
// removeStaleNew removes later.
//
// Any failure (a file system without hard links, a full disk) only means
// that the caller creates the database in place.
func createDatabase(ctx context.Context, path string) (bool, error) {
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		return false, nil
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
	defer func() {
		for _, p := range []string{tmp, tmp + "-journal", tmp + "-wal", tmp + "-shm"} {
			os.Remove(p)
		}
	}()
	if err := f.Close(); err != nil {
		return false, err
	}
	u := fileURL(tmp)
	u.RawQuery = "_pragma=synchronous(OFF)&_pragma=journal_mode(MEMORY)"
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return false, err
	}
	db.SetMaxOpenConns(1)
	script := schema + genSchema + fmt.Sprintf("PRAGMA user_version = %d; PRAGMA journal_mode = WAL;", schemaVersion)
	_, err = db.ExecContext(ctx, script)
	if cerr := db.Close(); err == nil {
		err = cerr // the close checkpoints the WAL (unsynced) and removes it
	}
	if err != nil {
		return false, err
	}
	if f, err = os.Open(tmp); err != nil {
		return false, err
	}
	err = f.Sync()
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
