// Package dirbackend is a flowcache backend of its own module, written as a
// third party writes one, with the exported API only: it registers the
// scheme dir://, a whole cache (metadata and results) kept as plain files
// in a directory. It is the test bed of flowcache's conformance recipe
// (`go test ./...` here runs the suites by URL) and of the command built
// with a scheme linked in (cmd/flowcache).
//
// It keeps the cache with flowcache's bucket backend (packages bucket,
// blobmeta and blobstore) over a gocloud.dev fileblob bucket rooted at the
// directory, the route a backend of a new kind of store takes when
// gocloud.dev has a driver for it. A fileblob bucket has no conditional
// overwrite, so a dir:// cache is for one process at a time (see
// `go doc github.com/flowcache/flowcache/backends/blobmeta`).
//
// URL form: dir:///absolute/path (the directory is created when missing).
// It takes no query parameters but flowcache's own metadata=.
package dirbackend

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/flowcache/flowcache/backends/bucket"
	"github.com/flowcache/flowcache/core"
	"gocloud.dev/blob/fileblob"
)

// Scheme is the URL scheme the package registers.
const Scheme = "dir"

func init() { core.RegisterScheme(Scheme, openURL) }

func openURL(ctx context.Context, u *url.URL) (*core.Stores, error) {
	if err := core.CheckQueryParams(u); err != nil {
		return nil, err
	}
	if u.Host != "" || u.Path == "" || !filepath.IsAbs(filepath.FromSlash(u.Path)) {
		return nil, fmt.Errorf("dir: %w: URL %s: want dir:///absolute/path", core.ErrInvalid, core.RedactURL(u))
	}
	s, err := Open(filepath.FromSlash(u.Path))
	if err != nil {
		return nil, err
	}
	return s.Stores(), nil
}

// Open returns the cache kept in dir, creating dir when it is missing.
// Close the Store when done.
func Open(dir string) (*bucket.Store, error) {
	b, err := fileblob.OpenBucket(dir, &fileblob.Options{
		CreateDir: true,
		// Temporary files beside the final ones, so that the rename into
		// place stays on one file system.
		NoTempDir: true,
		// No .attrs sidecar files: flowcache's objects carry what they need.
		Metadata: fileblob.MetadataDontWrite,
	})
	if err != nil {
		return nil, fmt.Errorf("dir: open %s: %w", dir, err)
	}
	return bucket.Open(b, "", bucket.WithName("dir")), nil
}
