package blobstore_test

import (
	"context"
	"fmt"
	"io"

	"gocloud.dev/blob/memblob"

	"github.com/flowcache/flowcache/backends/blobstore"
	"github.com/flowcache/flowcache/core"
)

// Any gocloud.dev bucket becomes a verified, content-addressed result store.
func ExampleNew() {
	ctx := context.Background()
	st := blobstore.New(memblob.OpenBucket(nil), blobstore.WithPrefix("results/"), blobstore.WithOwnedBucket())
	defer st.Close()
	id := core.ResultID{Version: "0123456789abcdef", Format: "txt"}
	n, err := st.Put(ctx, id, func(w io.Writer) error {
		_, err := io.WriteString(w, "hello")
		return err
	})
	if err != nil {
		panic(err)
	}
	rc, err := st.Get(ctx, id)
	if err != nil {
		panic(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc) // verified against its checksum at the end
	fmt.Println(n, string(b), err, st.Key(id))
	// Output: 5 hello <nil> results/01/0123456789abcdef.txt
}
