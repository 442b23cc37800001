// Package conformance holds the contract tests every flowcache store passes:
// TestMetadataStore for core.MetadataStore implementations,
// TestResultStore for core.ResultStore implementations, and TestFormat for
// core.Format implementations. It imports no backend and no driver; the
// caching scenarios run end to end through the reference driver are in
// package conformance/scenarios (scenarios.TestScenarios).
//
// TestURL runs the store suites against a store by URL, opened with
// core.OpenURL (an empty, dedicated one: they delete everything in it), and
// scenarios.TestURL runs the scenarios. A backend of another module
// registers its scheme by being imported, so it runs them from a test file
// of its own, then `go test ./...` in its module:
//
//	import (
//		"testing"
//
//		_ "example.com/mybackend" // registers dir://
//		"github.com/flowcache/flowcache/conformance"
//		"github.com/flowcache/flowcache/conformance/scenarios"
//	)
//
//	func TestConformance(t *testing.T) {
//		conformance.TestURL(t, "dir://"+t.TempDir())
//		scenarios.TestURL(t, "dir://"+t.TempDir())
//	}
//
// conformance/testdata/dirbackend is such a backend, a module of its own
// (example.com/dirbackend, dir://: a cache in a directory, through
// backends/bucket over a gocloud.dev fileblob bucket). In its directory:
//
//	go test ./...                                  # the suites by URL, on a temporary dir:// store
//	go test ./... -args -url=dir:///tmp/dirstore   # on an empty, dedicated store of your choice
//	go build -o /tmp/flowcache ./cmd/flowcache     # the flowcache command with dir:// linked in (cli.Main)
//
// and TestExternalBackend, a test of this package, runs them and checks
// their output (skipped under -short).
//
// For the schemes of this module,
// `go test ./conformance/urltest -args -url=<store URL>` does the
// same against a store of your choice. With a store at hand, a backend runs
// the suites on it directly:
//
//	func TestConformance(t *testing.T) {
//		conformance.TestMetadataStore(t, func(t *testing.T) core.MetadataStore {
//			s, err := mybackend.OpenMetadata(t.Context(), t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// The open functions must return a new, empty store for every call; the
// suites close the stores they open. Subtests that need a lot of time or
// memory (a 100 MB result) are skipped under -short. Every store operation
// of the suites, and every Read of a result, must return within OpTimeout
// (30 s, 2 minutes under the race detector; `-args -op-timeout=5m` to
// change it): one that does not, or a
// reader that returns (0, nil) over and over, fails the test with the
// operation and the key named instead of hanging it.
//
// # The metadata contract, beyond the core.MetadataStore doc comments
//
//   - Get of a missing key returns an error wrapping core.ErrNotFound whose
//     message contains the key id; Run of an unknown run likewise names it.
//   - Write stores an entry's key parts so Get returns a key with the same
//     ID, node name, code version and dependencies (nil and empty
//     dependency lists both read back empty).
//   - Times: an entry's Created is its own Created if set, else the batch's
//     Now; when the key already maps to the same data version and format,
//     the earlier Created is kept (re-storing the same mapping is not a new
//     mapping), otherwise the new one replaces it. LastUsed is the entry's
//     own if set, else Now. A hit sets LastUsed to Now unless LastUsed is
//     later already. A zero Now means the store's clock. Times keep
//     nanoseconds.
//   - A batch is all or nothing: an invalid part (an entry without node or
//     data version, records without a run id) fails the whole batch with an
//     error wrapping core.ErrInvalid and nothing of it is visible.
//   - Records of a run that was not begun with BeginRun begin it, started at
//     the batch's Now. BeginRun of a known run is a no-op.
//   - A record's key is its node's key: a non-zero Key reads back with
//     Key.Node equal to the record's Node; a zero Key reads back zero.
//   - After Close, methods return errors wrapping core.ErrClosed.
//   - A store that is a core.EntryRemover removes only the entries still as
//     they were listed: not one used, replaced or deleted since.
//   - A store that is a core.Leaser keeps the lease contract (TestLeaser,
//     TestMetadataStore's Leases subtest: exclusive acquire, expiry and
//     takeover, renewal, release, a non-owner refused, concurrent
//     acquirers); TestSharedLeases checks it across handles on one store.
//
// # The result contract, beyond the core.ResultStore doc comments
//
//   - Get of a missing result wraps core.ErrNotFound and names the result.
//   - Damage to a stored object makes Get or Read fail with an error
//     wrapping core.ErrCorrupt; a reader never reaches io.EOF on damaged
//     bytes. The corrupt function given to TestResultStore is called for
//     several results (empty, small, a few hundred KiB) and should vary the
//     damage between calls (truncate, flip a byte in different places) so
//     that each kind is exercised.
//   - A result stored under one format is never returned for another.
//   - After Close, methods return errors wrapping core.ErrClosed.
package conformance
