package driver_test

import (
	"context"
	"fmt"
	"os"
	"slices"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Runs traced with OpenTelemetry: in a service, pass the provider the
// program sends its spans with (an OTLP exporter behind a batcher; see the
// README's "Traces"); here an in-memory recorder shows the spans of a cold
// and a warm run.
func ExampleCacheTracerProvider() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())

	dir, _ := os.MkdirTemp("", "flowcache-trace")
	defer os.RemoveAll(dir)
	for range 2 {
		rec.Reset()
		d, err := driver.NewBuilder().
			WithNodes(driver.Node("words", Words, "text"), driver.Node("count", Count, "words")).
			WithCache(driver.CacheDir(dir), driver.CacheTracerProvider(tp)).
			Build()
		if err != nil {
			panic(err)
		}
		if _, err := d.Execute(context.Background(), []string{"count"}, driver.Inputs{"text": "to be or not to be"}, nil); err != nil {
			panic(err)
		}
		d.Close()
		var lines []string
		for _, s := range rec.Ended() {
			for _, kv := range s.Attributes() {
				if kv.Key == core.AttrOutcome {
					lines = append(lines, s.Name()+": "+kv.Value.AsString())
				}
			}
		}
		slices.Sort(lines)
		fmt.Println(lines)
	}
	// Output:
	// [count: executed flowcache.store: executed flowcache.store: executed words: executed]
	// [count: retrieved words: retrieved]
}
