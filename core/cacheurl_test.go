package core_test

import (
	"testing"

	"github.com/flowcache/flowcache/core"
)

func TestResolveCacheURL(t *testing.T) {
	env := func(v string) func(string) string {
		return func(name string) string {
			if name != core.EnvURL {
				t.Errorf("getenv(%q), want %s", name, core.EnvURL)
			}
			return v
		}
	}
	for _, c := range []struct{ raw, env, want string }{
		{"./cache", "s3://b", "./cache"},
		{"mem://x", "", "mem://x"},
		{"", "s3://b?region=r", "s3://b?region=r"},
		{"", "", core.DefaultDir},
	} {
		if got := core.ResolveCacheURL(c.raw, env(c.env)); got != c.want {
			t.Errorf("ResolveCacheURL(%q) with $%s=%q = %q, want %q", c.raw, core.EnvURL, c.env, got, c.want)
		}
	}
	t.Setenv(core.EnvURL, "/from/env")
	if got := core.ResolveCacheURL("", nil); got != "/from/env" {
		t.Errorf("ResolveCacheURL with os.Getenv = %q", got)
	}
}
