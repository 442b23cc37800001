package inspect_test

import (
	"context"
	"testing"

	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/internal/testflow"
)

// cacheDir is a cache directory that real pipelines run on at a time the
// test sets (see package testflow).
type cacheDir struct{ *testflow.Dir }

type runResult = testflow.Result

var wantDid = testflow.WantDid

func newCacheDir(t *testing.T) *cacheDir { return &cacheDir{testflow.NewDir(t)} }

// open opens the cache directory for inspection, with a clock after the
// entries' times.
func (c *cacheDir) open(opts ...inspect.Option) *inspect.Cache {
	c.T.Helper()
	ic, err := inspect.Open(context.Background(), c.Path, opts...)
	if err != nil {
		c.T.Fatal(err)
	}
	c.T.Cleanup(func() { ic.Close() })
	return ic
}
