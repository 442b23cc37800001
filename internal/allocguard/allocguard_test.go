package allocguard

import (
	"runtime"
	"testing"
	"time"
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
	// The watchdog may see the allocation before Run checks TotalAlloc.
	exceeded = func(string) {}
	defer func() { exceeded = func(msg string) { panic(msg) } }()
	r := &recorder{TB: t}
	Run(r, 1<<20, func() { sink = make([]byte, 8<<20) })
	if !r.failed {
		t.Fatal("an 8 MiB allocation passed a 1 MiB bound")
	}
	sink = nil
}

// The watchdog sees a heap that keeps growing while fn runs.
func TestWatchdogCatchesGrowingHeap(t *testing.T) {
	caught := make(chan string, 1)
	exceeded = func(msg string) { caught <- msg }
	defer func() { exceeded = func(msg string) { panic(msg) } }()
	r := &recorder{TB: t}
	var hold [][]byte
	runtime.GC() // garbage of earlier tests must not hide the growth
	Run(r, 1<<20, func() {
		for range 400 {
			hold = append(hold, make([]byte, 64<<10))
			select {
			case <-caught:
				return
			default:
			}
			time.Sleep(time.Millisecond)
		}
		t.Error("the watchdog did not stop a heap growing to 25 MiB past a 1 MiB bound")
	})
	if !r.failed || len(hold) == 0 {
		t.Fatal("Run did not fail after the heap grew past the bound")
	}
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
