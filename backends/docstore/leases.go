package docstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	gcds "gocloud.dev/docstore"
	"gocloud.dev/gcerrors"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowcache/flowcache/core"
)

// maxLeaseAttempts bounds the conditional writes of one lease call that
// concurrent writers refuse before it gives up.
const maxLeaseAttempts = 16

var _ core.Leaser = (*MetadataStore)(nil)

func leaseKey(id core.KeyID) *document {
	return &document{PK: leasePrefix + string(id), SK: leaseSK}
}

func newLeaseDoc(l core.Lease) *document {
	d := leaseKey(l.Key)
	d.Kind, d.Run, d.Host, d.PID, d.Token = kindLease, string(l.Owner.Run), l.Owner.Host, int64(l.Owner.PID), l.Token
	d.Acquired, d.Expires = l.Acquired.UnixNano(), l.Expires.UnixNano()
	return d
}

// lease returns the lease a lease document holds. A document that is not
// one (edited by hand, damaged) reads as a released lease (an empty
// token): a lease never stands for a result, so the worst it can do is let
// two owners execute a node.
func (d *document) lease(key core.KeyID) core.Lease {
	if d.Kind != kindLease || d.Token == "" {
		return core.Lease{LeaseInfo: core.LeaseInfo{Key: key}}
	}
	return core.Lease{
		LeaseInfo: core.LeaseInfo{
			Key:      key,
			Owner:    core.LeaseOwner{Run: core.RunID(d.Run), Host: d.Host, PID: int(d.PID)},
			Acquired: time.Unix(0, d.Acquired), Expires: time.Unix(0, d.Expires),
		},
		Token: d.Token,
	}
}

// readLease reads the lease document of key, with its revision; nil when
// there is none.
func (s *MetadataStore) readLease(ctx context.Context, key core.KeyID) (*document, error) {
	d := leaseKey(key)
	err := s.get(ctx, d)
	switch {
	case errors.Is(err, core.ErrNotFound):
		return nil, nil
	case errors.Is(err, core.ErrCorrupt):
		// Replaced as a released lease, under the revision read.
		return &document{PK: d.PK, SK: d.SK, DocstoreRevision: d.DocstoreRevision}, nil
	case err != nil:
		return nil, err
	}
	return d, nil
}

// AcquireLease takes the lease of key (see core.Leaser and the package
// doc): a Create, which fails when the lease document exists; then a read,
// and, when that lease expired (its Expires plus core.LeaseClockMargin
// passed by this machine's clock), a Replace under its revision.
func (s *MetadataStore) AcquireLease(ctx context.Context, key core.KeyID, owner core.LeaseOwner, ttl time.Duration) (core.Lease, *core.LeaseInfo, error) {
	op := "acquire lease of key " + string(key)
	if err := s.leaseCall(op, key, owner, ttl); err != nil {
		return core.Lease{}, nil, err
	}
	for attempt := 0; ; attempt++ {
		now := core.StoredTime(s.now())
		lease := core.Lease{
			LeaseInfo: core.LeaseInfo{Key: key, Owner: owner, Acquired: now, Expires: now.Add(ttl)},
			Token:     rand.Text(),
		}
		err := s.coll.Create(ctx, newLeaseDoc(lease))
		if err == nil {
			return lease, nil, nil
		}
		var cur *document
		switch {
		case aborted(err):
		case !isCode(err, gcerrors.AlreadyExists):
			return core.Lease{}, nil, s.fail(op, err)
		default:
			if cur, err = s.readLease(ctx, key); err != nil && !aborted(err) {
				return core.Lease{}, nil, s.fail(op, err)
			}
		}
		if cur != nil {
			old := cur.lease(key)
			if old.Token != "" && !old.Expired(core.StoredTime(s.now()), core.LeaseClockMargin) {
				return core.Lease{}, &old.LeaseInfo, nil
			}
			ok, err := s.takeOver(ctx, cur, old, lease)
			if err != nil {
				return core.Lease{}, nil, s.fail(op, err)
			}
			if ok {
				if old.Token != "" {
					lease.TakenOver = &old.LeaseInfo
				}
				return lease, nil, nil
			}
		}
		// Released, or taken over by another, in between: look again.
		if err := retryLease(ctx, op, attempt); err != nil {
			return core.Lease{}, nil, s.fail(op, err)
		}
	}
}

// claimTTL is how long a takeover claim keeps others from taking the same
// expired lease over: the claimant replaces the lease and deletes its claim
// in two requests; a claimant that died leaves a claim the next taker
// deletes after this (plus core.LeaseClockMargin).
const claimTTL = 10 * time.Second

