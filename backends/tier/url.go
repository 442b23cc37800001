package tier

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/flowcache/flowcache/core"
)

// The tier of store URLs: core takes the local_cache and local_cache_max
// parameters out of any store URL and calls openURL with the result store
// the URL opened (see core.LocalCacheParam).
func init() { core.RegisterTier(openURL) }

func openURL(ctx context.Context, remote core.ResultStore, dir, max string) (core.ResultStore, error) {
	var opts []Option
	if max != "" {
		n, err := ParseSize(max)
		if err != nil {
			return nil, fmt.Errorf("%w: URL parameter %s=%q: %v", core.ErrInvalid, core.LocalCacheMaxParam, core.Redact(max), err)
		}
		opts = append(opts, WithMaxSize(n))
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: URL parameter %s=%q: %v", core.ErrInvalid, core.LocalCacheParam, core.Redact(dir), err)
	}
	return Open(ctx, abs, remote, opts...)
}

// sizeUnits are the suffixes ParseSize accepts, lower case.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// ParseSize parses a size of local_cache_max: a positive number of bytes,
// optionally with a fraction and a unit, in any case: KiB, MiB, GiB, TiB
// (powers of 1024, as are K, M, G, T) or kB, MB, GB, TB (powers of 1000),
// or B. For example 10GiB, 500MB, 1.5G, 1048576.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("not a size like 10GiB, 500MB or a number of bytes")
	}
	b := f * float64(mult)
	if b < 1 || b >= math.MaxInt64 {
		return 0, fmt.Errorf("size out of range (want at least 1 byte)")
	}
	return int64(b), nil
}
