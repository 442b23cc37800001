package inspect_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/inspect"
)

// TestOpenDefault: Open("") opens the cache the driver uses by default:
// $FLOWCACHE_URL, else ./.flowcache.
func TestOpenDefault(t *testing.T) {
	ctx := context.Background()
	t.Chdir(t.TempDir())
	t.Setenv(core.EnvURL, "")
	if _, err := inspect.Open(ctx, ""); !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), core.DefaultDir) {
		t.Fatalf("Open(\"\") without a cache: %v, want not found naming %s", err, core.DefaultDir)
	}
	c := newCacheDir(t)
	r := c.Run([]*driver.NodeDef{driver.Node("raw", Raw, "x")}, []string{"raw"}, driver.Inputs{"x": 1}, nil)
	t.Setenv(core.EnvURL, c.Path)
	ic, err := inspect.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if id, err := ic.ResolveRun(ctx, "last"); err != nil || id != r.ID {
		t.Errorf("Open(\"\") with $%s: last run %s, %v; want %s", core.EnvURL, id, err, r.ID)
	}
}
