// Package testmodule sets up Go modules that use this checkout, for the
// tests that check flowcache from outside a test binary: they build a
// program of such a module with the go command and run it (a binary whose
// source changed, a closure without its source, a backend of another
// module).
package testmodule

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// modulePath is the module of this checkout.
const modulePath = "github.com/flowcache/flowcache"

// GoCommand returns the path of the go command, and skips t under -short
// or where there is no go command on PATH; builds says what the test
// builds, for the reason given.
func GoCommand(t testing.TB, builds string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("builds %s; skipped with -short", builds)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command on PATH (%v): the test builds %s", err, builds)
	}
	return goBin
}

// Root returns the directory of this checkout: the nearest directory at or
// above the working directory whose go.mod is that of module
// github.com/flowcache/flowcache.
func Root() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module "+modulePath+"\n")) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod of %s at or above %s", modulePath, wd)
		}
		d = parent
	}
}

// GoVersion returns the version of the go directive of the go.mod in dir
// (the checkout's: Root).
func GoVersion(dir string) (string, error) {
	path := filepath.Join(dir, "go.mod")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "go "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("%s has no go directive", path)
}

// WriteGoMod writes dir/go.mod, of module path with this checkout's go
// directive, requiring this checkout (replaced by its directory) and each
// module of deps at v0.0.0, replaced by the directory deps gives it (as
// "example.com/dep => ../dep"); and dir/go.sum, this checkout's.
func WriteGoMod(t testing.TB, dir, path string, deps map[string]string) {
	t.Helper()
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	goVersion, err := GoVersion(root)
	if err != nil {
		t.Fatal(err)
	}
	replace := map[string]string{modulePath: root}
	for mod, d := range deps {
		replace[mod] = d
	}
	mods := slices.Sorted(maps.Keys(replace))
	var req, rep strings.Builder
	for _, mod := range mods {
		fmt.Fprintf(&req, "\t%s v0.0.0\n", mod)
		fmt.Fprintf(&rep, "\t%s => %s\n", mod, replace[mod])
	}
	text := fmt.Sprintf("module %s\n\ngo %s\n\nrequire (\n%s)\n\nreplace (\n%s)\n", path, goVersion, req.String(), rep.String())
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
}
