package tier_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/backends/tier"
	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/conformance/scenarios"
	"github.com/flowcache/flowcache/core"
)

// counting is a remote result store that counts the reads and writes the
// tier sends it.
type counting struct {
	*mem.ResultStore
	gets, puts atomic.Int64
}

func (c *counting) Get(ctx context.Context, id core.ResultID) (io.ReadCloser, error) {
	c.gets.Add(1)
	return c.ResultStore.Get(ctx, id)
}

func (c *counting) GetVerified(ctx context.Context, id core.ResultID) (io.ReadCloser, error) {
	c.gets.Add(1)
	return c.ResultStore.GetVerified(ctx, id)
}

func (c *counting) Put(ctx context.Context, id core.ResultID, write func(io.Writer) error) (int64, error) {
	c.puts.Add(1)
	return c.ResultStore.Put(ctx, id, write)
}

func newRemote() *counting { return &counting{ResultStore: mem.NewResultStore()} }

func open(t *testing.T, dir string, remote core.ResultStore, opts ...tier.Option) *tier.Store {
	t.Helper()
	s, err := tier.Open(context.Background(), dir, remote, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if s.LocalErr() != nil {
		t.Fatalf("local tier not opened: %v", s.LocalErr())
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func id(v string) core.ResultID {
	return core.ResultID{Version: core.DataVersion(strings.Repeat(v, 64/len(v))), Format: "gob"}
}

func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

func put(t *testing.T, s core.ResultStore, id core.ResultID, data []byte) {
	t.Helper()
	if _, err := s.Put(context.Background(), id, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}); err != nil {
		t.Fatalf("Put %s: %v", id, err)
	}
}

func read(s core.ResultStore, id core.ResultID) ([]byte, error) {
	rc, err := core.GetVerified(context.Background(), s, id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func mustRead(t *testing.T, s core.ResultStore, id core.ResultID, want []byte) {
	t.Helper()
	got, err := read(s, id)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %s: %d bytes (equal %v), %v", id, len(got), bytes.Equal(got, want), err)
	}
}

func localHas(t *testing.T, s *tier.Store, id core.ResultID) bool {
	t.Helper()
	ok, err := s.Local().Exists(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestReadThrough(t *testing.T) {
	remote := newRemote()
	data := payload(300_000, 1)
	a := id("a1")
	put(t, remote.ResultStore, a, data)

	s := open(t, t.TempDir(), remote)
	mustRead(t, s, a, data)
	if got := remote.gets.Load(); got != 1 {
		t.Fatalf("first read sent %d reads to the remote, want 1", got)
	}
	if !localHas(t, s, a) {
		t.Fatal("first read kept no local copy")
	}
	for range 3 {
		mustRead(t, s, a, data)
	}
	if got := remote.gets.Load(); got != 1 {
		t.Errorf("reads of a local copy sent %d reads to the remote, want 1 in all", got)
	}
	// Get is verified too, and local.
	rc, err := s.Get(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) || remote.gets.Load() != 1 {
		t.Errorf("Get: %d bytes, %v, %d remote reads", len(got), err, remote.gets.Load())
	}
}

func TestWriteThrough(t *testing.T) {
	remote := newRemote()
	s := open(t, t.TempDir(), remote)
	data := payload(100_000, 2)
	b := id("b2")
	put(t, s, b, data)
	mustRead(t, remote.ResultStore, b, data)
	if !localHas(t, s, b) {
		t.Fatal("Put kept no local copy")
	}
	mustRead(t, s, b, data)
	if got := remote.gets.Load(); got != 0 {
		t.Errorf("reading what this tier wrote sent %d reads to the remote, want 0", got)
	}
	// A second tier directory, as on another machine: read from the
	// remote once.
	other := open(t, t.TempDir(), remote)
	mustRead(t, other, b, data)
	mustRead(t, other, b, data)
	if got := remote.gets.Load(); got != 1 {
		t.Errorf("another tier read the remote %d times, want 1", got)
	}
}

func TestPutFailsStoresNothing(t *testing.T) {
	remote := newRemote()
	s := open(t, t.TempDir(), remote)
	c := id("c3")
	boom := errors.New("boom")
	_, err := s.Put(context.Background(), c, func(w io.Writer) error {
		w.Write(payload(50_000, 3))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Put = %v, want boom", err)
	}
	if ok, _ := remote.Exists(context.Background(), c); ok {
		t.Error("a failed Put stored the result remotely")
	}
	if localHas(t, s, c) {
		t.Error("a failed Put stored the result locally")
	}
}

// damage flips a byte in the middle of the local file of id.
func damage(t *testing.T, s *tier.Store, id core.ResultID) {
	t.Helper()
	p := filepath.Join(s.Dir(), local.ResultsDir, filepath.FromSlash(s.Local().Files().Key(id)))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDamagedLocalCopyIsRepaired(t *testing.T) {
	remote := newRemote()
	s := open(t, t.TempDir(), remote)
	data := payload(200_000, 4)
	d := id("d4")
	put(t, s, d, data)
	damage(t, s, d)
	mustRead(t, s, d, data)
	if got := remote.gets.Load(); got != 1 {
		t.Fatalf("damaged local copy: %d remote reads, want 1", got)
	}
	// Repaired: the next read is local.
	mustRead(t, s, d, data)
	if got := remote.gets.Load(); got != 1 {
		t.Errorf("after the repair: %d remote reads, want still 1", got)
	}
	if _, err := read(s.Local(), d); err != nil {
		t.Errorf("local copy after the repair: %v", err)
	}
}

func TestDamagedRemoteStoresNothing(t *testing.T) {
	remote := newRemote()
	s := open(t, t.TempDir(), remote)
	e := id("e5")
	put(t, remote.ResultStore, e, payload(100_000, 5))
	ctx := context.Background()
	key := remote.Key(e)
	b, err := remote.Bucket().ReadAll(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := remote.Bucket().WriteAll(ctx, key, b, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := read(s, e); !errors.Is(err, core.ErrCorrupt) {
		t.Fatalf("damaged remote result: %v, want ErrCorrupt", err)
	}
	if localHas(t, s, e) {
		t.Error("a damaged remote result was kept locally")
	}
	if _, err := read(s, id("f6")); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("missing result: %v, want ErrNotFound", err)
	}
}

func TestEvictLeastRecentlyUsed(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	remote := newRemote()
	const size = 100_000
	// Room for 4 results (with 93 bytes of header and trailer each), even
	// within 90% of it, not for 5.
	s := open(t, t.TempDir(), remote, tier.WithMaxSize(450_000), tier.WithClock(clock))
	ids := []core.ResultID{id("01"), id("02"), id("03"), id("04")}
	for i, r := range ids {
		put(t, s, r, payload(size, byte(i)))
		advance(time.Hour)
	}
	// Use the first one: it becomes the most recently used.
	mustRead(t, s, ids[0], payload(size, 0))
	advance(time.Hour)
	put(t, s, id("05"), payload(size, 5))

	for _, c := range []struct {
		id   core.ResultID
		kept bool
	}{{ids[0], true}, {ids[1], false}, {ids[2], true}, {ids[3], true}, {id("05"), true}} {
		if got := localHas(t, s, c.id); got != c.kept {
			t.Errorf("%s kept = %v, want %v", c.id.Version.Short(), got, c.kept)
		}
	}
	rep, err := s.Evict(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Bytes > s.MaxSize() || len(rep.Removed) != 0 {
		t.Errorf("after eviction: %d bytes in the tier (max %d), Evict removed %d more", rep.Bytes, s.MaxSize(), len(rep.Removed))
	}
	// Never from the remote.
	for i, r := range append(ids, id("05")) {
		if ok, err := remote.Exists(context.Background(), r); !ok || err != nil {
			t.Errorf("result %d gone from the remote: %v, %v", i, ok, err)
		}
	}
	// An evicted result is read from the remote again.
	mustRead(t, s, ids[1], payload(size, 1))
}

func TestEvictKeepsUnderMax(t *testing.T) {
	remote := newRemote()
	const max = 1 << 20
	s := open(t, t.TempDir(), remote, tier.WithMaxSize(max))
	for i := range 40 {
		put(t, s, id(string(rune('a'+i%26))+string(rune('a'+i/26))), payload(100_000, byte(i)))
	}
	var total int64
	err := s.Local().WalkResults(context.Background(), func(ri core.ResultInfo) error {
		total += ri.Size
		return nil
	})
	if err != nil || total > max {
		t.Errorf("tier holds %d bytes after 4 MB of writes (max %d): %v", total, max, err)
	}
	// A result larger than the maximum is served, and not kept.
	big := payload(2*max, 9)
	put(t, remote.ResultStore, id("zz"), big)
	mustRead(t, s, id("zz"), big)
	if localHas(t, s, id("zz")) {
		t.Error("a result larger than the maximum was kept")
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestLocalFaultFallsBack(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes read-only directories")
	}
	remote := newRemote()
	dir := t.TempDir()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	s := open(t, dir, remote, tier.WithLogger(logger))
	data := payload(100_000, 7)
	put(t, s, id("77"), data)
	// The results directory becomes read-only (as a full disk refuses
	// writes): writes and reads still work, through the remote.
	results := filepath.Join(dir, local.ResultsDir)
	if err := filepath.WalkDir(results, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			err = os.Chmod(p, 0o500)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.WalkDir(results, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o700)
			}
			return nil
		})
	})
	for i := range 3 {
		other := payload(100_000, byte(10+i))
		r := id(string(rune('p' + i)))
		put(t, s, r, other)
		mustRead(t, s, r, other)
		mustRead(t, remote.ResultStore, r, other)
	}
	// A result only in the remote: read through, not kept.
	put(t, remote.ResultStore, id("88"), data)
	mustRead(t, s, id("88"), data)
	mustRead(t, s, id("77"), data)
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
}

func TestUnopenableDirectoryPassesThrough(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	remote := newRemote()
	s, err := tier.Open(context.Background(), filepath.Join(file, "tier"), remote, tier.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.LocalErr() == nil || s.Local() != nil {
		t.Fatalf("a directory under a file opened: %v", s.LocalErr())
	}
	data := payload(1000, 1)
	put(t, s, id("99"), data)
	mustRead(t, s, id("99"), data)
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("no warning: %s", logs.String())
	}
}

func TestCapabilities(t *testing.T) {
	remote := mem.NewResultStore()
	s := open(t, t.TempDir(), remote)
	checked := core.CheckResults(s)
	if vg, ok := core.As[core.VerifiedGetter](checked); !ok || vg != core.VerifiedGetter(s) {
		t.Errorf("VerifiedGetter of a checked tier = %T, %v; want the tier", vg, ok)
	}
	if w, ok := core.As[core.ResultWalker](checked); !ok || w != core.ResultWalker(remote) {
		t.Errorf("ResultWalker of a tier = %T, %v; want the remote store's", w, ok)
	}
	if _, ok := core.As[core.LogStore](checked); !ok {
		t.Error("a tier over mem hides the remote's LogStore")
	}
}

func TestConformance(t *testing.T) {
	var last *tier.Store
	var remote *mem.ResultStore
	calls := 0
	conformance.TestResultStore(t, func(t *testing.T) core.ResultStore {
		remote = mem.NewResultStore()
		s, err := tier.Open(context.Background(), t.TempDir(), remote)
		if err != nil {
			t.Fatal(err)
		}
		last = s
		return s
	}, func(t *testing.T, id core.ResultID) {
		// Both copies damaged: nothing good is left anywhere.
		ctx := context.Background()
		key := remote.Key(id)
		b, err := remote.Bucket().ReadAll(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		calls++
		switch calls % 3 {
		case 0:
			b = b[:len(b)-1]
		case 1:
			b[len(b)/2] ^= 0x40
		case 2:
			b = append(b, 0)
		}
		if err := remote.Bucket().WriteAll(ctx, key, b, nil); err != nil {
			t.Fatal(err)
		}
		damage(t, last, id)
	})
}

// TestScenarios runs the end-to-end scenarios (through the driver) on a
// memory store whose results have a tier in front.
func TestScenarios(t *testing.T) {
	scenarios.TestScenarios(t, func(t *testing.T) (core.MetadataStore, core.ResultStore) {
		st := mem.Open()
		t.Cleanup(func() { st.Close() })
		return st.Metadata(), open(t, t.TempDir(), st.Results())
	})
}

// TestSharedDirectory: several Stores (as several processes would) share
// one directory and one remote, reading and writing the same results at
// once while a small maximum keeps evicting: every read returns the right
// bytes, and the directory ends under its maximum.
func TestSharedDirectory(t *testing.T) {
	remote := newRemote()
	dir := t.TempDir()
	const size, results, max = 60_000, 12, 300_000
	stores := make([]*tier.Store, 4)
	for i := range stores {
		stores[i] = open(t, dir, remote, tier.WithMaxSize(max))
	}
	ids := make([]core.ResultID, results)
	for i := range ids {
		ids[i] = id(string(rune('A'+i)) + "x")
	}
	var wg sync.WaitGroup
	for w, s := range stores {
		wg.Go(func() {
			for round := range 3 {
				for k := range ids {
					i := (k + w*3 + round) % results
					if (i+w)%2 == 0 {
						put(t, s, ids[i], payload(size, byte(i)))
						continue
					}
					got, err := read(s, ids[i])
					if errors.Is(err, core.ErrNotFound) {
						continue // not written yet
					}
					if err != nil || !bytes.Equal(got, payload(size, byte(i))) {
						t.Errorf("store %d, result %d: %d bytes (right %v), %v", w, i, len(got), bytes.Equal(got, payload(size, byte(i))), err)
					}
				}
			}
		})
	}
	wg.Wait()
	// Each Store saw the others' writes within a tenth of the maximum of
	// its own.
	rep, err := stores[0].Evict(context.Background())
	if err != nil || rep.Bytes > max+int64(len(stores))*(max/10+size+200) {
		t.Errorf("directory after the runs: %d bytes (max %d), %v", rep.Bytes, max, err)
	}
	if left := rep.Bytes - rep.RemovedBytes; left > max {
		t.Errorf("Evict left %d bytes (max %d)", left, max)
	}
	for i, r := range ids {
		mustRead(t, stores[i%len(stores)], r, payload(size, byte(i)))
	}
}

// TestConcurrentReadsDownloadOnce: goroutines reading one result at once
// (a fan-out's tasks reading one input) download it once.
func TestConcurrentReadsDownloadOnce(t *testing.T) {
	remote := newRemote()
	data := payload(4<<20, 3)
	r := id("c0")
	put(t, remote.ResultStore, r, data)
	s := open(t, t.TempDir(), remote)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, err := read(s, r)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("read: %d bytes, %v", len(got), err)
			}
		})
	}
	wg.Wait()
	if n := remote.gets.Load(); n != 1 {
		t.Errorf("8 concurrent reads sent %d reads to the remote, want 1", n)
	}
}
