// Package allocguard fails a test or fuzz target whose code under test
// allocates more memory than a bound: the check that turns a decoder's
// allocation bomb (a length read from hostile bytes and trusted) into a
// failing input instead of a machine that swaps.
//
// Run measures the bytes fn allocates (runtime.MemStats.TotalAlloc, for
// bombs that succeed) and watches the live heap while fn runs (for bombs
// that grow until the machine gives out): a heap past the bound panics the
// process from the watchdog, which the fuzzing engine reports as a crash
// with the input that caused it. Allocations of other goroutines running at
// the same time are counted too, so keep bounds generous (e.g. 64 MiB plus
// a multiple of the input's size) and do not run guarded code in parallel.
package allocguard

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// mu serializes guarded calls: TotalAlloc is process-wide.
var mu sync.Mutex

// Run calls fn and fails t if fn allocated more than limit bytes in total.
// While fn runs, a watchdog samples the heap every few milliseconds and
// panics if it grows more than limit bytes past where it started.
func Run(t testing.TB, limit uint64, fn func()) {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		watch(done, before.HeapAlloc, limit)
	}()
	fn()
	close(done)
	wg.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > limit {
		t.Fatalf("allocated %d bytes, more than the bound of %d", got, limit)
	}
}

// exceeded is what the watchdog does when the heap grows past the bound:
// panic, which stops a runaway decoder before the machine gives out (tests
// of this package replace it).
var exceeded = func(msg string) { panic(msg) }

// watch calls exceeded when the live heap grows past start+limit before
// done, once.
func watch(done <-chan struct{}, start, limit uint64) {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	var m runtime.MemStats
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > start+limit {
				exceeded(fmt.Sprintf("allocguard: the heap grew by %d bytes, more than the bound of %d", m.HeapAlloc-start, limit))
				return
			}
		}
	}
}

// Bound is the usual limit for decoding n input bytes: a fixed allowance
// for buffers plus perByte bytes per input byte.
func Bound(n int, perByte uint64) uint64 { return 64<<20 + uint64(n)*perByte }
