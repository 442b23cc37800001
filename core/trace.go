package core

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the spans a Cache makes (see
// WithTracerProvider).
const TracerName = "github.com/flowcache/flowcache/core"

// The attributes of flowcache's spans (see WithTracerProvider).
const (
	AttrRunID         = attribute.Key("flowcache.run_id")
	AttrNode          = attribute.Key("flowcache.node")
	AttrTask          = attribute.Key("flowcache.task")
	AttrBehavior      = attribute.Key("flowcache.behavior")
	AttrCacheKey      = attribute.Key("flowcache.cache_key")
	AttrCodeVersion   = attribute.Key("flowcache.code_version")
	AttrOutcome       = attribute.Key("flowcache.outcome")
	AttrDataVersion   = attribute.Key("flowcache.data_version")
	AttrFormat        = attribute.Key("flowcache.format")
	AttrBytes         = attribute.Key("flowcache.bytes")
	AttrExecSeconds   = attribute.Key("flowcache.execution.seconds")
	AttrCacheSeconds  = attribute.Key("flowcache.cache.seconds")
	AttrStoreSeconds  = attribute.Key("flowcache.store.seconds")
	AttrNodesExecuted = attribute.Key("flowcache.nodes.executed")
	AttrNodesHit      = attribute.Key("flowcache.nodes.retrieved")
	AttrNodesFailed   = attribute.Key("flowcache.nodes.failed")
	AttrFaults        = attribute.Key("flowcache.faults")
)

// WithTracerProvider makes the Cache trace its runs with OpenTelemetry,
// through the tracer of tp named TracerName, so that a run shows up in
// Jaeger, Tempo or Honeycomb beside the rest of the program's spans:
//
//   - "flowcache.run", from BeginRun to Run.End, a child of the span in the
//     context given to BeginRun (if any), with the run id and, at its end,
//     how many nodes were executed, retrieved and failed, and how many parts
//     of the cache failed (AttrFaults; each fault is a "cache_fault" event
//     of the span it happened in);
//   - one span per Run.Node call, named after the node, a child of the run's
//     span: the node's task, behaviour, cache key, code version, outcome
//     (executed, retrieved, failed), data version, format and bytes stored,
//     the seconds spent executing it (AttrExecSeconds) and the seconds the
//     cache added around that (AttrCacheSeconds: keys, lookups, storing);
//     its events at slog.LevelInfo and above as span events ("get_result"
//     with "hit", "execute_node", "lease_wait" naming the holder,
//     "cache_fault"…), an error status when it failed. The
//     context the node's function gets carries this span, so the spans the
//     function makes are its children;
//   - "flowcache.store", the storing of a result (AttrStoreSeconds, the
//     bytes), a child of the node's span, which may outlive it when results
//     are written in the background (WithBackgroundStores);
//   - "flowcache.load", the loading of a retrieved result when a node
//     needs its value, a child of the span of the node that needs it (of
//     the run's span when the value is asked for outside any node, as
//     Run.Final does).
//
// Without this option a Cache makes no spans, and pays nothing for them; a
// nil tp is an error wrapping ErrInvalid. The driver passes it on with
// driver.CacheTracerProvider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *Cache) error {
		if tp == nil {
			return fmt.Errorf("%w: nil tracer provider", ErrInvalid)
		}
		c.tracer = tp.Tracer(TracerName)
		return nil
	}
}

// nodeTraceKey is the context key of the nodeTrace a Run.Node call makes.
type nodeTraceKey struct{}

// nodeTrace is what a node's span needs from the code that runs under it.
type nodeTrace struct {
	span trace.Span
	// exec is the time the node's function took; key and behavior what the
	// node's record says (when it is made under span), or the key looked
	// up (see traceKey).
	exec     time.Duration
	key      KeyID
	behavior Behavior
	// format and size are the record's, when it is made under span (size
	// -1: nothing stored under it).
	format string
	size   int64
}

