package driver_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
)

// blockingScheme opens nothing: it waits for its context, as a bucket that
// does not answer would.
const blockingScheme = "blocking-drivertest"

func init() {
	core.RegisterScheme(blockingScheme, func(ctx context.Context, u *url.URL) (*core.Stores, error) {
		<-ctx.Done()
		return nil, errors.New("no answer from " + u.Host)
	})
}

func TestBuildContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name string
		opts func(dir string) []driver.CacheOption
	}{
		{"no cache", nil},
		{"CacheDir", func(dir string) []driver.CacheOption { return []driver.CacheOption{driver.CacheDir(dir)} }},
		{"path URL", func(dir string) []driver.CacheOption { return []driver.CacheOption{driver.CacheURL(dir)} }},
		{"file URL", func(dir string) []driver.CacheOption {
			return []driver.CacheOption{driver.CacheURL("file://" + filepath.ToSlash(dir))}
		}},
		{"mem URL", func(string) []driver.CacheOption {
			return []driver.CacheOption{driver.CacheURL("mem://" + strings.ReplaceAll(t.Name(), "/", "-"))}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache")
			b := driver.NewBuilder().WithNodes(driver.Node("A", A1), driver.Node("B", B, "A"))
			if c.opts != nil {
				b.WithCache(c.opts(dir)...)
			}
			dr, err := b.BuildContext(ctx)
			if err == nil {
				dr.Close()
				t.Fatal("BuildContext with a cancelled context succeeded")
			}
			if !errors.Is(err, context.Canceled) || errors.Is(err, core.ErrInvalid) {
				t.Fatalf("BuildContext: %v; want an error wrapping context.Canceled, not core.ErrInvalid", err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the cache directory was created: %v", err)
			}
		})
	}
}

// The context reaches the store's opener: a store that does not answer
// fails BuildContext at the deadline (Build would wait for it).
func TestBuildContextDeadlineStopsOpen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	dr, err := driver.NewBuilder().WithNodes(driver.Node("A", A1)).
		WithCache(driver.CacheURL(blockingScheme + "://bucket")).BuildContext(ctx)
	if err == nil {
		dr.Close()
		t.Fatal("BuildContext succeeded on a store that never opened")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer from bucket") {
		t.Fatalf("BuildContext: %v; want the opener's error, wrapping context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Minute { // the code versions are computed meanwhile (seconds, in a test binary)
		t.Fatalf("BuildContext returned after %v", d)
	}
}

// Once BuildContext returned, its context only stops the prefetch: runs
// work, and retrieve what the store holds.
func TestBuildContextCancelledAfterBuild(t *testing.T) {
	dir := t.TempDir()
	nodes := []*driver.NodeDef{driver.Node("A", A1), driver.Node("B", B, "A")}
	for i := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		dr, err := driver.NewBuilder().WithNodes(nodes...).WithCache(driver.CacheDir(dir)).BuildContext(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		res, err := dr.Run(context.Background(), []string{"B"}, nil, nil)
		dr.Close()
		if err != nil || res.Values["B"] != 10 {
			t.Fatalf("run %d: %v, %v", i+1, res.Values, err)
		}
		if want := map[bool]core.Outcome{false: core.OutcomeExecuted, true: core.OutcomeRetrieved}[i == 1]; res.Outcomes["B"] != want {
			t.Fatalf("run %d: B %s, want %s", i+1, res.Outcomes["B"], want)
		}
	}
}
