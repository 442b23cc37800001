package driver_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
)

const manifestFactor = 3

func manifestHelper(x int) int { return x * manifestFactor }

func ManifestNode(x int) int { return manifestHelper(x) + 1 }

// The manifest of a node's code version names its function and what it
// reaches, its result type, and the state or explicit version mixed in.
func TestCodeManifestOfNodes(t *testing.T) {
	ctx := context.Background()
	st := mem.Open()
	k := 2
	dr, err := driver.NewBuilder().WithNodes(
		driver.Node("plain", ManifestNode, "x"),
		driver.Node("state", func(x int) int { return x * k }, "x", driver.WithState(k)),
		driver.Node("explicit", A1, driver.WithCodeVersion("v7")),
	).WithCache(driver.CacheStores(st.Metadata(), st.Results()), driver.CacheCoreOptions(core.WithManifestWait(time.Minute))).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	if _, err := dr.Execute(ctx, []string{"plain", "state", "explicit"}, driver.Inputs{"x": 1}, nil); err != nil {
		t.Fatal(err)
	}
	id, _ := dr.Cache().LastRunID(ctx)
	recs, _ := st.Metadata().Run(ctx, id)
	manifest := map[string]*core.CodeManifest{}
	for _, r := range recs {
		if r.Outcome != core.OutcomeExecuted {
			continue
		}
		m, err := core.ReadCodeManifest(ctx, st.Metadata(), st.Results(), r.Key.CodeVersion)
		if err != nil {
			t.Fatalf("manifest of %s: %v", r.Node, err)
		}
		manifest[r.Node] = m
	}

	m := manifest["plain"]
	if m == nil || !strings.HasSuffix(m.Func, "driver_test.ManifestNode") || m.ResultType != "int" || m.State != "" || m.Explicit != "" || m.PartsError != "" {
		t.Fatalf("manifest of plain: %+v", m)
	}
	if p := m.Parts[0]; p.Kind != "root func" || !strings.HasSuffix(p.Name, "driver_test.ManifestNode") || p.File != "driver/manifest_test.go" {
		t.Errorf("first part of plain: %+v, want its own function", p)
	}
	names := map[string]string{}
	for _, p := range m.Parts {
		names[p.Name[strings.LastIndex(p.Name, ".")+1:]] = p.Kind
	}
	if names["manifestHelper"] != "func" || names["manifestFactor"] != "const" || !slices.ContainsFunc(m.Parts, func(p core.CodePart) bool { return p.Kind == "toolchain" }) {
		t.Errorf("parts of plain %+v: want the helper, the constant and the toolchain", m.Parts)
	}

	if m := manifest["state"]; m == nil || m.State == "" || len(m.Parts) == 0 || m.Parts[0].Kind != "root closure" {
		t.Errorf("manifest of state: %+v, want its state digest and its closure's parts", m)
	}
	if m := manifest["explicit"]; m == nil || m.Explicit != "v7" || len(m.Parts) != 0 {
		t.Errorf("manifest of explicit: %+v, want explicit version v7 and no parts", m)
	}
}
