package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakePython writes a stand-in for the python3 that runs Hamilton's
// benchmark scripts: it records its arguments in args.txt and prints the
// JSON lines out holds for the script it is given (and a line that is not
// JSON), as chain.py and wide.py do.
func fakePython(t *testing.T, out map[string]string) (python, dir string) {
	t.Helper()
	dir = t.TempDir()
	script := "#!/bin/sh\necho \"$@\" > " + filepath.Join(dir, "args.txt") + "\necho 'starting'\n" +
		"echo '{\"event\":\"info\",\"hamilton_version\":\"1.88.0\"}'\ncase \"$1\" in\n"
	for name, lines := range out {
		script += "*" + name + ") cat <<'END'\n" + lines + "\nEND\n;;\n"
	}
	script += "esac\n"
	python = filepath.Join(dir, "python")
	if err := os.WriteFile(python, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return python, dir
}

// The figures of Hamilton's side are read from the summary line of its
// script, run with a cache root of its own.
func TestHamiltonSummaries(t *testing.T) {
	python, dir := fakePython(t, map[string]string{
		"chain.py": `{"event":"summary","overhead_us_per_node":{"fresh_warm":270.5,"fresh_cold":1500.25},"per_node_us":{"uncached":13.6}}`,
		"wide.py": `{"event":"summary","object_bytes":80000000,"fingerprint_MB_per_s":320,"pickle_dumps_MB_per_s":900,` +
			`"median_s":{"pickle_loads":0.1,"fresh_cold":2.5,"fresh_warm":1.5},"overhead_s":{"fresh_cold":1.0,"fresh_warm":0.5}}`,
		"empty.py":   `{"event":"phase"}`,
		"partial.py": `{"event":"summary","overhead_us_per_node":{"fresh_warm":270.5}}`,
	})
	args := func() []string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, "args.txt"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(string(b))
	}

	chain, err := hamiltonChain(python, "/b/chain.py", 1000, 3)
	if want := (chainFigures{uncached: 13.6, warm: 270.5, cold: 1500.25, version: "1.88.0"}); err != nil || chain != want {
		t.Errorf("hamiltonChain = %+v, %v; want %+v", chain, err, want)
	}
	if a := args(); len(a) != 6 || !reflect.DeepEqual(a[:5], []string{"/b/chain.py", "1000", "--repeats", "3", "--cache-root"}) {
		t.Errorf("chain.py run with %q", a)
	} else if _, err := os.Stat(a[5]); !os.IsNotExist(err) {
		t.Errorf("the cache root %s is left behind (%v)", a[5], err)
	}

	wide, err := hamiltonWide(python, "/b/wide.py", 10_000_000, 2)
	want := wideResult{coldMs: 2500, warmMs: 1500, coldOverheadMs: 1000, warmOverheadMs: 500,
		fingerprintMBs: 320, storeMBs: 900, loadMBs: 800, version: "1.88.0"}
	if err != nil || !reflect.DeepEqual(wide, want) {
		t.Errorf("hamiltonWide = %+v, %v; want %+v", wide, err, want)
	}
	if a := args(); len(a) != 9 || !reflect.DeepEqual(a[:8], []string{"/b/wide.py", "--kind", "numpy", "--size", "10000000", "--repeats", "2", "--cache-root"}) {
		t.Errorf("wide.py run with %q", a)
	}

	if _, err := hamiltonChain(python, "/b/empty.py", 10, 1); err == nil || !strings.Contains(err.Error(), "empty.py printed no summary") {
		t.Errorf("a script without a summary: %v", err)
	}
	if _, err := hamiltonChain(python, "/b/partial.py", 10, 1); err == nil || !strings.Contains(err.Error(), "no fresh-process overheads") {
		t.Errorf("a summary without the cold overhead: %v", err)
	}
	if _, err := hamiltonWide(filepath.Join(dir, "nosuch"), "/b/wide.py", 10, 1); err == nil || !strings.Contains(err.Error(), "wide.py: ") {
		t.Errorf("a python that does not start: %v", err)
	}
}
