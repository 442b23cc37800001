package local

import (
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"modernc.org/sqlite"
)

// The generation file (<db>-gen) says, without opening the database,
// whether the preload snapshots kept as files (<db>-snapshots/) are
// current: it holds either the generation of the entries (entries_gen) at
// which the snapshots were last made, or "dirty". Every commit to a
// flowcache database marks it dirty, from a commit hook that SQLite calls
// inside the commit, while the writer holds the database's write lock; a
// snapshot is made, and the file marked clean, inside a transaction that
// holds the write lock too (BEGIN IMMEDIATE, rolled back), so the two never
// interleave. A writer that dies after marking leaves it dirty: the next
// preload reads the rows. A snapshot is served only when the file is clean
// at the generation the snapshot was made at.
//
// Who marks: the hook is set on every connection any code of the process
// opens to a database that has a generation file, or is named metadata.db
// (package local registers it with modernc's driver), so writes through database/sql in a program
// that imports this package mark it too. A program that does not (the
// sqlite3 shell, Python) cannot change or delete entries or results: the
// triggers that bump the generation call flowcache_changed(), a function
// only this package defines, and SQLite refuses the statement without it.
// Older flowcache versions refuse the database by its schema version.

// genSize is the size of the generation file: a magic, the generation
// (genDirty for none), the identity of the database file it is for (see
// dbID), and the CRC-32C of all three. A clean generation file is clean
// only for the database file it was written for: one removed, or replaced
// by another file, has none of its snapshots served (and its schema is
// checked when it is opened).
const genSize = 28

// genMagic names the schema version too: a clean generation file lets Open
// skip the schema check, so one that a writer of an older version made
// ("fcgen2") must not pass for this version's, or its database would not be
// upgraded.
var genMagic = [8]byte{'f', 'c', 'g', 'e', 'n', '3', '\n', 1}

const genDirty = ^uint64(0)

// genPath is the generation file of the database at path.
func genPath(path string) string { return path + "-gen" }

// encodeGen returns the content of a generation file.
func encodeGen(gen, db uint64) []byte {
	b := make([]byte, 0, genSize)
	b = append(b, genMagic[:]...)
	b = binary.LittleEndian.AppendUint64(b, gen)
	b = binary.LittleEndian.AppendUint64(b, db)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// dbOf is the database of the generation file at path.
func dbOf(path string) string { return strings.TrimSuffix(path, "-gen") }

// readGen returns the generation the file at path is clean at; false when
// it is dirty, missing, torn, not a generation file, or written for another
// database file than the one beside it.
func readGen(path string) (uint64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var b [genSize + 1]byte
	n, err := io.ReadFull(f, b[:])
	if n != genSize || err != io.ErrUnexpectedEOF {
		return 0, false
	}
	if [8]byte(b[:8]) != genMagic || crc32.Checksum(b[:24], castagnoli) != binary.LittleEndian.Uint32(b[24:]) {
		return 0, false
	}
	gen, db := binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b[16:])
	if gen == genDirty {
		return 0, false
	}
	if cur, ok := dbID(dbOf(path)); !ok || cur != db {
		return 0, false
	}
	return gen, true
}

// writeGen writes gen (or genDirty) to the generation file at path,
// creating it when create is set. A generation is written only for a
// database file that exists.
func writeGen(path string, gen uint64, create bool) error {
	var db uint64
	if gen != genDirty {
		var ok bool
		if db, ok = dbID(dbOf(path)); !ok {
			return errors.New("no database file to mark the generation of")
		}
	}
	flag := os.O_WRONLY
	if create {
		flag |= os.O_CREATE
	}
	f, err := os.OpenFile(path, flag, 0o666)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(encodeGen(gen, db), 0)
	if err == nil {
		err = f.Truncate(genSize)
	}
	return errors.Join(err, f.Close())
}

var dirty = encodeGen(genDirty, 0)

// markDirty marks the generation file at path dirty. It fails only when
// the file exists and cannot be written: then the commit must not happen.
// The file is opened at each commit (a few microseconds for a batch of
// nodes), not kept open, so that a cache directory can be removed or its
// file system unmounted once its stores are closed.
func markDirty(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // removed: no snapshot is served without it
		}
		return err
	}
	_, err = f.WriteAt(dirty, 0)
	return errors.Join(err, f.Close())
}

// dsnPath returns the file path of a modernc DSN ("file:///p?…",
// "file:p?…" or a plain path).
func dsnPath(dsn string) string {
	p, _, _ := strings.Cut(dsn, "?")
	if rest, ok := strings.CutPrefix(p, "file:"); ok {
		p = strings.TrimPrefix(rest, "//")
		if u, err := url.PathUnescape(p); err == nil {
			p = u
		}
		if runtime.GOOS == "windows" && len(p) >= 3 && p[0] == '/' && p[2] == ':' {
			p = p[1:] // file:///C:/…
		}
	}
	return p
}

func init() {
	// The function the generation triggers call: only here, so writers
	// that cannot mark the generation file are refused (see above).
	err := sqlite.RegisterScalarFunction("flowcache_changed", 0, func(*sqlite.FunctionContext, []driver.Value) (driver.Value, error) {
		return nil, nil
	})
	if err != nil {
		panic("local: registering flowcache_changed: " + err.Error())
	}
	sqlite.RegisterConnectionHook(func(c sqlite.ExecQuerierContext, dsn string) error {
		path := dsnPath(dsn)
		if path == "" || path == ":memory:" {
			return nil
		}
		gen := genPath(path)
		if _, err := os.Stat(gen); err != nil && filepath.Base(path) != MetadataFile {
			// Not a flowcache database (nor one under the default name,
			// whose generation file a store may make again later).
			return nil
		}
		h, ok := c.(sqlite.HookRegisterer)
		if !ok {
			return errors.New("local: the sqlite driver cannot set a commit hook")
		}
		h.RegisterCommitHook(func() int32 {
			if markDirty(gen) != nil {
				return 1 // the commit becomes a rollback
			}
			return 0
		})
		return nil
	})
}
