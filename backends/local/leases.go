package local

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/flowcache/flowcache/core"
)

// leasesSchema is the table of the leases (core.Leaser), one row per key
// leased; times are Unix nanoseconds. It is created at a store's first
// lease call rather than with the schema, so that databases written before
// leases existed get it without a new schema version: a flowcache that
// knows nothing of leases opens a database that has the table, and never
// reads it.
const leasesSchema = `
CREATE TABLE IF NOT EXISTS leases (
	key_id   TEXT PRIMARY KEY,
	token    TEXT NOT NULL,
	run_id   TEXT NOT NULL,
	host     TEXT NOT NULL,
	pid      INTEGER NOT NULL,
	acquired INTEGER NOT NULL,
	expires  INTEGER NOT NULL
)`

const (
	sqlLeaseGet    = `SELECT token, run_id, host, pid, acquired, expires FROM leases WHERE key_id = ?`
	sqlLeasePut    = `INSERT OR REPLACE INTO leases (key_id, token, run_id, host, pid, acquired, expires) VALUES (?, ?, ?, ?, ?, ?, ?)`
	sqlLeaseRenew  = `UPDATE leases SET expires = ? WHERE key_id = ? AND token = ?`
	sqlLeaseDelete = `DELETE FROM leases WHERE key_id = ? AND token = ?`
)

// leaseTable says whether this store made sure the leases table exists.
type leaseTable struct {
	mu    sync.Mutex
	ready bool
}

var _ core.Leaser = (*MetadataStore)(nil)

// AcquireLease takes the lease of key (see core.Leaser): one write
// transaction (BEGIN IMMEDIATE, a SELECT, and an INSERT when the key is
// free or its lease expired), about as much as a small batch write, on the
// store's write connection. The write lock makes it exclusive among every
// goroutine and process sharing the database. Expiry is judged by the
// machine's clock (the store's, WithClock), which every process sharing
// the database reads: a lease is taken over at its Expires, without
// core.LeaseClockMargin. A database on a network file system shared by
// machines is not supported (SQLite's locks are not reliable there).
// The leases are kept in a table of their own: DeleteAll leaves them.
func (s *MetadataStore) AcquireLease(ctx context.Context, key core.KeyID, owner core.LeaseOwner, ttl time.Duration) (core.Lease, *core.LeaseInfo, error) {
	op := "acquire lease of key " + string(key)
	if err := s.leaseCall(ctx, op, key, owner, ttl); err != nil {
		return core.Lease{}, nil, err
	}
	var (
		lease core.Lease
		held  *core.LeaseInfo
	)
	err := s.leaseTx(ctx, func(tx *sql.Tx) error {
		now := core.StoredTime(s.now())
		cur, _, found, err := readLease(ctx, tx, key)
		if err != nil {
			return err
		}
		if found && !cur.Expired(now, 0) {
			held = &cur
			return nil
		}
		lease = core.Lease{
			LeaseInfo: core.LeaseInfo{Key: key, Owner: owner, Acquired: now, Expires: now.Add(ttl)},
			Token:     rand.Text(),
		}
		if found {
			lease.TakenOver = &cur
		}
		_, err = tx.ExecContext(ctx, sqlLeasePut, string(key), lease.Token, string(owner.Run), owner.Host, owner.PID,
			now.UnixNano(), lease.Expires.UnixNano())
		return err
	})
	if err != nil {
		return core.Lease{}, nil, s.fail(op, err)
	}
	return lease, held, nil
}

