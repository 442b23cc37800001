package driver_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/internal/testmodule"
)

// A closure's code version cannot cover what it captures when the version
// comes from the build rather than the source (a deployed binary, or one
// older than its source): Build refuses it unless the captured values are
// declared, so that a new captured value can never be served the old one's
// result. Tested from the outside: a real binary, whose source is made
// newer than it, run twice with two captured values.
func TestClosureWithoutSource(t *testing.T) {
	goBin := testmodule.GoCommand(t, "a program")
	mod := t.TempDir()
	src, err := os.ReadFile("testdata/closureprog/main.go.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "main.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	testmodule.WriteGoMod(t, mod, "example.com/closureprog", nil)
	bin := filepath.Join(t.TempDir(), "closureprog")
	build := exec.Command(goBin, "build", "-mod=mod", "-o", bin, ".")
	build.Dir = mod
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The source is now newer than the binary: its code versions come
	// from the build.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(filepath.Join(mod, "main.go"), later, later); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	run := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, append(args, cache)...)
		cmd.Env = append(os.Environ(), "FLOWCACHE_CODEVERSION_CACHE=off")
		out, err := cmd.Output()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out)), code
	}
	out, code := run("world")
	if code != 3 || !strings.Contains(out, `node "greeting"`) || !strings.Contains(out, "is a closure") ||
		!strings.Contains(out, "comes from the build") || !strings.Contains(out, "driver.WithState") {
		t.Fatalf("a captured closure without its source: exit %d, %q; want a Build error naming the node and the fix", code, out)
	}
	// Declared, the captured value is part of the code version: a new
	// value is a miss, not the old value's result.
	for _, word := range []string{"world", "moon", "world"} {
		if out, code := run("-state", word); code != 0 || out != "hello "+word {
			t.Fatalf("with WithState(%q): exit %d, %q", word, code, out)
		}
	}
}
