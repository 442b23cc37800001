package blobmeta

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/flowcache/flowcache/core"
)

// Leases (core.Leaser) are objects meta/leases/<key id>, one per key
// leased, sealed like every metadata object (kindLease). A lease is
// created with IfNotExist (S3 and Azure: If-None-Match: *; GCS:
// ifGenerationMatch=0), taken over and renewed by the service's
// conditional rewrite (If-Match on the ETag, the generation: see
// Conditional), and released by a delete when it has time left, or else
// by a conditional rewrite into a released lease (a bucket has no
// conditional delete, and a lease about to expire may be taken over
// between the read and the delete).

// releaseDeleteAfter is how much time a lease must have left for its
// release to delete it rather than rewrite it conditionally: no other
// owner takes it over before its Expires plus core.LeaseClockMargin by its
// own clock, so a delete sent with twice that margin plus ten seconds to
// spare cannot remove a lease another owner took.
const releaseDeleteAfter = 2*core.LeaseClockMargin + 10*time.Second

// maxLeaseAttempts bounds the conditional writes of one lease call that
// concurrent writers refuse before it gives up.
const maxLeaseAttempts = 16

var _ core.Leaser = (*MetadataStore)(nil)

func (m *MetadataStore) leaseName(id core.KeyID) string {
	return m.prefix + "leases/" + safeName(string(id))
}

// storedLease is a lease object as read: the lease, its token ("" for a
// released lease), and the object's version for a conditional rewrite.
type storedLease struct {
	lease core.Lease
	read  casRead
}

func encodeLease(l core.Lease) []byte {
	b := appendStr(nil, string(l.Key))
	b = appendStr(b, l.Token)
	b = appendStr(b, string(l.Owner.Run))
	b = appendStr(b, l.Owner.Host)
	b = binary.AppendVarint(b, int64(l.Owner.PID))
	b = appendTime(b, l.Acquired)
	b = appendTime(b, l.Expires)
	return seal(kindLease, b)
}

func decodeLease(obj []byte) (core.Lease, error) {
	p, err := unseal(kindLease, obj)
	if err != nil {
		return core.Lease{}, err
	}
	d := &decoder{b: p}
	var l core.Lease
	l.Key, l.Token = core.KeyID(d.str("key id")), d.str("token")
	l.Owner.Run, l.Owner.Host = core.RunID(d.str("run id")), d.str("host")
	pid, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("pid")
	} else {
		d.b, l.Owner.PID = d.b[n:], int(pid)
	}
	l.Acquired, l.Expires = d.time("acquired time"), d.time("expiry time")
	return l, d.end()
}

// readLease reads the lease object of key. A damaged object, or one of
// another key, reads as a released lease: a lease never stands for a
// result, so the worst a damaged one can do is let two owners execute a
// node, never make anyone read a wrong value.
func (m *MetadataStore) readLease(ctx context.Context, key core.KeyID) (storedLease, error) {
	read, err := m.readCAS(ctx, m.leaseName(key))
	if err != nil || !read.exists {
		return storedLease{read: read}, err
	}
	l, err := decodeLease(read.data)
	if err != nil || l.Key != key {
		l = core.Lease{LeaseInfo: core.LeaseInfo{Key: key}}
	}
	return storedLease{lease: l, read: read}, nil
}

// lockLeases serializes this process's lease calls when the bucket has no
// conditional rewrite (memblob, fileblob), so that they are exclusive at
// least within the process; with one, the service arbitrates.
func (m *MetadataStore) lockLeases() (unlock func()) {
	if m.cond != nil {
		return func() {}
	}
	m.leaseMu.Lock()
	return m.leaseMu.Unlock
}

// AcquireLease takes the lease of key (see core.Leaser and the package
// doc): one conditional create when the key is free; when a lease object
// exists, a read too, and a conditional rewrite when that lease has
// expired (its Expires plus core.LeaseClockMargin passed by this
// machine's clock).
func (m *MetadataStore) AcquireLease(ctx context.Context, key core.KeyID, owner core.LeaseOwner, ttl time.Duration) (core.Lease, *core.LeaseInfo, error) {
	op := "acquire lease of key " + string(key)
	if err := m.leaseCall(op, key, owner, ttl); err != nil {
		return core.Lease{}, nil, err
	}
	defer m.lockLeases()()
	name := m.leaseName(key)
	for attempt := 0; ; attempt++ {
		now := core.StoredTime(m.now())
		lease := core.Lease{
			LeaseInfo: core.LeaseInfo{Key: key, Owner: owner, Acquired: now, Expires: now.Add(ttl)},
			Token:     rand.Text(),
		}
		ok, err := m.createLease(ctx, name, lease)
		if err != nil {
			return core.Lease{}, nil, fmt.Errorf("%s: %s: %w", m.name, op, err)
		}
		if ok {
			return lease, nil, nil
		}
		cur, err := m.readLease(ctx, key)
		if err != nil {
			return core.Lease{}, nil, fmt.Errorf("%s: %s: %w", m.name, op, err)
		}
		if cur.read.exists {
			if cur.lease.Token != "" && !cur.lease.Expired(core.StoredTime(m.now()), core.LeaseClockMargin) {
				held := cur.lease.LeaseInfo
				return core.Lease{}, &held, nil
			}
			ok, err := m.writeCAS(ctx, name, cur.read, encodeLease(lease))
			if err != nil {
				return core.Lease{}, nil, fmt.Errorf("%s: %s: %w", m.name, op, err)
			}
			if ok {
				if cur.lease.Token != "" {
					took := cur.lease.LeaseInfo
					lease.TakenOver = &took
				}
				return lease, nil, nil
			}
		}
		// Released or taken over in between: look again.
		if err := retryLease(ctx, op, attempt); err != nil {
			return core.Lease{}, nil, fmt.Errorf("%s: %w", m.name, err)
		}
	}
}

