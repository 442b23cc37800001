package cli

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/backends/local/localtest"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/maintain"
)

// verify names a damaged result with its node, format and reason and
// points to evict --damaged, which deletes it with its entry; a directory
// at a result's path is reported and removed by evict --gc; afterwards the
// cache verifies clean and a run executes exactly the nodes concerned.
func TestVerifyEvictDamaged(t *testing.T) {
	ctx := context.Background()
	dir, _, second := newCache(t)
	ic, err := inspect.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := ic.Nodes(ctx, second)
	ic.Close()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]core.ResultID{}
	for _, n := range nodes {
		ids[n.Node] = n.ResultID()
	}
	load := ids["load"]
	if err := localtest.DamageResult(ctx, dir, load, localtest.FlipBit); err != nil {
		t.Fatal(err)
	}

	r := flowcache(t, dir, "verify", "--progress", "none")
	wantCode(t, r, exitDamaged)
	for _, want := range []string{"corrupt", load.String(), "node load, format gob", "checksum mismatch", "1 damaged results", "evict --damaged"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("verify output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "unverifiable") {
		t.Errorf("verify calls a result of a built-in format unverifiable:\n%s", r.stdout)
	}

	r = flowcache(t, dir, "evict", "--damaged", "--dry-run")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "result  "+load.String()) || !strings.Contains(r.stdout, "(damaged)") || !strings.Contains(r.stdout, "would evict 1 entries and 1 results") {
		t.Errorf("evict --damaged --dry-run:\n%s", r.stdout)
	}
	rep := decode[maintain.EvictReport](t, flowcache(t, dir, "evict", "--damaged", "--json"))
	if len(rep.Results) != 1 || rep.Results[0].Result != load.String() || rep.Results[0].Reason != maintain.EvictDamaged ||
		len(rep.Entries) != 1 || rep.Entries[0].Node != "load" {
		t.Errorf("evict --damaged --json: results %+v, entries %+v", rep.Results, rep.Entries)
	}
	wantCode(t, flowcache(t, dir, "verify", "--progress", "none"), exitOK)

	if _, executed := runPipeline(t, dir, 8000, 3); !slices.Equal(executed, []string{"load"}) {
		t.Errorf("the run after evicting the damaged result executed %v, want load", executed)
	}

	// A directory where load's result file should be.
	v := string(load.Version)
	path := filepath.Join(dir, local.ResultsDir, v[:2], v+"."+load.Format)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(path, "x"), 0o777); err != nil {
		t.Fatal(err)
	}
	r = flowcache(t, dir, "verify", "--progress", "none")
	wantCode(t, r, exitDamaged)
	if !strings.Contains(r.stdout, "not_a_file") || !strings.Contains(r.stdout, "node load") || !strings.Contains(r.stdout, "a directory sits at the path") || !strings.Contains(r.stdout, "evict --gc") {
		t.Errorf("verify of a directory at a result path:\n%s", r.stdout)
	}
	r = flowcache(t, dir, "evict", "--gc", "--grace", "0", "-v")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "removed 1 files under results/") || !strings.Contains(r.stdout, "(not_a_file)") {
		t.Errorf("evict --gc:\n%s", r.stdout)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("the directory is still there: %v", err)
	}
	wantCode(t, flowcache(t, dir, "verify", "--progress", "none"), exitOK)
	if _, executed := runPipeline(t, dir, 8000, 3); !slices.Equal(executed, []string{"load"}) {
		t.Errorf("the run after evict --gc executed %v, want load", executed)
	}
}
