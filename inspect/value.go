package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/core/fingerprint"
	"github.com/flowcache/flowcache/formats"
)

// ErrWrongType is wrapped by the error of Load when the node's value is not
// of the type asked for.
var ErrWrongType = errors.New("wrong type")

// Result is where a run keeps the value of one node (one task of a node
// inside a fan-out): the node's record in the run, and the result's id in
// the result store.
type Result struct {
	// Run is the run whose record this is.
	Run core.RunID `json:"run_id"`
	// NodeInfo is the node's record in the run: Format and DataVersion
	// make the result's id (NodeInfo.ResultID); Stored is not set.
	NodeInfo
	// Type is the Go type of the value ("[]float64", "main.Stats"), from
	// the code manifest of the node's code version; "" when the cache holds
	// no manifest of it (see core.WithManifestWait).
	Type string `json:"type,omitempty"`
}

// FindResult returns where the value of node is stored in a run: run is a
// full run id, a unique prefix of one or "last" (see ResolveRun), and ""
// names the newest run in which node appears. node is a node name, or
// node@task for one task of a node inside a fan-out ("summary@files[3]",
// see core.RecordName; Nodes lists them).
//
// The errors name the node and the run: a node in no run, or not in that
// run (wrapping core.ErrNotFound); a node that ran as several tasks, named
// without its task (core.ErrInvalid, listing them); a node that has no
// stored value in that run — an input or override, behaviour Disable or
// Ignore, failed, skipped, or a value that could not be fingerprinted
// (core.ErrNotFound, saying which).
func (c *Cache) FindResult(ctx context.Context, node string, run core.RunID) (*Result, error) {
	if node == "" {
		return nil, fmt.Errorf("%w: empty node name", core.ErrInvalid)
	}
	var (
		id    core.RunID
		nodes []NodeInfo
		found []NodeInfo
	)
	if run == "" {
		runs, err := c.meta.Runs(ctx)
		if err != nil {
			return nil, err
		}
		if len(runs) == 0 {
			return nil, fmt.Errorf("%w: the cache has no runs", core.ErrNotFound)
		}
		for _, r := range slices.Backward(runs) {
			recs, err := c.meta.Run(ctx, r.ID)
			if err != nil {
				return nil, err
			}
			nodes = mergeRecords(recs)
			if found = findNode(nodes, node); len(found) > 0 {
				id = r.ID
				break
			}
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%w: node %q is in none of the %d runs of the cache", core.ErrNotFound, node, len(runs))
		}
	} else {
		var err error
		if id, err = c.ResolveRun(ctx, string(run)); err != nil {
			return nil, fmt.Errorf("node %q: %w", node, err)
		}
		recs, err := c.meta.Run(ctx, id)
		if err != nil {
			return nil, err
		}
		nodes = mergeRecords(recs)
		if found = findNode(nodes, node); len(found) == 0 {
			return nil, fmt.Errorf("%w: node %q is not in run %s (its nodes: %s)", core.ErrNotFound, node, id, nodeNames(nodes))
		}
	}
	if len(found) > 1 {
		slices.SortStableFunc(found, func(a, b NodeInfo) int { return compareTasks(a.Task, b.Task) })
		names := make([]string, 0, min(len(found), 5))
		for _, n := range found[:min(len(found), 5)] {
			names = append(names, n.Name())
		}
		more := ""
		if len(found) > 5 {
			more = fmt.Sprintf(" and %d more", len(found)-5)
		}
		return nil, fmt.Errorf("%w: node %q ran as %d tasks in run %s: name one, like %s%s",
			core.ErrInvalid, node, len(found), id, strings.Join(names, ", "), more)
	}
	n := found[0]
	why := notStored(n)
	if why != "" && n.Format == "" {
		var first *NodeInfo
		for i, b := range nodes {
			if strings.HasPrefix(b.Task, n.Node+"[") && (first == nil || compareTasks(b.Task, first.Task) < 0) {
				first = &nodes[i]
			}
		}
		if first != nil {
			why = fmt.Sprintf("it expands a fan-out, whose value is not stored: the tasks of its branch are, one per item (like %s)", first.Name())
		}
	}
	if why != "" {
		return nil, fmt.Errorf("%w: node %q has no stored value in run %s: %s", core.ErrNotFound, n.Name(), id, why)
	}
	r := &Result{Run: id, NodeInfo: n}
	if m, err := core.ReadCodeManifest(ctx, c.meta, c.results, n.CodeVersion); err == nil {
		r.Type = m.ResultType
	}
	return r, nil
}

// notStored says why a node's record has no stored value, "" when it has
// one.
func notStored(n NodeInfo) string {
	switch {
	case n.Outcome == core.OutcomeInput:
		return "it is an input of the run (inputs are not stored)"
	case n.Outcome == core.OutcomeOverride:
		return "it is an override in the run (overrides are not stored)"
	case n.Outcome == core.OutcomeFailed:
		return "it failed"
	case n.Outcome == core.OutcomeSkipped:
		return "the run ended before it ran"
	case n.Behavior == core.Disable || n.Behavior == core.Ignore:
		return fmt.Sprintf("its behaviour was %s (nothing is stored)", n.Behavior)
	case !n.DataVersion.Storable():
		return "its value could not be fingerprinted, so it was not stored"
	case n.Format == "":
		return "the run stored no result for it"
	}
	return ""
}

// OpenResult opens the stored bytes of r, verified (core.GetVerified): a
// result that is no longer stored (evicted, deleted, or never written
// because the store failed) is an error wrapping core.ErrNotFound, a
// damaged one an error wrapping core.ErrCorrupt, both naming the node and
// the run. The bytes are as the result's format wrote them.
func (c *Cache) OpenResult(ctx context.Context, r *Result) (io.ReadCloser, error) {
	rc, err := core.GetVerified(ctx, c.results, r.ResultID())
	if err != nil {
		return nil, r.errorf("%w", readError(err))
	}
	return rc, nil
}

