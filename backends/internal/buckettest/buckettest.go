// Package buckettest runs the flowcache store suites (package conformance)
// against a bucket backend through its store URL: the harness the s3, gcs
// and azure backends share.
package buckettest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"gocloud.dev/blob"

	"github.com/flowcache/flowcache/backends/blobstore"
	"github.com/flowcache/flowcache/backends/bucket"
	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/conformance/scenarios"
	"github.com/flowcache/flowcache/core"
)

// Suite runs the metadata, result and scenario suites and the URL checks on
// the bucket named by baseURL (scheme://bucket?params, an empty dedicated
// bucket; its backend must be imported). Every store the suites open gets
// a fresh prefix in the bucket.
func Suite(t *testing.T, baseURL string) {
	base, err := url.Parse(baseURL)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	open := func(t *testing.T) *core.Stores {
		u := *base
		u.Path = fmt.Sprintf("/suite/%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), n.Add(1))
		st, err := core.OpenURL(t.Context(), u.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := st.Close(); err != nil {
				t.Errorf("closing the stores: %v", err)
			}
		})
		return st
	}
	t.Run("Metadata", func(t *testing.T) {
		conformance.TestMetadataStore(t, func(t *testing.T) core.MetadataStore { return open(t).Metadata })
	})
	t.Run("Results", func(t *testing.T) {
		var stores []*blobstore.ResultStore
		var damage atomic.Int64
		conformance.TestResultStore(t, func(t *testing.T) core.ResultStore {
			s := open(t).Results.(*blobstore.ResultStore)
			stores = append(stores, s)
			return s
		}, func(t *testing.T, id core.ResultID) {
			s := stores[len(stores)-1]
			Damage(t, s.Bucket(), s.Key(id), int(damage.Add(1)))
		})
	})
	t.Run("Scenarios", func(t *testing.T) {
		scenarios.TestScenarios(t, func(t *testing.T) (core.MetadataStore, core.ResultStore) {
			st := open(t)
			return st.Metadata, st.Results
		})
	})
	t.Run("BadURLs", func(t *testing.T) {
		ctx := context.Background()
		u := *base
		q := u.Query()
		q.Set("bogus_param", "1")
		u.RawQuery = q.Encode()
		if _, err := core.OpenURL(ctx, u.String()); !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), `"bogus_param"`) {
			t.Errorf("unknown parameter: %v, want an error naming it", err)
		}
		u = *base
		u.Host = "flowcache-no-such-bucket-" + fmt.Sprint(n.Add(1))
		if _, err := core.OpenURL(ctx, u.String()); err == nil || !strings.Contains(err.Error(), u.Host) {
			t.Errorf("missing bucket: %v, want an error naming it", err)
		}
	})
	t.Run("PrefixesIsolate", func(t *testing.T) {
		ctx := context.Background()
		a, b := open(t), open(t)
		k := core.NewCacheKey("n", "c", nil)
		if err := a.Metadata.Write(ctx, core.Batch{Run: "r", Entries: []core.Entry{{Key: k, DataVersion: "v", Format: "gob"}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Metadata.Get(ctx, k.ID()); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("an entry under one prefix is seen under another: %v", err)
		}
		if runs, _ := b.Metadata.Runs(ctx); len(runs) != 0 {
			t.Errorf("runs under one prefix are seen under another: %v", runs)
		}
	})
}

// Damage damages the object key in bucket; kind picks how (it cycles
// through truncating, flipping a byte in the header, the middle and the
// trailer, and appending a byte).
func Damage(t testing.TB, bucket *blob.Bucket, key string, kind int) {
	t.Helper()
	ctx := context.Background()
	b, err := bucket.ReadAll(ctx, key)
	if err != nil {
		t.Fatalf("damage %q: %v", key, err)
	}
	switch kind % 5 {
	case 0:
		b = b[:len(b)/2]
	case 1:
		b[1] ^= 0x20
	case 2:
		b[len(b)/2] ^= 0x01
	case 3:
		b[len(b)-1] ^= 0x80
	case 4:
		b = append(b, 0)
	}
	if err := bucket.WriteAll(ctx, key, b, nil); err != nil {
		t.Fatalf("damage %q: %v", key, err)
	}
}

// Open checks the Open function of a bucket backend (s3.Open, gcs.Open,
// azure.Open) on the bucket named by baseURL: the typed stores it returns
// share one prefix, their errors begin with name (the backend's package)
// and keep their cause, and a URL of another scheme is refused.
func Open(t *testing.T, baseURL, name string, open func(ctx context.Context, rawURL string) (*bucket.Store, error)) {
	ctx := t.Context()
	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/open/" + strings.ReplaceAll(t.Name(), "/", "-")
	st, err := open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	k := core.NewCacheKey("n", "c", nil)
	if err := st.Metadata().Write(ctx, core.Batch{Run: "r", Entries: []core.Entry{{Key: k, DataVersion: "v", Format: "gob"}}}); err != nil {
		t.Fatal(err)
	}
	if e, err := st.Metadata().Get(ctx, k.ID()); err != nil || e.DataVersion != "v" {
		t.Errorf("Get = %v, %v; want the entry written", e, err)
	}
	_, err = st.Results().Get(ctx, core.ResultID{Version: "00ff", Format: "gob"})
	if !errors.Is(err, core.ErrNotFound) || !strings.HasPrefix(err.Error(), name+": ") {
		t.Errorf("Get of a missing result = %v, want ErrNotFound beginning with %s:", err, name)
	}
	_, err = st.Metadata().Get(ctx, core.NewCacheKey("other", "c", nil).ID())
	if !errors.Is(err, core.ErrNotFound) || !strings.HasPrefix(err.Error(), name+": ") {
		t.Errorf("Get of a missing key = %v, want ErrNotFound beginning with %s:", err, name)
	}
	if _, err := open(ctx, "mem://x"); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("Open of a mem:// URL = %v, want ErrInvalid", err)
	}
}

// URLChecks checks, without a server, what URLs of scheme the backend's
// opener refuses before any request, with an error wrapping
// core.ErrInvalid: an unknown parameter, no bucket (noBucket is what the
// error says then), and credentials in the URL. Importing the backend
// must have registered scheme.
func URLChecks(t *testing.T, scheme, noBucket string) {
	if !slices.Contains(core.Schemes(), scheme) {
		t.Fatalf("importing the package does not register %s:// (registered: %v)", scheme, core.Schemes())
	}
	for _, c := range []struct{ url, want string }{
		{scheme + "://b/cache?colour=red", `unknown URL parameter "colour"`},
		{scheme + ":///cache", noBucket},
		{scheme + "://someone@b/cache", "credentials come from the environment"},
	} {
		_, err := core.OpenURL(t.Context(), c.url)
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(fmt.Sprint(err), c.want) {
			t.Errorf("OpenURL(%q) = %v; want an error wrapping core.ErrInvalid that says %q", c.url, err, c.want)
		}
	}
}
