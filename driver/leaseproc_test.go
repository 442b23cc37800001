package driver_test

import (
	"testing"

	"github.com/flowcache/flowcache/internal/leasetest"
)

// TestLeaseChild is one process of the multi-process lease tests.
func TestLeaseChild(t *testing.T) {
	if !leasetest.Child(t) {
		t.Skip("run by TestLeasesManyProcesses and TestLeasesKilledHolder")
	}
}

// Eight processes on one local directory run a fan-out of 200 tasks at the
// same moment with leases: each task executes once across them.
func TestLeasesManyProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts 8 processes")
	}
	leasetest.ManyProcesses(t, "TestLeaseChild", t.TempDir(), 8, 200)
}

// A process killed with SIGKILL while it holds a lease delays the next one
// by the lease's time to live; that one takes over and completes.
func TestLeasesKilledHolder(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts processes")
	}
	leasetest.KilledHolder(t, "TestLeaseChild", t.TempDir())
}
