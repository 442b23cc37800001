package local

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
)

// oldAppendFrame is appendFrame as it was before frames were written
// without a copy of their payload: the encoding every log on disk has.
func oldAppendFrame(dst []byte, kind byte, payload []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(payload)+1))
	start := len(dst)
	dst = append(dst, kind)
	dst = append(dst, payload...)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// TestFrameEncoding writes frames of random payloads, with and without a
// prefix, through writeFrame, and checks the file's bytes against the old
// encoding; appendFrame too.
func TestFrameEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	path := filepath.Join(t.TempDir(), "frames")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want []byte
	sizes := []int{0, 1, 126, 127, 128, 16383, 16384, 106_000, 300_000}
	for range 12 {
		sizes = append(sizes, rng.IntN(150_000))
	}
	for i, n := range sizes {
		payload := make([]byte, n)
		for j := range payload {
			payload[j] = byte(rng.Uint32())
		}
		kind := byte(frameRecords)
		var prefix []byte
		if i%3 == 0 {
			kind = frameBegin
			prefix = oldAppendFrame([]byte(historyMagic), frameBegin, []byte(fmt.Sprint("run ", i)))
		}
		if got := appendFrame(nil, kind, payload); !bytes.Equal(got, oldAppendFrame(nil, kind, payload)) {
			t.Fatalf("appendFrame of %d bytes differs from the old encoding", n)
		}
		if err := writeFrame(f, prefix, kind, payload); err != nil {
			t.Fatal(err)
		}
		want = append(want, prefix...)
		want = oldAppendFrame(want, kind, payload)
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("after frame %d (%d bytes, prefix %d): the file's %d bytes differ from the old encoding's %d", i, n, len(prefix), len(got), len(want))
		}
	}
}

// TestRunLogsMadeLate follows runs whose logs are made after BeginRun,
// through two stores: by the first batch of records alone (with the begin
// frame, the run's start time kept), when the run ends without one, when
// the store closes; a run whose first batch goes to the database gets its
// row with its start time; a log that cannot be made (its name taken)
// sends the run to the database, from a batch or from EndRun.
func TestRunLogsMadeLate(t *testing.T) {
	if !fileLocks {
		t.Skip("no run logs on this system")
	}
	ctx := t.Context()
	a, b := openTwo(t)
	started := func(s *MetadataStore, run core.RunID) time.Time {
		t.Helper()
		runs, err := s.Runs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			if r.ID == run {
				return r.Started
			}
		}
		return time.Time{}
	}
	begin := func(run core.RunID, at int64) {
		t.Helper()
		if err := a.BeginRun(ctx, core.RunInfo{ID: run, Started: time.Unix(at, 0)}); err != nil {
			t.Fatal(err)
		}
	}

	// Begun: no file yet; a lists the run, b does not see it.
	run := core.RunID("late")
	begin(run, 100)
	if got := logNames(t, a); len(got) != 0 {
		t.Fatalf("BeginRun made %v", got)
	}
	if got := started(a, run); !got.Equal(time.Unix(100, 0)) {
		t.Fatalf("the store that began the run lists it as started at %v", got)
	}
	if recs, err := a.Run(ctx, run); err != nil || len(recs) != 0 {
		t.Fatalf("Run of a run begun = %v, %v", recs, err)
	}
	if got := started(b, run); !got.IsZero() {
		t.Fatalf("another store lists a run with nothing on disk, started at %v", got)
	}
	// The first batch makes the log, its begin frame first.
	if err := a.Write(ctx, core.Batch{Run: run, Records: recordsOf(0, 3), Now: time.Unix(150, 0)}); err != nil {
		t.Fatal(err)
	}
	if got := logNames(t, a); len(got) != 1 {
		t.Fatalf("run logs %v, want one", got)
	}
	if n := dbBatches(t, a, run); n != 0 {
		t.Fatalf("%d batches in the database", n)
	}
	checkRun(t, b, run, 3)
	if got := started(b, run); !got.Equal(time.Unix(100, 0)) {
		t.Fatalf("the log says the run started at %v", got)
	}
	if err := a.EndRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(ctx, snapBatch(0, 1, "aa")); err != nil { // folds it
		t.Fatal(err)
	}
	if got := logNames(t, a); len(got) != 0 {
		t.Fatalf("run logs after the fold: %v", got)
	}
	checkRun(t, a, run, 3)
	if got := started(a, run); !got.Equal(time.Unix(100, 0)) {
		t.Fatalf("folded, the run started at %v", got)
	}

	// Ended without a batch: the log is made by EndRun, begin frame alone.
	empty := core.RunID("empty")
	begin(empty, 200)
	if err := a.EndRun(ctx, empty); err != nil {
		t.Fatal(err)
	}
	if got := logNames(t, a); len(got) != 1 {
		t.Fatalf("run logs %v, want the one EndRun made", got)
	}
	if got := started(b, empty); !got.Equal(time.Unix(200, 0)) {
		t.Fatalf("a run ended without batches: started at %v", got)
	}
	if recs, err := b.Run(ctx, empty); err != nil || len(recs) != 0 {
		t.Fatalf("Run of a run without batches = %v, %v", recs, err)
	}

	// The first batch writes entries: the run's row goes to the
	// database with its start time, not the batch's; no log is made.
	cold := core.RunID("cold")
	begin(cold, 300)
	batch := snapBatch(1, 2, "bb")
	batch.Run, batch.Records, batch.Now = cold, recordsOf(0, 2), time.Unix(350, 0)
	if err := a.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(ctx, core.Batch{Run: cold, Records: recordsOf(2, 1)}); err != nil {
		t.Fatal(err)
	}
	if n := dbBatches(t, a, cold); n != 2 {
		t.Fatalf("%d batches of the cold run in the database, want 2", n)
	}
	if got := started(b, cold); !got.Equal(time.Unix(300, 0)) {
		t.Fatalf("the cold run started at %v", got)
	}
	checkRun(t, b, cold, 3)
	if err := a.EndRun(ctx, cold); err != nil {
		t.Fatal(err)
	}
	for _, name := range logNames(t, a) {
		if strings.HasPrefix(name, logPrefix(cold)) {
			t.Fatalf("a log of the cold run was made: %s", name)
		}
	}

	// The log's name taken (as by a file another process made, or a
	// folder that removed it): the run goes to the database, from its
	// first batch or from EndRun.
	for i, viaEnd := range []bool{false, true} {
		run := core.RunID(fmt.Sprint("taken-", i))
		begin(run, int64(400+i))
		lg := a.logs.get(run)
		squat := filepath.Join(a.logs.dir, lg.name)
		if err := os.WriteFile(squat, nil, 0o666); err != nil {
			t.Fatal(err)
		}
		if !viaEnd {
			if err := a.Write(ctx, core.Batch{Run: run, Records: recordsOf(0, 2)}); err != nil {
				t.Fatal(err)
			}
			if n := dbBatches(t, a, run); n != 1 {
				t.Fatalf("%s: %d batches in the database, want 1", run, n)
			}
		}
		if err := a.EndRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		if got := started(b, run); !got.Equal(time.Unix(int64(400+i), 0)) {
			t.Fatalf("%s: started at %v", run, got)
		}
		if viaEnd {
			checkRun(t, b, run, 0)
		} else {
			checkRun(t, b, run, 2)
		}
		if b, err := os.ReadFile(squat); err != nil || len(b) != 0 {
			t.Fatalf("%s: the file at the log's name was written: %q, %v", run, b, err)
		}
		os.Remove(squat)
	}

	// Begun, and the store closed: the log is made by Close.
	closed := core.RunID("closed")
	begin(closed, 500)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got := started(b, closed); !got.Equal(time.Unix(500, 0)) {
		t.Fatalf("a run begun by a store closed since: started at %v", got)
	}
	for _, r := range []core.RunID{run, empty, cold, closed} {
		if n := countRuns(t, b, r); n != 1 {
			t.Fatalf("Runs lists %s %d times", r, n)
		}
	}
}