// traceExec notes how long the node's function took.
func (r *Run) traceExec(ctx context.Context, d time.Duration) {
	if nt, _ := ctx.Value(nodeTraceKey{}).(*nodeTrace); nt != nil && nt.span == trace.SpanFromContext(ctx) {
		nt.exec = d
	}
}

// traceKey notes the key a node looked up, with its behaviour.
func (r *Run) traceKey(ctx context.Context, id KeyID, b Behavior) {
	if nt, _ := ctx.Value(nodeTraceKey{}).(*nodeTrace); nt != nil {
		nt.key, nt.behavior = id, b
	}
}

// startRunSpan starts the run's span, when tracing.
func (r *Run) startRunSpan(ctx context.Context) {
	if r.c.tracer == nil {
		return
	}
	_, r.span = r.c.tracer.Start(ctx, "flowcache.run", trace.WithAttributes(AttrRunID.String(string(r.id))))
}

// endRunSpan ends the run's span with its counts.
func (r *Run) endRunSpan() {
	if r.span == nil {
		return
	}
	var executed, retrieved, failed int
	r.mu.Lock()
	for _, o := range r.outcomeMap {
		switch o {
		case OutcomeExecuted:
			executed++
		case OutcomeRetrieved:
			retrieved++
		case OutcomeFailed:
			failed++
		}
	}
	faults := len(r.faultOrder)
	r.mu.Unlock()
	r.span.SetAttributes(AttrNodesExecuted.Int(executed), AttrNodesHit.Int(retrieved), AttrNodesFailed.Int(failed), AttrFaults.Int(faults))
	if failed > 0 {
		r.span.SetStatus(codes.Error, "a node failed")
	}
	r.span.End()
}

// tracedNode is Node in a span of its own.
func (r *Run) tracedNode(ctx context.Context, spec *NodeSpec, task string, deps []*Value, exec ExecFunc) (*Value, error) {
	attrs := []attribute.KeyValue{AttrNode.String(spec.Name)}
	if task != "" {
		attrs = append(attrs, AttrTask.String(task))
	}
	start := time.Now()
	ctx, span := r.c.tracer.Start(trace.ContextWithSpan(ctx, r.span), spec.Name, trace.WithAttributes(attrs...))
	nt := &nodeTrace{span: span, size: -1}
	ctx = context.WithValue(ctx, nodeTraceKey{}, nt)
	v, err := r.node(ctx, spec, task, deps, exec)
	total := time.Since(start)
	// What the node's record says, when the record is made under this
	// span; a result stored in the background records after it ends, so
	// the outcome and the versions are put here too.
	r.mu.Lock()
	outcome := r.outcomeMap[RecordName(spec.Name, task)]
	r.mu.Unlock()
	attrs = append(attrs[:0], AttrOutcome.String(string(outcome)), AttrCacheSeconds.Float64(max(total-nt.exec, 0).Seconds()))
	if nt.exec > 0 {
		attrs = append(attrs, AttrExecSeconds.Float64(nt.exec.Seconds()))
	}
	if v != nil {
		attrs = append(attrs, AttrDataVersion.String(string(v.Version())))
	}
	if nt.key != "" {
		attrs = append(attrs, AttrCacheKey.String(string(nt.key)), AttrCodeVersion.String(string(spec.CodeVersion)), AttrBehavior.String(nt.behavior.String()))
	}
	if nt.format != "" {
		attrs = append(attrs, AttrFormat.String(nt.format))
	}
	if nt.size >= 0 {
		attrs = append(attrs, AttrBytes.Int64(nt.size))
	}
	span.SetAttributes(attrs...)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	return v, err
}

