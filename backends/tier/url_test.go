package tier_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	_ "github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/backends/tier"
	"github.com/flowcache/flowcache/core"
)

func TestOpenURL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := core.OpenURL(ctx, "mem://tier-url?local_cache="+url.QueryEscape(dir)+"&local_cache_max=2MiB")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ts, ok := core.As[*tier.Store](st.Results)
	if !ok {
		t.Fatalf("results of a local_cache URL are a %T, want a tier", st.Results)
	}
	if ts.Dir() != dir || ts.MaxSize() != 2<<20 {
		t.Errorf("tier at %s, max %d; want %s, 2 MiB", ts.Dir(), ts.MaxSize(), dir)
	}
	data := payload(50_000, 1)
	put(t, st.Results, id("u1"), data)
	if !localHas(t, ts, id("u1")) {
		t.Error("a Put through the URL's stores kept no local copy")
	}
	mustRead(t, ts.Remote(), id("u1"), data)

	// Without local_cache_max: the default.
	st2, err := core.OpenURL(ctx, "mem://tier-url2?local_cache="+url.QueryEscape(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if ts, _ := core.As[*tier.Store](st2.Results); ts == nil || ts.MaxSize() != tier.DefaultMaxSize {
		t.Errorf("default maximum: %v", ts)
	}
}

func TestOpenURLErrors(t *testing.T) {
	dir := url.QueryEscape(t.TempDir())
	for _, c := range []struct{ url, param string }{
		{"mem://e1?local_cache=", "local_cache"},
		{"mem://e2?local_cache_max=1GiB", "local_cache_max"},
		{"mem://e3?local_cache=" + dir + "&local_cache_max=", "local_cache_max"},
		{"mem://e4?local_cache=" + dir + "&local_cache_max=lots", "local_cache_max"},
		{"mem://e5?local_cache=" + dir + "&local_cache_max=0", "local_cache_max"},
		{"mem://e6?local_cache=" + dir + "&local_cache_max=-5MB", "local_cache_max"},
	} {
		st, err := core.OpenURL(context.Background(), c.url)
		if err == nil {
			st.Close()
			t.Errorf("%s opened", c.url)
			continue
		}
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), c.param) {
			t.Errorf("%s: %v; want ErrInvalid naming %s", c.url, err, c.param)
		}
	}
}
