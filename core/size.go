package core

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// sizeUnits are the suffixes ParseSize knows: decimal (kB, MB, GB, TB) and
// binary (KiB, MiB, GiB, TiB), case-insensitive.
var sizeUnits = []struct {
	suffix string
	mult   float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"t", 1e12},
	{"b", 1},
}

// ParseSize parses a size as people write it: 500MB, 10GB, 1.5GiB, or a
// number of bytes. Units are case-insensitive; kB, MB, GB, TB (and k, m, g,
// t) are powers of 1000, KiB, MiB, GiB, TiB powers of 1024. The error wraps
// ErrInvalid and quotes s.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) || v*mult > math.MaxInt64 {
		return 0, fmt.Errorf("%w: %q is not a size like 500MB, 10GB, 2GiB or a number of bytes", ErrInvalid, s)
	}
	return int64(v * mult), nil
}

// ParseAge parses a duration as Go writes it (720h, 90m) or a number of
// days (30d). The error wraps ErrInvalid and quotes s.
func ParseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 || n > float64(math.MaxInt64)/float64(24*time.Hour) {
			return 0, fmt.Errorf("%w: %q is not a duration like 720h or 30d", ErrInvalid, s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not a duration like 720h or 30d", ErrInvalid, s)
	}
	return d, nil
}
