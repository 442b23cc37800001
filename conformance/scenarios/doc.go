// Package scenarios holds TestScenarios, the caching scenarios of
// flowcache's model (hits, misses, code versions, overrides, recompute and
// disable, fan-out) run end to end through the reference driver, package
// driver, on a pair of stores.
//
// It is apart from package conformance because it runs the driver and so
// links what the driver links, its built-in local store among it; package
// conformance, the store and format contracts, imports no backend. A backend
// runs both from its tests:
//
//	func TestScenarios(t *testing.T) {
//		scenarios.TestScenarios(t, func(t *testing.T) (core.MetadataStore, core.ResultStore) {
//			meta, results := openMyStores(t)
//			return meta, results
//		})
//	}
//
// TestURL runs them on a store by URL (see conformance.TestURL), and
// `go test ./conformance/urltest -args -url=<store URL>` runs
// them too, after the store suites.
package scenarios
