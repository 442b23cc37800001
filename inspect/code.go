package inspect

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/flowcache/flowcache/core"
)

// CodeChangeKind says how one part of a node's code differs between two code
// versions.
type CodeChangeKind string

// The kinds of code changes.
const (
	// CodeChanged: a part covered by both versions has another hash (a
	// function, constant, type... edited; a module at another version).
	CodeChanged CodeChangeKind = "changed"
	// CodeAdded, CodeRemoved: a part covered by one version only (the code
	// reaches a new helper, type, module..., or no longer reaches one).
	CodeAdded   CodeChangeKind = "added"
	CodeRemoved CodeChangeKind = "removed"
	// CodeReplaced: the node's function is another function.
	CodeReplaced CodeChangeKind = "replaced"
	// CodeResultType: the structure of the node's result type changed.
	CodeResultType CodeChangeKind = "result_type"
	// CodeState: the values declared with driver.WithState changed (or
	// were declared, or dropped).
	CodeState CodeChangeKind = "state"
	// CodeExplicit: the version set with driver.WithCodeVersion changed
	// (or was set, or dropped).
	CodeExplicit CodeChangeKind = "explicit_version"
	// CodeUnknown: the function's version changed, but what changed is not
	// known (a version that came from the build, not the source; or
	// versions computed differently, by another flowcache).
	CodeUnknown CodeChangeKind = "unknown"
)

// CodeChange is one difference between the code a node's code version
// covered in an earlier run and the code it covers now, from the code
// manifests of both versions (core.CodeManifest).
type CodeChange struct {
	What CodeChangeKind `json:"what"`
	// Kind is the part's kind: "func", "method", "const", "var", "type",
	// "init", "closure", "embed", "ldflag", "module", "toolchain"
	// (codeversion.Part; the node's own function is "root func", "root
	// method" or "root closure").
	Kind string `json:"kind,omitempty"`
	// Name is the part's qualified name (example.com/m/stats.mean), the
	// module's path, the toolchain's version and platform.
	Name string `json:"name,omitempty"`
	// File is the file that holds the part, relative to its module's root
	// (for a module: its version, or "=> dir" when replaced by a
	// directory).
	File string `json:"file,omitempty"`
	// Old and New are what differs: hashes of the part's content, the
	// module's versions, the toolchains, the result types, the explicit
	// versions.
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
	// Text says it for people: "func example.com/m/stats.mean
	// (stats/mean.go) changed", "module example.com/dep v1.0.0 -> v1.1.0".
	Text string `json:"text"`
}

// manifests reads code manifests for one Why, each once.
type manifests struct {
	c    *Cache
	read map[core.CodeVersion]manifestRead
}

type manifestRead struct {
	m   *core.CodeManifest
	err error
}

func (ms *manifests) get(ctx context.Context, v core.CodeVersion) (*core.CodeManifest, error) {
	if r, ok := ms.read[v]; ok {
		return r.m, r.err
	}
	m, err := core.ReadCodeManifest(ctx, ms.c.meta, ms.c.results, v)
	if ms.read == nil {
		ms.read = map[core.CodeVersion]manifestRead{}
	}
	ms.read[v] = manifestRead{m, err}
	return m, err
}

// codeChange fills ch (a ChangeCodeVersion) with what changed in the code,
// when the cache holds the manifests of both versions; otherwise Detail
// says which is missing.
func (ms *manifests) codeChange(ctx context.Context, ch *Change) {
	old, err := ms.get(ctx, core.CodeVersion(ch.Old))
	if err != nil {
		ch.Detail = fmt.Sprintf("what changed is not known: no code manifest of %s (%v)", shortString(ch.Old), err)
		return
	}
	cur, err := ms.get(ctx, core.CodeVersion(ch.New))
	if err != nil {
		ch.Detail = fmt.Sprintf("what changed is not known: no code manifest of %s (%v)", shortString(ch.New), err)
		return
	}
	ch.Code = diffManifests(old, cur)
}

