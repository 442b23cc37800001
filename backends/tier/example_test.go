package tier_test

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"

	_ "github.com/flowcache/flowcache/backends/mem" // mem:// stands for a bucket here
	_ "github.com/flowcache/flowcache/backends/tier"
	"github.com/flowcache/flowcache/core"
)

// A local directory in front of a remote store, opened by URL: add
// local_cache (and local_cache_max) to any store URL, or to FLOWCACHE_URL.
// Here mem:// stands for s3://bucket/cache?region=….
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "tier-example")
	defer os.RemoveAll(dir)

	st, err := core.OpenURL(ctx, "mem://example?local_cache="+url.QueryEscape(dir)+"&local_cache_max=10GiB")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()

	id := core.ResultID{Version: "3fa9c1", Format: "raw"}
	// Stored in the remote store and, from the same bytes, in dir.
	st.Results.Put(ctx, id, func(w io.Writer) error {
		_, err := io.WriteString(w, "a large result")
		return err
	})
	// Read from dir, verified; a machine without the copy reads the
	// remote store once and keeps one.
	rc, err := core.GetVerified(ctx, st.Results, id)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	fmt.Println(string(b))
	// Output: a large result
}
