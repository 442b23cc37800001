package core_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/backends/mem"
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

// A lookup's events are kept as one when nothing else wants them (see
// emitLookup): what Events returns, of a cold run (every lookup a miss) and
// of a warm one (every lookup a hit), must be what a run with a logger at
// Debug or a log file gets, its events made one by one, in the same order.
func TestLookupEventsKeptAsOne(t *testing.T) {
	at := time.Date(2026, 12, 5, 1, 2, 3, 0, time.UTC)
	clock := func() time.Time { return at }
	// coldWarm runs the chain twice on a new store, with opts.
	coldWarm := func(opts ...core.Option) (cold, warm []core.Event, c *core.Cache) {
		st, err := local.Open(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		c, err = core.New(st.Metadata(), st.Results(), append(opts, core.WithClock(clock))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cold = c.Events(slog.LevelDebug, chainRun(t, c, 5))
		warm = c.Events(slog.LevelDebug, chainRun(t, c, 5))
		return cold, warm, c
	}
	// same compares the events node by node, each node's as a set: a cold
	// run stores results in the background, so its nodes' events
	// interleave differently from run to run, and a node's set_result may
	// come before or after its is_final_var. (The order of a lookup's four
	// is checked below.)
	same := func(what string, got, want []core.Event) {
		t.Helper()
		if len(want) != len(got) {
			t.Fatalf("%s: kept as one: %d events, one by one: %d", what, len(got), len(want))
		}
		byNode := func(evs []core.Event) map[string][]core.Event {
			m := map[string][]core.Event{}
			for _, e := range evs {
				e.RunID = ""
				m[e.Node] = append(m[e.Node], e)
			}
			for _, evs := range m {
				slices.SortStableFunc(evs, func(a, b core.Event) int {
					return cmp.Or(cmp.Compare(a.String(), b.String()), cmp.Compare(a.Value, b.Value))
				})
			}
			return m
		}
		if g, w := byNode(got), byNode(want); !reflect.DeepEqual(g, w) {
			t.Errorf("%s: kept as one %+v, one by one %+v", what, g, w)
		}
	}
	quietCold, got, quiet := coldWarm()
	var buf bytes.Buffer
	path := filepath.Join(t.TempDir(), "events.jsonl")
	for _, opt := range []core.Option{
		core.WithLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		core.WithLogFile(path),
	} {
		cold, warm, _ := coldWarm(opt)
		same("cold run", quietCold, cold)
		same("warm run", got, warm)
	}
	fromFile, err := core.ReadLogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(fromFile) != len(quietCold)+len(got) {
		t.Errorf("log file: %d events, want %d", len(fromFile), len(quietCold)+len(got))
	}
	if n := bytes.Count(buf.Bytes(), []byte(`"event_type":"get_cache_key"`)); n != 10 {
		t.Errorf("logger at Debug saw %d get_cache_key events, want 10", n)
	}
	warm := got[0].RunID
	misses := 0
	for _, e := range quietCold {
		if e.Type == core.EventGetDataVersion && e.Message == core.MessageMiss && e.Actor == core.ActorMetadataStore {
			misses++
		}
	}
	if misses != 5 {
		t.Errorf("cold run: %d get_data_version misses, want 5", misses)
	}
	// Each stored result: set_result (stored, its data version) and
	// set_cache_key (its key id), as the node's own lookup and versioning
	// said them.
	type nodeEvents struct{ key, ver, setKey, setRes string }
	perNode := map[string]*nodeEvents{}
	stored := 0
	for _, e := range quietCold {
		ne := perNode[e.Node]
		if ne == nil {
			ne = &nodeEvents{}
			perNode[e.Node] = ne
		}
		switch e.Type {
		case core.EventGetCacheKey:
			ne.key = e.Value
		case core.EventSetDataVersion:
			ne.ver = e.Value
		case core.EventSetCacheKey:
			ne.setKey = e.Value
			if e.Actor != core.ActorMetadataStore {
				t.Errorf("%s: set_cache_key by %s", e.Node, e.Actor)
			}
		case core.EventSetResult:
			stored++
			ne.setRes = e.Value
			if e.Actor != core.ActorResultStore || e.Message != core.MessageStored {
				t.Errorf("%s: set_result %+v", e.Node, e)
			}
		}
	}
	for node, ne := range perNode {
		if *ne == (nodeEvents{}) {
			continue // an input
		}
		if ne.setKey != ne.key || ne.setRes != ne.ver || len(ne.key) != 64 || ne.ver == "" {
			t.Errorf("%s: key %q set_cache_key %q; data version %q set_result %q", node, ne.key, ne.setKey, ne.ver, ne.setRes)
		}
	}
	if stored != 5 {
		t.Errorf("cold run: %d set_result events, want 5", stored)
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

// A run writes its records and entries in batches (WithFlush) whose slices
// it reuses once written (Run.reuse): every batch's records and entries
// must reach the store as they were, none overwritten by a later batch.
func TestBatchesReused(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"mem", "local"} {
		t.Run(name, func(t *testing.T) {
			var meta core.MetadataStore
			var results core.ResultStore
			if name == "mem" {
				st := mem.Open()
				meta, results = st.Metadata(), st.Results()
			} else {
				st, err := local.Open(ctx, t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				meta, results = st.Metadata(), st.Results()
			}
			c, err := core.New(meta, results, core.WithFlush(3, time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			const n = 40
			cold := chainRun(t, c, n)
			warm := chainRun(t, c, n)
			for _, run := range []core.RunID{cold, warm} {
				recs, err := meta.Run(ctx, run)
				if err != nil {
					t.Fatal(err)
				}
				want := core.OutcomeExecuted
				if run == warm {
					want = core.OutcomeRetrieved
				}
				seen := map[string]core.NodeRecord{}
				for _, r := range recs {
					seen[r.Node] = r
				}
				for i := range n {
					node := "n" + strconv.Itoa(i)
					r, ok := seen[node]
					if !ok || r.Outcome != want || r.Key.CodeVersion != core.CodeVersion("v"+strconv.Itoa(i)) || r.DataVersion == "" {
						t.Errorf("run %s: record of %s: %+v (%v)", run, node, r, ok)
					}
					if i > 0 {
						if prev := seen["n"+strconv.Itoa(i-1)]; len(r.Key.Deps) != 1 || r.Key.Deps[0].Version != prev.DataVersion {
							t.Errorf("run %s: %s's key %+v, its parent's version %s", run, node, r.Key, prev.DataVersion)
						}
					}
				}
				if len(recs) != n+1 { // and the input
					t.Errorf("run %s: %d records, want %d", run, len(recs), n+1)
				}
			}
			// Every entry written: a new cache retrieves every node.
			other, err := core.New(meta, results)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			again := chainRun(t, other, n)
			recs, err := meta.Run(ctx, again)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if r.Outcome != core.OutcomeRetrieved && r.Outcome != core.OutcomeInput {
					t.Errorf("third run: %s %s", r.Node, r.Outcome)
				}
			}
		})
	}
}
