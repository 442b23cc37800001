package formats

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/flowcache/flowcache/core"
)

var registry = struct {
	mu sync.RWMutex
	m  map[string]core.Format
}{m: map[string]core.Format{}}

// Register makes f available by its name to Lookup. Formats register
// themselves in an init function, so importing their package is enough:
// this package registers gob, json, gob+zstd and json+zstd; formats/csv,
// formats/arrow and formats/parquet register theirs.
//
// Like database/sql.Register, it panics if f is nil, if its name is not
// valid (see ValidateName) or if a format of that name is registered
// already: those are programming errors, found at start-up.
func Register(f core.Format) {
	if f == nil {
		panic("formats: Register of a nil format")
	}
	name := f.Name()
	if err := ValidateName(name); err != nil {
		panic("formats: Register: " + err.Error())
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if _, dup := registry.m[name]; dup {
		panic(fmt.Sprintf("formats: Register called twice for format %q", name))
	}
	registry.m[name] = f
}

// Lookup returns the registered format of that name. For an unknown name its
// error wraps core.ErrInvalid, names the format and lists the known ones.
func Lookup(name string) (core.Format, error) {
	registry.mu.RLock()
	f, ok := registry.m[name]
	registry.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: unknown format %q (known: %s; formats/csv, formats/arrow and formats/parquet register theirs when imported)",
			core.ErrInvalid, name, strings.Join(Names(), ", "))
	}
	return f, nil
}

// Names returns the names of the registered formats, sorted.
func Names() []string {
	registry.mu.RLock()
	names := make([]string, 0, len(registry.m))
	for n := range registry.m {
		names = append(names, n)
	}
	registry.mu.RUnlock()
	slices.Sort(names)
	return names
}

// maxNameLen bounds format names; they end up in every result's object name.
const maxNameLen = 64

// ValidateName reports whether name can be a format's name. A name is part
// of every stored result's id and object name ("<data version>.<format>"),
// so it is 1 to 64 characters among ASCII letters, digits and "+-._", does
// not end in ".tmp" (the suffix of files being written), and therefore
// never holds '/' or '\'. By convention it is lowercase: the base format
// ("gob", "json", "csv", "parquet", "arrow"), a "-v2" style suffix when
// that format's encoding changes incompatibly, and "+zstd" when compressed.
// Its error wraps core.ErrInvalid.
func ValidateName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("%w: format name %q must have 1 to %d characters", core.ErrInvalid, name, maxNameLen)
	}
	for _, c := range []byte(name) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '+', c == '-', c == '.', c == '_':
		default:
			return fmt.Errorf("%w: format name %q holds %q; use ASCII letters, digits and +-._", core.ErrInvalid, name, c)
		}
	}
	if strings.HasSuffix(name, ".tmp") {
		return fmt.Errorf("%w: format name %q ends in .tmp, the suffix of files being written", core.ErrInvalid, name)
	}
	return nil
}

func init() {
	Register(Gob())
	Register(JSON())
	Register(Zstd(Gob()))
	Register(Zstd(JSON()))
}