// createLease writes lease if no object is at name; it reports false when
// one is.
func (m *MetadataStore) createLease(ctx context.Context, name string, lease core.Lease) (bool, error) {
	// Upload, not NewWriter: azureblob's writer panics when a conditional
	// write is refused, its Upload reports FailedPrecondition.
	err := m.bucket.Upload(ctx, name, bytes.NewReader(encodeLease(lease)), &blob.WriterOptions{
		ContentType: "application/octet-stream", IfNotExist: true,
	})
	if gcerrors.Code(err) == gcerrors.FailedPrecondition || err != nil && m.cond != nil && m.cond.Conflict(err) {
		return false, nil
	}
	return err == nil, err
}

// RenewLease extends lease (see core.Leaser): a read and a conditional
// rewrite.
func (m *MetadataStore) RenewLease(ctx context.Context, lease core.Lease, ttl time.Duration) (core.Lease, error) {
	op := "renew lease of key " + string(lease.Key)
	if err := m.leaseCall(op, lease.Key, lease.Owner, ttl); err != nil {
		return core.Lease{}, err
	}
	defer m.lockLeases()()
	for attempt := 0; ; attempt++ {
		cur, err := m.readLease(ctx, lease.Key)
		if err == nil {
			err = lostTo(cur, lease)
		}
		if err != nil {
			return core.Lease{}, fmt.Errorf("%s: %s: %w", m.name, op, err)
		}
		renewed := lease
		renewed.Expires = core.StoredTime(m.now()).Add(ttl)
		ok, err := m.writeCAS(ctx, m.leaseName(lease.Key), cur.read, encodeLease(renewed))
		if err != nil {
			return core.Lease{}, fmt.Errorf("%s: %s: %w", m.name, op, err)
		}
		if ok {
			return renewed, nil
		}
		if err := retryLease(ctx, op, attempt); err != nil {
			return core.Lease{}, fmt.Errorf("%s: %w", m.name, err)
		}
	}
}

// ReleaseLease ends lease (see core.Leaser): a read, then a delete when
// the lease has releaseDeleteAfter left, else a conditional rewrite into a
// released lease (which the next AcquireLease replaces: a read and a
// conditional rewrite more).
func (m *MetadataStore) ReleaseLease(ctx context.Context, lease core.Lease) error {
	op := "release lease of key " + string(lease.Key)
	if err := m.checkOpen(op); err != nil {
		return err
	}
	if err := lease.Key.Validate(); err != nil {
		return fmt.Errorf("%s: %s: %w", m.name, op, err)
	}
	defer m.lockLeases()()
	name := m.leaseName(lease.Key)
	for attempt := 0; ; attempt++ {
		cur, err := m.readLease(ctx, lease.Key)
		if err == nil {
			err = lostTo(cur, lease)
		}
		if errors.Is(err, errNoLease) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %s: %w", m.name, op, err)
		}
		if cur.lease.Expires.Sub(m.now()) > releaseDeleteAfter {
			if err := m.remove(ctx, name); err != nil {
				return fmt.Errorf("%s: %s: %w", m.name, op, err)
			}
			return nil
		}
		released := core.Lease{LeaseInfo: core.LeaseInfo{Key: lease.Key}}
		ok, err := m.writeCAS(ctx, name, cur.read, encodeLease(released))
		if err != nil {
			return fmt.Errorf("%s: %s: %w", m.name, op, err)
		}
		if ok {
			return nil
		}
		if err := retryLease(ctx, op, attempt); err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
	}
}

func (m *MetadataStore) leaseCall(op string, key core.KeyID, owner core.LeaseOwner, ttl time.Duration) error {
	if err := m.checkOpen(op); err != nil {
		return err
	}
	if err := core.ValidateLease(key, owner, ttl); err != nil {
		return fmt.Errorf("%s: %s: %w", m.name, op, err)
	}
	return nil
}

// errNoLease says that no lease of the key is stored (or a released one).
var errNoLease = fmt.Errorf("%w: no longer stored", core.ErrLeaseLost)

// lostTo returns nil when cur is lease's holding, errNoLease when no lease
// is stored, and an error wrapping core.ErrLeaseLost naming the holder
// when another is.
func lostTo(cur storedLease, lease core.Lease) error {
	switch {
	case !cur.read.exists || cur.lease.Token == "":
		return errNoLease
	case cur.lease.Token != lease.Token:
		return fmt.Errorf("%w: taken over by %s", core.ErrLeaseLost, cur.lease.Owner)
	}
	return nil
}

// retryLease waits before attempt+1 of a lease call whose conditional
// write was refused, or fails when the attempts are spent.
func retryLease(ctx context.Context, op string, attempt int) error {
	if attempt+1 >= maxLeaseAttempts {
		return fmt.Errorf("%s: %d conditional writes refused, each time changed by another writer", op, maxLeaseAttempts)
	}
	return retryCAS(ctx, op, attempt)
}
