package core_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// tracedRun runs a chain src → double, and a node that fails, on c, and
// returns the run's id and the spans it ended.
func tracedRun(t *testing.T, c *core.Cache, sr *tracetest.SpanRecorder, userSpans bool) (core.RunID, []sdktrace.ReadOnlySpan) {
	t.Helper()
	ctx := context.Background()
	before := len(sr.Ended())
	run, err := c.BeginRun(ctx)
	if err != nil {
		t.Fatal(err)
	}
	intSpec := func(name string) *core.NodeSpec {
		return &core.NodeSpec{Name: name, CodeVersion: core.CodeVersion("v1-" + name), Format: formats.Gob(), Type: reflect.TypeFor[int]()}
	}
	x := run.Input(ctx, "x", 21)
	src, err := run.Node(ctx, intSpec("src"), "", []*core.Value{x}, func(ctx context.Context, args []any) (any, error) {
		time.Sleep(2 * time.Millisecond)
		if userSpans {
			_, s := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr)).Tracer("user").Start(ctx, "user work")
			s.End()
		}
		return args[0].(int) + 1, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	double, err := run.Node(ctx, intSpec("double"), "", []*core.Value{src}, func(ctx context.Context, args []any) (any, error) {
		return args[0].(int) * 2, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if _, err := run.Node(ctx, intSpec("fails"), "", []*core.Value{x}, func(ctx context.Context, args []any) (any, error) {
		return nil, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("failing node: %v, want boom", err)
	}
	out, err := run.Final(ctx, double)
	if err != nil || out != 44 {
		t.Fatalf("double = %v, %v; want 44", out, err)
	}
	if err := run.End(ctx); err != nil {
		t.Fatal(err)
	}
	return run.ID(), sr.Ended()[before:]
}

func spanAttrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func spansNamed(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func oneSpan(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	got := spansNamed(spans, name)
	if len(got) != 1 {
		t.Fatalf("%d spans named %q, want 1", len(got), name)
	}
	return got[0]
}

func spanHasEvent(s sdktrace.ReadOnlySpan, name, message string) bool {
	for _, e := range s.Events() {
		if e.Name != name {
			continue
		}
		for _, kv := range e.Attributes {
			if kv.Key == "message" && kv.Value.AsString() == message {
				return true
			}
		}
		if message == "" {
			return true
		}
	}
	return false
}

// TestTraceSpans checks the spans of a cold and a warm run against the
// run's own history: one span for the run, one per node under it with the
// key, outcome, data version, format and bytes the history has, the node's
// function's spans under the node's, stores and loads under the node.
func TestTraceSpans(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	st := mem.Open()
	c, err := core.New(st.Metadata(), st.Results(), core.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	for i, phase := range []string{"cold", "warm"} {
		id, spans := tracedRun(t, c, sr, i == 0)
		history, err := c.Metadata().Run(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		records := map[string]core.NodeRecord{}
		for _, rec := range history {
			records[rec.Node] = rec
		}
		runSpan := oneSpan(t, spans, "flowcache.run")
		ra := spanAttrs(runSpan)
		if ra[core.AttrRunID].AsString() != string(id) {
			t.Errorf("%s: run span run_id %q, want %q", phase, ra[core.AttrRunID].AsString(), id)
		}
		wantExecuted, wantHit := int64(2), int64(0)
		if phase == "warm" {
			wantExecuted, wantHit = 0, 2
		}
		if ra[core.AttrNodesExecuted].AsInt64() != wantExecuted || ra[core.AttrNodesHit].AsInt64() != wantHit || ra[core.AttrNodesFailed].AsInt64() != 1 {
			t.Errorf("%s: run span counts executed %d retrieved %d failed %d, want %d %d 1", phase,
				ra[core.AttrNodesExecuted].AsInt64(), ra[core.AttrNodesHit].AsInt64(), ra[core.AttrNodesFailed].AsInt64(), wantExecuted, wantHit)
		}
		if runSpan.Status().Code != codes.Error {
			t.Errorf("%s: run span status %v, want Error (a node failed)", phase, runSpan.Status())
		}
		for _, name := range []string{"src", "double"} {
			s := oneSpan(t, spans, name)
			rec := records[name]
			a := spanAttrs(s)
			if s.Parent().SpanID() != runSpan.SpanContext().SpanID() || s.SpanContext().TraceID() != runSpan.SpanContext().TraceID() {
				t.Errorf("%s: span %s is not a child of the run's span", phase, name)
			}
			for k, want := range map[attribute.Key]string{
				core.AttrNode:        name,
				core.AttrCacheKey:    string(rec.Key.ID()),
				core.AttrCodeVersion: "v1-" + name,
				core.AttrOutcome:     string(rec.Outcome),
				core.AttrDataVersion: string(rec.DataVersion),
				core.AttrBehavior:    "default",
			} {
				if got := a[k].AsString(); got != want {
					t.Errorf("%s: span %s %s = %q, want %q", phase, name, k, got, want)
				}
			}
			wantOutcome := core.OutcomeExecuted
			if phase == "warm" {
				wantOutcome = core.OutcomeRetrieved
			}
			if rec.Outcome != wantOutcome {
				t.Errorf("%s: %s outcome %s, want %s", phase, name, rec.Outcome, wantOutcome)
			}
			if a[core.AttrCacheSeconds].AsFloat64() <= 0 {
				t.Errorf("%s: span %s has no cache time", phase, name)
			}
			if phase == "cold" {
				if !spanHasEvent(s, "execute_node", "") {
					t.Errorf("cold: span %s has no execute_node event: %v", name, s.Events())
				}
				if name == "src" && a[core.AttrExecSeconds].AsFloat64() < 0.002 {
					t.Errorf("cold: src execution %v s, want >= 2 ms", a[core.AttrExecSeconds].AsFloat64())
				}
			} else if !spanHasEvent(s, "get_result", "hit") {
				t.Errorf("warm: span %s has no get_result hit event: %v", name, s.Events())
			}
		}
		fails := oneSpan(t, spans, "fails")
		if fails.Status().Code != codes.Error || spanAttrs(fails)[core.AttrOutcome].AsString() != string(core.OutcomeFailed) {
			t.Errorf("%s: failing node's span status %v outcome %q", phase, fails.Status(), spanAttrs(fails)[core.AttrOutcome].AsString())
		}
		stores := spansNamed(spans, "flowcache.store")
		loads := spansNamed(spans, "flowcache.load")
		if phase == "cold" {
			if len(stores) != 2 || len(loads) != 0 {
				t.Fatalf("cold: %d store and %d load spans, want 2 and 0", len(stores), len(loads))
			}
			for _, s := range stores {
				a := spanAttrs(s)
				node := oneSpan(t, spans, a[core.AttrNode].AsString())
				if s.Parent().SpanID() != node.SpanContext().SpanID() {
					t.Errorf("cold: store span of %s is not under its node's span", a[core.AttrNode].AsString())
				}
				if want := records[a[core.AttrNode].AsString()].Size; a[core.AttrBytes].AsInt64() != want || want <= 0 {
					t.Errorf("cold: store span of %s: %d bytes, history says %d", a[core.AttrNode].AsString(), a[core.AttrBytes].AsInt64(), want)
				}
			}
			user := oneSpan(t, spans, "user work")
			if user.Parent().SpanID() != oneSpan(t, spans, "src").SpanContext().SpanID() {
				t.Error("cold: the node function's own span is not under the node's span")
			}
		} else {
			// Final loads double's value (under the run's span); loading it
			// needs no other value.
			if len(stores) != 0 || len(loads) != 1 {
				t.Fatalf("warm: %d store and %d load spans, want 0 and 1", len(stores), len(loads))
			}
			a := spanAttrs(loads[0])
			if a[core.AttrNode].AsString() != "double" || a[core.AttrDataVersion].AsString() != string(records["double"].DataVersion) {
				t.Errorf("warm: load span of %q version %q", a[core.AttrNode].AsString(), a[core.AttrDataVersion].AsString())
			}
			if loads[0].Parent().SpanID() != runSpan.SpanContext().SpanID() {
				t.Error("warm: the load asked for by Final is not under the run's span")
			}
		}
	}
}

// A nil tracer provider is refused.
func TestTraceOff(t *testing.T) {
	st := mem.Open()
	if _, err := core.New(st.Metadata(), st.Results(), core.WithTracerProvider(nil)); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("nil tracer provider: %v, want ErrInvalid", err)
	}
}
