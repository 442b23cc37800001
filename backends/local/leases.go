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
	sqlLeaseGet      = `SELECT token, run_id, host, pid, acquired, expires FROM leases WHERE key_id = ?`
	sqlLeaseCreate   = `INSERT INTO leases (token, run_id, host, pid, acquired, expires, key_id) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key_id) DO NOTHING`
	sqlLeaseTakeOver = `UPDATE leases SET token = ?, run_id = ?, host = ?, pid = ?, acquired = ?, expires = ? WHERE key_id = ? AND token = ?`
	sqlLeaseRenew    = `UPDATE leases SET expires = ? WHERE key_id = ? AND token = ?`
	sqlLeaseDelete   = `DELETE FROM leases WHERE key_id = ? AND token = ?`
)

// leaseTable says whether this store made sure the leases table exists.
type leaseTable struct {
	mu    sync.Mutex
	ready bool
}

var _ core.Leaser = (*MetadataStore)(nil)

// AcquireLease takes the lease of key (see core.Leaser): a read on a
// reader connection, then, when the key is free or its lease expired, one
// conditional statement on the store's write connection (an INSERT that
// does nothing when a row exists, an UPDATE of the row read only if its
// token is still the one read) and its commit. SQLite's write lock makes
// it exclusive among every goroutine and process sharing the database. A
// held lease costs the read only. Expiry is judged by the machine's clock
// (the store's, WithClock), which every process sharing the database
// reads: a lease is taken over at its Expires, without
// core.LeaseClockMargin. A database on a network file system shared by
// machines is not supported (SQLite's locks are not reliable there).
// The leases are kept in a table of their own: DeleteAll leaves them.
func (s *MetadataStore) AcquireLease(ctx context.Context, key core.KeyID, owner core.LeaseOwner, ttl time.Duration) (core.Lease, *core.LeaseInfo, error) {
	op := "acquire lease of key " + string(key)
	if err := s.leaseCall(ctx, op, key, owner, ttl); err != nil {
		return core.Lease{}, nil, err
	}
	for {
		cur, token, found, err := readLease(ctx, s.r, key)
		if err != nil {
			return core.Lease{}, nil, s.fail(op, err)
		}
		now := core.StoredTime(s.now())
		if found && !cur.Expired(now, 0) {
			return core.Lease{}, &cur, nil
		}
		lease := core.Lease{
			LeaseInfo: core.LeaseInfo{Key: key, Owner: owner, Acquired: now, Expires: now.Add(ttl)},
			Token:     rand.Text(),
		}
		args := []any{lease.Token, string(owner.Run), owner.Host, owner.PID, now.UnixNano(), lease.Expires.UnixNano(), string(key)}
		var res sql.Result
		if found {
			lease.TakenOver = &cur
			res, err = s.w.ExecContext(ctx, sqlLeaseTakeOver, append(args, token)...)
		} else {
			res, err = s.w.ExecContext(ctx, sqlLeaseCreate, args...)
		}
		if err != nil {
			return core.Lease{}, nil, s.fail(op, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return core.Lease{}, nil, s.fail(op, err)
		} else if n == 1 {
			return lease, nil, nil
		}
		// Another owner created, took over or released it since the read.
		if err := ctx.Err(); err != nil {
			return core.Lease{}, nil, s.fail(op, err)
		}
	}
}

// RenewLease extends lease to now plus ttl (see core.Leaser): one
// conditional UPDATE (and a read when it changes nothing, to say why).
func (s *MetadataStore) RenewLease(ctx context.Context, lease core.Lease, ttl time.Duration) (core.Lease, error) {
	op := "renew lease of key " + string(lease.Key)
	if err := s.leaseCall(ctx, op, lease.Key, lease.Owner, ttl); err != nil {
		return core.Lease{}, err
	}
	renewed := lease
	renewed.Expires = core.StoredTime(s.now()).Add(ttl)
	if err := s.leaseExec(ctx, lease, sqlLeaseRenew, renewed.Expires.UnixNano(), string(lease.Key), lease.Token); err != nil {
		return core.Lease{}, s.fail(op, err)
	}
	return renewed, nil
}

// ReleaseLease ends lease (see core.Leaser): one conditional DELETE (and
// a read when it deletes nothing, to say why).
func (s *MetadataStore) ReleaseLease(ctx context.Context, lease core.Lease) error {
	op := "release lease of key " + string(lease.Key)
	if err := s.prepareLeases(ctx, op, lease.Key); err != nil {
		return err
	}
	err := s.leaseExec(ctx, lease, sqlLeaseDelete, string(lease.Key), lease.Token)
	if err != nil && !errors.Is(err, errNoLease) {
		return s.fail(op, err)
	}
	return nil
}

// leaseExec runs a statement that changes the row of lease only if it
// still holds lease's token; when it changes nothing, it returns
// errNoLease or an error naming the holder (see checkHolder).
func (s *MetadataStore) leaseExec(ctx context.Context, lease core.Lease, query string, args ...any) error {
	res, err := s.w.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	return checkHolder(ctx, s.r, lease)
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

// readLease reads the lease of key; found is false when there is none.
func readLease(ctx context.Context, db *sql.DB, key core.KeyID) (info core.LeaseInfo, token string, found bool, err error) {
	var (
		run               string
		acquired, expires int64
	)
	err = db.QueryRowContext(ctx, sqlLeaseGet, string(key)).Scan(&token, &run, &info.Owner.Host, &info.Owner.PID, &acquired, &expires)
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
func checkHolder(ctx context.Context, db *sql.DB, lease core.Lease) error {
	cur, token, found, err := readLease(ctx, db, lease.Key)
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
