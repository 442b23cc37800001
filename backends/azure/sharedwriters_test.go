package azure_test

import (
	"testing"

	"github.com/flowcache/flowcache/backends/internal/buckettest"
	"github.com/flowcache/flowcache/internal/servertest"
)

// TestSharedWriters: stores on one Azurite container adding keys to the
// same node indexes at the same instant lose none (If-Match rewrites), and
// no preload snapshot hides them.
func TestSharedWriters(t *testing.T) {
	buckettest.SharedWriters(t, servertest.AzureURL(t, servertest.AzureContainer(t), ""))
}