func shortString(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// diffManifests lists what differs between two code manifests: the explicit
// version, the parts of the function's version, the result type and the
// state.
func diffManifests(old, cur *core.CodeManifest) []CodeChange {
	var out []CodeChange
	switch {
	case old.Explicit != cur.Explicit:
		ch := CodeChange{What: CodeExplicit, Old: old.Explicit, New: cur.Explicit}
		switch {
		case old.Explicit != "" && cur.Explicit != "":
			ch.Text = fmt.Sprintf("its WithCodeVersion changed (%s -> %s)", old.Explicit, cur.Explicit)
		case cur.Explicit != "":
			ch.Text = fmt.Sprintf("it has WithCodeVersion %s now; its version came from its code before", cur.Explicit)
		default:
			ch.Text = fmt.Sprintf("its version comes from its code now; it had WithCodeVersion %s before", old.Explicit)
		}
		out = append(out, ch)
	case old.Explicit != "":
		// The same explicit version: the code behind it is not versioned.
	case old.FuncVersion == cur.FuncVersion:
	case len(old.Parts) == 0 || len(cur.Parts) == 0:
		why := cmp.Or(cur.PartsError, old.PartsError, "no parts recorded")
		out = append(out, CodeChange{What: CodeUnknown, Old: old.FuncVersion, New: cur.FuncVersion,
			Text: fmt.Sprintf("the code of its function %s changed; what changed is not known: %s", funcName(cur), why)})
	default:
		parts := diffParts(old.Parts, cur.Parts)
		if len(parts) == 0 {
			parts = []CodeChange{{What: CodeUnknown, Old: old.FuncVersion, New: cur.FuncVersion,
				Text: "its function's version changed but none of the code it covers did: versions were computed differently (another version of flowcache)"}}
		}
		out = append(out, parts...)
	}
	if old.ResultTypeSignature != cur.ResultTypeSignature {
		ch := CodeChange{What: CodeResultType, Old: old.ResultType, New: cur.ResultType}
		if old.ResultType != cur.ResultType {
			ch.Text = fmt.Sprintf("the result type changed (%s -> %s)", old.ResultType, cur.ResultType)
		} else {
			ch.Text = fmt.Sprintf("the result type %s changed (its fields, tags or element types)", cur.ResultType)
		}
		out = append(out, ch)
	}
	if old.State != cur.State {
		ch := CodeChange{What: CodeState, Old: old.State, New: cur.State}
		switch {
		case old.State != "" && cur.State != "":
			ch.Text = "WithState values changed"
		case cur.State != "":
			ch.Text = "WithState values were declared"
		default:
			ch.Text = "WithState values were dropped"
		}
		out = append(out, ch)
	}
	if len(out) == 0 {
		out = append(out, CodeChange{What: CodeUnknown,
			Text: "nothing its code manifests record differs: versions were computed differently (another version of flowcache)"})
	}
	return out
}

func funcName(m *core.CodeManifest) string {
	if m.Func != "" {
		return m.Func
	}
	return "(unknown)"
}

// isRoot reports whether p is the node's function itself.
func isRoot(p core.CodePart) bool { return strings.HasPrefix(p.Kind, "root ") }

// partKey groups the parts that are the same thing in two versions: the
// kind and name, and for the toolchain the kind alone (its name holds the
// Go version).
func partKey(p core.CodePart) string {
	switch {
	case isRoot(p):
		return "root"
	case p.Kind == "toolchain":
		return "toolchain"
	}
	return p.Kind + "\x00" + p.Name
}

// diffParts compares the parts of two versions of a function: the node's
// function first, then the parts in their order (by kind and name).
func diffParts(old, cur []core.CodePart) []CodeChange {
	type group struct{ old, cur []core.CodePart }
	groups := map[string]*group{}
	var order []string
	at := func(p core.CodePart) *group {
		k := partKey(p)
		g := groups[k]
		if g == nil {
			g = &group{}
			groups[k] = g
			order = append(order, k)
		}
		return g
	}
	for _, p := range cur {
		g := at(p)
		g.cur = append(g.cur, p)
	}
	for _, p := range old {
		g := at(p)
		g.old = append(g.old, p)
	}
	// The node's function first, then by kind and name, as codeversion
	// orders parts.
	slices.SortFunc(order, func(a, b string) int {
		return cmp.Or(rootFirst(a == "root", b == "root"), cmp.Compare(a, b))
	})
	var out []CodeChange
	for _, k := range order {
		g := groups[k]
		out = append(out, diffGroup(g.old, g.cur)...)
	}
	return out
}

// rootFirst orders true before false.
func rootFirst(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

// diffGroup compares the parts of one name (usually one each; several init
// functions of a package, or closures of a line, share one).
func diffGroup(old, cur []core.CodePart) []CodeChange {
	if len(old) == 1 && len(cur) == 1 {
		if ch, ok := diffPart(old[0], cur[0]); ok {
			return []CodeChange{ch}
		}
		return nil
	}
	// Drop the parts both have, then pair what is left by file.
	same := func(a, b core.CodePart) bool { return a.Hash == b.Hash && a.File == b.File }
	var o, c []core.CodePart
	for _, p := range old {
		if !slices.ContainsFunc(cur, func(q core.CodePart) bool { return same(p, q) }) {
			o = append(o, p)
		}
	}
	for _, p := range cur {
		if !slices.ContainsFunc(old, func(q core.CodePart) bool { return same(p, q) }) {
			c = append(c, p)
		}
	}
	var out []CodeChange
	for _, p := range c {
		i := slices.IndexFunc(o, func(q core.CodePart) bool { return q.File == p.File })
		if i < 0 && len(o) == 1 && len(c) == 1 {
			i = 0
		}
		if i < 0 {
			out = append(out, partChange(CodeAdded, core.CodePart{}, p))
			continue
		}
		if ch, ok := diffPart(o[i], p); ok {
			out = append(out, ch)
		}
		o = slices.Delete(o, i, i+1)
	}
	for _, p := range o {
		out = append(out, partChange(CodeRemoved, p, core.CodePart{}))
	}
	return out
}

// diffPart compares one part in two versions.
func diffPart(old, cur core.CodePart) (CodeChange, bool) {
	switch {
	case isRoot(old) && old.Name != cur.Name:
		return partChange(CodeReplaced, old, cur), true
	case old.Hash == cur.Hash && old.Name == cur.Name:
		return CodeChange{}, false
	}
	return partChange(CodeChanged, old, cur), true
}

// partChange describes a change of a part: old is zero for an added part,
// cur for a removed one.
func partChange(what CodeChangeKind, old, cur core.CodePart) CodeChange {
	p := cur
	if what == CodeRemoved {
		p = old
	}
	ch := CodeChange{What: what, Kind: p.Kind, Name: p.Name, File: p.File, Old: old.Hash, New: cur.Hash}
	file := ""
	if p.File != "" {
		file = " (" + p.File + ")"
	}
	kind := strings.TrimPrefix(p.Kind, "root ")
	switch {
	case what == CodeReplaced:
		ch.Old, ch.New = old.Name, cur.Name
		ch.Text = fmt.Sprintf("its function is %s %s%s now, was %s", kind, cur.Name, file, old.Name)
	case isRoot(p):
		ch.Text = fmt.Sprintf("its own function, %s %s%s, changed", kind, p.Name, file)
	case p.Kind == "module":
		ch.Text = moduleText(what, old, cur)
		if what == CodeChanged && old.File != cur.File {
			ch.Old, ch.New = old.File, cur.File
		}
	case p.Kind == "toolchain":
		ch.Old, ch.New = old.Name, cur.Name
		if old.Name != cur.Name {
			ch.Text = fmt.Sprintf("the toolchain changed (%s -> %s)", old.Name, cur.Name)
		} else {
			ch.Text = fmt.Sprintf("the build settings changed (%s: build tags, GOAMD64, CGO_ENABLED, default GODEBUG...)", cur.Name)
		}
	case p.Kind == "ldflag":
		ch.Text = fmt.Sprintf("the -ldflags %s value %s", p.Name, what)
	case p.Kind == "embed":
		ch.Text = fmt.Sprintf("embedded file %s%s %s", p.Name, file, what)
	default:
		ch.Text = fmt.Sprintf("%s %s%s %s", kind, p.Name, file, what)
	}
	return ch
}

// moduleText describes a change of a module part, whose File is the
// module's version ("v1.2.0", "=> ../dep", "v1.0.0 => example.com/fork
// v1.0.1").
func moduleText(what CodeChangeKind, old, cur core.CodePart) string {
	switch what {
	case CodeAdded:
		return fmt.Sprintf("module %s %s added", cur.Name, cur.File)
	case CodeRemoved:
		return fmt.Sprintf("module %s %s removed", old.Name, old.File)
	}
	if old.File != cur.File {
		if strings.HasPrefix(old.File, "=>") || strings.HasPrefix(cur.File, "=>") {
			return fmt.Sprintf("module %s %s now, was %s", cur.Name, cur.File, old.File)
		}
		return fmt.Sprintf("module %s %s -> %s", cur.Name, old.File, cur.File)
	}
	if strings.HasPrefix(cur.File, "=>") {
		return fmt.Sprintf("module %s (%s) changed: the code of its directory", cur.Name, cur.File)
	}
	return fmt.Sprintf("module %s %s changed (its go.sum hash)", cur.Name, cur.File)
}
