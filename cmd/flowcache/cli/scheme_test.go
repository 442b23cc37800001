package cli

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
)

// TestSchemeLinkedIn checks that the command opens a scheme registered by a
// package linked next to it, as a backend of another module is when its
// author builds the command from package cli.
func TestSchemeLinkedIn(t *testing.T) {
	st := mem.Open()
	if err := st.Metadata().BeginRun(context.Background(), core.RunInfo{ID: "r-linked"}); err != nil {
		t.Fatal(err)
	}
	core.RegisterScheme("clitestscheme", func(_ context.Context, u *url.URL) (*core.Stores, error) {
		return &core.Stores{Metadata: st.Metadata(), Results: st.Results()}, nil
	})
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--cache", "clitestscheme://x", "runs"}, env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }})
	if code != exitOK || !strings.Contains(out.String(), "r-linked") {
		t.Fatalf("runs on a linked-in scheme = %d\nstdout:\n%s\nstderr:\n%s", code, &out, &errb)
	}
}
