package conformance_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/internal/testmodule"
)

// extModDir is the backend of another module the recipe is checked with:
// module example.com/dirbackend, which registers dir:// (a cache in a
// directory, through packages bucket and fileblob), runs the suites by URL
// from a test of its own, and builds the flowcache command with dir://
// linked in. Being under testdata, it is not part of this module's ./...
const extModDir = "testdata/dirbackend"

// TestExternalBackend checks, from outside, what a backend author does in
// their own module: `go test` there passes the suites by URL against a
// dir:// store, and the flowcache command built there with cli.Main opens
// dir:// caches (runs, nodes, verify) that a pipeline of that module wrote.
//
// It runs the go command with GOPROXY=off: the module must build from the
// modules this one already needs. After a dependency change here, run
// `go mod tidy` in conformance/testdata/dirbackend.
func TestExternalBackend(t *testing.T) {
	goBin := testmodule.GoCommand(t, "a module of its own and the flowcache command (about a minute with a warm build cache)")
	mod, err := filepath.Abs(extModDir)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	env := append(os.Environ(), "GOPROXY=off", "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false")
	// goCmd runs the go command in the backend's module.
	goCmd := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, goBin, args...)
		cmd.Dir = mod
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	const tidyHint = "(if go.sum lacks entries after a dependency change: cd conformance/testdata/dirbackend && go mod tidy)"

	t.Run("SuiteByURL", func(t *testing.T) {
		store := filepath.Join(tmp, "suite")
		out, err := goCmd("test", "-count=1", "-v", ".", "-args", "-url=dir://"+filepath.ToSlash(store))
		if err != nil {
			t.Fatalf("go test in %s -args -url=dir://…: %v %s\n%s", extModDir, err, tidyHint, out)
		}
		// Cases of each suite must have run and passed: an empty suite,
		// or one that skips everything, must not pass this test.
		var problems []string
		for _, c := range []string{
			"TestConformance/Metadata/WriteGet", "TestConformance/Metadata/AtomicBatch",
			"TestConformance/Results/RoundTrip", "TestConformance/Results/Closed",
			"TestConformance/Scenarios/RetrieveThenCodeChange",
			"TestDamage/Corrupt",
		} {
			if !strings.Contains(out, "--- PASS: "+c+" ") {
				problems = append(problems, "no passing "+c)
			}
		}
		if n := strings.Count(out, "--- PASS: TestConformance/"); n < 30 {
			problems = append(problems, fmt.Sprintf("%d cases of TestConformance passed, want 30 or more", n))
		}
		if n := strings.Count(out, "--- SKIP: TestConformance/"); n > 1 {
			problems = append(problems, fmt.Sprintf("%d cases of TestConformance skipped, want at most 1 (Results/Corrupt: TestURL has no corrupt function)", n))
		}
		if problems != nil {
			t.Errorf("go test in %s: %s; output:\n%s", extModDir, strings.Join(problems, "; "), out)
		}
		// The suites used the store the URL named.
		if _, err := os.Stat(filepath.Join(store, "meta")); err != nil {
			t.Errorf("the suites left nothing in %s, the directory of -url: %v", store, err)
		}
	})

	t.Run("Command", func(t *testing.T) {
		bin := filepath.Join(tmp, "bin")
		if out, err := goCmd("build", "-o", bin+string(filepath.Separator), "./cmd/flowcache", "./cmd/dirdemo"); err != nil {
			t.Fatalf("go build in %s: %v %s\n%s", extModDir, err, tidyHint, out)
		}
		cacheDir := filepath.Join(tmp, "cache")
		cache := "dir://" + filepath.ToSlash(cacheDir)
		run := func(name string, args ...string) (string, int) {
			t.Helper()
			cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
			cmd.Env = append(os.Environ(), "FLOWCACHE_URL=")
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			switch {
			case err == nil:
				return string(out), 0
			case errors.As(err, &exit):
				return string(out), exit.ExitCode()
			}
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
			return "", -1
		}
		must := func(name string, args ...string) string {
			t.Helper()
			out, code := run(name, args...)
			if code != 0 {
				t.Fatalf("%s %s: exit %d\n%s", name, strings.Join(args, " "), code, out)
			}
			return out
		}

		// A pipeline of the backend's module, twice on one dir:// cache.
		runID := regexp.MustCompile(`(?m)^run (\S+):`)
		first := must("dirdemo", "-cache", cache)
		second := must("dirdemo", "-cache", cache)
		for _, c := range []struct{ out, outcome string }{{first, "executed"}, {second, "retrieved"}} {
			for _, n := range []string{"words", "longest", "count"} {
				if !strings.Contains(c.out, "  "+n+": "+c.outcome+"\n") {
					t.Errorf("dirdemo did not say %s %s:\n%s", n, c.outcome, c.out)
				}
			}
		}
		m1, m2 := runID.FindStringSubmatch(first), runID.FindStringSubmatch(second)
		if m1 == nil || m2 == nil {
			t.Fatalf("dirdemo printed no run id:\n%s\n%s", first, second)
		}

		// The command built there opens it.
		runs := must("flowcache", "--cache", cache, "runs")
		for _, id := range []string{m1[1], m2[1]} {
			if !strings.Contains(runs, id) {
				t.Errorf("flowcache runs does not list run %s:\n%s", id, runs)
			}
		}
		nodes := must("flowcache", "--cache", cache, "nodes", m1[1])
		for _, n := range []string{"words", "longest", "count"} {
			if !regexp.MustCompile(`(?m)^` + n + `\b.*\bexecuted\b`).MatchString(nodes) {
				t.Errorf("flowcache nodes %s does not show %s executed:\n%s", m1[1], n, nodes)
			}
		}
		nodes = must("flowcache", "--cache", cache, "nodes", "last")
		if !regexp.MustCompile(`(?m)^words\b.*\bretrieved\b`).MatchString(nodes) {
			t.Errorf("flowcache nodes last does not show words retrieved:\n%s", nodes)
		}
		if out := must("flowcache", "--cache", cache, "verify"); !regexp.MustCompile(`verified [1-9][0-9]* results`).MatchString(out) {
			t.Errorf("flowcache verify does not say it verified results:\n%s", out)
		}

		// verify reads the results through dir://: a damaged one is found.
		var result string
		filepath.WalkDir(filepath.Join(cacheDir, "results"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && result == "" {
				result = p
			}
			return err
		})
		if result == "" {
			t.Fatalf("no result file under %s", cacheDir)
		}
		b, err := os.ReadFile(result)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0x10
		if err := os.WriteFile(result, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, code := run("flowcache", "--cache", cache, "verify"); code != 4 {
			t.Errorf("flowcache verify of a cache with a damaged result %s: exit %d, want 4 (damaged)\n%s", result, code, out)
		}

		// The command of the backend's module knows the scheme; an unknown
		// parameter is refused by the backend's opener.
		if out, code := run("flowcache", "--cache", cache+"?color=red", "runs"); code != 2 || !strings.Contains(out, `unknown URL parameter "color"`) {
			t.Errorf("flowcache --cache %s?color=red runs: exit %d, want 2 and the parameter named\n%s", cache, code, out)
		}
	})
}
