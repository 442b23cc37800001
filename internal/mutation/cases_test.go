package mutation

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/flowcache/flowcache/internal/testmodule"
)

// TestCasesApply is the part of the suite that builds nothing, so that it
// runs under -short too: every case of TestMutations has a unique name,
// its edits apply to a fresh copy of the template as written (each old
// text occurs as often as its mode says), and what they leave still
// parses (Go files, go.mod).
func TestCasesApply(t *testing.T) {
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	root, err := testmodule.Root()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range append(append([]mutation(nil), reexecuteCases...), hitCases...) {
		if seen[m.name] {
			t.Errorf("two cases are named %s", m.name)
		}
		seen[m.name] = true
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, d := range []string{"pipeline", "dep", "alt1", "alt2"} {
				if err := copyTree(filepath.Join(testdata, d), filepath.Join(dir, d)); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, "pipeline", "go.mod"), []byte(baselineGoMod("1.26", root)), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, e := range m.edits {
				if err := e.apply(dir); err != nil {
					t.Fatalf("edit %v: %v", e, err)
				}
				path := filepath.Join(dir, filepath.FromSlash(e.file))
				switch {
				case strings.HasSuffix(e.file, ".go"):
					if _, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution); err != nil {
						t.Errorf("after edit %v: %v", e, err)
					}
				case strings.HasSuffix(e.file, "go.mod"):
					b, err := os.ReadFile(path)
					if err == nil {
						_, err = modfile.Parse(path, b, nil)
					}
					if err != nil {
						t.Errorf("after edit %v: %v", e, err)
					}
				}
			}
		})
	}
}
