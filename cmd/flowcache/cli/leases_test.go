package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/core"
)

// The commands open a cache URL carrying lease_ttl (what the workers of a
// cache with leases share), from --cache or FLOWCACHE_URL, as the driver
// does; a bad value is a usage error naming it.
func TestLeaseTTLInCacheURL(t *testing.T) {
	dir, _, second := newCache(t)
	r := flowcache(t, dir+"?lease_ttl=30s", "runs")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, string(second)) {
		t.Errorf("runs --cache DIR?lease_ttl=30s:\n%s", r.stdout)
	}
	var out, errb bytes.Buffer
	getenv := func(k string) string {
		if k == core.EnvURL {
			return dir + "?lease_ttl=30s"
		}
		return ""
	}
	r = result{run(context.Background(), []string{"logs", "last"}, env{stdout: &out, stderr: &errb, getenv: getenv}), out.String(), errb.String()}
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "scaled::adapter::execute_node") {
		t.Errorf("logs last with FLOWCACHE_URL=DIR?lease_ttl=30s:\n%s", r.stdout)
	}
	r = flowcache(t, dir+"?lease_ttl=soon", "runs")
	wantCode(t, r, exitUsage)
	if !strings.Contains(r.stderr, `lease_ttl="soon"`) {
		t.Errorf("a bad lease_ttl: %s", r.stderr)
	}
}
