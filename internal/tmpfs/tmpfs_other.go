//go:build !linux

package tmpfs

import "testing"

func skip(t testing.TB) {
	t.Helper()
	t.Skip("tmpfs mounts are a Linux feature: the simulated faults of package core cover the same behaviour")
}

// Mount skips the test.
func Mount(t testing.TB, size int64) string { skip(t); return "" }

// ReadOnly skips the test.
func ReadOnly(t testing.TB, dir string, ro bool) { skip(t) }

// Fill skips the test.
func Fill(t testing.TB, dir string) string { skip(t); return "" }

// Free skips the test.
func Free(t testing.TB, dir string) int64 { skip(t); return 0 }
