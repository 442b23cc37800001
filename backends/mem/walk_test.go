package mem_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
)

// RemoveEntries deletes the entries that are as listed, and keeps those a
// run stored again or used since; the result store lists results with
// their times.
func TestRemoveEntriesAndWalkResults(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	defer st.Close()
	meta := st.Metadata()
	t0 := time.Unix(1_700_000_000, 0)
	ver := func(s string) core.DataVersion { return core.DataVersion(fmt.Sprintf("%064x", s)) }
	var batch core.Batch
	for i := range 3 {
		k := core.NewCacheKey(fmt.Sprint("n", i), "code", nil)
		batch.Entries = append(batch.Entries, core.Entry{Key: k, DataVersion: ver(fmt.Sprint(i)), Format: "gob"})
	}
	batch.Now = t0
	if err := meta.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	var listed []core.Entry
	if err := meta.WalkEntries(ctx, func(e core.Entry) error { listed = append(listed, e); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(listed, func(a, b core.Entry) int { return strings.Compare(a.Key.Node, b.Key.Node) })
	if err := meta.Write(ctx, core.Batch{Hits: []core.KeyID{listed[1].ID()}, Now: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	done, err := meta.RemoveEntries(ctx, listed)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 2 || slices.Contains(done, listed[1].ID()) {
		t.Fatalf("removed %v, want n0 and n2 but not n1, used since the listing", done)
	}

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
