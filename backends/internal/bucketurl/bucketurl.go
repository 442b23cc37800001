// Package bucketurl opens the stores of a bucket URL for the remote
// backends (s3, gcs, azure): it checks the query parameters against the
// ones the gocloud.dev driver takes, opens the bucket through the driver's
// URL opener (and so through the credential chain of the service's SDK),
// checks the bucket can be reached, and puts a complete cache under the
// URL's path (results and metadata, see blobstore.NewStores).
package bucketurl

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"gocloud.dev/blob"

	"github.com/flowcache/flowcache/backends/blobstore"
	"github.com/flowcache/flowcache/core"
)

// Open opens the stores of u, a URL "<scheme>://bucket/prefix?params" whose
// scheme the gocloud.dev driver registered with blob.DefaultURLMux and whose
// parameters are among params.
func Open(ctx context.Context, u *url.URL, what string, params ...string) (*core.Stores, error) {
	if err := core.CheckQueryParams(u, params...); err != nil {
		return nil, err
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: %s URL without a %s name: want %s://%s/optional/prefix", core.ErrInvalid, u.Scheme, what, u.Scheme, what)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: %s URL with user info: credentials come from the environment, not the URL", core.ErrInvalid, u.Scheme)
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	b := url.URL{Scheme: u.Scheme, Host: u.Host, RawQuery: u.RawQuery}
	bucket, err := blob.OpenBucket(ctx, b.String())
	if err != nil {
		return nil, err
	}
	ok, err := bucket.IsAccessible(ctx)
	if err == nil && !ok {
		err = errors.New("it does not exist or is not accessible with these credentials")
	}
	if err != nil {
		bucket.Close()
		return nil, fmt.Errorf("%s %q: %w", what, u.Host, err)
	}
	return blobstore.NewStores(bucket, prefix), nil
}
