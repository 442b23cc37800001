package driver_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
)

// An error of package core that the driver passes on names its package
// once: "flowcache: ...", never "driver: flowcache: ...".
func TestErrorsNameTheirPackageOnce(t *testing.T) {
	dr, err := driver.NewBuilder().WithNodes(driver.Node("a", func() int { return 1 })).WithCache(driver.CacheDir(t.TempDir())).Build()
	if err != nil {
		t.Fatal(err)
	}
	dr.Close()
	_, err = dr.Execute(context.Background(), []string{"a"}, nil, nil)
	if !errors.Is(err, core.ErrClosed) || strings.Contains(err.Error(), "driver: flowcache") || !strings.HasPrefix(err.Error(), "flowcache: ") {
		t.Errorf("Execute on a closed driver: %v", err)
	}
	_, err = driver.NewBuilder().WithNodes(driver.Node("a", func() int { return 1 })).WithCache(driver.CacheURL("nosuch://x")).Build()
	if !errors.Is(err, core.ErrInvalid) || strings.Contains(err.Error(), "driver: flowcache") || !strings.Contains(err.Error(), `no backend for scheme "nosuch"`) {
		t.Errorf("Build with an unknown scheme: %v", err)
	}
	_, err = driver.NewBuilder().WithNodes(driver.Node("a", func() int { return 1 })).WithCache(driver.Recompute("b")).Build()
	if !errors.Is(err, core.ErrInvalid) || strings.Contains(err.Error(), "driver: flowcache") || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("Build with a behaviour for an unknown node: %v", err)
	}
}