// traceRecord puts what rec says on the span of ctx: the node's, or the
// store's.
func (r *Run) traceRecord(ctx context.Context, rec NodeRecord) {
	if r.span == nil {
		return
	}
	// The node's span, and the store's when the record is made there (a
	// store in the background may end after the node's span: an ended span
	// takes no more attributes).
	span := trace.SpanFromContext(ctx)
	if nt, _ := ctx.Value(nodeTraceKey{}).(*nodeTrace); nt != nil && nt.span == span {
		// The node's own span: tracedNode puts the attributes on it once,
		// when the node returns (setting them twice costs the SDK a merge).
		// A hit keeps the key it looked up; an executed node's key is
		// made of what it ran on (see executeAndStoreMode).
		if nt.key == "" || rec.Outcome != OutcomeRetrieved {
			nt.key = rec.Key.ID()
		}
		nt.behavior, nt.format, nt.size = rec.Behavior, rec.Format, rec.Size
		return
	}
	if !span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{
		AttrBehavior.String(rec.Behavior.String()),
		AttrOutcome.String(string(rec.Outcome)),
		AttrCacheKey.String(string(rec.Key.ID())),
	}
	if rec.Key.CodeVersion != "" {
		attrs = append(attrs, AttrCodeVersion.String(string(rec.Key.CodeVersion)))
	}
	if rec.DataVersion != "" {
		attrs = append(attrs, AttrDataVersion.String(string(rec.DataVersion)))
	}
	if rec.Format != "" {
		attrs = append(attrs, AttrFormat.String(rec.Format))
	}
	if rec.Size >= 0 {
		attrs = append(attrs, AttrBytes.Int64(rec.Size))
	}
	if rec.Duration > 0 {
		attrs = append(attrs, AttrExecSeconds.Float64(rec.Duration.Seconds()))
	}
	span.SetAttributes(attrs...)
}

// traceEvent adds ev to the span of ctx, when it records and ev is at
// slog.LevelInfo or above (the debug events would make a span of a hit
// twice as dear, and its attributes say what they say).
func (r *Run) traceEvent(ctx context.Context, ev *Event) {
	if ev.Level() < slog.LevelInfo {
		return
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{attribute.String("actor", string(ev.Actor))}
	if ev.Message != "" {
		attrs = append(attrs, attribute.String("message", string(ev.Message)))
	}
	if ev.Value != "" {
		attrs = append(attrs, attribute.String("value", ev.Value))
	}
	span.AddEvent(string(ev.Type), trace.WithTimestamp(ev.Time), trace.WithAttributes(attrs...))
}

// startStoreSpan starts the span of a result being stored, when tracing;
// end ends it.
func (r *Run) startStoreSpan(ctx context.Context, st storeJob) (_ context.Context, end func()) {
	if r.span == nil {
		return ctx, func() {}
	}
	start := time.Now()
	ctx, span := r.c.tracer.Start(ctx, "flowcache.store", trace.WithAttributes(AttrNode.String(st.spec.Name), AttrFormat.String(st.rid.Format), AttrDataVersion.String(string(st.ver))))
	return ctx, func() {
		span.SetAttributes(AttrStoreSeconds.Float64(time.Since(start).Seconds()))
		span.End()
	}
}

// startLoadSpan starts the span of a retrieved result being loaded, when
// tracing; end ends it with the load's error.
func (r *Run) startLoadSpan(ctx context.Context, spec *NodeSpec, task string, ver DataVersion) (_ context.Context, end func(error)) {
	if r.span == nil {
		return ctx, func(error) {}
	}
	attrs := []attribute.KeyValue{AttrNode.String(spec.Name), AttrDataVersion.String(string(ver)), AttrFormat.String(spec.Format.Name())}
	if task != "" {
		attrs = append(attrs, AttrTask.String(task))
	}
	if !trace.SpanFromContext(ctx).IsRecording() {
		ctx = trace.ContextWithSpan(ctx, r.span) // outside any node: under the run
	}
	ctx, span := r.c.tracer.Start(ctx, "flowcache.load", trace.WithAttributes(attrs...))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}
