package core_test

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
)

var registerLeaseTTLMeta = sync.OnceFunc(func() {
	core.RegisterMetadataScheme("leasettlmeta", func(_ context.Context, u *url.URL) (core.MetadataStore, error) {
		if err := core.CheckQueryParams(u); err != nil {
			return nil, err
		}
		return mem.Open().Metadata(), nil
	})
})

// lease_ttl is taken out of any store URL before the backend checks its
// parameters (mem:// and file:// know no such parameter), with metadata=
// too, and given back as Stores.LeaseTTL; a bad value names the parameter
// and its value.
func TestLeaseTTLParam(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	registerLeaseTTLMeta()
	for raw, want := range map[string]time.Duration{
		"mem://leasettl":                          0,
		"mem://leasettl?lease_ttl=30s":            30 * time.Second,
		"mem://leasettl?lease_ttl=0s":             0,
		filepath.Join(dir, "c") + "?lease_ttl=1m": time.Minute,
		"mem://leasettl?lease_ttl=2s&metadata=" + url.QueryEscape("leasettlmeta://db"): 2 * time.Second,
	} {
		st, err := core.OpenURL(ctx, raw)
		if err != nil {
			t.Errorf("OpenURL(%s): %v", raw, err)
			continue
		}
		if st.LeaseTTL != want {
			t.Errorf("OpenURL(%s).LeaseTTL = %v, want %v", raw, st.LeaseTTL, want)
		}
		if st.Close != nil {
			st.Close()
		}
	}
	for _, bad := range []string{"soon", "30", "-5s", ""} {
		raw := "mem://leasettl?lease_ttl=" + url.QueryEscape(bad)
		_, err := core.OpenURL(ctx, raw)
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), `lease_ttl="`+bad+`"`) {
			t.Errorf("OpenURL(%s) = %v, want an error wrapping ErrInvalid naming lease_ttl and its value", raw, err)
		}
	}
}
