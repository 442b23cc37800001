package scenarios_test

import (
	"testing"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/conformance/scenarios"
	"github.com/flowcache/flowcache/core"
)

// TestScenarios runs the suite on in-memory stores, so that the package's own
// tests exercise it (every backend also runs it from its tests).
func TestScenarios(t *testing.T) {
	if *storeURL != "" {
		t.Log("-url: package conformance/urltest's TestStoreURL runs the scenarios against it; here they run on in-memory stores")
	}
	scenarios.TestScenarios(t, func(t *testing.T) (core.MetadataStore, core.ResultStore) {
		st := mem.Open()
		t.Cleanup(func() { st.Close() })
		return st.Metadata(), st.Results()
	})
}
