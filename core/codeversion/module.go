package codeversion

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

// modState is what a resolver knows of one module on disk: its tree as
// first seen, whether that source is the running code's, and the versions
// computed from it (by this process or, through the persisted table, by an
// earlier one).
type modState struct {
	root  string
	ready chan struct{} // closed once openModule returned
	path  string        // from go.mod
	tree  *tree
	// untrusted, when set, is why the source on disk is not the code that
	// runs: a fallback reason.
	untrusted string
	key       [32]byte // identity of the tree and the build: the table's key

	mu      sync.Mutex
	entries map[string]tableEntry // by table key (see tableKey)
	embeds  map[string]bool       // embedded files (relative to root) the versions read
	dirty   bool                  // entries not yet persisted

	graphOnce sync.Once
	g         *graph
}

// tableEntry is the code version of one function.
type tableEntry struct {
	version  [32]byte
	captured []string
	parts    []Part // not persisted; set when computed by this process
}

// rootOrEmpty returns the module's root, "" for a nil state.
func (ms *modState) rootOrEmpty() string {
	if ms == nil {
		return ""
	}
	return ms.root
}

// declTableKey and litTableKey name a function in the table: a declaration
// by file and key, a literal by file and the line of its func keyword.
func declTableKey(rel, key string) string { return rel + "\x00" + key }
func litTableKey(rel string, line int) string {
	return rel + "\x00#" + fmt.Sprint(line)
}

// moduleFor returns the state of the module holding the source file path,
// or nil and the reason its source cannot be used.
func (r *resolver) moduleFor(path string) (*modState, string) {
	dir := filepath.Dir(path)
	r.mu.Lock()
	root, ok := r.roots[dir]
	r.mu.Unlock()
	if !ok {
		root = findModuleRoot(dir)
		r.mu.Lock()
		r.roots[dir] = root
		r.mu.Unlock()
	}
	if root == "" {
		return nil, fmt.Sprintf("no go.mod above %s (not in a module)", dir)
	}
	r.mu.Lock()
	ms := r.mods[root]
	if ms == nil {
		ms = &modState{root: root, ready: make(chan struct{})}
		r.mods[root] = ms
		r.mu.Unlock()
		ms.mu.Lock()
		r.openModule(ms)
		ms.mu.Unlock()
		close(ms.ready)
	} else {
		r.mu.Unlock()
		<-ms.ready
	}
	if ms.untrusted != "" {
		return nil, ms.untrusted
	}
	return ms, ""
}

// openModule lists the module, decides whether its source is the running
// code's, and loads the versions an earlier process persisted for the same
// tree and build. Called with ms.mu held, once.
func (r *resolver) openModule(ms *modState) {
	gm, err := r.readFile(filepath.Join(ms.root, "go.mod"))
	if err != nil {
		ms.untrusted = fmt.Sprintf("go.mod of %s: %v", ms.root, err)
		return
	}
	ms.path = modfile.ModulePath(gm)
	if ms.path == "" {
		ms.untrusted = fmt.Sprintf("%s/go.mod names no module", ms.root)
		return
	}
	t, err := r.scanTree(ms.root)
	if err != nil {
		ms.untrusted = err.Error()
		return
	}
	ms.tree = t
	b := r.buildIdentity()
	extra := []string{ms.path, b.identity()}
	newest, newestTime := t.newest, t.newestTime
	for _, rd := range r.replacedDirs(ms.root) {
		rt, err := scanAll(rd)
		if err != nil {
			extra = append(extra, "replaced "+rd+": "+err.Error())
			continue
		}
		rk := rt.key()
		extra = append(extra, "replaced "+rd, hex.EncodeToString(rk[:]))
		if rt.newestTime.After(newestTime) {
			newest, newestTime = rt.newest, rt.newestTime
		}
	}
	if reason := r.checkFresh(newest, newestTime); reason != "" {
		ms.untrusted = reason
		return
	}
	ms.key = t.key(extra...)
	ms.entries = map[string]tableEntry{}
	ms.embeds = map[string]bool{}
	r.loadTable(ms)
}

