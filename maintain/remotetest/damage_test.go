// Package remotetest runs maintain's damage scenarios (package
// maintain/internal/damagetest) on a cache in a bucket of the test S3
// server (MinIO, started by scripts/servers; skipped without it, a failure
// in CI). It holds only tests: they link the AWS SDK, which maintain's own
// tests do not, so that scripts/test runs those and leaves this one out.
package remotetest

import (
	"context"
	"testing"

	"gocloud.dev/blob"

	"github.com/flowcache/flowcache/backends/blobstore"
	_ "github.com/flowcache/flowcache/backends/s3"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/internal/servertest"
	"github.com/flowcache/flowcache/maintain/internal/damagetest"
)

// s3Env is a cache in a fresh bucket of the test S3 server (MinIO).
func s3Env(t *testing.T) damagetest.Env {
	url := servertest.S3URL(t, servertest.S3Bucket(t), "cache/")
	open := func(t *testing.T) *core.Stores {
		st, err := core.OpenURL(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// raw calls fn with the bucket and the object name of id.
	raw := func(t *testing.T, id core.ResultID, fn func(b *blob.Bucket, key string) error) {
		st := open(t)
		defer st.Close()
		bs := st.Results.(*blobstore.ResultStore)
		if err := fn(bs.Bucket(), bs.Key(id)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	return damagetest.Env{
		Name:    "s3",
		Open:    open,
		Payload: damagetest.BlobHeader,
		Read: func(t *testing.T, id core.ResultID) (b []byte) {
			raw(t, id, func(bk *blob.Bucket, key string) (err error) { b, err = bk.ReadAll(ctx, key); return err })
			return b
		},
		Write: func(t *testing.T, id core.ResultID, b []byte) {
			raw(t, id, func(bk *blob.Bucket, key string) error { return bk.WriteAll(ctx, key, b, nil) })
		},
		Gone: func(t *testing.T, id core.ResultID) (gone bool) {
			raw(t, id, func(bk *blob.Bucket, key string) error {
				ok, err := bk.Exists(ctx, key)
				gone = !ok
				return err
			})
			return gone
		},
	}
}

// The verify/gc half of TestGobMapCountBitFlip on S3 (one bit in five).
func TestBitFlipInStoredMap(t *testing.T) {
	env := s3Env(t)
	t.Run(env.Name, func(t *testing.T) { damagetest.BitFlip(t, env) })
}

// Value A's stored bytes under value B's id, copied or rewritten, are a
// miss for B's node on S3.
func TestResultUnderAnotherValuesID(t *testing.T) {
	for _, how := range []string{"copied", "rewritten"} {
		env := s3Env(t)
		t.Run(env.Name+"/"+how, func(t *testing.T) { damagetest.ResultUnderAnotherValuesID(t, env, damagetest.Maps, how) })
	}
}
