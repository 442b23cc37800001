package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/core/fingerprint"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/formats"
)

// verifyAtEnd is a result reader like Get's: it hands over its bytes and
// reports damage with the last of them (n > 0 and an error), then sticks to
// the error.
type verifyAtEnd struct {
	data  []byte
	off   int
	chunk int
	bad   bool
}

var errDamaged = fmt.Errorf("%w: checksum mismatch", core.ErrCorrupt)

func (v *verifyAtEnd) Read(p []byte) (int, error) {
	if v.off == len(v.data) {
		if v.bad {
			return 0, errDamaged
		}
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), v.chunk)], v.data[v.off:])
	v.off += n
	if v.off == len(v.data) && v.bad {
		return n, errDamaged
	}
	return n, nil
}

func randomData(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 7})
	_, _ = r.Read(b)
	return b
}

// ReadVerified hands over every byte, from memory or from a spool file,
// with or without a known size, and nothing of a reader that fails at its
// end.
func TestReadVerified(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 100, 64 << 10, 64<<10 + 1, core.SpoolMemory, core.SpoolMemory + 1, 3*core.SpoolMemory + 17} {
		data := randomData(n, uint64(n))
		for _, known := range []bool{false, true} {
			size := int64(-1)
			if known {
				size = int64(n)
			}
			name := fmt.Sprintf("%d bytes, size known %v", n, known)
			rc, err := core.ReadVerified(&verifyAtEnd{data: data, chunk: 1000}, size, dir)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			// A spool file is unlinked at once (on Unix): nothing in dir.
			if ents, _ := os.ReadDir(dir); runtime.GOOS != "windows" && len(ents) != 0 {
				t.Errorf("%s: %d files left in the spool directory while reading", name, len(ents))
			}
			got, err := io.ReadAll(rc)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("%s: read back %d bytes (equal %v), %v", name, len(got), bytes.Equal(got, data), err)
			}
			if ra, ok := rc.(io.ReaderAt); !ok {
				t.Errorf("%s: %T is not an io.ReaderAt", name, rc)
			} else if n > 10 {
				b := make([]byte, 10)
				if _, err := ra.ReadAt(b, int64(n-10)); err != nil || !bytes.Equal(b, data[n-10:]) {
					t.Errorf("%s: ReadAt of the last 10 bytes: %v", name, err)
				}
			}
			if err := rc.Close(); err != nil {
				t.Errorf("%s: Close: %v", name, err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("%s: %d files left in the spool directory after Close", name, len(ents))
			}

			// The same bytes, damaged: no reader, the store's error.
			rc, err = core.ReadVerified(&verifyAtEnd{data: data, chunk: 1000, bad: true}, size, dir)
			if !errors.Is(err, core.ErrCorrupt) || rc != nil {
				t.Errorf("%s, damaged: %v, %v; want no reader and ErrCorrupt", name, rc, err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("%s, damaged: %d files left in the spool directory", name, len(ents))
			}
		}
	}
	// A spool directory that cannot hold the file: an error, not a panic.
	_, err := core.ReadVerified(&verifyAtEnd{data: randomData(core.SpoolMemory+1, 1), chunk: 1 << 16}, -1, dir+"/missing")
	if err == nil || !strings.Contains(err.Error(), "spooling") {
		t.Errorf("spool into a missing directory: %v", err)
	}
}

// Reading a large result through the spool costs the spool's memory, not
// the result's size.
func TestReadVerifiedMemory(t *testing.T) {
	const size = 64 << 20
	src := &zeroReader{n: size}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rc, err := core.ReadVerified(src, -1, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	rc.Close()
	runtime.ReadMemStats(&after)
	if err != nil || n != size {
		t.Fatalf("read %d bytes, %v", n, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 3*core.SpoolMemory+1<<20 {
		t.Errorf("spooling %d MiB allocated %d MiB", size>>20, alloc>>20)
	}
}

type zeroReader struct{ n int }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), z.n)
	clear(p[:k])
	z.n -= k
	return k, nil
}

// plainResults hides every optional interface of a result store: a
// third-party store that offers Get only.
type plainResults struct{ s core.ResultStore }

func (p plainResults) Put(ctx context.Context, id core.ResultID, w func(io.Writer) error) (int64, error) {
	return p.s.Put(ctx, id, w)
}
func (p plainResults) Get(ctx context.Context, id core.ResultID) (io.ReadCloser, error) {
	return p.s.Get(ctx, id)
}
func (p plainResults) Exists(ctx context.Context, id core.ResultID) (bool, error) {
	return p.s.Exists(ctx, id)
}
func (p plainResults) Delete(ctx context.Context, id core.ResultID) error { return p.s.Delete(ctx, id) }
func (p plainResults) DeleteAll(ctx context.Context) error                { return p.s.DeleteAll(ctx) }
func (p plainResults) Close() error                                       { return p.s.Close() }

// countingFormat is gob, counting the calls of Decode.
type countingFormat struct {
	core.Format
	decodes *atomic.Int64
}

func (f countingFormat) Name() string { return "counted-gob" }

func (f countingFormat) Decode(r io.Reader, t reflect.Type) (any, error) {
	f.decodes.Add(1)
	return f.Format.Decode(r, t)
}

func bigMap() map[string]int {
	m := make(map[string]int, 3000)
	for i := range 3000 {
		m[fmt.Sprint("key", i)] = i
	}
	return m
}

