package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/internal/leasetest"
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

// TestLeaseChild is one process of TestWaitsShown.
func TestLeaseChild(t *testing.T) {
	if !leasetest.Child(t) {
		t.Skip("run by TestWaitsShown")
	}
}

// Two processes on one directory with leases: the second waits for the
// first's lease on a node, then retrieves it. runs, nodes and logs of the
// cache say that the second run waited, and for whom: the first run, its
// host and process. logs says it from the run's own log, and from the
// run's records once the log is gone.
func TestWaitsShown(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts processes")
	}
	dir := filepath.Join(t.TempDir(), "cache")
	holder, waiter := leasetest.Waiter(t, "TestLeaseChild", dir, true)
	host, _ := os.Hostname()
	owner := "run " + string(holder) + " on " + host + " pid "
	names := "for " + owner

	r := flowcache(t, dir, "runs")
	wantCode(t, r, exitOK)
	// The waiter waits for square, and for total too when it gets there
	// before the holder has stored it (a loaded machine): one node or more.
	if !strings.Contains(r.stdout, string(waiter)+" waited ") || !strings.Contains(r.stdout, names) {
		t.Errorf("runs does not say that %s waited for %s:\n%s", waiter, holder, r.stdout)
	}
	runs := decode[[]inspect.RunSummary](t, flowcache(t, dir, "runs", "--json"))
	for _, run := range runs {
		switch {
		case run.ID == waiter && (len(run.Waits) != 1 || run.Waits[0].For.Run != holder || run.Waits[0].Nodes < 1 || run.Waits[0].Time <= 0):
			t.Errorf("runs --json, the waiter: %+v", run)
		case run.ID != waiter && len(run.Waits) != 0:
			t.Errorf("runs --json, %s did not wait: %+v", run.ID, run)
		}
	}

	r = flowcache(t, dir, "nodes", string(waiter))
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "retrieved (waited)") || !strings.Contains(r.stdout, "square@items[0] waited ") || !strings.Contains(r.stdout, names) {
		t.Errorf("nodes of the waiter does not say whom square waited for:\n%s", r.stdout)
	}
	nodes := decode[struct {
		Nodes []inspect.NodeInfo `json:"nodes"`
	}](t, flowcache(t, dir, "nodes", string(waiter), "--json"))
	waited := map[string]bool{}
	for _, n := range nodes.Nodes {
		if n.Wait.Waited() {
			waited[n.Node] = true
			if n.Wait.For.Run != holder || n.Wait.For.PID <= 0 || n.Outcome != core.OutcomeRetrieved {
				t.Errorf("nodes --json: %+v", n)
			}
		}
	}
	if !waited["square"] || len(waited) > 2 || (len(waited) == 2 && !waited["total"]) {
		t.Errorf("nodes --json: the nodes that waited are %v, want square (and total, when the holder was still at it)", waited)
	}

	for _, from := range []string{"run log", "records"} {
		if from == "records" {
			if err := os.RemoveAll(filepath.Join(dir, "logs")); err != nil {
				t.Fatal(err)
			}
		}
		r = flowcache(t, dir, "logs", string(waiter))
		wantCode(t, r, exitOK)
		if !strings.Contains(r.stdout, "square::items[0]::metadata_store::lease_wait: "+owner) {
			t.Errorf("logs of the waiter, from its %s, does not name the holder:\nstdout %s\nstderr %s", from, r.stdout, r.stderr)
		}
	}
}