// readError keeps err, with a word on what a missing result means.
func readError(err error) error {
	if errors.Is(err, core.ErrNotFound) {
		return fmt.Errorf("its result is no longer stored (evicted or deleted): %w", err)
	}
	return err
}

func (r *Result) errorf(format string, args ...any) error {
	return fmt.Errorf("node %q of run %s: "+format, append([]any{r.Name(), r.Run}, args...)...)
}

// Load returns the value of node in a run, decoded as a T. node and run are
// as FindResult takes them: "" for the newest run in which node appears, a
// run id or a unique prefix of one, or "last"; node@task for one task of a
// fan-out.
//
// The stored bytes are verified before they are decoded, by the format
// recorded for the result (registered in package formats: import
// formats/csv, formats/arrow or formats/parquet for theirs), and the value
// decoded must have the data version it was stored under (with the default
// fingerprint; see WithHasher): a damaged result is an error wrapping
// core.ErrCorrupt, never a value. A value of another type than T is an
// error wrapping ErrWrongType that names both types when the cache knows
// the node's type (`node "x" of run … holds a []float64, not a string`).
// Every error names the node and the run.
func Load[T any](ctx context.Context, c *Cache, node string, run core.RunID) (T, error) {
	var zero T
	r, err := c.FindResult(ctx, node, run)
	if err != nil {
		return zero, err
	}
	v, err := c.decode(ctx, r, reflect.TypeFor[T]())
	if err != nil {
		return zero, err
	}
	if v == nil {
		return zero, nil // a nil pointer, slice, map or interface
	}
	t, ok := v.(T)
	if !ok {
		return zero, r.errorf("%w: it decoded to a %T, not a %v", ErrWrongType, v, reflect.TypeFor[T]())
	}
	return t, nil
}

// decode reads r's value as a t.
func (c *Cache) decode(ctx context.Context, r *Result, t reflect.Type) (val any, err error) {
	if r.Type != "" && t.Kind() != reflect.Interface && r.Type != t.String() {
		return nil, r.errorf("%w: it holds a %s, not a %v", ErrWrongType, r.Type, t)
	}
	f, err := formats.Lookup(r.Format)
	if err != nil {
		return nil, r.errorf("%w", err)
	}
	rc, err := c.OpenResult(ctx, r)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := rc.Close(); err == nil && cerr != nil {
			val, err = nil, r.errorf("%w", cerr)
		}
	}()
	val, err = decodeSafely(f, rc, t)
	if err == nil {
		// Read to the end: a file that changed since it was verified
		// fails there.
		_, err = io.Copy(io.Discard, rc)
	}
	if err != nil {
		return nil, c.wrongTypeOr(ctx, r, f, t, err)
	}
	if err := core.CheckAssignable(val, t); err != nil {
		return nil, r.errorf("%w: %v", ErrWrongType, err)
	}
	sum, err := c.hasher.Sum(val)
	if err != nil {
		return nil, c.wrongTypeOr(ctx, r, f, t, fmt.Errorf("%w: the decoded value cannot be fingerprinted: %v", core.ErrCorrupt, err))
	}
	if got := core.DataVersion(sum.String()); got != r.DataVersion {
		return nil, c.wrongTypeOr(ctx, r, f, t, fmt.Errorf("%w: result %s decoded to another value (data version %s) than the one stored", core.ErrCorrupt, r.ResultID(), got.Short()))
	}
	return val, nil
}

// decodeSafely decodes with f, a panic being an error: a decoder must not
// panic on bad input, and a tool must not crash on it if one does.
func decodeSafely(f core.Format, r io.Reader, t reflect.Type) (val any, err error) {
	defer func() {
		if p := recover(); p != nil {
			val, err = nil, fmt.Errorf("%w: decoding with %s panicked: %v", core.ErrCorrupt, f.Name(), p)
		}
	}()
	return f.Decode(r, t)
}

// wrongTypeOr explains a value that did not decode (or decoded to another
// value than the one stored) as a t. When the node's type is not known (no
// code manifest) and the format can check the bytes without their type and
// they pass, the bytes are sound (they were verified too) and the value is
// not a t: ErrWrongType. Otherwise the result is damaged: ErrCorrupt.
func (c *Cache) wrongTypeOr(ctx context.Context, r *Result, f core.Format, t reflect.Type, err error) error {
	if ctx.Err() != nil {
		return r.errorf("%w", ctx.Err())
	}
	if !errors.Is(err, core.ErrCorrupt) || (r.Type != "" && t.Kind() != reflect.Interface) {
		// Not damage, or the node's type is known to be t (decode checked
		// it first): the result is what failed.
		return r.errorf("%w", err)
	}
	if v, ok := f.(core.FormatValidator); ok {
		rc, oerr := c.OpenResult(ctx, r)
		if oerr == nil {
			verr := v.Validate(rc)
			rc.Close()
			if verr == nil {
				return r.errorf("%w: its %s result does not load as a %v (%v)", ErrWrongType, r.Format, t, err)
			}
		}
	}
	return r.errorf("%w", err)
}

// defaultHasher fingerprints as the cache does by default.
type defaultHasher struct{}

func (defaultHasher) Sum(v any) (fingerprint.Sum, error) { return fingerprint.Of(v) }

// WithHasher sets how Load fingerprints the values it decodes, to check
// them against the data versions they were stored under: the hasher the
// runs used (core.WithHasher), when it was not the default.
func WithHasher(h core.Hasher) Option { return func(c *Cache) { c.hasher = h } }
