package driver_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"

	"github.com/flowcache/flowcache/backends/blobstore"
	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
)

// logBackends are the stores every run-log test runs on: each opens a fresh
// pair of stores, and reopen opens them again as another process would
// (nil when the stores cannot outlive their handles).
type logBackend struct {
	name string
	open func(t *testing.T) (core.MetadataStore, core.ResultStore, func())
}

func logBackends(t *testing.T) []logBackend {
	return []logBackend{
		{"local", func(t *testing.T) (core.MetadataStore, core.ResultStore, func()) {
			st, err := local.Open(context.Background(), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return st.Metadata(), st.Results(), func() { st.Close() }
		}},
		{"mem", func(t *testing.T) (core.MetadataStore, core.ResultStore, func()) {
			st := mem.Open()
			return st.Metadata(), st.Results(), func() { st.Close() }
		}},
		{"memblob", func(t *testing.T) (core.MetadataStore, core.ResultStore, func()) {
			// Metadata without logs: the result store (a bucket) keeps them.
			res := blobstore.New(memblob.OpenBucket(nil), blobstore.WithPrefix("cache/results/"), blobstore.WithOwnedBucket())
			return noLogs{mem.NewMetadataStore()}, res, func() { res.Close() }
		}},
		{"fileblob", func(t *testing.T) (core.MetadataStore, core.ResultStore, func()) {
			b, err := fileblob.OpenBucket(t.TempDir(), &fileblob.Options{Metadata: fileblob.MetadataDontWrite})
			if err != nil {
				t.Fatal(err)
			}
			res := blobstore.New(b, blobstore.WithOwnedBucket())
			return noLogs{mem.NewMetadataStore()}, res, func() { res.Close() }
		}},
	}
}

// noLogs hides the LogStore of a metadata store.
type noLogs struct{ core.MetadataStore }

func TestRunLogsEveryBackend(t *testing.T) {
	for _, b := range logBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			meta, res, closeStores := b.open(t)
			defer closeStores()
			ctx := context.Background()
			var runs []core.RunID
			var events [][]core.Event
			for range 2 {
				dr, err := driver.NewBuilder().WithNodes(driver.Node("A", A1), driver.Node("B", B, "A")).
					WithCache(driver.CacheStores(meta, res), driver.LogToFile("")).Build()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := dr.Execute(ctx, []string{"B"}, nil, nil); err != nil {
					t.Fatal(err)
				}
				run, _ := dr.Cache().LastRunID(ctx)
				runs = append(runs, run)
				events = append(events, dr.Cache().Events(slog.LevelDebug, run))
				if evs, err := dr.Cache().RunLog(ctx, run); err != nil || len(evs) != len(events[len(events)-1]) {
					t.Fatalf("Cache.RunLog: %d events, %v; want %d", len(evs), err, len(events[len(events)-1]))
				}
				if err := dr.Close(); err != nil {
					t.Fatal(err)
				}
			}
			// Read back from the stores alone, as another process would.
			for i, run := range runs {
				got, err := core.ReadRunLog(ctx, meta, res, run)
				if err != nil {
					t.Fatalf("ReadRunLog(%s): %v", run, err)
				}
				if len(got) != len(events[i]) {
					t.Fatalf("run %d: log has %d events, memory %d", i, len(got), len(events[i]))
				}
				for j := range got {
					if got[j].String() != events[i][j].String() || got[j].RunID != run || !got[j].Time.Equal(events[i][j].Time) {
						t.Fatalf("run %d event %d: log %v, memory %v", i, j, got[j], events[i][j])
					}
				}
			}
			// The second run retrieved B: its log says so.
			if !slices.ContainsFunc(events[1], func(e core.Event) bool { return e.String() == "B::adapter::get_result::hit" }) {
				t.Fatalf("second run did not retrieve B: %v", events[1])
			}
			if _, err := core.ReadRunLog(ctx, meta, res, "no-such-run"); !errors.Is(err, core.ErrNotFound) {
				t.Fatalf("log of an unknown run: %v, want ErrNotFound", err)
			}
			ls := core.LogStoreOf(meta, res)
			if err := ls.DeleteLog(ctx, runs[0]); err != nil {
				t.Fatal(err)
			}
			if err := ls.DeleteLog(ctx, runs[0]); err != nil {
				t.Fatalf("deleting a missing log: %v", err)
			}
			if _, err := core.ReadRunLog(ctx, meta, res, runs[0]); !errors.Is(err, core.ErrNotFound) {
				t.Fatalf("deleted log: %v, want ErrNotFound", err)
			}
			for _, bad := range []core.RunID{"", "../x", "a/b", ".hidden", "x\x00"} {
				if _, err := ls.OpenLog(ctx, bad); !errors.Is(err, core.ErrInvalid) {
					t.Errorf("OpenLog(%q): %v, want ErrInvalid", bad, err)
				}
				if _, err := ls.ReadLog(ctx, bad); !errors.Is(err, core.ErrInvalid) {
					t.Errorf("ReadLog(%q): %v, want ErrInvalid", bad, err)
				}
			}
		})
	}
}

