// Package bucketurl opens the stores of a bucket URL for the remote
// backends (s3, gcs, azure): it checks the query parameters against the
// ones the gocloud.dev driver takes, opens the bucket through the driver's
// URL opener (and so through the credential chain of the service's SDK),
// checks the bucket can be reached, and puts a complete cache under the
// URL's path (results and metadata, see package bucket).
package bucketurl

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"gocloud.dev/blob"

	"github.com/flowcache/flowcache/backends/bucket"
	_ "github.com/flowcache/flowcache/backends/tier" // local_cache= on every bucket URL
	"github.com/flowcache/flowcache/core"
)

// Open opens the cache of u, a URL "<scheme>://bucket/prefix?params" whose
// scheme the gocloud.dev driver registered with blob.DefaultURLMux and whose
// parameters are among params. name is the package the user opened it
// with, which errors begin with.
func Open(ctx context.Context, u *url.URL, name, what string, params ...string) (*bucket.Store, error) {
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
	bkt, err := blob.OpenBucket(ctx, b.String())
	if err != nil {
		return nil, err
	}
	ok, err := bkt.IsAccessible(ctx)
	if err == nil && !ok {
		err = errors.New("it does not exist or is not accessible with these credentials")
	}
	if err != nil {
		bkt.Close()
		return nil, fmt.Errorf("%s %q: %w", what, u.Host, err)
	}
	return bucket.Open(bkt, prefix, bucket.WithName(name)), nil
}

// OpenString is Open for a URL given as text, which must be of scheme: what
// the Open functions of packages s3, gcs and azure do. Errors name the URL
// redacted (core.Redact), never its secrets.
func OpenString(ctx context.Context, rawURL, scheme, name, what string, params ...string) (*bucket.Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, core.RedactError(fmt.Errorf("%s: %w: %w", name, core.ErrInvalid, err), rawURL)
	}
	if !strings.EqualFold(u.Scheme, scheme) {
		return nil, fmt.Errorf("%s: %w: URL %s: want %s://%s/optional/prefix", name, core.ErrInvalid, core.Redact(rawURL), scheme, what)
	}
	st, err := Open(ctx, u, name, what, params...)
	if err != nil {
		return nil, core.RedactError(fmt.Errorf("%s: opening %s: %w", name, core.Redact(rawURL), err), rawURL)
	}
	return st, nil
}
