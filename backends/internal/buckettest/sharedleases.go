package buckettest

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/flowcache/flowcache/backends/blobmeta"
	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/core"
)

// SharedLeases runs conformance.TestSharedLeases on metadata stores
// sharing a bucket, each with a bucket handle (an HTTP client) of its own,
// as processes on several machines have: the service's conditional create
// decides between owners acquiring a free key at once, its conditional
// rewrite between owners taking over an expired lease. baseURL is
// scheme://bucket?params of a bucket whose backend is imported.
func SharedLeases(t *testing.T, baseURL string) {
	base, err := url.Parse(baseURL)
	if err != nil {
		t.Fatal(err)
	}
	bu := url.URL{Scheme: base.Scheme, Host: base.Host, RawQuery: base.RawQuery}
	prefix := fmt.Sprintf("leases-%d/", time.Now().UnixNano())
	conformance.TestSharedLeases(t, func(t *testing.T) core.MetadataStore {
		b, err := blob.OpenBucket(context.Background(), bu.String())
		if err != nil {
			t.Fatal(err)
		}
		return blobmeta.New(b, prefix, blobmeta.WithOwnedBucket())
	})
}
