package servertest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
)

// GCSProject is the project the GCS helpers create buckets in (the emulator
// accepts any).
const GCSProject = "flowcache-test"

// GCSHost returns STORAGE_EMULATOR_HOST (fake-gcs-server at 127.0.0.1:4443 under
// scripts/servers) after checking that it answers. The storage client and
// gocloud's gcsblob send every request there when the variable is set.
func GCSHost(t testing.TB) string {
	t.Helper()
	host := needEnv(t, "GCS", "STORAGE_EMULATOR_HOST")
	hp := host
	if strings.Contains(hp, "://") {
		var err error
		if hp, err = endpointHostPort(hp); err != nil {
			unavailable(t, "GCS", "STORAGE_EMULATOR_HOST: "+err.Error())
		}
	}
	needDial(t, "GCS", hp, "STORAGE_EMULATOR_HOST")
	return host
}

// GCSClient returns a storage client for the GCS emulator; it is closed when
// the test ends.
func GCSClient(t testing.TB) *storage.Client {
	t.Helper()
	GCSHost(t)
	ctx, cancel := setupContext(t)
	defer cancel()
	// With STORAGE_EMULATOR_HOST set, NewClient talks to the emulator without
	// credentials.
	client, err := storage.NewClient(ctx)
	if err != nil {
		t.Fatalf("servertest: GCS client: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

// GCSBucket creates a new, uniquely named bucket on the GCS emulator and returns
// its name. When the test ends, its objects and the bucket are deleted.
func GCSBucket(t testing.TB) string {
	t.Helper()
	client := GCSClient(t)
	bucket := UniqueName(t)
	ctx, cancel := setupContext(t)
	defer cancel()
	if err := client.Bucket(bucket).Create(ctx, GCSProject, nil); err != nil {
		t.Fatalf("servertest: create GCS bucket %s: %v", bucket, err)
	}
	// Registered after GCSClient's cleanup, so it runs first, with the client open.
	t.Cleanup(func() {
		ctx, cancel := cleanupContext()
		defer cancel()
		if err := deleteGCSBucket(ctx, client.Bucket(bucket)); err != nil {
			t.Errorf("servertest: delete GCS bucket %s: %v", bucket, err)
		}
	})
	return bucket
}

func deleteGCSBucket(ctx context.Context, b *storage.BucketHandle) error {
	it := b.Objects(ctx, nil)
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if errors.Is(err, storage.ErrBucketNotExist) {
			return nil // the test deleted it itself
		}
		if err != nil {
			return err
		}
		if err := b.Object(attrs.Name).Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
			return err
		}
	}
	return b.Delete(ctx)
}

// GCSURL returns the flowcache URL of a bucket and key prefix on the GCS
// emulator: gs://BUCKET/PREFIX (gs://BUCKET for an empty prefix). The emulator
// is found through STORAGE_EMULATOR_HOST.
func GCSURL(t testing.TB, bucket, prefix string) string {
	t.Helper()
	GCSHost(t)
	return joinPrefix("gs://"+bucket, prefix)
}
