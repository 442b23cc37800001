package inspect

import (
	"slices"
	"testing"

	"github.com/flowcache/flowcache/core"
)

func TestDiffManifests(t *testing.T) {
	root := core.CodePart{Kind: "root func", Name: "example.com/m.Node", File: "node.go", Hash: "r1"}
	mean := core.CodePart{Kind: "func", Name: "example.com/m/stats.mean", File: "stats/mean.go", Hash: "m1"}
	factor := core.CodePart{Kind: "const", Name: "example.com/m.Factor", File: "m.go", Hash: "f1"}
	point := core.CodePart{Kind: "type", Name: "example.com/m.Point", File: "geom.go", Hash: "p1"}
	dep := core.CodePart{Kind: "module", Name: "example.com/dep", File: "v1.0.0", Hash: "d1"}
	local := core.CodePart{Kind: "module", Name: "example.com/local", File: "=> ../local", Hash: "l1"}
	initA := core.CodePart{Kind: "init", Name: "example.com/m.init", File: "a.go", Hash: "ia"}
	initB := core.CodePart{Kind: "init", Name: "example.com/m.init", File: "b.go", Hash: "ib"}
	tool := core.CodePart{Kind: "toolchain", Name: "go1.26.8 linux/amd64", Hash: "t1"}
	x := core.CodePart{Kind: "ldflag", Name: "-X main.buildTag", Hash: "x1"}
	data := core.CodePart{Kind: "embed", Name: "example.com/m/data.txt", File: "data.txt", Hash: "e1"}
	base := []core.CodePart{root, factor, mean, initA, initB, dep, local, tool, x, data}
	with := func(parts []core.CodePart, edit func(*core.CodePart)) []core.CodePart {
		out := slices.Clone(parts)
		for i := range out {
			edit(&out[i])
		}
		return out
	}
	set := func(name, field, v string) func(*core.CodePart) {
		return func(p *core.CodePart) {
			if p.Name != name || (p.Kind == "init" && p.File != "b.go") {
				return
			}
			switch field {
			case "hash":
				p.Hash = v
			case "file":
				p.File = v
			case "name":
				p.Name = v
			}
		}
	}
	manifest := func(parts []core.CodePart) *core.CodeManifest {
		return &core.CodeManifest{Func: "example.com/m.Node", FuncVersion: "fv-" + partsKey(parts), Parts: parts, ResultType: "int", ResultTypeSignature: "int"}
	}
	cases := []struct {
		name     string
		old, cur *core.CodeManifest
		want     []string
	}{
		{"helper", manifest(base), manifest(with(base, set(mean.Name, "hash", "m2"))),
			[]string{"func example.com/m/stats.mean (stats/mean.go) changed"}},
		{"const and own code", manifest(base), manifest(with(with(base, set(factor.Name, "hash", "f2")), set(root.Name, "hash", "r2"))),
			[]string{"its own function, func example.com/m.Node (node.go), changed", "const example.com/m.Factor (m.go) changed"}},
		{"type added", manifest(base), manifest(append(slices.Clone(base), point)),
			[]string{"type example.com/m.Point (geom.go) added"}},
		{"type removed", manifest(append(slices.Clone(base), point)), manifest(base),
			[]string{"type example.com/m.Point (geom.go) removed"}},
		{"module version", manifest(base), manifest(with(with(base, set(dep.Name, "file", "v1.1.0")), set(dep.Name, "hash", "d2"))),
			[]string{"module example.com/dep v1.0.0 -> v1.1.0"}},
		{"module directory edited", manifest(base), manifest(with(base, set(local.Name, "hash", "l2"))),
			[]string{"module example.com/local (=> ../local) changed: the code of its directory"}},
		{"module directory switched", manifest(base), manifest(with(with(base, set(local.Name, "file", "=> ../local2")), set(local.Name, "hash", "l2"))),
			[]string{"module example.com/local => ../local2 now, was => ../local"}},
		{"one init of two", manifest(base), manifest(with(base, set(initB.Name, "hash", "ib2"))),
			[]string{"init example.com/m.init (b.go) changed"}},
		{"toolchain", manifest(base), manifest(with(with(base, set(tool.Name, "hash", "t2")), set(tool.Name, "name", "go1.26.9 linux/amd64"))),
			[]string{"the toolchain changed (go1.26.8 linux/amd64 -> go1.26.9 linux/amd64)"}},
		{"build settings", manifest(base), manifest(with(base, set(tool.Name, "hash", "t2"))),
			[]string{"the build settings changed (go1.26.8 linux/amd64: build tags, GOAMD64, CGO_ENABLED, default GODEBUG...)"}},
		{"ldflag and embed", manifest(base), manifest(with(with(base, set(x.Name, "hash", "x2")), set(data.Name, "hash", "e2"))),
			[]string{"embedded file example.com/m/data.txt (data.txt) changed", "the -ldflags -X main.buildTag value changed"}},
		{"function replaced", manifest(base), manifest(with(base, set(root.Name, "name", "example.com/m.Other"))),
			[]string{"its function is func example.com/m.Other (node.go) now, was example.com/m.Node"}},
		{"no parts", manifest(base), &core.CodeManifest{FuncVersion: "other", Func: "example.com/m.Node", PartsError: "built with -trimpath", ResultTypeSignature: "int"},
			[]string{"the code of its function example.com/m.Node changed; what changed is not known: built with -trimpath"}},
		{"explicit", &core.CodeManifest{Explicit: "v1", ResultTypeSignature: "int"}, &core.CodeManifest{Explicit: "v2", ResultTypeSignature: "int"},
			[]string{"its WithCodeVersion changed (v1 -> v2)"}},
		{"result type fields", manifest(base), func() *core.CodeManifest {
			m := manifest(base)
			m.ResultTypeSignature = "struct{A int}"
			return m
		}(), []string{"the result type int changed (its fields, tags or element types)"}},
		{"state declared", manifest(base), func() *core.CodeManifest { m := manifest(base); m.State = "s"; return m }(),
			[]string{"WithState values were declared"}},
		{"same parts", manifest(base), func() *core.CodeManifest { m := manifest(base); m.FuncVersion = "other"; return m }(),
			[]string{"its function's version changed but none of the code it covers did: versions were computed differently (another version of flowcache)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, ch := range diffManifests(c.old, c.cur) {
				got = append(got, ch.Text)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("changes:\n\t%q\nwant\n\t%q", got, c.want)
			}
		})
	}
}

// partsKey stands for a function version made of parts.
func partsKey(parts []core.CodePart) string {
	s := ""
	for _, p := range parts {
		s += p.Kind + p.Name + p.File + p.Hash
	}
	return s
}
