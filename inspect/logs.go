package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

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
	// did (is_input, is_override, get_result hit or miss, missing_result,
	// execute_node, failed_execution), stamped with the run's start time.
	SourceRecords LogSource = "run_records"
)

// Logs returns the events of a run at or above level (slog.LevelInfo:
// get_result and execute_node; slog.LevelDebug: every event), in the order
// they happened, and where they come from: the event log file (WithLogFile)
// when it has the run, else the run's own log in the store when a store
// keeps one, else events rebuilt from the run's records.
func (c *Cache) Logs(ctx context.Context, run core.RunID, level slog.Level) ([]core.Event, LogSource, error) {
	if c.logFile != "" {
		evs, err := core.ReadLogFile(c.logFile)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, "", err
		}
		var out []core.Event
		found := false
		for _, e := range evs {
			if e.RunID != run {
				continue
			}
			found = true
			if e.Level() >= level {
				out = append(out, e)
			}
		}
		if found {
			if out == nil {
				out = []core.Event{}
			}
			return out, SourceLogFile, nil
		}
	}
	for _, st := range []any{c.meta, c.results} {
		lr, ok := st.(logReader)
		if !ok {
			continue
		}
		evs, err := readRunLog(ctx, lr, run, level)
		if errors.Is(err, core.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		return evs, SourceRunLog, nil
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
	add := func(n NodeInfo, actor core.Actor, typ core.EventType, msg, value string) {
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
		if n.Behavior != core.Unset {
			add(n, core.ActorAdapter, core.EventResolveBehavior, "", n.Behavior.String())
		}
		if n.Outcome == core.OutcomeRetrieved || n.Reexecuted {
			add(n, core.ActorAdapter, core.EventGetResult, "hit", dv)
		}
		if n.Reexecuted {
			add(n, core.ActorResultStore, core.EventGetResult, "miss", "")
			add(n, core.ActorAdapter, core.EventMissingResult, "", "")
		} else if n.Outcome != core.OutcomeRetrieved && (n.Behavior == core.Default || n.Behavior == core.Unset) {
			add(n, core.ActorAdapter, core.EventGetResult, "miss", "")
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
			add(n, core.ActorResultStore, core.EventSetResult, "stored", dv)
		}
	}
	return out, SourceRecords, nil
}

// logReader is the reading side of a store that keeps a log per run
// (core.LogStore).
type logReader interface {
	ReadLog(ctx context.Context, run core.RunID) (io.ReadCloser, error)
}

// readRunLog reads the JSONL log of run from a store. A last line without
// its newline that does not parse (a writer killed mid-line) is skipped.
func readRunLog(ctx context.Context, lr logReader, run core.RunID, level slog.Level) ([]core.Event, error) {
	rc, err := lr.ReadLog(ctx, run)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	out := []core.Event{}
	for n := 1; len(b) > 0; n++ {
		line, rest, complete := bytes.Cut(b, []byte("\n"))
		b = rest
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e core.Event
		if err := json.Unmarshal(line, &e); err != nil {
			if !complete {
				break // torn last line
			}
			return out, fmt.Errorf("log of run %s, line %d: %w: %v", run, n, core.ErrCorrupt, err)
		}
		if e.Level() >= level {
			out = append(out, e)
		}
	}
	return out, nil
}
