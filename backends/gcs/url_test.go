package gcs_test

import (
	"testing"

	_ "github.com/flowcache/flowcache/backends/gcs" // registers gs://
	"github.com/flowcache/flowcache/backends/internal/buckettest"
)

// TestURLChecks checks what gs:// URLs are refused before any request, so
// that the package has tests without a server too.
func TestURLChecks(t *testing.T) {
	buckettest.URLChecks(t, "gs", "without a bucket name")
}