// A damaged result never reaches a decoder, through a store that verifies
// before handing bytes over and through a third-party store that only
// verifies at the end of Get's stream (spooled in core): the node is
// executed again, with the right value, and the damaged result is deleted.
func TestDecoderSeesOnlyVerifiedBytes(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprint("third-party store ", plain), func(t *testing.T) {
			ctx := context.Background()
			st := mem.Open()
			var results core.ResultStore = st.Results()
			if plain {
				results = plainResults{st.Results()}
			}
			var decodes atomic.Int64
			format := countingFormat{formats.Gob(), &decodes}
			build := func() *driver.Driver {
				dr, err := driver.NewBuilder().WithNodes(driver.Node("m", bigMap, driver.WithFormat(format))).
					WithCache(driver.CacheStores(st.Metadata(), results)).Build()
				if err != nil {
					t.Fatal(err)
				}
				return dr
			}
			dr := build()
			if _, err := dr.Execute(ctx, []string{"m"}, nil, nil); err != nil {
				t.Fatal(err)
			}
			dr.Close()
			var ids []core.ResultID
			if err := st.Results().Walk(ctx, func(id core.ResultID, _ int64) error {
				if id.Format == format.Name() {
					ids = append(ids, id)
				}
				return nil
			}); err != nil || len(ids) != 1 {
				t.Fatalf("results %v, %v", ids, err)
			}
			id := ids[0]

			// A warm run decodes the intact result once.
			dr = build()
			out, err := dr.Execute(ctx, []string{"m"}, nil, nil)
			if err != nil || !reflect.DeepEqual(out["m"], bigMap()) || decodes.Load() != 1 {
				t.Fatalf("warm run: %v, %d decodes", err, decodes.Load())
			}
			dr.Close()

			// Flip a bit in the payload (a third of the way in).
			b := st.Results().Bucket()
			key := st.Results().Key(id)
			obj, err := b.ReadAll(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			obj[len(obj)/3] ^= 0x10
			if err := b.WriteAll(ctx, key, obj, nil); err != nil {
				t.Fatal(err)
			}
			decodes.Store(0)
			dr = build()
			defer dr.Close()
			out, err = dr.Execute(ctx, []string{"m"}, nil, nil)
			if err != nil || !reflect.DeepEqual(out["m"], bigMap()) {
				t.Fatalf("run on the damaged result: %v", err)
			}
			if n := decodes.Load(); n != 0 {
				t.Errorf("the decoder ran %d times on a damaged result", n)
			}
			run, _ := dr.Cache().LastRunID(ctx)
			var executed []string
			for _, e := range dr.Cache().Events(slog.LevelDebug, run) {
				if e.Type == core.EventExecuteNode {
					executed = append(executed, e.Node)
				}
			}
			if !slices.Equal(executed, []string{"m"}) {
				t.Errorf("executed %v, want m", executed)
			}
			// Deleted and stored again: the object is whole.
			rc, err := core.GetVerified(ctx, results, id)
			if err != nil {
				t.Fatalf("result after the run: %v", err)
			}
			rc.Close()
		})
	}
}

// A valid result stored under another value's id (a buggy or hostile
// writer, checksum and header right) is a miss: the loaded value does not
// fingerprint as the id, the node executes again with the right value, and
// the object is deleted and stored anew.
func TestResultUnderAnotherIDIsAMiss(t *testing.T) {
	ctx := context.Background()
	st := mem.Open()
	build := func() *driver.Driver {
		dr, err := driver.NewBuilder().WithNodes(driver.Node("n", five), driver.Node("m", twice, "n")).
			WithCache(driver.CacheStores(st.Metadata(), st.Results())).Build()
		if err != nil {
			t.Fatal(err)
		}
		return dr
	}
	dr := build()
	if _, err := dr.Execute(ctx, []string{"m"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	dr.Close()
	idOf := func(v int) core.ResultID {
		sum, err := defaultSum(v)
		if err != nil {
			t.Fatal(err)
		}
		return core.ResultID{Version: sum, Format: "gob"}
	}
	id5 := idOf(5)
	// Store the gob encoding of 6 under the id of 5 (below).
	// Both ways a stored value is served: as a dependency of a node that
	// executes (m recomputed: Value.Get), and as a requested output
	// (Final).
	for _, outputs := range [][]string{{"m"}, {"n", "m"}} {
		if err := st.Results().Delete(ctx, id5); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Results().Put(ctx, id5, func(w io.Writer) error { return formats.Gob().Encode(w, 6) }); err != nil {
			t.Fatal(err)
		}
		opts := []driver.CacheOption{driver.CacheStores(st.Metadata(), st.Results())}
		if len(outputs) == 1 {
			opts = append(opts, driver.Recompute("m"))
		}
		dr, err := driver.NewBuilder().WithNodes(driver.Node("n", five), driver.Node("m", twice, "n")).WithCache(opts...).Build()
		if err != nil {
			t.Fatal(err)
		}
		out, err := dr.Execute(ctx, outputs, nil, nil)
		dr.Close()
		if err != nil || out["m"] != 10 || (len(outputs) == 2 && out["n"] != 5) {
			t.Fatalf("run of %v = %v, %v; want n=5 m=10", outputs, out, err)
		}
	}
	rc, err := st.Results().Get(ctx, id5)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	v, err := formats.Gob().Decode(rc, reflect.TypeFor[int]())
	if err != nil || v != 5 {
		t.Errorf("the object under the id of 5 now holds %v, %v; want it replaced by 5", v, err)
	}
}

func five() int { return 5 }

func defaultSum(v any) (core.DataVersion, error) {
	sum, err := fingerprint.Of(v)
	return core.DataVersion(sum.String()), err
}
