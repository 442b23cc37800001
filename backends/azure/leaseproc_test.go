package azure_test

import (
	"testing"

	"github.com/flowcache/flowcache/internal/leasetest"
	"github.com/flowcache/flowcache/internal/servertest"
)

// TestLeaseChild is one process of the multi-process lease tests.
func TestLeaseChild(t *testing.T) {
	if !leasetest.Child(t) {
		t.Skip("run by TestLeasesManyProcesses and TestLeasesKilledHolder")
	}
}

// Eight processes on one Azurite container run a fan-out of 200 tasks at
// the same moment with leases (If-None-Match: * creates a lease, If-Match
// takes it over): each task executes once across them, and a run
// afterwards executes nothing.
func TestLeasesManyProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts 8 processes")
	}
	container := servertest.AzureContainer(t)
	leasetest.ManyProcesses(t, "TestLeaseChild", servertest.AzureURL(t, container, "leases"), 8, 200)
}

// A process killed with SIGKILL while it holds a lease on the container delays
// the next one by the lease's time to live (and the clock margin); that
// one takes over and completes.
func TestLeasesKilledHolder(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts processes")
	}
	container := servertest.AzureContainer(t)
	leasetest.KilledHolder(t, "TestLeaseChild", servertest.AzureURL(t, container, "killed"))
}
