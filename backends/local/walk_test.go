package local_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
)

func putBytes(t *testing.T, r core.ResultStore, id core.ResultID, b []byte) {
	t.Helper()
	if _, err := r.Put(context.Background(), id, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		t.Fatal(err)
	}
}

// WalkResults lists pending, inline and file results with their sizes and
// the times they were stored.
func TestWalkResults(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	before := time.Now().Add(-time.Second)
	small := core.ResultID{Version: version("small"), Format: "gob"}
	pending := core.ResultID{Version: version("pending"), Format: "gob"}
	large := core.ResultID{Version: version("large"), Format: "json"}
	putBytes(t, st.Results(), small, []byte("tiny"))
	if err := st.Results().FlushResults(ctx); err != nil {
		t.Fatal(err)
	}
	putBytes(t, st.Results(), pending, []byte("not flushed"))
	putBytes(t, st.Results(), large, bytes.Repeat([]byte("x"), 100<<10))

	got := map[core.ResultID]core.ResultInfo{}
	if err := st.Results().WalkResults(ctx, func(r core.ResultInfo) error { got[r.ID] = r; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("walked %v, want 3 results", got)
	}
	for id, size := range map[core.ResultID]int64{small: 4, pending: 11} {
		if got[id].Size != size {
			t.Errorf("%s: size %d, want %d", id, got[id].Size, size)
		}
	}
	if got[large].Size <= 100<<10 {
		t.Errorf("file result: size %d, want the payload and its header and trailer", got[large].Size)
	}
	for id, r := range got {
		if r.Created.Before(before) || r.Created.After(time.Now().Add(time.Second)) {
			t.Errorf("%s: created %v, want about now", id, r.Created)
		}
	}
	// The sizes match the older Walk.
	err := st.Results().Walk(ctx, func(id core.ResultID, size int64) error {
		if got[id].Size != size {
			return fmt.Errorf("%s: Walk says %d bytes, WalkResults %d", id, size, got[id].Size)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// RemoveEntries deletes the entries that are as listed, and keeps those a
// run stored again or used since.
func TestRemoveEntries(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	meta := st.Metadata()
	t0 := time.Unix(1_700_000_000, 0)
	var batch core.Batch
	for i := range 4 {
		k := core.NewCacheKey(fmt.Sprint("n", i), "code", []core.Dep{{Name: "x", Version: version("x")}})
		batch.Entries = append(batch.Entries, core.Entry{Key: k, DataVersion: version(fmt.Sprint(i)), Format: "gob"})
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
	// After the listing: n1 is used, n2 maps to a new result, n3 is deleted.
	later := t0.Add(2 * time.Hour)
	n2 := batch.Entries[2]
	n2.DataVersion = version("new")
	if err := meta.Write(ctx, core.Batch{Hits: []core.KeyID{listed[1].ID()}, Entries: []core.Entry{n2}, Now: later}); err != nil {
		t.Fatal(err)
	}
	if err := meta.Delete(ctx, listed[3].ID()); err != nil {
		t.Fatal(err)
	}
	done, err := meta.RemoveEntries(ctx, listed)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(done, []core.KeyID{listed[0].ID()}) {
		t.Fatalf("removed %v, want only n0 (%s)", done, listed[0].ID())
	}
	for i, want := range []bool{false, true, true, false} {
		_, err := meta.Get(ctx, listed[i].ID())
		if (err == nil) != want {
			t.Errorf("entry n%d: Get err %v, want present %v", i, err, want)
		}
	}
}

// RemoveResults deletes pending, inline and file results at once; a
// missing one is not an error.
func TestRemoveResults(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	inline := core.ResultID{Version: version("inline"), Format: "gob"}
	pending := core.ResultID{Version: version("pending"), Format: "gob"}
	file := core.ResultID{Version: version("file"), Format: "gob"}
	kept := core.ResultID{Version: version("kept"), Format: "gob"}
	putBytes(t, st.Results(), inline, []byte("a"))
	putBytes(t, st.Results(), kept, []byte("b"))
	if err := st.Results().FlushResults(ctx); err != nil {
		t.Fatal(err)
	}
	putBytes(t, st.Results(), pending, []byte("c"))
	putBytes(t, st.Results(), file, bytes.Repeat([]byte("d"), 64<<10))
	missing := core.ResultID{Version: version("missing"), Format: "gob"}
	if err := st.Results().RemoveResults(ctx, []core.ResultID{inline, pending, file, missing}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[core.ResultID]bool{inline: false, pending: false, file: false, kept: true} {
		if ok, err := st.Results().Exists(ctx, id); err != nil || ok != want {
			t.Errorf("%s: exists %v (%v), want %v", id, ok, err, want)
		}
	}
	if err := st.Results().FlushResults(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.Results().Exists(ctx, pending); ok {
		t.Error("a removed pending result was flushed")
	}
}

// Listing result files while a run writes new ones (temporary files renamed
// into place) never fails.
func TestWalkResultsWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writer := openStore(t, dir)
	reader := openStore(t, dir)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		payload := bytes.Repeat([]byte("w"), 20<<10)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := core.ResultID{Version: version(fmt.Sprint("w", i)), Format: "gob"}
			if _, err := writer.Results().Put(ctx, id, func(w io.Writer) error { _, err := w.Write(payload); return err }); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	deadline := time.Now().Add(time.Second)
	walks := 0
	for time.Now().Before(deadline) {
		if err := reader.Results().WalkResults(ctx, func(core.ResultInfo) error { return nil }); err != nil {
			close(stop)
			<-done
			t.Fatalf("walk %d while writing: %v", walks, err)
		}
		walks++
	}
	close(stop)
	<-done
}
