package core_test

import (
	"errors"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1": 1, "1048576": 1 << 20, "10GiB": 10 << 30, "10gib": 10 << 30, "500MB": 500e6,
		"1.5G": 1.5e9, "2k": 2000, "3kB": 3000, "7TiB": 7 << 40, "100B": 100, " 2 MiB ": 2 << 20,
	} {
		if got, err := core.ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "x", "-1", "1e30", "NaN", "10 XB"} {
		if got, err := core.ParseSize(in); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("ParseSize(%q) = %d, %v; want an error wrapping ErrInvalid", in, got, err)
		}
	}
}

func TestParseAge(t *testing.T) {
	for in, want := range map[string]time.Duration{"720h": 720 * time.Hour, "30d": 30 * 24 * time.Hour, "1.5d": 36 * time.Hour, "90m": 90 * time.Minute, "0": 0} {
		if got, err := core.ParseAge(in); err != nil || got != want {
			t.Errorf("ParseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-2d", "soon", "1e300d"} {
		if got, err := core.ParseAge(in); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("ParseAge(%q) = %v, %v; want an error wrapping ErrInvalid", in, got, err)
		}
	}
}
