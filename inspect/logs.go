package inspect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/flowcache/flowcache/core"
)

// LogSource says where the events Logs returns come from.
type LogSource string

// The sources of Logs.
const (
	// SourceLogFile: the JSONL event log the runs appended to
	// (driver.LogToFile): every event, with its time.
	SourceLogFile LogSource = "log_file"
	// SourceRunLog: the run's own log in the store (driver.LogToFile(""):
	// a file per run in a local cache, an object per run in a bucket).
	SourceRunLog LogSource = "run_log"
	// SourceRecords: the run's history in the metadata store, when no
	// event log has the run. The events are rebuilt from what each node
	// did (is_input, is_override, is_final_var, resolve_behavior,
	// get_result hit or miss, lease_wait, missing_result, execute_node,
	// failed_execution, set_result), stamped with the run's start time.
	// A rebuilt lease_wait's value names the holder and how long the run
	// waited ("run … on host pid N, waited 1.2s").
	SourceRecords LogSource = "run_records"
)

// Logs returns the events of a run at or above level (slog.LevelInfo:
// get_result and execute_node; slog.LevelDebug: every event), in the order
// they happened, and where they come from: the run's own log in the stores
// (core.ReadRunLog) when it has one, else the event log file (WithLogFile)
// when it has the run, else events rebuilt from the run's records.
func (c *Cache) Logs(ctx context.Context, run core.RunID, level slog.Level) ([]core.Event, LogSource, error) {
	evs, err := core.ReadRunLog(ctx, c.meta, c.results, run)
	switch {
	case err == nil:
		return filterLevel(evs, level), SourceRunLog, nil
	case !errors.Is(err, core.ErrNotFound) && !errors.Is(err, core.ErrNoLogs):
		return nil, "", err
	}
	if c.logFile != "" {
		evs, err := core.ReadLogFile(c.logFile)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, "", err
		}
		var mine []core.Event
		for _, e := range evs {
			if e.RunID == run {
				mine = append(mine, e)
			}
		}
		if len(mine) > 0 {
			return filterLevel(mine, level), SourceLogFile, nil
		}
	}
	runs, err := c.meta.Runs(ctx)
	if err != nil {
		return nil, "", err
	}
	i := runIndex(runs, run)
	if i < 0 {
		return nil, "", fmt.Errorf("%w: no run %s in the cache", core.ErrNotFound, run)
	}
	recs, err := c.meta.Run(ctx, run)
	if err != nil {
		return nil, "", err
	}
	out := []core.Event{}
	at := runs[i].Started
	add := func(n NodeInfo, actor core.Actor, typ core.EventType, msg core.EventMessage, value string) {
		e := core.Event{RunID: run, Node: n.Node, Task: n.Task, Actor: actor, Type: typ, Message: msg, Value: value, Time: at}
		if e.Level() >= level {
			out = append(out, e)
		}
	}
	for _, n := range mergeRecords(recs) {
		dv := string(n.DataVersion)
		switch n.Outcome {
		case core.OutcomeInput:
			add(n, core.ActorAdapter, core.EventIsInput, "", dv)
			continue
		case core.OutcomeOverride:
			add(n, core.ActorAdapter, core.EventIsOverride, "", dv)
			continue
		case core.OutcomeSkipped:
			continue
		}
		if n.Requested {
			add(n, core.ActorAdapter, core.EventIsFinalVar, "", dv)
		}
		if n.Behavior != core.Unset {
			add(n, core.ActorAdapter, core.EventResolveBehavior, "", n.Behavior.String())
		}
		waited := func() {
			if n.Wait.Waited() {
				add(n, core.ActorMetadataStore, core.EventLeaseWait, "",
					fmt.Sprintf("%s, waited %v", n.Wait.For, n.Wait.Duration.Round(time.Millisecond)))
			}
		}
		if n.Outcome == core.OutcomeRetrieved {
			waited() // a run retrieves what it waited for
		}
		if n.Outcome == core.OutcomeRetrieved || n.Reexecuted {
			add(n, core.ActorAdapter, core.EventGetResult, core.MessageHit, dv)
		}
		if n.Reexecuted {
			add(n, core.ActorResultStore, core.EventGetResult, core.MessageMiss, "")
			add(n, core.ActorAdapter, core.EventMissingResult, "", "")
			waited()
		} else if n.Outcome != core.OutcomeRetrieved && (n.Behavior == core.Default || n.Behavior == core.Unset) {
			add(n, core.ActorAdapter, core.EventGetResult, core.MessageMiss, "")
			waited() // the lease was released without a result, or expired
		}
		if n.Outcome == core.OutcomeRetrieved {
			continue
		}
		add(n, core.ActorAdapter, core.EventExecuteNode, "", "")
		if n.Outcome == core.OutcomeFailed {
			add(n, core.ActorAdapter, core.EventFailedExecution, "", "")
			continue
		}
		if n.Written >= 0 {
			add(n, core.ActorResultStore, core.EventSetResult, core.MessageStored, dv)
		}
	}
	return out, SourceRecords, nil
}

func filterLevel(evs []core.Event, level slog.Level) []core.Event {
	out := []core.Event{}
	for _, e := range evs {
		if e.Level() >= level {
			out = append(out, e)
		}
	}
	return out
}
