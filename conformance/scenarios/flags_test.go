package scenarios_test

import "flag"

// The flags of package conformance/urltest's TestStoreURL, so that
// `go test ./conformance/... -args -url=<URL>` runs: that test runs the
// store suites and these scenarios against the URL, once; this package's
// own test stays on in-memory stores (two test binaries emptying one
// store at once would fail each other).
var (
	storeURL = flag.String("url", "", "accepted for `go test ./conformance/... -args -url=<URL>`: package conformance/urltest's TestStoreURL runs the scenarios against the URL; this package's tests use in-memory stores")
	_        = flag.String("metadata", "", "accepted with -url, see -url")
)