// checkFresh returns why the source cannot be the running executable's when
// a file of it changed after the executable was written, or "". A binary
// that go run or go test just built (it lives in a go-build directory, or
// in the build cache, where go run finds it only when its inputs are
// unchanged) is always fresh.
func (r *resolver) checkFresh(newest string, newestTime time.Time) string {
	exe, exeTime, err := r.executable()
	if err != nil || newest == "" {
		return "" // nothing to compare with: trust the source, as go run does
	}
	if builtByGo(exe) {
		return ""
	}
	if newestTime.After(exeTime) {
		return fmt.Sprintf("source file %s changed after the executable %s was built (%s > %s): the source on disk is not the running code's",
			newest, exe, newestTime.Format(time.RFC3339Nano), exeTime.Format(time.RFC3339Nano))
	}
	return ""
}

// builtByGo reports whether exe is where go run and go test put the
// programs they build: a temporary go-build directory or the build cache.
func builtByGo(exe string) bool {
	for _, el := range strings.Split(filepath.ToSlash(exe), "/") {
		if strings.HasPrefix(el, "go-build") {
			return true
		}
	}
	return false
}

// executableInfo returns the path and modification time of the running
// executable.
func executableInfo() (string, time.Time, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", time.Time{}, err
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return "", time.Time{}, err
	}
	return exe, fi.ModTime(), nil
}

// replacedDirs returns the directories that replace directives of the
// build point to (a module replaced by a local directory), absolute.
func (r *resolver) replacedDirs(mainRoot string) []string {
	b := r.buildIdentity()
	var out []string
	for _, d := range b.deps {
		if !replacedByDir(d) {
			continue
		}
		dir := d.Replace.Path
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(mainRoot, dir)
		}
		out = append(out, filepath.Clean(dir))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// scanAll lists every regular file under dir (hidden and "_" directories
// left out), for the content of a module replaced by a directory.
func scanAll(dir string) (*tree, error) {
	t := &tree{root: dir}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_")) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		t.files = append(t.files, treeEntry{rel: filepath.ToSlash(rel), id: idOf(fi)})
		if fi.ModTime().After(t.newestTime) {
			t.newest, t.newestTime = p, fi.ModTime()
		}
		return nil
	})
	return t, err
}

// dirContentHash hashes the paths and contents of the files of t.
func dirContentHash(t *tree) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, e := range t.files {
		b, err := os.ReadFile(filepath.Join(t.root, filepath.FromSlash(e.rel)))
		if err != nil {
			b = []byte("unreadable: " + err.Error())
		}
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(e.rel)))])
		h.Write([]byte(e.rel))
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// graph returns the module graph, built once per process.
func (ms *modState) graph(r *resolver) *graph {
	ms.graphOnce.Do(func() {
		ms.g = buildGraph(ms.tree, ms.path, r.readFile)
		r.parsed.Store(true)
	})
	return ms.g
}

// identity is everything about the build that a version depends on besides
// the source: the toolchain, the target, the build settings and the
// versions of every module.
func (b *buildIdentity) identity() string {
	var s strings.Builder
	s.WriteString(b.toolchain())
	for _, d := range b.deps {
		m := d
		fmt.Fprintf(&s, "\ndep %s %s %s", m.Path, m.Version, m.Sum)
		if m.Replace != nil {
			fmt.Fprintf(&s, " => %s %s %s", m.Replace.Path, m.Replace.Version, m.Replace.Sum)
		}
	}
	fmt.Fprintf(&s, "\nldflags %s", b.ldflags)
	return s.String()
}

// toolchain describes the compiler, target and build settings (all but the
// VCS stamps and -ldflags, whose -X values are versioned with the
// variables they set).
func (b *buildIdentity) toolchain() string {
	var s strings.Builder
	fmt.Fprintf(&s, "%s %s/%s", b.goVer, runtime.GOOS, runtime.GOARCH)
	for _, st := range b.settings {
		// -trimpath only changes the paths the binary knows its source
		// by (and leaves the CGO_* flags out): a deployed (trimmed)
		// binary and a source build share results. An empty setting is
		// one that is not recorded.
		if strings.HasPrefix(st.Key, "vcs") || st.Key == "-ldflags" || st.Key == "-trimpath" || st.Value == "" {
			continue
		}
		fmt.Fprintf(&s, " %s=%s", st.Key, st.Value)
	}
	return s.String()
}

