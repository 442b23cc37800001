package azure_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	_ "github.com/flowcache/flowcache/backends/azure" // registers azblob://
	"github.com/flowcache/flowcache/core"
)

// TestURLChecks checks what azblob:// URLs are refused before any request, so
// that the package has tests without a server too.
func TestURLChecks(t *testing.T) {
	if !slices.Contains(core.Schemes(), "azblob") {
		t.Fatalf("importing the package does not register azblob:// (registered: %v)", core.Schemes())
	}
	for _, c := range []struct{ url, want string }{
		{"azblob://b/cache?colour=red", `unknown URL parameter "colour"`},
		{"azblob:///cache", "without a container name"},
		{"azblob://someone@b/cache", "credentials come from the environment"},
	} {
		_, err := core.OpenURL(t.Context(), c.url)
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(fmt.Sprint(err), c.want) {
			t.Errorf("OpenURL(%q) = %v; want an error wrapping core.ErrInvalid that says %q", c.url, err, c.want)
		}
	}
}
