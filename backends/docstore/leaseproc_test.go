package docstore_test

import (
	"net/url"
	"testing"

	_ "github.com/flowcache/flowcache/backends/s3" // results in MinIO
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/internal/leasetest"
	"github.com/flowcache/flowcache/internal/servertest"
)

// TestLeaseChild is one process of the multi-process lease tests.
func TestLeaseChild(t *testing.T) {
	if !leasetest.Child(t) {
		t.Skip("run by TestLeasesManyProcesses and TestLeasesKilledHolder")
	}
}

// dynamoDBStoreURL returns the URL of a cache with its results in a new
// MinIO bucket and its metadata, leases included, in a new DynamoDB table
// (the metadata parameter): the layout of machines sharing an S3 bucket and
// a table.
func dynamoDBStoreURL(t *testing.T, prefix string) string {
	meta := dynamoDBURL(t)
	return servertest.S3URL(t, servertest.S3Bucket(t), prefix) + "&" + core.MetadataParam + "=" + url.QueryEscape(meta)
}

// Eight processes on one MinIO bucket with metadata in one DynamoDB table
// run a fan-out of 200 tasks at the same moment with leases (a docstore
// Create makes a lease, a Replace under its revision takes it over): each task executes once across them, and a run afterwards
// executes nothing.
func TestLeasesManyProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts 8 processes")
	}
	leasetest.ManyProcesses(t, "TestLeaseChild", dynamoDBStoreURL(t, "leases"), 8, 200)
}

// A process killed with SIGKILL while it holds a lease in the DynamoDB
// table delays the next one by the lease's time to live (and the clock
// margin); that one takes over and completes.
func TestLeasesKilledHolder(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts processes")
	}
	leasetest.KilledHolder(t, "TestLeaseChild", dynamoDBStoreURL(t, "killed"))
}
