package driver_test

import (
	"context"
	"testing"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// traceTP is the provider tracedLoad makes its span with; traceUserSpan
// the span it made last.
var (
	traceTP       trace.TracerProvider
	traceUserSpan trace.SpanContext
)

func tracedLoad(ctx context.Context, n int) []int {
	_, s := traceTP.Tracer("user").Start(ctx, "load rows")
	traceUserSpan = s.SpanContext()
	s.End()
	return make([]int, n)
}

// A traced Execute on a local directory: the run's span is a child of the
// caller's, the nodes' spans children of the run's, and a node function's
// own span a child of its node's; the warm run retrieves what the cold one
// executed, and the spans say so.
func TestCacheTracerProvider(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	dir := t.TempDir()
	traceTP = tp
	load, count := tracedLoad, func(rows []int) int { return len(rows) }
	for _, phase := range []string{"cold", "warm"} {
		sr.Reset()
		d, err := driver.NewBuilder().
			WithNodes(driver.Node("rows", load, "n"), driver.Node("count", count, "rows")).
			WithCache(driver.CacheDir(dir), driver.CacheTracerProvider(tp)).
			Build()
		if err != nil {
			t.Fatal(err)
		}
		ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
		res, err := d.Execute(ctx, []string{"count"}, driver.Inputs{"n": 1000}, nil)
		parent.End()
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := driver.Get[int](res, "count"); n != 1000 {
			t.Fatalf("%s: count = %d", phase, n)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		byName := map[string]sdktrace.ReadOnlySpan{}
		for _, s := range sr.Ended() {
			byName[s.Name()] = s
		}
		run, ok := byName["flowcache.run"]
		if !ok {
			t.Fatalf("%s: no flowcache.run span among %d", phase, len(sr.Ended()))
		}
		if run.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("%s: the run's span is not a child of the caller's", phase)
		}
		want := core.OutcomeExecuted
		if phase == "warm" {
			want = core.OutcomeRetrieved
		}
		for _, name := range []string{"rows", "count"} {
			s, ok := byName[name]
			if !ok {
				t.Fatalf("%s: no span for node %s", phase, name)
			}
			if s.Parent().SpanID() != run.SpanContext().SpanID() {
				t.Errorf("%s: node %s's span is not a child of the run's", phase, name)
			}
			var outcome string
			for _, kv := range s.Attributes() {
				if kv.Key == core.AttrOutcome {
					outcome = kv.Value.AsString()
				}
			}
			if outcome != string(want) {
				t.Errorf("%s: node %s outcome %q, want %q", phase, name, outcome, want)
			}
		}
		if phase == "cold" {
			if u, ok := byName["load rows"]; !ok || u.Parent().SpanID() != byName["rows"].SpanContext().SpanID() || !u.SpanContext().Equal(traceUserSpan) {
				t.Error("cold: the node function's span is not a child of its node's span")
			}
		} else if _, ok := byName["load rows"]; ok {
			t.Error("warm: the node function ran again")
		}
	}
}
