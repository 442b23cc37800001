package codeversion

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// buildIdentity is what the fallback knows about the running build.
type buildIdentity struct {
	ok       bool
	goVer    string
	main     debug.Module
	deps     []*debug.Module
	settings []debug.BuildSetting
	ldflags  string
	xvalues  map[string]string // -X flags of -ldflags: "importpath.name" -> value
	// ldflagsUnknown is set for a -trimpath build, whose -ldflags the go
	// command does not record.
	ldflagsUnknown bool
	revision       string
	modified       string
	// needExe is set when the main module has no clean VCS revision (or no
	// build information exists): a fallback then hashes the executable.
	needExe bool
}

func (r *resolver) buildIdentity() *buildIdentity {
	r.build.Do(func() {
		b := &buildIdentity{goVer: runtime.Version()}
		if bi, ok := r.buildInfo(); ok && bi != nil {
			b.ok = true
			b.goVer = bi.GoVersion
			b.main = bi.Main
			b.deps = bi.Deps
			b.settings = bi.Settings
			for _, s := range bi.Settings {
				switch s.Key {
				case "-ldflags":
					b.ldflags = s.Value
					b.xvalues = xValues(s.Value)
				case "vcs.revision":
					b.revision = s.Value
				case "vcs.modified":
					b.modified = s.Value
				}
			}
		}
		if b.ok && b.ldflags == "" {
			for _, s := range b.settings {
				if s.Key == "-trimpath" && s.Value == "true" {
					b.ldflagsUnknown = true
				}
			}
		}
		// The executable's hash (tens of milliseconds for a large binary)
		// is only read by a fallback that needs it (exeIdentity).
		b.needExe = !b.ok || b.revision == "" || b.modified == "true"
		r.buildData = b
	})
	return r.buildData
}

// fallback returns the build-derived Info for a function whose source could
// not be used; reason says why.
func (r *resolver) fallback(loc location, reason string) Info {
	b := r.buildIdentity()
	pkg, _ := splitName(loc.name)
	h := sha256.New()
	var from string
	// Fields are written with their lengths, so that no two different
	// identities hash the same.
	field := func(s string) { fmt.Fprintf(h, "%d:%s\n", len(s), s) }
	field("fallback")
	field(loc.name)
	switch m := moduleOf(b, pkg); {
	case m != nil && m != &b.main:
		// A dependency: its version identifies its code.
		if m.Replace != nil {
			m = m.Replace
		}
		field("dep")
		field(m.Path)
		field(m.Version)
		field(m.Sum)
		from = "module " + m.Path + "@" + m.Version
	case m == nil && b.ok && isStd(pkg):
		// The standard library comes with the Go version.
		field("std")
		field(b.goVer)
		from = "Go " + b.goVer
	default:
		// The main module (or no build information at all).
		field("main")
		field(b.main.Path)
		field(b.main.Version)
		field(b.revision)
		field(b.modified)
		from = "module " + b.main.Path
		if b.revision != "" {
			from += " revision " + b.revision
			if b.modified == "true" {
				from += " (modified)"
			}
		}
		if b.needExe {
			exe, exeErr := r.executableHash()
			field(exe)
			if exeErr != nil {
				// Without any identity of the build, the name is all we
				// have: say so, a stale result may be served.
				from += "; no VCS revision and the executable cannot be read: code changes are not detected"
			} else {
				from += " and the executable's SHA-256"
			}
		}
	}
	fmt.Fprintf(h, "end\n")
	info := Info{
		Version:  hex.EncodeToString(h.Sum(nil)),
		Func:     loc.name,
		Line:     loc.line,
		Fallback: reason + "; version derived from the build: " + from,
		// Without the source, what a closure captures is unknown.
		MayCapture: isClosureName(loc.name),
	}
	if r.warn != nil {
		r.warnOnce.Do(func() { r.warn(info) })
	}
	return info
}

// moduleOf returns the module that holds package pkg (the longest matching
// module path), or nil.
func moduleOf(b *buildIdentity, pkg string) *debug.Module {
	if !b.ok || pkg == "" {
		return nil
	}
	var best *debug.Module
	try := func(m *debug.Module) {
		if m.Path != "" && (pkg == m.Path || strings.HasPrefix(pkg, m.Path+"/")) &&
			(best == nil || len(m.Path) > len(best.Path)) {
			best = m
		}
	}
	try(&b.main)
	for _, d := range b.deps {
		try(d)
	}
	return best
}

// isStd reports whether a package path belongs to the standard library: its
// first element has no dot. ("main" and the packages of a module without a
// dot in its path are matched by moduleOf first.)
func isStd(pkg string) bool { return isStdPath(pkg) && pkg != "main" }

// executableHash returns the hex SHA-256 of the running executable, read
// once.
func (r *resolver) executableHash() (string, error) {
	r.exeOnce.Do(func() { r.exe, r.exeErr = r.exeHash() })
	return r.exe, r.exeErr
}

// hashExecutable returns the hex SHA-256 of the running executable.
func hashExecutable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	f, err := os.Open(exe)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// isClosureName reports whether name, a function's runtime name, is that
// of a function literal ("pkg.F.func1", "pkg.(*T).M.func2.1",
// "pkg.F[...].func1", or, inlined, "pkg.G.F.func3"), which may capture the
// variables of the function around it. A literal assigned to a package
// variable is named like one declared in an init function
// ("pkg.init.func1"), which may capture: both count. Only the old
// "pkg.glob..func1" names are known to capture nothing.
func isClosureName(name string) bool {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	if strings.Contains(name, ".glob..func") {
		return false
	}
	for part := range strings.SplitSeq(name, ".") {
		if n, ok := strings.CutPrefix(part, "func"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
			return true
		}
	}
	return false
}