// LogWriter contract: concurrent writes keep whole lines, and what was
// written is readable after Close.
func TestLogWriterConcurrent(t *testing.T) {
	for _, b := range logBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			meta, res, closeStores := b.open(t)
			defer closeStores()
			ctx := context.Background()
			ls := core.LogStoreOf(meta, res)
			w, err := ls.OpenLog(ctx, "run-1")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			const writers, lines = 4, 500
			for i := range writers {
				go func() {
					defer func() { done <- struct{}{} }()
					for range lines {
						if _, err := w.Write([]byte(`{"run_id":"run-1","node":"n` + string(rune('a'+i)) + `","actor":"adapter","event_type":"execute_node","timestamp":"2026-01-01T00:00:00Z"}` + "\n")); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			go func() {
				for range 20 {
					if err := w.Flush(ctx); err != nil {
						t.Error(err)
					}
				}
				done <- struct{}{}
			}()
			for range writers + 1 {
				<-done
			}
			if err := w.Close(ctx); err != nil {
				t.Fatal(err)
			}
			evs, err := core.ReadRunLog(ctx, meta, res, "run-1")
			if err != nil || len(evs) != writers*lines {
				t.Fatalf("ReadRunLog: %d events, %v; want %d", len(evs), err, writers*lines)
			}
		})
	}
}

// The blob store's log is one object per run, beside the results, uploaded
// when the run ends (and at flush points every LogUploadInterval).
func TestBlobRunLogObject(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	res := blobstore.New(bucket, blobstore.WithPrefix("team/cache/results/"))
	defer bucket.Close()
	for prefix, want := range map[string]string{"": "logs/", "results/": "logs/", "team/cache/results/": "team/cache/logs/", "cache/": "cache/logs/", "myresults/": "myresults/logs/"} {
		if got := blobstore.New(bucket, blobstore.WithPrefix(prefix)).LogPrefix(); got != want {
			t.Errorf("LogPrefix with prefix %q = %q, want %q", prefix, got, want)
		}
	}
	w, err := res.OpenLog(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	// A flush right after opening uploads nothing yet.
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := bucket.Exists(ctx, "team/cache/logs/r1.jsonl"); ok {
		t.Fatal("log uploaded before LogUploadInterval")
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := bucket.ReadAll(ctx, "team/cache/logs/r1.jsonl")
	if err != nil || string(b) != "{}\n" {
		t.Fatalf("log object = %q, %v", b, err)
	}
	if _, err := w.Write([]byte("{}\n")); !errors.Is(err, core.ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}
	// Logs are not results.
	n := 0
	if err := res.Walk(ctx, func(core.ResultID, int64) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("Walk saw %d results, %v", n, err)
	}
}

func TestLogToFileWithoutLogStore(t *testing.T) {
	st := mem.Open()
	_, err := driver.NewBuilder().WithNodes(driver.Node("A", A1)).
		WithCache(driver.CacheStores(noLogs{st.Metadata()}, noLogResults{st.Results()}), driver.LogToFile("")).Build()
	if !errors.Is(err, core.ErrNoLogs) {
		t.Fatalf("Build: %v, want ErrNoLogs", err)
	}
}

type noLogResults struct{ core.ResultStore }

// A log's torn last line is skipped; a bad line elsewhere is an error naming
// it.
func TestDecodeLog(t *testing.T) {
	line := `{"run_id":"r","node":"a","actor":"adapter","event_type":"execute_node","timestamp":"2026-01-01T00:00:00Z"}`
	evs, err := core.DecodeLog(strings.NewReader(line + "\n" + line + "\n" + `{"run_id":"r","no`))
	if err != nil || len(evs) != 2 {
		t.Fatalf("torn last line: %d events, %v", len(evs), err)
	}
	evs, err = core.DecodeLog(strings.NewReader(line + "\nnot json\n" + line + "\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") || len(evs) != 1 {
		t.Fatalf("bad line: %d events, %v", len(evs), err)
	}
	evs, err = core.DecodeLog(io.MultiReader(strings.NewReader(line), strings.NewReader("")))
	if err != nil || len(evs) != 1 {
		t.Fatalf("last line without newline: %d events, %v", len(evs), err)
	}
}
