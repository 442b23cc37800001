package local_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
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
