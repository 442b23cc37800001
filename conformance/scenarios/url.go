package scenarios

import (
	"testing"

	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/core"
)

// TestURL runs TestScenarios against the store rawURL names, as
// core.OpenURL opens it: every scenario opens its own stores by URL and
// empties them first. The store must be empty when TestURL starts and
// dedicated to the test (see conformance.TestURL). A backend of another
// module calls it from a test that imports the backend, so that its scheme
// is registered:
//
//	func TestScenarios(t *testing.T) {
//		scenarios.TestURL(t, "dir://"+t.TempDir())
//	}
func TestURL(t *testing.T, rawURL string) {
	t.Helper()
	open := conformance.OpenURLFunc(t, rawURL)
	TestScenarios(t, func(t *testing.T) (core.MetadataStore, core.ResultStore) {
		st := open(t)
		if st.Close != nil {
			t.Cleanup(func() { st.Close() })
		}
		return st.Metadata, st.Results
	})
}
