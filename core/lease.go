package core

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
	"unicode/utf8"
)

// This file holds the lease contract: the optional capability of metadata
// stores with which many processes and machines sharing a cache execute a
// node once (single-flight) instead of once each.

// ErrLeaseLost is wrapped by the error of RenewLease and ReleaseLease when
// the lease is no longer the caller's: it expired and another owner took
// it over. Whoever held it may still store its result (results are
// content-addressed and entries replace each other, so two executions
// store the same thing twice, never a wrong value); it no longer keeps
// others from executing the node.
var ErrLeaseLost = errors.New("lease lost")

// LeaseClockMargin is how long past a lease's Expires a store that judges
// expiry by the writers' wall clocks (buckets, document databases: a
// lease's expiry is written by the holder's clock and read by another
// machine's) waits before another owner may take the lease over: the
// clocks of the machines sharing a cache may differ by up to this much.
// NTP keeps machines within milliseconds of each other; two seconds leaves
// room for a badly synchronised virtual machine and adds little to the
// wait after a crash, which is the lease's time to live anyway. Stores
// that judge expiry by one clock (local: the machine's; mem: the
// process's) take it over at Expires.
const LeaseClockMargin = 2 * time.Second

// LeaseOwner says who holds a lease: the run, and the host and process it
// runs in, so that a waiter can say whom it waits for.
type LeaseOwner struct {
	Run  RunID  `json:"run"`
	Host string `json:"host"`
	PID  int    `json:"pid"`
}

// NewLeaseOwner returns the owner of the leases run takes in this process:
// run, this machine's host name and this process's id.
func NewLeaseOwner(run RunID) LeaseOwner {
	host, _ := os.Hostname()
	return LeaseOwner{Run: run, Host: host, PID: os.Getpid()}
}

// String returns "run on host pid N".
func (o LeaseOwner) String() string {
	return fmt.Sprintf("run %s on %s pid %d", o.Run, o.Host, o.PID)
}

// LeaseWait is how long a run waited for the lease of one of its nodes,
// and for whom (see NodeRecord.Wait).
type LeaseWait struct {
	// For is the holder the run waited for: the last one it saw, when the
	// lease changed hands during the wait.
	For LeaseOwner `json:"for"`
	// Duration is from the run's first finding the lease held to its
	// finding the node's entry or taking the lease.
	Duration time.Duration `json:"duration"`
}

// Waited reports whether w is not the zero LeaseWait.
func (w LeaseWait) Waited() bool { return w != LeaseWait{} }

// String returns "waited 1.2s for run … on host pid N", or "" when the
// run did not wait.
func (w LeaseWait) String() string {
	if !w.Waited() {
		return ""
	}
	return fmt.Sprintf("waited %v for %s", w.Duration.Round(time.Millisecond), w.For)
}

// LeaseInfo describes a lease as stored: whose it is and until when.
type LeaseInfo struct {
	Key   KeyID      `json:"key"`
	Owner LeaseOwner `json:"owner"`
	// Acquired is when the owner took the lease, by the clock its store
	// judges expiry with (see Leaser).
	Acquired time.Time `json:"acquired"`
	// Expires is when the lease ends unless it is renewed before, by the
	// same clock. Another owner may take it over from then on (from
	// Expires plus LeaseClockMargin where the store says so).
	Expires time.Time `json:"expires"`
}

// Lease is a lease held: what AcquireLease and RenewLease return to its
// owner, the only one that can renew or release it.
type Lease struct {
	LeaseInfo
	// Token identifies this holding of the lease (the store's own: a
	// random nonce). A second AcquireLease of the same key gets another
	// token, even with the same owner, so a lease cannot be renewed or
	// released by a holder it was taken over from.
	Token string `json:"token"`
	// TakenOver is the expired lease this one replaced (its owner crashed
	// or lost the lease), nil when the key was free.
	TakenOver *LeaseInfo `json:"taken_over,omitempty"`
}

