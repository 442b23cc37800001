package driver_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/flowcache/flowcache/backends/mem" // mem://
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
