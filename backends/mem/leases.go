package mem

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/flowcache/flowcache/core"
)

// leaseTable holds the leases of a MetadataStore (see core.Leaser): a map
// under a mutex of its own, so that leases never wait for a batch write.
type leaseTable struct {
	mu     sync.Mutex
	leases map[core.KeyID]core.Lease
}

var _ core.Leaser = (*MetadataStore)(nil)

// AcquireLease takes the lease of key (see core.Leaser): a map lookup and
// store under a mutex, exclusive among the goroutines of this process,
// expiry judged by the process's clock (the store's clock, time.Now).
// Leases live as long as the store: DeleteAll leaves them.
func (s *MetadataStore) AcquireLease(ctx context.Context, key core.KeyID, owner core.LeaseOwner, ttl time.Duration) (core.Lease, *core.LeaseInfo, error) {
	op := "acquire lease of key " + string(key)
	if err := core.ValidateLease(key, owner, ttl); err != nil {
		return core.Lease{}, nil, fmt.Errorf("mem: %s: %w", op, err)
	}
	if err := s.checkLeases(op); err != nil {
		return core.Lease{}, nil, err
	}
	t := &s.leases
	t.mu.Lock()
	defer t.mu.Unlock()
	now := core.StoredTime(s.now())
	var took *core.LeaseInfo
	if cur, ok := t.leases[key]; ok {
		if !cur.Expired(now, 0) {
			held := cur.LeaseInfo
			return core.Lease{}, &held, nil
		}
		took = &cur.LeaseInfo
	}
	l := core.Lease{
		LeaseInfo: core.LeaseInfo{Key: key, Owner: owner, Acquired: now, Expires: now.Add(ttl)},
		Token:     rand.Text(),
	}
	if t.leases == nil {
		t.leases = map[core.KeyID]core.Lease{}
	}
	t.leases[key] = l
	l.TakenOver = took
	return l, nil, nil
}

// RenewLease extends lease to now plus ttl (see core.Leaser).
func (s *MetadataStore) RenewLease(ctx context.Context, lease core.Lease, ttl time.Duration) (core.Lease, error) {
	op := "renew lease of key " + string(lease.Key)
	if err := core.ValidateLease(lease.Key, lease.Owner, ttl); err != nil {
		return core.Lease{}, fmt.Errorf("mem: %s: %w", op, err)
	}
	if err := s.checkLeases(op); err != nil {
		return core.Lease{}, err
	}
	t := &s.leases
	t.mu.Lock()
	defer t.mu.Unlock()
	cur, ok := t.leases[lease.Key]
	if !ok || cur.Token != lease.Token {
		return core.Lease{}, fmt.Errorf("mem: %s: %w", op, lostTo(cur, ok))
	}
	cur.Expires = core.StoredTime(s.now()).Add(ttl)
	t.leases[lease.Key] = cur
	cur.TakenOver = lease.TakenOver
	return cur, nil
}

// ReleaseLease ends lease (see core.Leaser).
func (s *MetadataStore) ReleaseLease(ctx context.Context, lease core.Lease) error {
	op := "release lease of key " + string(lease.Key)
	if err := s.checkLeases(op); err != nil {
		return err
	}
	t := &s.leases
	t.mu.Lock()
	defer t.mu.Unlock()
	cur, ok := t.leases[lease.Key]
	switch {
	case !ok:
		return nil
	case cur.Token != lease.Token:
		return fmt.Errorf("mem: %s: %w", op, lostTo(cur, ok))
	}
	delete(t.leases, lease.Key)
	return nil
}

func (s *MetadataStore) checkLeases(op string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errClosed(op)
	}
	return nil
}

// lostTo says why a lease is no longer its holder's: cur, when stored
// (ok), is the holding that replaced it.
func lostTo(cur core.Lease, ok bool) error {
	if !ok {
		return fmt.Errorf("%w: no longer stored", core.ErrLeaseLost)
	}
	return fmt.Errorf("%w: taken over by %s", core.ErrLeaseLost, cur.Owner)
}