// xValues parses the -X flags of -ldflags: "importpath.name" -> value.
func xValues(ldflags string) map[string]string {
	out := map[string]string{}
	f := splitFlags(ldflags)
	for i := 0; i < len(f); i++ {
		a := f[i]
		var v string
		switch {
		case a == "-X" || a == "--X":
			if i+1 >= len(f) {
				continue
			}
			i++
			v = f[i]
		case strings.HasPrefix(a, "-X="):
			v = a[3:]
		case strings.HasPrefix(a, "--X="):
			v = a[4:]
		default:
			continue
		}
		if name, val, ok := strings.Cut(v, "="); ok {
			out[name] = val
		}
	}
	return out
}

// splitFlags splits a flag string as the go command quotes it: fields
// separated by spaces, each possibly in single or double quotes.
func splitFlags(s string) []string {
	var out []string
	var cur strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' && i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == ' ' || c == '\t' || c == '\n':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// sourceDesc is what the source says of a function's version, apart from
// the build: the digest of its own code and of every declaration and
// embedded file of the module it reaches, the import paths outside the
// module it uses, the -X names of the variables it reaches, and what it
// captures. A build-time table (table.go) holds sourceDescs, so that a
// binary without its source computes the very versions its source gives.
type sourceDesc struct {
	digest   [32]byte
	ext      []string // import paths outside the module, sorted
	xnames   []string // "importpath.name" (and "main.name") of reached string variables (-X may set them), sorted
	captured []string
	parts    []Part // the source parts, roots first (for Explain; not in tables)
}

// describe computes the sourceDesc of units ids of graph g (one function,
// or the literals sharing a line).
func (r *resolver) describe(ms *modState, g *graph, ids []int) sourceDesc {
	var c closure
	seen := map[int]bool{}
	extSeen := map[string]bool{}
	for _, id := range ids {
		rc := g.reach(id)
		for _, u := range rc.units {
			if !seen[u] {
				seen[u] = true
				c.units = append(c.units, u)
			}
		}
		for _, e := range rc.ext {
			if !extSeen[e] {
				extSeen[e] = true
				c.ext = append(c.ext, e)
			}
		}
	}
	slices.Sort(c.ext)
	isRoot := map[int]bool{}
	for _, id := range ids {
		isRoot[id] = true
	}
	var d sourceDesc
	d.ext = c.ext
	h := newFieldHash()
	h.field(scheme)
	// The roots: their package and their own code, not their names
	// (renaming a function keeps its results).
	for _, id := range ids {
		gu := &g.units[id]
		h.field("root")
		h.field(gu.f.pkg.path)
		h.field(gu.u.kind.String())
		h.Write(gu.u.hash[:])
		p := g.unitPart(id)
		p.Kind = "root " + p.Kind
		d.parts = append(d.parts, p)
		for _, v := range gu.u.captured {
			if !slices.Contains(d.captured, v) {
				d.captured = append(d.captured, v)
			}
		}
	}
	// Everything else they reach, in a canonical order.
	var rest []Part
	for _, id := range c.units {
		if isRoot[id] {
			continue
		}
		rest = append(rest, g.unitPart(id))
		if gu := &g.units[id]; gu.u.kind == kindVar && gu.u.xable {
			for _, n := range gu.u.names {
				d.xnames = append(d.xnames, gu.f.pkg.path+"."+n)
				if gu.f.pkg.name == "main" {
					d.xnames = append(d.xnames, "main."+n)
				}
			}
		}
	}
	slices.Sort(d.xnames)
	d.xnames = slices.Compact(d.xnames)
	embeds := g.embedParts(c, r.readFile)
	for _, e := range embeds {
		ms.embeds[e.File] = true
	}
	rest = append(rest, embeds...)
	sortParts(rest)
	rest = slices.Compact(rest)
	for _, p := range rest {
		h.field(p.Kind)
		h.field(p.Name)
		h.field(p.Hash)
	}
	d.parts = append(d.parts, rest...)
	h.Sum(d.digest[:0])
	return d
}

// buildEnv says where the facts about other modules come from: the disk
// (mainRoot is the main module's directory, for relative replace
// directives, and the module cache), or a build-time table (replaced maps
// a module replaced by a directory to that directory's content hash,
// requires a module to the modules its go.mod requires).
type buildEnv struct {
	mainRoot string
	replaced map[string]string
	requires map[string][]string
}

// finish returns the version of a function from what its source says and
// what the build says: the modules it reaches, the -X values of its
// variables, and the toolchain.
func (r *resolver) finish(d sourceDesc, env buildEnv) tableEntry {
	b := r.buildIdentity()
	var rest []Part
	for _, q := range d.xnames {
		if b.ldflagsUnknown {
			// -trimpath builds do not record -ldflags: any string
			// variable may have been set; the executable tells.
			exe, err := r.executableHash()
			if err != nil {
				exe = "unreadable: " + err.Error()
			}
			rest = append(rest, Part{Kind: "ldflag", Name: "-X " + q, File: "-ldflags not recorded (-trimpath)", Hash: exe})
			continue
		}
		if v, ok := b.xvalues[q]; ok {
			s := sha256.Sum256([]byte(v))
			rest = append(rest, Part{Kind: "ldflag", Name: "-X " + q, Hash: hex.EncodeToString(s[:])})
		}
	}
	rest = append(rest, r.moduleParts(env, d.ext)...)
	tc := sha256.Sum256([]byte(b.toolchain()))
	rest = append(rest, Part{Kind: "toolchain", Name: b.goVer + " " + runtime.GOOS + "/" + runtime.GOARCH, Hash: hex.EncodeToString(tc[:])})
	sortParts(rest)
	rest = slices.Compact(rest)
	h := newFieldHash()
	h.field(scheme)
	h.field("build")
	h.Write(d.digest[:])
	for _, p := range rest {
		h.field(p.Kind)
		h.field(p.Name)
		h.field(p.Hash)
	}
	var e tableEntry
	h.Sum(e.version[:0])
	e.captured = d.captured
	if d.parts != nil {
		e.parts = append(slices.Clip(d.parts), rest...)
	}
	return e
}

// compute returns the code version of the units ids of module graph g (one
// function, or the literals sharing a line), with its parts.
func (r *resolver) compute(ms *modState, g *graph, ids []int) tableEntry {
	return r.finish(r.describe(ms, g, ids), buildEnv{mainRoot: ms.root})
}

// fieldHash is a SHA-256 fed with length-prefixed fields, so that no two
// different sequences of fields hash the same.
type fieldHash struct {
	hash.Hash
	lb [binary.MaxVarintLen64]byte
}

func newFieldHash() *fieldHash { return &fieldHash{Hash: sha256.New()} }

func (h *fieldHash) field(s string) {
	h.Write(h.lb[:binary.PutUvarint(h.lb[:], uint64(len(s)))])
	h.Write([]byte(s))
}

// replacedByDir reports whether module d of the build is replaced by a
// local directory (the build information gives it version "(devel)").
func replacedByDir(d *debug.Module) bool {
	if d.Replace == nil {
		return false
	}
	v, p := d.Replace.Version, d.Replace.Path
	return (v == "" || v == "(devel)") && (filepath.IsAbs(p) || strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../") ||
		strings.HasPrefix(p, ".\\") || strings.HasPrefix(p, "..\\"))
}

// moduleParts returns the parts for the import paths outside the module
// that a closure uses: nothing for the standard library (the toolchain
// covers it); for a package of another module, that module and every
// module it requires, transitively, as their go.mod files say (read from
// the module cache, or from the directory that replaces a module), at the
// versions the build selected. When a go.mod cannot be read, every module
// of the build is included.
func (r *resolver) moduleParts(env buildEnv, ext []string) []Part {
	b := r.buildIdentity()
	var unknown []string
	var roots []*debug.Module
	for _, ip := range ext {
		if isStdPath(ip) {
			continue
		}
		m := moduleOf(b, ip)
		if m == nil || m == &b.main {
			unknown = append(unknown, ip)
			continue
		}
		roots = append(roots, m)
	}
	byPath := map[string]*debug.Module{}
	for _, d := range b.deps {
		byPath[d.Path] = d
	}
	seen := map[string]bool{}
	var mods []*debug.Module
	all := false
	for len(roots) > 0 && !all {
		m := roots[len(roots)-1]
		roots = roots[:len(roots)-1]
		if seen[m.Path] {
			continue
		}
		seen[m.Path] = true
		mods = append(mods, m)
		reqs, ok := env.requires[m.Path]
		if env.requires == nil {
			reqs, ok = r.requires(env.mainRoot, m)
		}
		if !ok {
			all = true
			break
		}
		for _, p := range reqs {
			if d := byPath[p]; d != nil && !seen[p] {
				roots = append(roots, d)
			}
		}
	}
	if all {
		mods = b.deps
	}
	var out []Part
	for _, m := range mods {
		p := Part{Kind: "module", Name: m.Path, File: m.Version}
		switch {
		case replacedByDir(m):
			p.File = "=> " + m.Replace.Path
			if h, ok := env.replaced[m.Path]; ok {
				p.Hash = h
			} else {
				p.Hash = r.replacedHash(env.mainRoot, m.Replace.Path)
			}
		case m.Replace != nil:
			p.File = m.Version + " => " + m.Replace.Path + " " + m.Replace.Version
			s := sha256.Sum256([]byte(m.Replace.Path + " " + m.Replace.Version + " " + m.Replace.Sum))
			p.Hash = hex.EncodeToString(s[:])
		default:
			s := sha256.Sum256([]byte(m.Path + " " + m.Version + " " + m.Sum))
			p.Hash = hex.EncodeToString(s[:])
		}
		out = append(out, p)
	}
	if len(unknown) > 0 {
		// Packages the build information does not place in any module
		// (no build information, or a module outside it): the version of
		// their code is the executable's.
		exe, err := r.executableHash()
		if err != nil {
			exe = "unknown: " + err.Error()
		}
		for _, ip := range unknown {
			out = append(out, Part{Kind: "module", Name: ip, File: "not in the build information", Hash: exe})
		}
	}
	return out
}

// requires returns the module paths module m requires, from its go.mod:
// in the directory that replaces it, or in the module cache.
func (r *resolver) requires(mainRoot string, m *debug.Module) ([]string, bool) {
	var file string
	switch {
	case replacedByDir(m):
		file = replacedGoMod(mainRoot, m.Replace.Path)
	default:
		path, version := m.Path, m.Version
		if m.Replace != nil {
			path, version = m.Replace.Path, m.Replace.Version
		}
		if file = cachedGoMod(modCache(), path, version); file == "" {
			return nil, false
		}
	}
	r.mu.Lock()
	reqs, ok := r.reqs[file]
	r.mu.Unlock()
	if ok {
		return reqs, reqs != nil
	}
	b, err := os.ReadFile(file)
	if err == nil {
		var f *modfile.File
		if f, err = modfile.ParseLax(file, b, nil); err == nil {
			reqs = []string{}
			for _, req := range f.Require {
				reqs = append(reqs, req.Mod.Path)
			}
		}
	}
	r.mu.Lock()
	r.reqs[file] = reqs
	r.mu.Unlock()
	return reqs, reqs != nil
}

// replacedGoMod returns the go.mod of a module replaced by directory dir
// (relative to the main module's root mainRoot when not absolute).
func replacedGoMod(mainRoot, dir string) string {
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(mainRoot, dir)
	}
	return filepath.Join(dir, "go.mod")
}

