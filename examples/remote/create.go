package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"gocloud.dev/blob"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func parseURL(raw string) (*url.URL, error) { return url.Parse(raw) }

// createBucket creates the bucket or container of storeURL if it does not
// exist, with the SDK client the gocloud.dev driver opened for it (so the
// same endpoint and credentials).
func createBucket(ctx context.Context, storeURL string) error {
	u, err := parseURL(storeURL)
	if err != nil {
		return fmt.Errorf("store URL: %v", err)
	}
	q := u.Query()
	q.Del("metadata")
	b, err := blob.OpenBucket(ctx, (&url.URL{Scheme: u.Scheme, Host: u.Host, RawQuery: q.Encode()}).String())
	if err != nil {
		return err
	}
	defer b.Close()
	if ok, err := b.IsAccessible(ctx); err == nil && ok {
		return nil
	}
	var (
		s3c  *s3.Client
		gcsc *storage.Client
		azc  *container.Client
	)
	switch {
	case b.As(&s3c):
		_, err = s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(u.Host)})
		var owned *s3types.BucketAlreadyOwnedByYou
		if errors.As(err, &owned) {
			err = nil
		}
	case b.As(&gcsc):
		err = gcsc.Bucket(u.Host).Create(ctx, "flowcache-demo", nil)
		if err != nil && strings.Contains(err.Error(), "409") {
			err = nil
		}
	case b.As(&azc):
		_, err = azc.Create(ctx, nil)
		if bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			err = nil
		}
	default:
		return fmt.Errorf("-create: cannot create buckets of scheme %q", u.Scheme)
	}
	if err != nil {
		return fmt.Errorf("-create: creating %q: %w", u.Host, err)
	}
	return nil
}
