package local

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats"
)

// mappedSnapshot writes n entries through a, each with an inline result,
// preloads them (which keeps their snapshot), and returns the path of the
// snapshot file, the entries and results it holds, and an index of it read
// by b, skipping when the system does not map files.
func mappedSnapshot(t *testing.T, n int) (path string, x *snapIndex, want map[core.KeyID]core.Entry, results map[core.ResultID][]byte) {
	t.Helper()
	ctx := t.Context()
	a, b := openTwo(t)
	r, err := newResults(ctx, a, nil, "", DefaultInlineLimit)
	if err != nil {
		t.Fatal(err)
	}
	batch := snapBatch(0, n, "aa")
	results = map[core.ResultID][]byte{}
	for _, e := range batch.Entries {
		id := core.ResultID{Version: e.DataVersion, Format: e.Format}
		results[id] = []byte("the result of " + e.Key.Node)
		if _, err := r.Put(ctx, id, func(w io.Writer) error { _, err := w.Write(results[id]); return err }); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.FlushResults(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	nodes := snapNodes(n)
	want, err = a.Preload(ctx, nodes)
	if err != nil {
		t.Fatal(err)
	}
	names, _ := nodeList(nodes)
	path = filepath.Join(b.snapDir, snapshotKey(names))
	x, ok := b.readSnapshot(snapshotKey(names))
	if !ok {
		t.Fatal("no snapshot")
	}
	if !x.mapped {
		x.close()
		t.Skip("snapshots are not mapped on " + runtime.GOOS)
	}
	return path, x, want, results
}

// TestSnapshotTruncatedUnderIndex truncates a snapshot file under a live
// index: every lookup, result and preloaded read misses from then on (the
// fault is caught, the index acts as empty), never a crash or a wrong
// value.
func TestSnapshotTruncatedUnderIndex(t *testing.T) {
	for _, size := range []int64{0, 4096} {
		t.Run(fmt.Sprint("to ", size), func(t *testing.T) {
			path, x, want, results := mappedSnapshot(t, 300)
			for id, w := range want {
				if got, ok := x.Lookup(id); !ok || got.DataVersion != w.DataVersion {
					t.Fatalf("before: Lookup(%s) = %v, %v", id, got, ok)
				}
			}
			if err := os.Truncate(path, size); err != nil {
				t.Fatal(err)
			}
			// Some lookups may still read pages the file kept; each one
			// that finds an entry finds it right, and once one faults,
			// the index is empty.
			for id, w := range want {
				if got, ok := x.Lookup(id); ok && (got.DataVersion != w.DataVersion || got.Format != w.Format) {
					t.Fatalf("after: Lookup(%s) = %v, want %v", id, got, w)
				}
			}
			if !x.reads.Broken() || x.Len() != 0 {
				t.Fatalf("after the truncation: broken %v, Len %d", x.reads.Broken(), x.Len())
			}
			for id := range want {
				if got, ok := x.Lookup(id); ok {
					t.Fatalf("a broken index found %s: %v", id, got)
				}
			}
			for id := range results {
				if got, ok := x.result(id); ok {
					t.Fatalf("a broken index found the result %v: %q", id, got.data)
				}
			}
			if p := x.preloaded(); len(p.entries) != 0 || len(p.results) != 0 {
				t.Fatalf("a broken index preloaded %d entries", len(p.entries))
			}
		})
	}
}

// TestSnapshotFaultBreaksIndex truncates the file before anything read it
// after decoding: the first lookup, result or preload faults, inside the
// guard.
func TestSnapshotFaultBreaksIndex(t *testing.T) {
	for _, read := range []string{"lookup", "result", "preloaded"} {
		t.Run(read, func(t *testing.T) {
			path, x, want, results := mappedSnapshot(t, 50)
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			switch read {
			case "lookup":
				for id := range want {
					if _, ok := x.Lookup(id); ok {
						t.Fatal("found")
					}
					break
				}
			case "result":
				for id := range results {
					if _, ok := x.result(id); ok {
						t.Fatal("found")
					}
					break
				}
			case "preloaded":
				if p := x.preloaded(); len(p.entries) != 0 {
					t.Fatal("found")
				}
			}
			if !x.reads.Broken() {
				t.Fatal("the index read a truncated file without a fault")
			}
		})
	}
}

// mapsOf returns the lines of /proc/self/maps that map path; false when the
// system has no such file.
func mapsOf(t *testing.T, path string) (int, bool) {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, false
	}
	n := 0
	for line := range strings.Lines(string(b)) {
		if strings.HasSuffix(strings.TrimSpace(line), path) || strings.Contains(line, path+" (deleted)") {
			n++
		}
	}
	return n, true
}

// TestSnapshotCopiesOut checks that nothing an index hands out points
// into the mapping: the data versions of lookups, the bytes of results and
// preloaded's maps read the same after the file is rewritten in place,
// truncated, and unmapped once the index is collected (a string over the
// mapping would change with the file, or fault).
func TestSnapshotCopiesOut(t *testing.T) {
	path, x, want, results := mappedSnapshot(t, 300)
	got := map[core.KeyID]core.Entry{}
	for id := range want {
		e, ok := x.Lookup(id)
		if !ok {
			t.Fatalf("Lookup(%s) found nothing", id)
		}
		got[id] = e
	}
	gotRes := map[core.ResultID]warmResult{}
	for id := range results { // by scan, then through the map
		r, ok := x.result(id)
		if !ok {
			t.Fatalf("result(%v) found nothing", id)
		}
		gotRes[id] = r
	}
	pre := x.preloaded()
	check := func(when string) {
		t.Helper()
		if !sameEntries(got, want) || !sameEntries(pre.entries, want) {
			t.Fatalf("%s: entries handed out changed", when)
		}
		for id, w := range results {
			if r := gotRes[id]; !bytes.Equal(r.data, w) || r.crc != inlineCRC(id, w) {
				t.Fatalf("%s: result %v reads %q, want %q", when, id, r.data, w)
			}
			if r := pre.results[id]; !bytes.Equal(r.data, w) {
				t.Fatalf("%s: preloaded result %v reads %q, want %q", when, id, r.data, w)
			}
		}
	}
	check("read")
	size := len(x.file.Bytes())
	// Rewritten in place, same size (O_TRUNC and a write: the mapped
	// pages are the file's, so they read the new bytes).
	if err := os.WriteFile(path, bytes.Repeat([]byte("z"), size), 0o644); err != nil {
		t.Fatal(err)
	}
	if b := x.file.Bytes(); b[0] != 'z' || b[size-1] != 'z' {
		t.Fatal("the mapping does not read the rewritten file")
	}
	check("file rewritten in place")
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	check("file truncated")
	// The index collected: its cleanup unmaps the file.
	n, ok := mapsOf(t, path)
	if ok && n == 0 {
		t.Fatal("the snapshot is not in /proc/self/maps")
	}
	x = nil
	deadline := time.Now().Add(10 * time.Second)
	for ok && n > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the snapshot is still mapped %d times after its index was collected", n)
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
		n, _ = mapsOf(t, path)
	}
	check("index collected and unmapped")
}