// takeOver replaces the expired lease document cur, which holds old, with
// lease; it reports false when another owner changed it or is taking it
// over. A Replace under cur's revision would do on DynamoDB, Firestore
// and MongoDB, but FerretDB (the MongoDB stand-in of the tests) checks the
// revision and replaces in two steps, so that every owner of a race
// replaced it: the takers first Create a claim document named after the
// lease they replace, which only one of them can, and only that one
// replaces the lease, then deletes its claim.
func (s *MetadataStore) takeOver(ctx context.Context, cur *document, old, lease core.Lease) (bool, error) {
	claim := &document{PK: cur.PK, SK: claimSK(old), Kind: kindLease, Run: string(lease.Owner.Run), Host: lease.Owner.Host,
		PID: int64(lease.Owner.PID), Token: lease.Token, Expires: core.StoredTime(s.now()).Add(claimTTL).UnixNano()}
	err := s.coll.Create(ctx, claim)
	if aborted(err) {
		return false, nil
	}
	if isCode(err, gcerrors.AlreadyExists) {
		// Another taker's claim; a stale one (its taker died) is deleted.
		other := &document{PK: claim.PK, SK: claim.SK}
		if gerr := s.get(ctx, other); gerr == nil && time.Unix(0, other.Expires).Add(core.LeaseClockMargin).Before(s.now()) {
			_ = s.coll.Delete(ctx, &document{PK: other.PK, SK: other.SK, DocstoreRevision: other.DocstoreRevision})
		}
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer func() {
		_ = s.coll.Delete(context.WithoutCancel(ctx), &document{PK: claim.PK, SK: claim.SK, DocstoreRevision: claim.DocstoreRevision})
	}()
	d := newLeaseDoc(lease)
	d.DocstoreRevision = cur.DocstoreRevision
	err = s.coll.Replace(ctx, d)
	if err != nil && (conflict(err) || aborted(err)) {
		return false, nil
	}
	return err == nil, err
}

// claimSK is the sort key of the claim to take old over.
func claimSK(old core.Lease) string {
	if old.Token == "" {
		return "takeover"
	}
	return "takeover:" + old.Token
}

// RenewLease extends lease (see core.Leaser): a read and a Replace under
// the revision read.
func (s *MetadataStore) RenewLease(ctx context.Context, lease core.Lease, ttl time.Duration) (core.Lease, error) {
	op := "renew lease of key " + string(lease.Key)
	if err := s.leaseCall(op, lease.Key, lease.Owner, ttl); err != nil {
		return core.Lease{}, err
	}
	for attempt := 0; ; attempt++ {
		cur, err := s.readLease(ctx, lease.Key)
		if err == nil {
			err = lostTo(cur, lease)
		}
		if err != nil && !aborted(err) {
			return core.Lease{}, s.fail(op, err)
		}
		if err != nil {
			if err := retryLease(ctx, op, attempt); err != nil {
				return core.Lease{}, s.fail(op, err)
			}
			continue
		}
		renewed := lease
		renewed.Expires = core.StoredTime(s.now()).Add(ttl)
		d := newLeaseDoc(renewed)
		d.Acquired, d.DocstoreRevision = cur.Acquired, cur.DocstoreRevision
		err = s.coll.Replace(ctx, d)
		if err == nil {
			return renewed, nil
		}
		if !conflict(err) && !aborted(err) {
			return core.Lease{}, s.fail(op, err)
		}
		if err := retryLease(ctx, op, attempt); err != nil {
			return core.Lease{}, s.fail(op, err)
		}
	}
}

// ReleaseLease ends lease (see core.Leaser): a read and a Delete under the
// revision read (docstore deletes conditionally on every database).
func (s *MetadataStore) ReleaseLease(ctx context.Context, lease core.Lease) error {
	op := "release lease of key " + string(lease.Key)
	if err := s.checkOpen(op); err != nil {
		return err
	}
	if err := lease.Key.Validate(); err != nil {
		return s.fail(op, err)
	}
	for attempt := 0; ; attempt++ {
		cur, err := s.readLease(ctx, lease.Key)
		if err == nil {
			err = lostTo(cur, lease)
		}
		if errors.Is(err, errNoLease) {
			return nil
		}
		if err == nil {
			err = s.coll.Delete(ctx, &document{PK: cur.PK, SK: cur.SK, DocstoreRevision: cur.DocstoreRevision})
			if err == nil || isCode(err, gcerrors.NotFound) {
				return nil
			}
		}
		if !conflict(err) && !aborted(err) {
			return s.fail(op, err)
		}
		if err := retryLease(ctx, op, attempt); err != nil {
			return s.fail(op, err)
		}
	}
}

func (s *MetadataStore) leaseCall(op string, key core.KeyID, owner core.LeaseOwner, ttl time.Duration) error {
	if err := s.checkOpen(op); err != nil {
		return err
	}
	if err := core.ValidateLease(key, owner, ttl); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// errNoLease says that no lease of the key is stored (or a released one).
var errNoLease = fmt.Errorf("%w: no longer stored", core.ErrLeaseLost)

// lostTo returns nil when cur holds lease, errNoLease when no lease is
// stored, and an error wrapping core.ErrLeaseLost naming the holder when
// another is.
func lostTo(cur *document, lease core.Lease) error {
	if cur == nil {
		return errNoLease
	}
	switch l := cur.lease(lease.Key); {
	case l.Token == "":
		return errNoLease
	case l.Token != lease.Token:
		return fmt.Errorf("%w: taken over by %s", core.ErrLeaseLost, l.Owner)
	}
	return nil
}

// aborted reports whether err is a transaction the database aborted under
// contention, which is retried like a lost race: the Firestore emulator
// answers concurrent writes of one document with gRPC's Aborted
// ("Transaction lock timeout"), which gcerrors codes as Unknown.
func aborted(err error) bool {
	var ale gcds.ActionListError
	if errors.As(err, &ale) {
		for _, e := range ale {
			if status.Code(e.Err) == codes.Aborted {
				return true
			}
		}
		return false
	}
	return err != nil && status.Code(err) == codes.Aborted
}

// retryLease waits before attempt+1 of a lease call whose conditional
// write was refused, or fails when the attempts are spent.
func retryLease(ctx context.Context, op string, attempt int) error {
	if attempt+1 >= maxLeaseAttempts {
		return fmt.Errorf("%s: %d conditional writes refused, each time changed by another writer", op, maxLeaseAttempts)
	}
	return backoff(ctx, attempt+1)
}
