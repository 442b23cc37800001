package azure_test

import (
	"testing"

	"github.com/flowcache/flowcache/backends/internal/buckettest"
	"github.com/flowcache/flowcache/internal/servertest"
)

// TestSharedLeases: stores on one Azurite container, each with its own
// client, acquiring or taking over one lease at the same instant: one gets
// it (If-None-Match: * creates, If-Match rewrites).
func TestSharedLeases(t *testing.T) {
	buckettest.SharedLeases(t, servertest.AzureURL(t, servertest.AzureContainer(t), ""))
}
