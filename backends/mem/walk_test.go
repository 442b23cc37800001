package mem_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
)

// The result store lists results with their size and the time they were
// stored. (RemoveEntries is checked by conformance.TestMetadataStore.)
func TestWalkResults(t *testing.T) {
	ctx := context.Background()
	st := mem.Open()
	defer st.Close()
	ver := func(s string) core.DataVersion { return core.DataVersion(fmt.Sprintf("%064x", s)) }
	id := core.ResultID{Version: ver("r"), Format: "gob"}
	if _, err := st.Results().Put(ctx, id, func(w io.Writer) error { _, err := io.WriteString(w, "hello"); return err }); err != nil {
		t.Fatal(err)
	}
	var got []core.ResultInfo
	if err := st.Results().WalkResults(ctx, func(r core.ResultInfo) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != id || got[0].Size <= 5 || time.Since(got[0].Created) > time.Minute {
		t.Fatalf("walked %+v, want %s stored just now", got, id)
	}
}
