package core

import "testing"

// A stored result's key id is the looked-up key's when the key is the same,
// and hashed again when the node ran on other dependency versions.
func TestKeyRefIDOf(t *testing.T) {
	deps := []Dep{{Name: "a", Version: "v1"}, {Name: "b", Version: "v2"}}
	key := NewCacheKey("n", "code", deps)
	ref := keyRef{key, key.ID()}
	for _, c := range []struct {
		what string
		key  CacheKey
	}{
		{"same key", NewCacheKey("n", "code", []Dep{{Name: "a", Version: "v1"}, {Name: "b", Version: "v2"}})},
		{"a dependency's new version", NewCacheKey("n", "code", []Dep{{Name: "a", Version: "v1"}, {Name: "b", Version: "v3"}})},
		{"another code version", NewCacheKey("n", "code2", deps)},
		{"another node", NewCacheKey("m", "code", deps)},
		{"a dependency fewer", NewCacheKey("n", "code", deps[:1])},
	} {
		if got, want := ref.idOf(c.key), c.key.ID(); got != want {
			t.Errorf("%s: id %s, want %s", c.what, got, want)
		}
	}
	if got, want := (keyRef{}).idOf(key), key.ID(); got != want {
		t.Errorf("no key looked up: id %s, want %s", got, want)
	}
	// The id is reused, not hashed again: a wrong id given for the same
	// key comes back (this is what saves the hash).
	if got := (keyRef{key, "given"}).idOf(key); got != "given" {
		t.Errorf("same key: id %s, want the one given", got)
	}
}
