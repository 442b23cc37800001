package allocguard

import (
	"testing"
)

// sink keeps allocations from being optimized away.
var sink []byte

// recorder is a testing.TB that records Fatalf instead of stopping.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(string, ...any) {
	r.failed = true
}

func TestRunCatchesLargeAllocation(t *testing.T) {
	r := &recorder{TB: t}
	Run(r, 1<<20, func() { sink = make([]byte, 8<<20) })
	if !r.failed {
		t.Fatal("an 8 MiB allocation passed a 1 MiB bound")
	}
	sink = nil
}

func TestRunPassesSmallAllocation(t *testing.T) {
	r := &recorder{TB: t}
	Run(r, 4<<20, func() { sink = make([]byte, 1<<10) })
	if r.failed {
		t.Fatal("a 1 KiB allocation failed a 4 MiB bound")
	}
	sink = nil
}

func TestBound(t *testing.T) {
	if got, want := Bound(10, 3), uint64(64<<20+30); got != want {
		t.Fatalf("Bound(10, 3) = %d, want %d", got, want)
	}
}
