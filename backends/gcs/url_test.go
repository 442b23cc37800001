package gcs_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	_ "github.com/flowcache/flowcache/backends/gcs" // registers gs://
	"github.com/flowcache/flowcache/core"
)

// TestURLChecks checks what gs:// URLs are refused before any request, so
// that the package has tests without a server too.
func TestURLChecks(t *testing.T) {
	if !slices.Contains(core.Schemes(), "gs") {
		t.Fatalf("importing the package does not register gs:// (registered: %v)", core.Schemes())
	}
	for _, c := range []struct{ url, want string }{
		{"gs://b/cache?colour=red", `unknown URL parameter "colour"`},
		{"gs:///cache", "without a bucket name"},
		{"gs://someone@b/cache", "credentials come from the environment"},
	} {
		_, err := core.OpenURL(t.Context(), c.url)
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(fmt.Sprint(err), c.want) {
			t.Errorf("OpenURL(%q) = %v; want an error wrapping core.ErrInvalid that says %q", c.url, err, c.want)
		}
	}
}
