package conformance_test

import (
	"testing"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/conformance/internal/wrapped"
)

// builtinStores opens a new, empty pair of each built-in store that needs
// no server: mem and local (conformance/urltest adds a bucket on the S3
// server). The stores are closed when the test ends.
var builtinStores = []struct {
	name string
	open func(t *testing.T) wrapped.Pair
}{
	{"mem", func(t *testing.T) wrapped.Pair {
		st := mem.Open()
		t.Cleanup(func() { st.Close() })
		return wrapped.Pair{Meta: st.Metadata(), Results: st.Results()}
	}},
	{"local", func(t *testing.T) wrapped.Pair {
		st, err := local.Open(t.Context(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return wrapped.Pair{Meta: st.Metadata(), Results: st.Results()}
	}},
}

// TestWrappedStores runs the store suites on every built-in store through a
// plain decorator over core's checks, and checks that each optional
// capability of the bare store is found through the wrappers and works
// (package conformance/internal/wrapped).
func TestWrappedStores(t *testing.T) {
	for _, bs := range builtinStores {
		t.Run(bs.name, func(t *testing.T) { wrapped.Test(t, bs.open) })
	}
}
