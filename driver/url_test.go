package driver_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/flowcache/flowcache/backends/mem" // mem://
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
)

func TestCacheURL(t *testing.T) {
	ctx := context.Background()
	run := func(opts ...driver.CacheOption) runResult {
		t.Helper()
		dr, err := driver.NewBuilder().WithNodes(driver.Node("A", A1), driver.Node("B", B, "A")).WithCache(opts...).Build()
		if err != nil {
			t.Fatal(err)
		}
		defer dr.Close()
		out, err := dr.Execute(ctx, []string{"B"}, nil, nil)
		if err != nil || out["B"] != 10 {
			t.Fatalf("Execute = %v, %v", out, err)
		}
		r := runResult{out: out}
		id, _ := dr.Cache().LastRunID(ctx)
		for _, e := range dr.Cache().Events(0, id) {
			if e.Type == "execute_node" {
				r.executed = append(r.executed, e.Node)
			}
		}
		return r
	}
	t.Run("mem", func(t *testing.T) {
		name := "mem://" + strings.ReplaceAll(t.Name(), "/", "-")
		if r := run(driver.CacheURL(name)); len(r.executed) != 2 {
			t.Fatalf("run 1 executed %v", r.executed)
		}
		if r := run(driver.CacheURL(name)); len(r.executed) != 0 {
			t.Fatalf("run 2 on the same mem:// store executed %v", r.executed)
		}
	})
	t.Run("file and path", func(t *testing.T) {
		dir := t.TempDir()
		if r := run(driver.CacheURL("file://" + filepath.ToSlash(dir) + "?inline_limit=0")); len(r.executed) != 2 {
			t.Fatalf("run 1 executed %v", r.executed)
		}
		if r := run(driver.CacheURL(dir)); len(r.executed) != 0 {
			t.Fatalf("run 2 by plain path executed %v", r.executed)
		}
		if _, err := os.Stat(filepath.Join(dir, "metadata.db")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("FLOWCACHE_URL", func(t *testing.T) {
		dir := t.TempDir()
		t.Setenv(driver.EnvURL, dir)
		run()
		if _, err := os.Stat(filepath.Join(dir, "metadata.db")); err != nil {
			t.Fatalf("FLOWCACHE_URL was not used: %v", err)
		}
		// CacheURL("") is the default too: the variable, not an error.
		if r := run(driver.CacheURL("")); len(r.executed) != 0 {
			t.Fatalf("CacheURL(\"\") did not use FLOWCACHE_URL's cache: executed %v", r.executed)
		}
	})
	t.Run("default directory", func(t *testing.T) {
		t.Chdir(t.TempDir())
		t.Setenv(driver.EnvURL, "")
		if r := run(); len(r.executed) != 2 {
			t.Fatalf("run 1 executed %v", r.executed)
		}
		if _, err := os.Stat(filepath.Join(driver.DefaultCacheDir, "metadata.db")); err != nil {
			t.Fatalf("./%s was not used: %v", driver.DefaultCacheDir, err)
		}
		if r := run(driver.CacheDir(driver.DefaultCacheDir)); len(r.executed) != 0 {
			t.Fatalf("run 2 by CacheDir executed %v", r.executed)
		}
	})
	t.Run("errors", func(t *testing.T) {
		cases := map[string][]string{
			"file:///tmp/x?inline_limit=1&colour=blue&secret_key=hunter2": {`"colour"`, "secret_key=xxxxx"},
			"nosuch://bucket":               {`"nosuch"`, "registered"},
			"mem://x?token=hunter2":         {`"token"`},
			"file:///tmp/x?busy_timeout=ab": {"busy_timeout", "duration"},
		}
		for u, wants := range cases {
			_, err := driver.NewBuilder().WithNodes(driver.Node("A", A1)).WithCache(driver.CacheURL(u)).Build()
			if err == nil {
				t.Fatalf("%s: Build succeeded", u)
			}
			if !errors.Is(err, core.ErrInvalid) {
				t.Errorf("%s: error %v does not wrap core.ErrInvalid", u, err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("%s: error leaks the secret: %v", u, err)
			}
			for _, w := range wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: error %q does not contain %q", u, err, w)
				}
			}
		}
	})
}

// Caller errors — a bad node, a bad graph, an unknown output or override, a
// type the format cannot store — wrap core.ErrInvalid and keep their text.
func TestCallerErrorsAreErrInvalid(t *testing.T) {
	ctx := context.Background()
	builds := map[string]*driver.Builder{
		"nil function":   driver.NewBuilder().WithNodes(driver.Node("a", nil)),
		"declared twice": driver.NewBuilder().WithNodes(driver.Node("a", A1), driver.Node("a", A1)),
		"cycle":          driver.NewBuilder().WithNodes(driver.Node("a", B, "b"), driver.Node("b", B, "a")),
		"format":         driver.NewBuilder().WithNodes(driver.Node("cb", Callback)).WithCache(driver.CacheDir(t.TempDir())),
	}
	for name, b := range builds {
		_, err := b.Build()
		if err == nil {
			t.Errorf("%s: Build succeeded", name)
			continue
		}
		if !errors.Is(err, core.ErrInvalid) {
			t.Errorf("%s: Build error %q does not wrap core.ErrInvalid", name, err)
		}
		if strings.HasPrefix(err.Error(), "invalid argument") {
			t.Errorf("%s: Build error %q lost its own text", name, err)
		}
	}
	dr, err := driver.NewBuilder().WithNodes(driver.Node("A", A1), driver.Node("B", B, "A")).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	for name, call := range map[string]func() error{
		"no outputs":       func() error { _, err := dr.Execute(ctx, nil, nil, nil); return err },
		"unknown output":   func() error { _, err := dr.Execute(ctx, []string{"Z"}, nil, nil); return err },
		"unknown override": func() error { _, err := dr.Execute(ctx, []string{"B"}, nil, driver.Overrides{"Z": 1}); return err },
		"input is a node":  func() error { _, err := dr.Execute(ctx, []string{"B"}, driver.Inputs{"A": 1}, nil); return err },
	} {
		if err := call(); err == nil || !errors.Is(err, core.ErrInvalid) {
			t.Errorf("%s: Execute error %v does not wrap core.ErrInvalid", name, err)
		}
	}
}
