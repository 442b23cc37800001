package conformance_test

import "flag"

// The flags of package conformance/urltest's TestStoreURL, so that
// `go test ./conformance/... -args -url=<URL>` runs: that test, whose
// package links the backends of this module, runs the store suites against
// the URL; this package's tests stay on stores they open themselves.
var (
	_ = flag.String("url", "", "accepted for `go test ./conformance/... -args -url=<URL>`: package conformance/urltest's TestStoreURL runs the suites against the URL (go test ./conformance/urltest -args -url=<URL>)")
	_ = flag.String("metadata", "", "accepted with -url, see -url")
)