// TestSnapshotTruncatedRun truncates the snapshot of a warm run's nodes
// halfway through the run: the rest of its lookups and result loads miss
// (the nodes are executed), and the run's values are right.
func TestSnapshotTruncatedRun(t *testing.T) {
	const n = 200
	ctx := context.Background()
	st, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := core.New(st.Metadata(), st.Results())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	specs := make([]*core.NodeSpec, n)
	names := make([]string, n)
	for i := range specs {
		names[i] = "node_" + strconv.Itoa(i)
		specs[i] = &core.NodeSpec{Name: names[i], CodeVersion: core.CodeVersion("code" + strconv.Itoa(i)), Format: formats.Gob(), Type: reflect.TypeFor[int]()}
	}
	inc := func(ctx context.Context, args []any) (any, error) { return args[0].(int) + 1, nil }
	run := func(truncate bool) (retrieved, executed int) {
		r, err := c.BeginRun(ctx, names...)
		if err != nil {
			t.Fatal(err)
		}
		v, err := r.Node(ctx, specs[0], "", nil, func(context.Context, []any) (any, error) { return 0, nil })
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < n; i++ {
			if truncate && i == n/2 {
				snaps, err := filepath.Glob(filepath.Join(st.Metadata().snapDir, "*"))
				if err != nil || len(snaps) != 1 {
					t.Fatalf("snapshots %v, %v", snaps, err)
				}
				if err := os.Truncate(snaps[0], 0); err != nil {
					t.Fatal(err)
				}
			}
			if v, err = r.Node(ctx, specs[i], "", []*core.Value{v}, inc); err != nil {
				t.Fatal(err)
			}
		}
		got, err := v.Get(ctx)
		if err != nil || got != n-1 {
			t.Fatalf("the last node's value is %v, %v; want %d", got, err, n-1)
		}
		if err := r.End(ctx); err != nil {
			t.Fatal(err)
		}
		for _, o := range r.Outcomes() {
			switch o {
			case core.OutcomeRetrieved:
				retrieved++
			case core.OutcomeExecuted:
				executed++
			}
		}
		return retrieved, executed
	}
	run(false) // fills the cache
	run(false) // preloads from the rows, keeps the snapshot
	if got, _ := run(false); got != n {
		t.Fatalf("a warm run retrieved %d nodes of %d", got, n)
	}
	retrieved, executed := run(true)
	if retrieved+executed != n || executed == 0 || retrieved < n/2 {
		t.Fatalf("with the snapshot truncated halfway: %d retrieved, %d executed of %d", retrieved, executed, n)
	}
	t.Logf("with the snapshot truncated halfway: %d retrieved, %d executed", retrieved, executed)
}

// BenchmarkSnapshotLookup looks up every entry of a snapshot of 1000: in
// the heap (as it was read before) and mapped (a guard and a copy of the
// data version each).
func BenchmarkSnapshotLookup(b *testing.B) {
	p := &preloaded{entries: map[core.KeyID]core.Entry{}, results: map[core.ResultID]warmResult{}}
	var ids []core.KeyID
	for i := range 1000 {
		id := snapKey(i).ID()
		ids = append(ids, id)
		p.entries[id] = core.Entry{DataVersion: core.DataVersion(fmt.Sprintf("%064x", i)), Format: "gob", LastUsed: time.Unix(0, int64(i))}
	}
	enc := encodeSnapshot(1, p)
	path := filepath.Join(b.TempDir(), "snap")
	if err := os.WriteFile(path, enc, 0o644); err != nil {
		b.Fatal(err)
	}
	for _, mapped := range []bool{false, true} {
		b.Run(fmt.Sprint("mapped=", mapped), func(b *testing.B) {
			var x *snapIndex
			var err error
			if mapped {
				_, x, err = openIndex(path)
			} else {
				_, x, err = decodeIndex(enc)
			}
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, ok := x.Lookup(ids[i%len(ids)]); !ok {
					b.Fatal("miss")
				}
				i++
			}
		})
	}
}
