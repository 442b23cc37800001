package azure_test

import (
	"testing"

	"github.com/flowcache/flowcache/backends/azure"
	"github.com/flowcache/flowcache/backends/internal/buckettest"
	"github.com/flowcache/flowcache/internal/servertest"
)

// TestAzurite runs the store suites on Azurite (started by
// scripts/servers; .ci/run starts it).
func TestAzurite(t *testing.T) {
	container := servertest.AzureContainer(t)
	buckettest.Suite(t, servertest.AzureURL(t, container, ""))
}

// TestOpen checks azure.Open, on Azurite.
func TestOpen(t *testing.T) {
	buckettest.Open(t, servertest.AzureURL(t, servertest.AzureContainer(t), ""), "azure", azure.Open)
}
