package local

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
)

// logNames lists the run logs beside the database of s.
func logNames(t *testing.T, s *MetadataStore) []string {
	t.Helper()
	ents, err := os.ReadDir(s.logs.dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// dbBatches counts the rows of run_batches of run.
func dbBatches(t *testing.T, s *MetadataStore, run core.RunID) int {
	t.Helper()
	var n int
	if err := s.w.QueryRowContext(t.Context(), `SELECT count(*) FROM run_batches WHERE run_id = ?`, string(run)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func recordsOf(from, n int) []core.NodeRecord {
	var recs []core.NodeRecord
	for i := from; i < from+n; i++ {
		recs = append(recs, core.NodeRecord{Node: fmt.Sprint("n", i), Key: snapKey(i), DataVersion: core.DataVersion(fmt.Sprintf("%064x", i)), Format: "gob", Outcome: core.OutcomeRetrieved, Size: int64(i)})
	}
	return recs
}

// checkRun checks that s (and so any process) reads run's history as the
// records sized from 0 to n-1, in order.
func checkRun(t *testing.T, s *MetadataStore, run core.RunID, n int) {
	t.Helper()
	recs, err := s.Run(t.Context(), run)
	if err != nil || len(recs) != n {
		t.Fatalf("Run(%s) = %d records, %v; want %d", run, len(recs), err, n)
	}
	for i, r := range recs {
		if r.Size != int64(i) || r.Node != fmt.Sprint("n", i) {
			t.Fatalf("Run(%s) record %d is %s of size %d", run, i, r.Node, r.Size)
		}
	}
}

func countRuns(t *testing.T, s *MetadataStore, run core.RunID) int {
	t.Helper()
	runs, err := s.Runs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range runs {
		if r.ID == run {
			n++
		}
	}
	return n
}

// TestRunLogs follows a run's history from its log into the database: a
// batch of records alone is appended to the log (nothing in the database),
// read by another store as by this one; the first batch with entries folds
// the log in its transaction and removes it; the history reads the same
// throughout.
func TestRunLogs(t *testing.T) {
	if !fileLocks {
		t.Skip("no run logs on this system")
	}
	ctx := t.Context()
	a, b := openTwo(t)
	run := core.RunID("run/1 with any characters")
	if err := a.BeginRun(ctx, core.RunInfo{ID: run, Started: time.Unix(100, 0)}); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(ctx, core.Batch{Run: run, Records: recordsOf(0, 3)}); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(ctx, core.Batch{Run: run, Records: recordsOf(3, 2)}); err != nil {
		t.Fatal(err)
	}
	if got := logNames(t, a); len(got) != 1 || !strings.HasPrefix(got[0], logPrefix(run)) {
		t.Fatalf("run logs %v, want one of %s", got, run)
	}
	if n := dbBatches(t, a, run); n != 0 {
		t.Fatalf("%d batches of a run whose nodes were all retrieved are in the database", n)
	}
	for _, s := range []*MetadataStore{a, b} {
		checkRun(t, s, run, 5)
		if n := countRuns(t, s, run); n != 1 {
			t.Fatalf("Runs lists the run %d times", n)
		}
	}
	// Beginning the run again changes nothing.
	if err := b.BeginRun(ctx, core.RunInfo{ID: run, Started: time.Unix(200, 0)}); err != nil {
		t.Fatal(err)
	}
	// A batch with an entry goes to the database, with the log before it.
	batch := snapBatch(0, 1, "aa")
	batch.Run, batch.Records = run, recordsOf(5, 1)
	if err := a.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// b's log of the run is not made before b writes a batch of it or
	// ends it (see runLogs.begin).
	if got := logNames(t, a); len(got) != 0 {
		t.Fatalf("run logs after the fold: %v, want none", got)
	}
	if n := dbBatches(t, a, run); n != 3 {
		t.Fatalf("%d batches in the database after the fold, want 3", n)
	}
	// Later batches of records go to the database too.
	if err := a.Write(ctx, core.Batch{Run: run, Records: recordsOf(6, 1)}); err != nil {
		t.Fatal(err)
	}
	if n := dbBatches(t, a, run); n != 4 {
		t.Fatalf("%d batches in the database, want 4", n)
	}
	for _, s := range []*MetadataStore{a, b} {
		checkRun(t, s, run, 7)
		runs, err := s.Runs(ctx)
		if err != nil || len(runs) != 1 || runs[0].ID != run || !runs[0].Started.Equal(time.Unix(100, 0)) {
			t.Fatalf("Runs = %v, %v; want the run once, started when it first began", runs, err)
		}
	}
}

// TestRunLogsEnded checks who folds a log: not another store while its run
// goes on (its log is locked), but the first write transaction of another
// store once the run ended, or once the store writing it closed without
// ending it (as a killed process does).
func TestRunLogsEnded(t *testing.T) {
	if !fileLocks {
		t.Skip("no run logs on this system")
	}
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), MetadataFile)
	open := func() *MetadataStore {
		s, err := OpenMetadata(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a := open()
	going, ended, dead := core.RunID("going"), core.RunID("ended"), core.RunID("dead")
	for _, r := range []core.RunID{going, ended} {
		if err := a.BeginRun(ctx, core.RunInfo{ID: r}); err != nil {
			t.Fatal(err)
		}
		if err := a.Write(ctx, core.Batch{Run: r, Records: recordsOf(0, 2)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.EndRun(ctx, ended); err != nil {
		t.Fatal(err)
	}
	c := open()
	if err := c.BeginRun(ctx, core.RunInfo{ID: dead}); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, core.Batch{Run: dead, Records: recordsOf(0, 2)}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil { // without EndRun
		t.Fatal(err)
	}
	// Logs whose writers were killed before their begin frame was whole:
	// nothing to fold, removed with the others.
	for name, data := range map[string]string{"0000000000000000-00.log": "", "0000000000000000-01.log": historyMagic, "0000000000000000-02.log": historyMagic + "\x05B\x02"} {
		if err := os.WriteFile(filepath.Join(a.logs.dir, name), []byte(data), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	b := open()
	if err := b.Write(ctx, snapBatch(0, 1, "aa")); err != nil {
		t.Fatal(err)
	}
	if runs, err := b.Runs(ctx); err != nil || len(runs) != 3 {
		t.Fatalf("Runs = %v, %v; want the 3 runs begun", runs, err)
	}
	if got := logNames(t, b); len(got) != 1 || !strings.HasPrefix(got[0], logPrefix(going)) {
		t.Fatalf("run logs after b's first write: %v, want only the one of the run going on", got)
	}
	for _, r := range []core.RunID{ended, dead} {
		if n := dbBatches(t, b, r); n != 1 {
			t.Fatalf("%s: %d batches in the database, want 1", r, n)
		}
	}
	for _, r := range []core.RunID{going, ended, dead} {
		checkRun(t, b, r, 2)
		if n := countRuns(t, b, r); n != 1 {
			t.Fatalf("Runs lists %s %d times", r, n)
		}
	}
	if err := a.EndRun(ctx, going); err != nil {
		t.Fatal(err)
	}
	// b folded once; a store folds ended logs at its first write only.
	d := open()
	if err := d.Write(ctx, snapBatch(1, 1, "aa")); err != nil {
		t.Fatal(err)
	}
	if got := logNames(t, d); len(got) != 0 {
		t.Fatalf("run logs left: %v", got)
	}
	checkRun(t, d, going, 2)
}

// TestRunLogsFoldedTwice leaves a folded log in place, as a crash between
// the fold's commit and the file's removal does: it is neither listed nor
// folded again, and the next fold removes it.
func TestRunLogsFoldedTwice(t *testing.T) {
	if !fileLocks {
		t.Skip("no run logs on this system")
	}
	ctx := t.Context()
	a, b := openTwo(t)
	run := core.RunID("r")
	if err := a.BeginRun(ctx, core.RunInfo{ID: run}); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(ctx, core.Batch{Run: run, Records: recordsOf(0, 2)}); err != nil {
		t.Fatal(err)
	}
	name := logNames(t, a)[0]
	saved, err := os.ReadFile(filepath.Join(a.logs.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	batch := snapBatch(0, 1, "aa")
	batch.Run = run
	if err := a.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// The crash: the file back, and its name in folded_logs.
	if err := os.WriteFile(filepath.Join(a.logs.dir, name), saved, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := a.w.ExecContext(ctx, `INSERT INTO folded_logs (name) VALUES (?)`, name); err != nil {
		t.Fatal(err)
	}
	checkRun(t, b, run, 2)
	if n := countRuns(t, b, run); n != 1 {
		t.Fatalf("Runs lists the run %d times", n)
	}
	if err := b.Write(ctx, snapBatch(1, 1, "aa")); err != nil {
		t.Fatal(err)
	}
	if got := logNames(t, b); len(got) != 0 {
		t.Fatalf("run logs left: %v", got)
	}
	checkRun(t, b, run, 2)
	var n int
	if err := b.w.QueryRowContext(ctx, `SELECT count(*) FROM folded_logs`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("folded_logs holds %d names, %v; want none", n, err)
	}
}

// TestRunLogsTorn cuts a log at every byte: a reader gets the batches
// whose frames are whole, never an error or a wrong record; a damaged byte
// ends the log there.
func TestRunLogsTorn(t *testing.T) {
	if !fileLocks {
		t.Skip("no run logs on this system")
	}
	ctx := t.Context()
	a, b := openTwo(t)
	run := core.RunID("torn")
	if err := a.BeginRun(ctx, core.RunInfo{ID: run}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := a.Write(ctx, core.Batch{Run: run, Records: recordsOf(i*2, 2)}); err != nil {
			t.Fatal(err)
		}
	}
	a.logs.closeAll()
	path := filepath.Join(a.logs.dir, logNames(t, a)[0])
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for cut := len(whole) - 1; cut >= 0; cut-- {
		if err := os.WriteFile(path, whole[:cut], 0o666); err != nil {
			t.Fatal(err)
		}
		recs, err := b.Run(ctx, run)
		if err != nil && !strings.Contains(err.Error(), "not found") {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if len(recs)%2 != 0 || len(recs) > 4 {
			t.Fatalf("cut at %d: %d records", cut, len(recs))
		}
		for i, r := range recs {
			if r.Size != int64(i) {
				t.Fatalf("cut at %d: record %d is of size %d", cut, i, r.Size)
			}
		}
	}
	damaged := append([]byte(nil), whole...)
	damaged[len(damaged)-3] ^= 1 // in the last frame
	if err := os.WriteFile(path, damaged, 0o666); err != nil {
		t.Fatal(err)
	}
	if recs, err := b.Run(ctx, run); err != nil || len(recs) != 4 {
		t.Fatalf("last frame damaged: %d records, %v; want the 4 before it", len(recs), err)
	}
}

// TestRunLogsFoldAt ends more runs than foldAt: the run that passes it
// folds the waiting logs, so their number stays bounded, and every run
// reads back whole. DeleteAll removes the logs with the rest.
func TestRunLogsFoldAt(t *testing.T) {
	if !fileLocks {
		t.Skip("no run logs on this system")
	}
	ctx := t.Context()
	a, b := openTwo(t)
	var runs []core.RunID
	for i := range foldAt + 5 {
		run := core.RunID(fmt.Sprint("run-", i))
		runs = append(runs, run)
		if err := a.BeginRun(ctx, core.RunInfo{ID: run, Started: time.Unix(int64(i), 0)}); err != nil {
			t.Fatal(err)
		}
		if err := a.Write(ctx, core.Batch{Run: run, Records: recordsOf(0, 3)}); err != nil {
			t.Fatal(err)
		}
		if err := a.EndRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		if n := len(logNames(t, a)); n > foldAt {
			t.Fatalf("%d logs after %d runs", n, i+1)
		}
	}
	got, err := b.Runs(ctx)
	if err != nil || len(got) != len(runs) {
		t.Fatalf("Runs = %d runs, %v; want %d", len(got), err, len(runs))
	}
	for i, r := range got {
		if r.ID != runs[i] {
			t.Fatalf("Runs[%d] = %s, want %s", i, r.ID, runs[i])
		}
		checkRun(t, b, r.ID, 3)
	}
	if err := b.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := logNames(t, b); len(got) != 0 {
		t.Fatalf("logs after DeleteAll: %v", got)
	}
	if got, err := a.Runs(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Runs after DeleteAll = %v, %v", got, err)
	}
}
