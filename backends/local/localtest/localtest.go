// Package localtest damages results stored in a local cache directory
// (package local), for tests of what a cache does with a torn write, a bad
// disk or a stray edit: a damaged result must be a miss, never a wrong
// value. It finds a result wherever it is stored, inline in metadata.db or
// as a file, so tests need not know which.
//
// Results still pending in an open local.ResultStore (not yet flushed) are not
// seen: flush first (a run flushes at its end).
package localtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/flowcache/flowcache/backends/local" // also registers the "sqlite" driver
	"github.com/flowcache/flowcache/core"
)

// Damage is a kind of damage done to a stored result.
type Damage int

// The kinds of damage. "The stored bytes" are the whole file for a result
// stored as a file (header, payload and trailer), the data column for an
// inline one.
const (
	// Remove deletes the result: reading it is a miss (core.ErrNotFound).
	Remove Damage = iota + 1
	// Truncate cuts the stored bytes to half their length.
	Truncate
	// FlipBit flips a bit of the byte in the middle of the stored bytes.
	FlipBit
	// Extend appends a byte to the stored bytes.
	Extend
	// BadChecksum alters the checksum: the crc column of an inline result,
	// the last byte of a file (its trailer).
	BadChecksum
)

// String returns the name of d.
func (d Damage) String() string {
	switch d {
	case Remove:
		return "remove"
	case Truncate:
		return "truncate"
	case FlipBit:
		return "flip-bit"
	case Extend:
		return "extend"
	case BadChecksum:
		return "bad-checksum"
	}
	return fmt.Sprintf("Damage(%d)", int(d))
}

// DamageResult damages the result id stored in the cache directory dir,
// inline or as a file. Truncate and FlipBit on an empty inline result alter
// its checksum instead. It returns an error wrapping core.ErrNotFound when
// no result id is stored in dir.
func DamageResult(ctx context.Context, dir string, id core.ResultID, d Damage) error {
	if err := damageInline(ctx, dir, id, d); !errors.Is(err, core.ErrNotFound) {
		return err
	}
	return damageFile(ctx, dir, id, d)
}

func openDB(dir string) (*sql.DB, error) {
	path, err := filepath.Abs(filepath.Join(dir, local.MetadataFile))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path)}
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Set("_txlock", "immediate")
	return sql.Open("sqlite", u.String()+"?"+q.Encode())
}

func damageInline(ctx context.Context, dir string, id core.ResultID, d Damage) error {
	db, err := openDB(dir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("localtest: result %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("localtest: %w", err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("localtest: %w", err)
	}
	defer tx.Rollback()
	var (
		data []byte
		crc  int64
	)
	where := ` WHERE version = ? AND format = ?`
	key := []any{string(id.Version), id.Format}
	err = tx.QueryRowContext(ctx, `SELECT data, crc FROM results`+where, key...).Scan(&data, &crc)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("localtest: result %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("localtest: result %s: %w", id, err)
	}
	if data == nil {
		data = []byte{}
	}
	if len(data) == 0 && (d == Truncate || d == FlipBit) {
		d = BadChecksum
	}
	switch d {
	case Remove:
		_, err = tx.ExecContext(ctx, `DELETE FROM results`+where, key...)
	case Truncate:
		data = data[:len(data)/2]
	case FlipBit:
		data[len(data)/2] ^= 0x40
	case Extend:
		data = append(data, 0)
	case BadChecksum:
		crc ^= 1
	default:
		return fmt.Errorf("localtest: unknown damage %v", d)
	}
	if err == nil && d != Remove {
		_, err = tx.ExecContext(ctx, `UPDATE results SET data = ?, crc = ?`+where, append([]any{data, crc}, key...)...)
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return fmt.Errorf("localtest: damaging result %s: %w", id, err)
	}
	return nil
}

func damageFile(ctx context.Context, dir string, id core.ResultID, d Damage) error {
	st, err := local.Open(ctx, dir)
	if err != nil {
		return fmt.Errorf("localtest: %w", err)
	}
	path := filepath.Join(dir, local.ResultsDir, filepath.FromSlash(st.Files().Key(id)))
	if err := st.Close(); err != nil {
		return fmt.Errorf("localtest: %w", err)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("localtest: result %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("localtest: %w", err)
	}
	switch d {
	case Remove:
		err = os.Remove(path)
	case Truncate:
		err = os.Truncate(path, int64(len(b)/2))
	case FlipBit:
		b[len(b)/2] ^= 0x40
	case Extend:
		b = append(b, 0)
	case BadChecksum:
		b[len(b)-1] ^= 0x80
	default:
		return fmt.Errorf("localtest: unknown damage %v", d)
	}
	if err == nil && d != Remove && d != Truncate {
		err = os.WriteFile(path, b, 0o666)
	}
	if err != nil {
		return fmt.Errorf("localtest: damaging result %s: %w", id, err)
	}
	return nil
}

// Results returns the ids of the results stored in the cache directory dir,
// inline and as files.
func Results(ctx context.Context, dir string) ([]core.ResultID, error) {
	st, err := local.Open(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("localtest: %w", err)
	}
	var ids []core.ResultID
	err = st.Results().Walk(ctx, func(id core.ResultID, _ int64) error {
		ids = append(ids, id)
		return nil
	})
	return ids, errors.Join(err, st.Close())
}
