package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats"
)

// chainRun runs a chain of n nodes (each adds 1 to its parent, the first
// to input x) in one run of c and returns the run's id.
func chainRun(t *testing.T, c *core.Cache, n int) core.RunID {
	t.Helper()
	ctx := context.Background()
	names := make([]string, n)
	for i := range names {
		names[i] = "n" + strconv.Itoa(i)
	}
	run, err := c.BeginRun(ctx, names...)
	if err != nil {
		t.Fatal(err)
	}
	prev := run.Input(ctx, "x", 1)
	for i, name := range names {
		spec := &core.NodeSpec{Name: name, CodeVersion: core.CodeVersion("v" + strconv.Itoa(i)), Format: formats.Gob(), Type: reflect.TypeFor[int]()}
		v, err := run.Node(ctx, spec, "", []*core.Value{prev}, func(_ context.Context, args []any) (any, error) {
			return args[0].(int) + 1, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		prev = v
	}
	got, err := run.Final(ctx, prev)
	if err != nil || got != n+1 {
		t.Fatalf("chain of %d gave %v, %v", n, got, err)
	}
	if err := run.End(ctx); err != nil {
		t.Fatal(err)
	}
	return run.ID()
}

// A hit's events are kept as one when nothing else wants them (see
// emitHit): what Events returns must be what a logger at Debug, a log file
// and a run with its events one by one get, in the same order.
func TestHitEventsKeptAsOne(t *testing.T) {
	st, err := local.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Date(2026, 12, 5, 1, 2, 3, 0, time.UTC)
	clock := func() time.Time { return at }
	quiet, err := core.New(st.Metadata(), st.Results(), core.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	chainRun(t, quiet, 5) // cold: every node executed and stored
	warm := chainRun(t, quiet, 5)
	got := quiet.Events(slog.LevelDebug, warm)

	// The same warm run, with a logger at Debug (every event emitted one
	// by one) and with a log file (idem).
	var buf bytes.Buffer
	logged, err := core.New(st.Metadata(), st.Results(), core.WithClock(clock),
		core.WithLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	defer logged.Close()
	path := filepath.Join(t.TempDir(), "events.jsonl")
	filed, err := core.New(st.Metadata(), st.Results(), core.WithClock(clock), core.WithLogFile(path))
	if err != nil {
		t.Fatal(err)
	}
	defer filed.Close()
	for _, c := range []*core.Cache{logged, filed} {
		other := chainRun(t, c, 5)
		want := c.Events(slog.LevelDebug, other)
		if len(want) != len(got) {
			t.Fatalf("kept as one: %d events, one by one: %d", len(got), len(want))
		}
		for i := range want {
			w := want[i]
			w.RunID = warm
			if !reflect.DeepEqual(got[i], w) {
				t.Errorf("event %d: kept as one %+v, one by one %+v", i, got[i], want[i])
			}
		}
	}
	fromFile, err := core.ReadLogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(fromFile) != len(got) {
		t.Errorf("log file: %d events, want %d", len(fromFile), len(got))
	}
	if n := bytes.Count(buf.Bytes(), []byte(`"event_type":"get_cache_key"`)); n != 5 {
		t.Errorf("logger at Debug saw %d get_cache_key events, want 5", n)
	}

	// Each hit: its four events, in order, with the data version stored.
	hits := 0
	for i, e := range got {
		if e.Type != core.EventGetResult || e.Message != core.MessageHit {
			continue
		}
		hits++
		if i < 3 {
			t.Fatalf("get_result hit at %d", i)
		}
		seq := got[i-3 : i+1]
		wantTypes := []core.EventType{core.EventResolveBehavior, core.EventGetCacheKey, core.EventGetDataVersion, core.EventGetResult}
		for j, w := range wantTypes {
			if seq[j].Type != w || seq[j].Node != e.Node || seq[j].RunID != warm || !seq[j].Time.Equal(at) {
				t.Errorf("hit of %s: event %d is %+v, want type %s", e.Node, j, seq[j], w)
			}
		}
		if seq[0].Value != "default" || len(seq[1].Value) != 64 || seq[2].Actor != core.ActorMetadataStore || seq[2].Value != e.Value || e.Value == "" {
			t.Errorf("hit of %s: %+v", e.Node, seq)
		}
	}
	if hits != 5 {
		t.Errorf("%d hits, want 5", hits)
	}
	// Info and above: the hits' get_result, and the last node's result
	// loaded (result_store).
	if n := len(quiet.Events(slog.LevelInfo, warm)); n != 6 {
		b, _ := json.Marshal(quiet.Events(slog.LevelInfo, warm))
		t.Errorf("%d events at Info, want 6: %s", n, b)
	}
}