// cachedGoMod returns where the module cache keeps the go.mod of path at
// version, or "" when there is no cache or the path or version cannot be
// escaped.
func cachedGoMod(cache, path, version string) string {
	ep, err1 := module.EscapePath(path)
	ev, err2 := module.EscapeVersion(version)
	if err1 != nil || err2 != nil || cache == "" {
		return ""
	}
	return filepath.Join(cache, "cache", "download", filepath.FromSlash(ep), "@v", ev+".mod")
}

// modCache returns the module cache directory, as the go command finds it
// (GOMODCACHE, else the first GOPATH entry's pkg/mod, else ~/go/pkg/mod).
func modCache() string {
	if c := os.Getenv("GOMODCACHE"); c != "" {
		return c
	}
	gp := os.Getenv("GOPATH")
	if gp == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		gp = filepath.Join(home, "go")
	}
	first, _, _ := strings.Cut(gp, string(os.PathListSeparator))
	return filepath.Join(first, "pkg", "mod")
}

// replacedHash returns the content hash of a module replaced by directory
// dir (relative to mainRoot when not absolute), computed once a process.
func (r *resolver) replacedHash(mainRoot, dir string) string {
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(mainRoot, dir)
	}
	dir = filepath.Clean(dir)
	r.mu.Lock()
	h, ok := r.replaced[dir]
	r.mu.Unlock()
	if ok {
		return h
	}
	t, err := scanAll(dir)
	if err != nil {
		h = "unreadable: " + err.Error()
	} else {
		h = dirContentHash(t)
	}
	r.mu.Lock()
	r.replaced[dir] = h
	r.mu.Unlock()
	return h
}

// isStdPath reports whether import path p is in the standard library: its
// first element has no dot.
func isStdPath(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return !strings.Contains(first, ".")
}
