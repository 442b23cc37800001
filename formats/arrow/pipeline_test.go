package arrow_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	flowarrow "github.com/flowcache/flowcache/formats/arrow"
)

type Point struct {
	X, Y float64
}

func Points(n int) (arrow.RecordBatch, error) {
	pts := make([]Point, n)
	for i := range pts {
		pts[i] = Point{X: float64(i), Y: float64(i * i)}
	}
	return flowarrow.RecordFromSlice(pts)
}

func Rows(rec arrow.RecordBatch) int64 { return rec.NumRows() }

// An Arrow record flows through a cached pipeline: it gets a data version
// (so the node downstream can be retrieved), is stored in the arrow format,
// and loads back.
func TestRecordInPipeline(t *testing.T) {
	st := mem.Open()
	ctx := context.Background()
	for i := range 2 {
		dr, err := driver.NewBuilder().WithNodes(
			driver.Node("points", Points, "n", driver.WithFormat(flowarrow.New())),
			driver.Node("rows", Rows, "points"),
		).WithCache(driver.CacheStores(st.Metadata(), st.Results())).Build()
		if err != nil {
			t.Fatal(err)
		}
		out, err := dr.Execute(ctx, []string{"rows", "points"}, driver.Inputs{"n": 100}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if out["rows"] != int64(100) || out["points"].(arrow.RecordBatch).NumRows() != 100 {
			t.Fatalf("run %d: %v", i+1, out)
		}
		run, _ := dr.Cache().LastRunID(ctx)
		var executed, unhashable int
		for _, e := range dr.Cache().Events(slog.LevelDebug, run) {
			switch e.Type {
			case core.EventExecuteNode:
				executed++
			case core.EventUnhashable:
				unhashable++
			}
		}
		if unhashable != 0 {
			t.Fatalf("run %d: the record was unhashable", i+1)
		}
		if want := []int{2, 0}[i]; executed != want {
			t.Fatalf("run %d executed %d nodes, want %d", i+1, executed, want)
		}
	}
}
