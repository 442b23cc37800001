package testmodule_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/internal/testmodule"
)

func TestWriteGoMod(t *testing.T) {
	root, err := testmodule.Root()
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := filepath.Abs("../.."); root != want {
		t.Errorf("Root = %s, want %s", root, want)
	}
	goVersion, err := testmodule.GoVersion(root)
	if err != nil || !strings.HasPrefix(goVersion, "1.") {
		t.Fatalf("GoVersion = %q, %v", goVersion, err)
	}
	dir := t.TempDir()
	testmodule.WriteGoMod(t, dir, "example.com/m", map[string]string{"example.com/dep": "../dep"})
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	want := "module example.com/m\n\ngo " + goVersion + "\n\n" +
		"require (\n\texample.com/dep v0.0.0\n\tgithub.com/flowcache/flowcache v0.0.0\n)\n\n" +
		"replace (\n\texample.com/dep => ../dep\n\tgithub.com/flowcache/flowcache => " + root + "\n)\n"
	if string(gomod) != want {
		t.Errorf("go.mod:\n%s\nwant\n%s", gomod, want)
	}
	sum, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	rootSum, _ := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil || len(sum) == 0 || string(sum) != string(rootSum) {
		t.Errorf("go.sum is not the checkout's (%d bytes, %v)", len(sum), err)
	}
}
