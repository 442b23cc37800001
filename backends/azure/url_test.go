package azure_test

import (
	"testing"

	_ "github.com/flowcache/flowcache/backends/azure" // registers azblob://
	"github.com/flowcache/flowcache/backends/internal/buckettest"
)

// TestURLChecks checks what azblob:// URLs are refused before any request, so
// that the package has tests without a server too.
func TestURLChecks(t *testing.T) {
	buckettest.URLChecks(t, "azblob", "without a container name")
}
