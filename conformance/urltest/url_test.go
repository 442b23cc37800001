// Package urltest runs the store suites of package conformance and the
// scenarios of conformance/scenarios against a store by URL, with every
// backend of this module linked in:
//
//	go test ./conformance/urltest -args -url=<URL>
//
// It holds only tests. They link the cloud SDKs (AWS, Google Cloud, Azure,
// MongoDB), which the tests of package conformance do not, so that
// scripts/test runs those and leaves this package out; its S3 test needs
// the servers of scripts/servers.
package urltest

import (
	"flag"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	// The backends a store URL may name.
	_ "github.com/flowcache/flowcache/backends/azure"
	_ "github.com/flowcache/flowcache/backends/docstore"
	_ "github.com/flowcache/flowcache/backends/gcs"
	_ "github.com/flowcache/flowcache/backends/local"
	_ "github.com/flowcache/flowcache/backends/mem"
	_ "github.com/flowcache/flowcache/backends/s3"
	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/conformance/scenarios"
	"github.com/flowcache/flowcache/core"
)

var (
	storeURL = flag.String("url", "", "run the store suites against this store URL: a path, file://, s3://, gs://, azblob:// (DESTRUCTIVE: it must name an empty, dedicated store; the suites delete everything in it). mem://name too. Another scheme: call conformance.TestURL from a test that imports its backend")
	metaURL  = flag.String("metadata", "", "with -url: keep the metadata in this store instead (dynamodb://, firestore://, mongo://); added to -url as its query-escaped metadata parameter")
)

// TestStoreURL runs the metadata, result and scenario suites against a
// store by URL: `go test ./conformance/urltest -run TestStoreURL -args -url=<URL>`.
// Without -url it runs them against a fresh local directory. It is
// conformance.TestURL and scenarios.TestURL with the backends of this
// module linked in.
func TestStoreURL(t *testing.T) {
	raw := *storeURL
	if *metaURL != "" {
		sep := "?"
		if strings.Contains(raw, "?") {
			sep = "&"
		}
		raw += sep + core.MetadataParam + "=" + url.QueryEscape(*metaURL)
	}
	urls := []string{raw}
	if *storeURL == "" {
		urls = []string{"file://" + filepath.ToSlash(t.TempDir())}
	}
	for _, raw := range urls {
		u, _ := url.Parse(raw)
		t.Run(u.Scheme, func(t *testing.T) {
			testURL(t, raw)
		})
	}
}

func testURL(t *testing.T, raw string) {
	conformance.TestURL(t, raw)
	t.Run("Scenarios", func(t *testing.T) {
		scenarios.TestURL(t, raw)
	})
}