// TestRunLogsMadeWhileFolding makes and writes run logs in one store while
// another folds every log no one holds, again and again: the folder may
// find a log between its creation and its lock (see runLogs.begin). Every
// run reads back whole and once, whichever way its batches went.
func TestRunLogsMadeWhileFolding(t *testing.T) {
	if !fileLocks {
		t.Skip("no run logs on this system")
	}
	ctx := t.Context()
	a, b := openTwo(t)
	const runs = 60
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := b.foldUnheld(ctx); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for i := range runs {
		run := core.RunID(fmt.Sprint("run-", i))
		if err := a.BeginRun(ctx, core.RunInfo{ID: run, Started: time.Unix(int64(i), 0)}); err != nil {
			t.Fatal(err)
		}
		for j := range 3 {
			if err := a.Write(ctx, core.Batch{Run: run, Records: recordsOf(j*2, 2)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.EndRun(ctx, run); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	got, err := b.Runs(ctx)
	if err != nil || len(got) != runs {
		t.Fatalf("Runs = %d runs, %v; want %d", len(got), err, runs)
	}
	for i, r := range got {
		if r.ID != core.RunID(fmt.Sprint("run-", i)) || !r.Started.Equal(time.Unix(int64(i), 0)) {
			t.Fatalf("Runs[%d] = %v", i, r)
		}
		checkRun(t, b, r.ID, 6)
	}
}

// TestRunLogsFoldSizes folds, in one transaction, ended logs of different
// sizes, the largest first (they are read one after the other into one
// buffer): every run reads back whole from the database.
func TestRunLogsFoldSizes(t *testing.T) {
	if !fileLocks {
		t.Skip("no run logs on this system")
	}
	ctx := t.Context()
	a, b := openTwo(t)
	sizes := []int{300, 1, 40, 0, 299, 2, 120}
	for i, n := range sizes {
		run := core.RunID(fmt.Sprint("run-", i))
		if err := a.BeginRun(ctx, core.RunInfo{ID: run, Started: time.Unix(int64(i), 0)}); err != nil {
			t.Fatal(err)
		}
		for from := 0; from < n; from += 64 {
			if err := a.Write(ctx, core.Batch{Run: run, Records: recordsOf(from, min(64, n-from))}); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.EndRun(ctx, run); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.foldUnheld(ctx); err != nil {
		t.Fatal(err)
	}
	if got := logNames(t, b); len(got) != 0 {
		t.Fatalf("logs left after the fold: %v", got)
	}
	for i, n := range sizes {
		run := core.RunID(fmt.Sprint("run-", i))
		checkRun(t, b, run, n)
		if m := dbBatches(t, b, run); m != (n+63)/64 {
			t.Fatalf("%s: %d batches in the database, want %d", run, m, (n+63)/64)
		}
	}
}