// Leaser is an optional interface of metadata stores that keep leases per
// cache key, so that processes and machines sharing the store execute a
// node once: an executor takes the lease of a node's key before it
// executes the node, renews it while the node runs (every third of its
// time to live, say), and releases it once the node's result and entry are
// stored, or when the node failed. An executor that finds the lease held
// waits (polls with backoff until the holder's Expires), reads the entry
// again, and takes the lease when it was released without an entry or has
// expired.
//
// The contract, the same for every store (package conformance checks it):
//
//   - Exclusive: of the owners acquiring one key at the same time, from
//     any goroutines, processes or machines sharing the store, exactly one
//     gets the lease; every other gets held, the holder's LeaseInfo. A
//     lease is not reentrant: a second AcquireLease of a held key is held
//     too, even with the same owner.
//   - Expiry: a lease not renewed ends at its Expires (plus
//     LeaseClockMargin where expiry is judged by the writers' clocks);
//     then the next AcquireLease takes it over (Lease.TakenOver says from
//     whom), and the old holder's RenewLease and ReleaseLease fail with
//     ErrLeaseLost.
//   - A crash (kill -9, a lost machine) leaves the lease stored until it
//     expires: it blocks the others for at most its time to live, and
//     nothing else. A lease never stands for a result: the entry is the
//     only proof that a node was stored, and a waiter reads it.
//   - Renewal sets Expires to now plus the new ttl. A holder whose lease
//     expired without anyone taking it over renews it still; one taken
//     over fails with ErrLeaseLost.
//   - Release ends the lease at once: the next AcquireLease gets it.
//     Releasing a lease no longer stored is no error (released twice,
//     or emptied with the store); releasing one another owner took over
//     is refused with ErrLeaseLost and leaves that owner's lease held.
//   - A key that KeyID.Validate refuses, an owner without run id
//     (LeaseOwner.Validate) or a ttl that is not positive is an error
//     wrapping ErrInvalid (see ValidateLease); a read-only store refuses
//     with ErrReadOnly; a closed one with ErrClosed.
//   - Leases are not entries: DeleteAll, Delete and EntryWalker ignore or
//     drop them, as the store finds convenient; a dropped lease is lost
//     to its holder (ErrLeaseLost), never a wrong value.
//
// Clocks: the local store judges expiry by the machine's clock (every
// process sharing its database runs on that machine); the memory store
// by the process's; stores shared by machines (buckets, document
// databases) by the wall clock of each machine, the holder's writing
// Expires and the taker's reading it, with LeaseClockMargin for the
// difference. Each store's documentation says what a lease costs (requests
// or statements) and which guarantees hold on which services.
type Leaser interface {
	// AcquireLease takes the lease of key for owner, for ttl. When another
	// holding of the lease has not expired, it returns held, that
	// holding's LeaseInfo, and a zero Lease; otherwise the Lease and a nil
	// held. Being held is not an error.
	AcquireLease(ctx context.Context, key KeyID, owner LeaseOwner, ttl time.Duration) (lease Lease, held *LeaseInfo, err error)
	// RenewLease extends lease to now plus ttl and returns it renewed. A
	// lease taken over by another owner, or no longer stored, is an error
	// wrapping ErrLeaseLost.
	RenewLease(ctx context.Context, lease Lease, ttl time.Duration) (Lease, error)
	// ReleaseLease ends lease. A lease no longer stored is no error; one
	// another owner took over is an error wrapping ErrLeaseLost, and stays
	// that owner's.
	ReleaseLease(ctx context.Context, lease Lease) error
}

// Validate reports, as an error wrapping ErrInvalid, an owner whose run id
// RunID.Validate refuses or whose host is not valid UTF-8.
func (o LeaseOwner) Validate() error {
	if err := o.Run.Validate(); err != nil {
		return fmt.Errorf("lease owner: %w", err)
	}
	if !utf8.ValidString(o.Host) {
		return fmt.Errorf("%w: lease owner host %q is not valid UTF-8", ErrInvalid, o.Host)
	}
	return nil
}

// ValidateLease reports, as an error wrapping ErrInvalid, the first
// invalid argument of an AcquireLease or RenewLease: a key KeyID.Validate
// refuses, an owner LeaseOwner.Validate refuses, a ttl that is not
// positive. Stores call it: CheckMetadata does not wrap capabilities.
func ValidateLease(key KeyID, owner LeaseOwner, ttl time.Duration) error {
	if err := key.Validate(); err != nil {
		return err
	}
	if err := owner.Validate(); err != nil {
		return err
	}
	if ttl <= 0 {
		return fmt.Errorf("%w: lease of key %s: time to live %v is not positive", ErrInvalid, key.Short(), ttl)
	}
	return nil
}

// Expired reports whether the lease l describes has ended at now, for a
// store that judges expiry with margin (LeaseClockMargin, or 0 for a store
// with one clock).
func (l LeaseInfo) Expired(now time.Time, margin time.Duration) bool {
	return !now.Before(l.Expires.Add(margin))
}
