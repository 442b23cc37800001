package driver

import (
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core/codeversion"
)

func gateNode(x int) int { return x + 1 }

// A node is described when the process parsed its module (describing is
// then cheap) or the cache waits long enough for a parse; otherwise not at
// all, rather than start a parse the run will not wait for.
func TestManifestNeedsAParse(t *testing.T) {
	st := mem.Open()
	d, err := NewBuilder().WithNodes(Node("n", gateNode, "x"), Node("e", gateNode, "x", WithCodeVersion("v1"))).
		WithCache(CacheStores(st.Metadata(), st.Results())).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	was := parsedModules.Load()
	defer parsedModules.Store(was)

	parsedModules.Store(false)
	if m := d.nodes["n"].manifest(5 * time.Millisecond); m != nil {
		t.Errorf("described without a parse and a short wait: %+v", m)
	}
	if m := d.nodes["e"].manifest(5 * time.Millisecond); m == nil || m.Explicit != "v1" {
		t.Errorf("a node with an explicit version needs no parse: %+v", m)
	}
	if m := d.nodes["n"].manifest(time.Minute); m == nil || len(m.Parts) == 0 {
		t.Errorf("with a long wait: %+v, want the parts", m)
	}
	parsedModules.Store(true)
	if m := d.nodes["n"].manifest(5 * time.Millisecond); m == nil || len(m.Parts) == 0 {
		t.Errorf("after a parse: %+v, want the parts", m)
	}
}

// A process that parsed the module (here: Explain, which parses when no
// graph is built yet) is recorded as such by the next Build.
func TestParsedModulesAfterAParse(t *testing.T) {
	was := parsedModules.Load()
	defer parsedModules.Store(was)
	parsedModules.Store(false)
	if _, err := codeversion.Explain(gateNode); err != nil {
		t.Fatal(err)
	}
	if !codeversion.Parsed() {
		t.Fatal("codeversion.Explain did not parse the module")
	}
	d, err := NewBuilder().WithNodes(Node("n", gateNode, "x")).WithCache(CacheStores(mem.Open().Metadata(), mem.Open().Results())).Build()
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if !parsedModules.Load() {
		t.Error("after a parse, Build did not record that the module is parsed")
	}
}
