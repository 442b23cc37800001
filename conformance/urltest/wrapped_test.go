package urltest

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/flowcache/flowcache/conformance/internal/wrapped"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/internal/servertest"
)

// TestWrappedStores is package conformance's TestWrappedStores on a bucket
// of the S3 server (see package servertest; skipped without it, a failure
// in CI), one prefix per pair of stores.
func TestWrappedStores(t *testing.T) {
	t.Run("s3", func(t *testing.T) {
		bucket := servertest.S3Bucket(t) // skips (or fails in CI) without a server
		var prefix atomic.Int64
		wrapped.Test(t, func(t *testing.T) wrapped.Pair {
			st, err := core.OpenURL(t.Context(), servertest.S3URL(t, bucket, fmt.Sprintf("wrapped/%d", prefix.Add(1))))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return wrapped.Pair{Meta: st.Metadata, Results: st.Results}
		})
	})
}
