package local

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/flowcache/flowcache/core"
)

// The deps columns hold the JSON of a []core.Dep, exactly as encoding/json
// writes it: [{"name":"a","version":"…"},…]. Encoding and decoding it is on
// the path of every stored and every retrieved node, so the common case —
// names and versions without characters JSON escapes — is done by hand
// (several times faster than encoding/json, one allocation to decode), and
// everything else falls back to encoding/json. Both paths write the same
// bytes, which TestDepsCodec checks.

const (
	depsOpen    = `{"name":"`
	depsMiddle  = `","version":"`
	depsClose   = `"}`
	depsEmpty   = "[]"
	maxFastDeps = 1 << 10
)

// plainJSON reports whether encoding/json writes s between quotes as is.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// appendDeps appends the JSON of deps to b.
func appendDeps(b []byte, deps []core.Dep) ([]byte, error) {
	if len(deps) == 0 {
		return append(b, depsEmpty...), nil
	}
	for _, d := range deps {
		if !plainJSON(d.Name) || !plainJSON(string(d.Version)) {
			j, err := json.Marshal(deps)
			return append(b, j...), err
		}
	}
	b = append(b, '[')
	for i, d := range deps {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, depsOpen...)
		b = append(b, d.Name...)
		b = append(b, depsMiddle...)
		b = append(b, d.Version...)
		b = append(b, depsClose...)
	}
	return append(b, ']'), nil
}

// decodeDeps parses the JSON of a []core.Dep; "[]" is nil.
func decodeDeps(raw string) ([]core.Dep, error) {
	if len(raw) == 0 || raw == depsEmpty {
		return nil, nil
	}
	if deps, ok := decodeDepsFast(raw); ok {
		return deps, nil
	}
	var deps []core.Dep
	if err := json.Unmarshal([]byte(raw), &deps); err != nil {
		return nil, fmt.Errorf("%w: dependencies %.40q: %v", core.ErrCorrupt, raw, err)
	}
	return deps, nil
}

// decodeDepsFast parses what appendDeps writes on its fast path; it
// reports false for anything else (escapes, other spacing or key order).
// The names and versions are substrings of s.
func decodeDepsFast(s string) ([]core.Dep, bool) {
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' || strings.IndexByte(s, '\\') >= 0 {
		return nil, false
	}
	n := strings.Count(s, depsMiddle)
	if n == 0 || n > maxFastDeps {
		return nil, false
	}
	deps := make([]core.Dep, 0, n)
	rest := s[1 : len(s)-1]
	for {
		var ok bool
		if rest, ok = strings.CutPrefix(rest, depsOpen); !ok {
			return nil, false
		}
		name, r, ok := strings.Cut(rest, depsMiddle)
		if !ok || strings.IndexByte(name, '"') >= 0 {
			return nil, false
		}
		version, r, ok := strings.Cut(r, depsClose)
		if !ok || strings.IndexByte(version, '"') >= 0 {
			return nil, false
		}
		deps = append(deps, core.Dep{Name: name, Version: core.DataVersion(version)})
		if r == "" {
			return deps, true
		}
		if rest, ok = strings.CutPrefix(r, ","); !ok {
			return nil, false
		}
	}
}
