package s3_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/flowcache/flowcache/backends/blobstore"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/internal/servertest"
)

// BenchmarkReadS3 reads a result of package blobstore from the test S3
// server (MinIO, on loopback) streamed (Get, verified at the end) and
// verified whole before it is handed over (GetVerified: spooled in memory
// up to core.SpoolMemory, to a temporary file beyond). It skips without
// the server (scripts/servers env). It is here rather than in blobstore's
// tests so that those build without the AWS SDK (scripts/test runs them).
func BenchmarkReadS3(b *testing.B) {
	ctx := context.Background()
	st, err := core.OpenURL(ctx, servertest.S3URL(b, servertest.S3Bucket(b), "bench/"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s := st.Results.(*blobstore.ResultStore)
	for _, size := range []int{1 << 10, 1 << 20, 100 << 20} {
		sum := sha256.Sum256(fmt.Append(nil, "s3bench", size))
		id := core.ResultID{Version: core.DataVersion(hex.EncodeToString(sum[:])), Format: "gob"}
		chunk := make([]byte, min(size, 1<<20))
		_, _ = rand.NewChaCha8([32]byte{1, 0, 3}).Read(chunk) // incompressible, as blobstore's randomPayload(n, 1)
		if _, err := s.Put(ctx, id, func(w io.Writer) error {
			for left := size; left > 0; left -= len(chunk) {
				if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		for _, mode := range []string{"get", "verified"} {
			b.Run(fmt.Sprintf("%s/%d", mode, size), func(b *testing.B) {
				get := s.Get
				if mode == "verified" {
					get = s.GetVerified
				}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					rc, err := get(ctx, id)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := io.Copy(io.Discard, rc); err != nil {
						b.Fatal(err)
					}
					rc.Close()
				}
			})
		}
	}
}
