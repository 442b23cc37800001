package cli

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/internal/testmodule"
)

// whyModule writes the module of testdata/why into dir: m (the pipeline,
// with a go.mod requiring this checkout and example.com/dep from ../dep),
// dep and dep2.
func whyModule(t *testing.T, dir string) {
	t.Helper()
	if err := copyDir(filepath.Join("testdata", "why"), dir); err != nil {
		t.Fatal(err)
	}
	testmodule.WriteGoMod(t, filepath.Join(dir, "m"), "example.com/m", map[string]string{"example.com/dep": "../dep"})
}

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

// replaceIn replaces old, which must occur once, by new in file.
func replaceIn(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), old) != 1 {
		t.Fatalf("%s: %q does not occur exactly once", file, old)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A pipeline built, run, edited — a helper's body, a constant, the
// directory that replaces a module — built again and run on the same cache:
// `flowcache why` names, for each node, what changed in its code.
func TestWhyNamesCodeChanges(t *testing.T) {
	goBin := testmodule.GoCommand(t, "a program twice (a few seconds)")
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	whyModule(t, src)
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod",
		// The programs keep their code version tables here.
		"FLOWCACHE_CODEVERSION_CACHE="+filepath.Join(tmp, "codeversion"))
	cache := filepath.Join(tmp, "cache")
	buildRun := func(bin string) {
		t.Helper()
		start := time.Now()
		cmd := exec.CommandContext(t.Context(), goBin, "build", "-o", bin, ".")
		cmd.Dir, cmd.Env = filepath.Join(src, "m"), env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		t.Logf("go build: %v", time.Since(start).Round(time.Millisecond))
		cmd = exec.CommandContext(t.Context(), bin, "-cache", cache)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", bin, err, stderr.Bytes())
		}
		t.Logf("%s: %s", filepath.Base(bin), bytes.TrimSpace(out))
	}
	buildRun(filepath.Join(tmp, "bin1"))

	// The helper of mean is written another way (same value), the constant
	// scaled reads changes, and example.com/dep is replaced by another
	// directory.
	replaceIn(t, filepath.Join(src, "m", "stats", "mean.go"), "for _, x := range xs {\n\t\ts += x\n\t}", "for i := range xs {\n\t\ts += xs[i]\n\t}")
	replaceIn(t, filepath.Join(src, "m", "main.go"), "const Factor = 2", "const Factor = 3")
	replaceIn(t, filepath.Join(src, "m", "go.mod"), "example.com/dep => ../dep", "example.com/dep => ../dep2")
	buildRun(filepath.Join(tmp, "bin2"))

	want := map[string]string{
		"mean":   "func example.com/m/stats.Mean (stats/mean.go) changed",
		"scaled": "const example.com/m.Factor (main.go) changed",
		"tagged": "module example.com/dep => ../dep2 now, was => ../dep",
	}
	for node, line := range want {
		r := flowcache(t, cache, "why", node)
		wantCode(t, r, exitOK)
		t.Logf("flowcache why %s\n%s", node, r.stdout)
		if !strings.Contains(r.stdout, "  in its code:\n    "+line+"\n") || !strings.Contains(r.stdout, "its code version changed") {
			t.Errorf("why %s does not name %q:\n%s", node, line, r.stdout)
		}
		es := decode[[]inspect.Explanation](t, flowcache(t, cache, "why", node, "--json"))
		if len(es) != 1 || len(es[0].Changes) == 0 || es[0].Changes[0].Kind != inspect.ChangeCodeVersion {
			t.Fatalf("why %s --json: %+v", node, es)
		}
		code := es[0].Changes[0].Code
		if len(code) != 1 || code[0].Text != line || code[0].What == "" || code[0].Kind == "" || code[0].Name == "" {
			t.Errorf("why %s --json: code changes %+v, want one: %s", node, code, line)
		}
	}
	// The manifests are not nodes.
	if r := flowcache(t, cache, "size"); strings.Contains(r.stdout, "\n@code") {
		t.Errorf("size lists the code manifests as a node:\n%s", r.stdout)
	}
}
