package parquet_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/formats/internal/tabletest"
	"github.com/flowcache/flowcache/formats/parquet"
)

// StoredRows is the node of TestCraftedResultIsAMiss.
func StoredRows() []Row { return sampleRows() }

// TestCraftedResultIsAMiss is TestCraftedArrowSchema end to end, on a real
// cache directory: the crafted Parquet file of TestCraftedArrowSchema,
// stored under a node's result id through the store (so its checksum is
// valid), used to kill every process that read it. Now the next run takes
// it for a damaged result: a miss, the node runs again, its value is right,
// and the run after that hits again.
func TestCraftedResultIsAMiss(t *testing.T) {
	ctx := context.Background()
	st, err := local.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	run := func() (any, []core.Event) {
		t.Helper()
		dr, err := driver.NewBuilder().
			WithNodes(driver.Node("rows", StoredRows, driver.WithFormat(parquet.New()))).
			WithCache(driver.CacheStores(st.Metadata(), st.Results())).
			Build()
		if err != nil {
			t.Fatal(err)
		}
		out, err := dr.Execute(ctx, []string{"rows"}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		id, err := dr.Cache().LastRunID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return out["rows"], dr.Cache().Events(slog.LevelDebug, id)
	}
	has := func(events []core.Event, typ core.EventType, text string) bool {
		for _, e := range events {
			if e.Node == "rows" && e.Type == typ && strings.Contains(string(e.Message)+" "+e.Value, text) {
				return true
			}
		}
		return false
	}
	run() // stores the result

	var entry core.Entry
	if err := st.Metadata().WalkEntries(ctx, func(e core.Entry) error {
		if e.Key.Node == "rows" {
			entry = e
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rid := core.ResultID{Version: entry.DataVersion, Format: entry.Format}
	rc, err := st.Results().Get(ctx, rid)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The lie of TestCraftedArrowSchema: 2.4 billion fields.
	footer, v, ipc := arrowSchemaOf(t, stored)
	fb := ipc[8:]
	schema := fbDeref(fb, fbField(fb, int(binary.LittleEndian.Uint32(fb)), 2))
	binary.LittleEndian.PutUint32(fb[fbDeref(fb, fbField(fb, schema, 1)):], 0x90000000)
	v.b = []byte(base64.StdEncoding.EncodeToString(ipc))
	crafted := withFooter(stored, encodeStruct(nil, footer))
	if err := st.Results().Delete(ctx, rid); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Results().Put(ctx, rid, func(w io.Writer) error {
		_, err := io.Copy(w, bytes.NewReader(crafted))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("stored a crafted file of %d bytes under %s", len(crafted), rid)

	got, events := run()
	if tabletest.Sum(t, got) != tabletest.Sum(t, sampleRows()) {
		t.Fatalf("the run after the crafted result gave %+v", got)
	}
	if !has(events, core.EventGetResult, "ARROW:schema") || !has(events, core.EventExecuteNode, "") {
		t.Fatalf("the crafted result was not a miss naming ARROW:schema, with the node run again: %v", events)
	}
	if _, events = run(); !has(events, core.EventGetResult, "loaded") || has(events, core.EventExecuteNode, "") {
		t.Fatalf("the run after the repair did not load the result: %v", events)
	}
}
