package core_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/core"
)

// The tier parameters are core's: checked before any backend sees them,
// and an error naming the parameter when no tier is registered (core's
// tests import no backends/tier; its own tests cover the registered case).
func TestLocalCacheParams(t *testing.T) {
	for raw, want := range map[string]string{
		"mem://t1?local_cache=/tmp/tier":                   "backends/tier",
		"mem://t2?local_cache=":                            "empty URL parameter local_cache",
		"mem://t3?local_cache_max=1GiB":                    "local_cache_max without local_cache",
		"mem://t4?local_cache=/tmp/tier&local_cache_max=":  "empty URL parameter local_cache_max",
		"/tmp/plain?local_cache=/tmp/tier&token=" + secret: "backends/tier",
	} {
		st, err := core.OpenURL(context.Background(), raw)
		if err == nil {
			st.Close()
			t.Errorf("OpenURL(%s) succeeded", raw)
			continue
		}
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), secret) {
			t.Errorf("OpenURL(%s) = %v; want ErrInvalid saying %q, without secrets", raw, err, want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("RegisterTier(nil) did not panic")
		}
	}()
	core.RegisterTier(nil)
}
