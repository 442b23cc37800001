package inspect_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/inspect"
)

func eventStrings(evs []core.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.String()
	}
	return out
}

// Logs reads a run's own log, the events.jsonl file of a local cache, or
// rebuilds the events from the run's records, in that order.
func TestLogs(t *testing.T) {
	ctx := context.Background()
	c := newCacheDir(t)
	ins := driver.Inputs{"x": 1, "k": 3}
	all := []string{"stats"}
	runLog := c.Run(whyNodes(nil), all, ins, nil, driver.LogToFile(""))
	file := c.Run(whyNodes(nil), all, driver.Inputs{"x": 2, "k": 3}, nil, driver.LogToFile(filepath.Join(c.Path, inspect.LogFileName)))
	none := c.Run(whyNodes(nil), all, driver.Inputs{"x": 2, "k": 4}, nil)
	ic := c.open()

	for _, tc := range []struct {
		run  runResult
		src  inspect.LogSource
		info []string
	}{
		{runLog, inspect.SourceRunLog, []string{"raw::adapter::get_result::miss", "raw::adapter::execute_node", "clean::adapter::get_result::miss", "clean::adapter::execute_node", "stats::adapter::get_result::miss", "stats::adapter::execute_node"}},
		{file, inspect.SourceLogFile, []string{"raw::adapter::get_result::miss", "raw::adapter::execute_node", "clean::adapter::get_result::miss", "clean::adapter::execute_node", "stats::adapter::get_result::miss", "stats::adapter::execute_node"}},
		{none, inspect.SourceRecords, []string{"raw::adapter::get_result::hit", "clean::adapter::get_result::hit", "stats::adapter::get_result::miss", "stats::adapter::execute_node"}},
	} {
		evs, src, err := ic.Logs(ctx, tc.run.ID, slog.LevelInfo)
		if err != nil {
			t.Fatal(err)
		}
		if src != tc.src || !slices.Equal(eventStrings(evs), tc.info) {
			t.Errorf("logs of a run (%s): %s %q, want %s %q", tc.src, src, eventStrings(evs), tc.src, tc.info)
		}
		debug, _, err := ic.Logs(ctx, tc.run.ID, slog.LevelDebug)
		if err != nil {
			t.Fatal(err)
		}
		types := map[core.EventType]bool{}
		for _, e := range debug {
			types[e.Type] = true
		}
		for _, want := range []core.EventType{core.EventIsInput, core.EventResolveBehavior, core.EventIsFinalVar, core.EventSetResult} {
			if !types[want] {
				t.Errorf("debug logs of a run (%s) have no %s", tc.src, want)
			}
		}
	}
	nodes, err := ic.Nodes(ctx, none.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Requested != (n.Node == "stats") {
			t.Errorf("node %s: requested %v", n.Node, n.Requested)
		}
	}
}
