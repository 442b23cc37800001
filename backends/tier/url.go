package tier

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/flowcache/flowcache/core"
)

// The tier of store URLs: core takes the local_cache and local_cache_max
// parameters out of any store URL and calls openURL with the result store
// the URL opened (see core.LocalCacheParam).
func init() { core.RegisterTier(openURL) }

func openURL(ctx context.Context, remote core.ResultStore, dir, max string) (core.ResultStore, error) {
	var opts []Option
	if max != "" {
		n, err := core.ParseSize(max)
		if err == nil && n < 1 {
			err = fmt.Errorf("%w: want at least 1 byte", core.ErrInvalid)
		}
		if err != nil {
			return nil, fmt.Errorf("URL parameter %s: %w", core.LocalCacheMaxParam, err)
		}
		opts = append(opts, WithMaxSize(n))
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: URL parameter %s=%q: %v", core.ErrInvalid, core.LocalCacheParam, core.Redact(dir), err)
	}
	return Open(ctx, abs, remote, opts...)
}
