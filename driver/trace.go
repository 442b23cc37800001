package driver

import (
	"github.com/flowcache/flowcache/core"
	"go.opentelemetry.io/otel/trace"
)

// CacheTracerProvider makes each Execute or Run a trace of OpenTelemetry
// spans made with tp (see core.WithTracerProvider): a "flowcache.run" span,
// a child of the span in the context given to Execute, and under it a span
// per node, named after it, with its cache key, outcome, data version,
// format, bytes stored and the time the cache took; a node function that
// takes a context.Context gets its node's span in it. Pass the provider of
// the program's OpenTelemetry SDK (or otel.GetTracerProvider()) so that runs
// show up beside the program's other spans.
func CacheTracerProvider(tp trace.TracerProvider) CacheOption {
	return CacheCoreOptions(core.WithTracerProvider(tp))
}
