package inspect

import (
	"testing"

	"github.com/flowcache/flowcache/backends/local"
)

// TestLocalMetadataFile: Open knows a local cache directory by the file
// backends/local keeps its metadata in, without importing the backend.
func TestLocalMetadataFile(t *testing.T) {
	if localMetadataFile != local.MetadataFile {
		t.Errorf("inspect looks for %q, backends/local keeps its metadata in %q", localMetadataFile, local.MetadataFile)
	}
}