// RenewLease extends lease to now plus ttl (see core.Leaser): one write
// transaction (a SELECT and an UPDATE).
func (s *MetadataStore) RenewLease(ctx context.Context, lease core.Lease, ttl time.Duration) (core.Lease, error) {
	op := "renew lease of key " + string(lease.Key)
	if err := s.leaseCall(ctx, op, lease.Key, lease.Owner, ttl); err != nil {
		return core.Lease{}, err
	}
	err := s.leaseTx(ctx, func(tx *sql.Tx) error {
		if err := checkHolder(ctx, tx, lease); err != nil {
			return err
		}
		lease.Expires = core.StoredTime(s.now()).Add(ttl)
		_, err := tx.ExecContext(ctx, sqlLeaseRenew, lease.Expires.UnixNano(), string(lease.Key), lease.Token)
		return err
	})
	if err != nil {
		return core.Lease{}, s.fail(op, err)
	}
	return lease, nil
}

// ReleaseLease ends lease (see core.Leaser): one write transaction (a
// SELECT and a DELETE).
func (s *MetadataStore) ReleaseLease(ctx context.Context, lease core.Lease) error {
	op := "release lease of key " + string(lease.Key)
	if err := s.prepareLeases(ctx, op, lease.Key); err != nil {
		return err
	}
	err := s.leaseTx(ctx, func(tx *sql.Tx) error {
		err := checkHolder(ctx, tx, lease)
		if errors.Is(err, errNoLease) {
			return nil
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, sqlLeaseDelete, string(lease.Key), lease.Token)
		return err
	})
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// leaseCall checks the arguments and the store of an acquisition or a
// renewal, and makes sure the leases table exists.
func (s *MetadataStore) leaseCall(ctx context.Context, op string, key core.KeyID, owner core.LeaseOwner, ttl time.Duration) error {
	if err := s.checkWrite(op); err != nil {
		return err
	}
	if err := core.ValidateLease(key, owner, ttl); err != nil {
		return s.fail(op, err)
	}
	return s.prepareLeases(ctx, op, key)
}

// prepareLeases checks the store and key of a lease call, and makes sure the
// leases table exists.
func (s *MetadataStore) prepareLeases(ctx context.Context, op string, key core.KeyID) error {
	if err := s.checkWrite(op); err != nil {
		return err
	}
	if err := key.Validate(); err != nil {
		return s.fail(op, err)
	}
	t := &s.leases
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ready {
		return nil
	}
	if _, err := s.w.ExecContext(ctx, leasesSchema); err != nil {
		return s.fail(op, fmt.Errorf("creating the leases table: %w", err))
	}
	t.ready = true
	return nil
}

// leaseTx runs fn in a write transaction (BEGIN IMMEDIATE: see dsn) and
// commits it.
func (s *MetadataStore) leaseTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// readLease reads the lease of key; found is false when there is none.
func readLease(ctx context.Context, tx *sql.Tx, key core.KeyID) (info core.LeaseInfo, token string, found bool, err error) {
	var (
		run               string
		acquired, expires int64
	)
	err = tx.QueryRowContext(ctx, sqlLeaseGet, string(key)).Scan(&token, &run, &info.Owner.Host, &info.Owner.PID, &acquired, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return core.LeaseInfo{}, "", false, nil
	}
	if err != nil {
		return core.LeaseInfo{}, "", false, err
	}
	info.Key, info.Owner.Run = key, core.RunID(run)
	info.Acquired, info.Expires = time.Unix(0, acquired), time.Unix(0, expires)
	return info, token, true, nil
}

// errNoLease is checkHolder's error for a key without a lease.
var errNoLease = fmt.Errorf("%w: no longer stored", core.ErrLeaseLost)

// checkHolder returns nil when lease is the stored holding of its key,
// errNoLease when none is stored, and an error wrapping core.ErrLeaseLost
// naming the holder when another is.
func checkHolder(ctx context.Context, tx *sql.Tx, lease core.Lease) error {
	cur, token, found, err := readLease(ctx, tx, lease.Key)
	switch {
	case err != nil:
		return err
	case !found:
		return errNoLease
	case token != lease.Token:
		return fmt.Errorf("%w: taken over by %s", core.ErrLeaseLost, cur.Owner)
	}
	return nil
}
