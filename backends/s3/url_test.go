package s3_test

import (
	"testing"

	"github.com/flowcache/flowcache/backends/internal/buckettest"
)

// TestURLChecks checks what s3:// URLs are refused before any request, so
// that the package has tests without a server too.
func TestURLChecks(t *testing.T) {
	buckettest.URLChecks(t, "s3", "without a bucket name")
}
