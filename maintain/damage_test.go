package maintain_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/flowcache/flowcache/backends/blobstore"
	"github.com/flowcache/flowcache/backends/local"
	_ "github.com/flowcache/flowcache/backends/s3"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/core/fingerprint"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/formats"
	"github.com/flowcache/flowcache/internal/allocguard"
	"github.com/flowcache/flowcache/internal/servertest"
	"github.com/flowcache/flowcache/maintain"
)

// MapA is a map of 3,000 keys, about 39 KB of gob.
func MapA() map[string]int {
	m := make(map[string]int, 3000)
	for i := range 3000 {
		m[fmt.Sprintf("key-%04d", i)] = i
	}
	return m
}

// MapB is another map of the same shape.
func MapB() map[string]int {
	m := MapA()
	for k, v := range m {
		m[k] = 2*v + 1
	}
	return m
}

// SmallA and SmallB are stored inline in metadata.db.
func SmallA() []int { return []int{1, 2, 3} }
func SmallB() []int { return []int{4, 5, 6, 7} }

// storeEnv is a cache under test, with raw access to the stored bytes of
// a result (what a bit flip, a stray copy or a hostile writer changes).
type storeEnv struct {
	name  string
	dir   string // a local cache directory
	open  func(t *testing.T) *core.Stores
	read  func(t *testing.T, id core.ResultID) []byte
	write func(t *testing.T, id core.ResultID, b []byte)
	// gone reports whether nothing is stored raw under id.
	gone func(t *testing.T, id core.ResultID) bool
	// payload is where the payload starts in the raw bytes of id.
	payload func(id core.ResultID) int
}

func blobHeader(id core.ResultID) int { return 14 + len(id.Version) + len(id.Format) }

// localFileEnv is a local cache directory that stores every result as a
// file.
func localFileEnv(t *testing.T) storeEnv {
	dir := t.TempDir()
	path := func(id core.ResultID) string {
		v := string(id.Version)
		return filepath.Join(dir, local.ResultsDir, v[:2], v+"."+id.Format)
	}
	return storeEnv{
		name: "local file",
		dir:  dir,
		open: func(t *testing.T) *core.Stores {
			st, err := local.Open(context.Background(), dir, local.WithInlineLimit(0))
			if err != nil {
				t.Fatal(err)
			}
			return &core.Stores{Metadata: st.Metadata(), Results: st.Results(), Close: st.Close}
		},
		read: func(t *testing.T, id core.ResultID) []byte {
			b, err := os.ReadFile(path(id))
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		write: func(t *testing.T, id core.ResultID, b []byte) {
			if err := os.WriteFile(path(id), b, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		gone: func(t *testing.T, id core.ResultID) bool {
			_, err := os.Lstat(path(id))
			return errors.Is(err, os.ErrNotExist)
		},
		payload: blobHeader,
	}
}

// localInlineEnv is a local cache directory with the default inline limit:
// small results are rows of metadata.db (data and crc columns).
func localInlineEnv(t *testing.T) storeEnv {
	dir := t.TempDir()
	db := func(t *testing.T) *sql.DB {
		d, err := sql.Open("sqlite", filepath.Join(dir, local.MetadataFile))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	return storeEnv{
		name: "local inline",
		open: func(t *testing.T) *core.Stores {
			st, err := local.Open(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			return &core.Stores{Metadata: st.Metadata(), Results: st.Results(), Close: st.Close}
		},
		// The raw bytes of an inline result: its crc (8 bytes) and data.
		read: func(t *testing.T, id core.ResultID) []byte {
			d := db(t)
			defer d.Close()
			var data []byte
			var crc int64
			if err := d.QueryRow(`SELECT data, crc FROM results WHERE version = ? AND format = ?`, string(id.Version), id.Format).Scan(&data, &crc); err != nil {
				t.Fatal(err)
			}
			return append(fmt.Appendf(nil, "%08x", crc), data...)
		},
		write: func(t *testing.T, id core.ResultID, b []byte) {
			d := db(t)
			defer d.Close()
			var crc int64
			if _, err := fmt.Sscanf(string(b[:8]), "%08x", &crc); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Exec(`INSERT OR REPLACE INTO results (version, format, data, crc, created) VALUES (?, ?, ?, ?, 0)`,
				string(id.Version), id.Format, b[8:], crc); err != nil {
				t.Fatal(err)
			}
		},
		gone: func(t *testing.T, id core.ResultID) bool {
			d := db(t)
			defer d.Close()
			var n int
			if err := d.QueryRow(`SELECT count(*) FROM results WHERE version = ? AND format = ?`, string(id.Version), id.Format).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n == 0
		},
		payload: func(core.ResultID) int { return 8 },
	}
}

// s3Env is a cache in a fresh bucket of the test S3 server (MinIO).
func s3Env(t *testing.T) storeEnv {
	url := servertest.S3URL(t, servertest.S3Bucket(t), "cache/")
	open := func(t *testing.T) *core.Stores {
		st, err := core.OpenURL(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// raw calls fn with the bucket and the object name of id.
	raw := func(t *testing.T, id core.ResultID, fn func(b *blob.Bucket, key string) error) {
		st := open(t)
		defer st.Close()
		bs := st.Results.(*blobstore.ResultStore)
		if err := fn(bs.Bucket(), bs.Key(id)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	return storeEnv{
		name:    "s3",
		open:    open,
		payload: blobHeader,
		read: func(t *testing.T, id core.ResultID) (b []byte) {
			raw(t, id, func(bk *blob.Bucket, key string) (err error) { b, err = bk.ReadAll(ctx, key); return err })
			return b
		},
		write: func(t *testing.T, id core.ResultID, b []byte) {
			raw(t, id, func(bk *blob.Bucket, key string) error { return bk.WriteAll(ctx, key, b, nil) })
		},
		gone: func(t *testing.T, id core.ResultID) (gone bool) {
			raw(t, id, func(bk *blob.Bucket, key string) error {
				ok, err := bk.Exists(ctx, key)
				gone = !ok
				return err
			})
			return gone
		},
	}
}

type envRun struct {
	out      driver.Results
	executed []string
	events   []core.Event
}

// runOn runs nodes on a fresh opening of env's stores.
func runOn(t *testing.T, env storeEnv, nodes []*driver.NodeDef, outputs ...string) envRun {
	t.Helper()
	st := env.open(t)
	defer st.Close()
	dr, err := driver.NewBuilder().WithNodes(nodes...).
		WithCache(driver.CacheStores(st.Metadata, st.Results), driver.CacheCoreOptions(core.WithManifestWait(time.Minute))).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	ctx := context.Background()
	out, err := dr.Execute(ctx, outputs, nil, nil)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	id, _ := dr.Cache().LastRunID(ctx)
	r := envRun{out: out, events: dr.Cache().Events(slog.LevelDebug, id)}
	for _, e := range r.events {
		if e.Type == core.EventExecuteNode {
			r.executed = append(r.executed, e.Node)
		}
	}
	return r
}

func resultIDOf(t *testing.T, v any) core.ResultID {
	t.Helper()
	sum, err := fingerprint.Of(v)
	if err != nil {
		t.Fatal(err)
	}
	return core.ResultID{Version: core.DataVersion(sum.String()), Format: "gob"}
}

// storedValue decodes what env holds under id (verified first).
func storedValue(t *testing.T, env storeEnv, id core.ResultID, typ reflect.Type) (any, error) {
	t.Helper()
	st := env.open(t)
	defer st.Close()
	rc, err := core.GetVerified(context.Background(), st.Results, id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return formats.Gob().Decode(rc, typ)
}

// The verify/gc half of TestGobMapCountBitFlip, on a real local cache: a map of 3,000 keys
// stored as a file, one bit flipped anywhere in its payload (the gob
// count prefix included), is a miss — the node executes again, the run
// returns the right value, the decoder never sees the bytes and nothing
// allocates beyond a small bound; `verify` lists the damaged result with
// its format and node, and evicting damaged results removes it.
func TestBitFlipInStoredMap(t *testing.T) {
	for _, mk := range []func(*testing.T) storeEnv{localFileEnv, s3Env} {
		env := mk(t)
		t.Run(env.name, func(t *testing.T) { testBitFlip(t, env) })
	}
}

func testBitFlip(t *testing.T, env storeEnv) {
	ctx := context.Background()
	nodes := []*driver.NodeDef{driver.Node("m", MapA)}
	runOn(t, env, nodes, "m")
	id := resultIDOf(t, MapA())
	orig := env.read(t, id)
	start := env.payload(id)
	payload := len(orig) - start - 8 - 4
	if payload < 30_000 {
		t.Fatalf("the map's payload is %d bytes, want about 39 KB", payload)
	}
	// The map's count, 3000 in gob: a byte saying "2 bytes follow", then
	// 0x0bb8. Flipping bit 1 of the first byte makes it "4 bytes follow":
	// a count of 196,609,131 entries, which gob allocates at once (the
	// crash a flipped bit once caused).
	count := bytes.Index(orig[start:], []byte{0xfe, 0x0b, 0xb8})
	if count < 0 {
		t.Fatal("the map's count is not in its gob encoding")
	}
	count += start
	// Every bit of the first 24 payload bytes (gob's type definition and
	// the map's count), then bytes across the rest of the payload and the
	// trailer.
	var flips []int // bit offsets in the raw bytes
	for bit := range 24 * 8 {
		flips = append(flips, start*8+bit)
	}
	for i := range 40 {
		at := start + 24 + i*(len(orig)-start-24)/40
		flips = append(flips, at*8+i%8)
	}
	flips = append(flips, (len(orig)-1)*8) // the checksum
	if testing.Short() || env.name != "local file" {
		flips = slices.DeleteFunc(flips, func(b int) bool { return b%5 != 0 && b/8 != count })
	}
	if !slices.Contains(flips, count*8+1) {
		t.Fatal("the lethal flip is not tested")
	}
	want := MapA()
	for _, bit := range flips {
		bad := bytes.Clone(orig)
		bad[bit/8] ^= 1 << (bit % 8)
		env.write(t, id, bad)
		var r envRun
		allocguard.Run(t, allocguard.Bound(len(orig), 64), func() { r = runOn(t, env, nodes, "m") })
		if !reflect.DeepEqual(r.out["m"], want) || !slices.Equal(r.executed, []string{"m"}) {
			t.Fatalf("bit %d flipped: executed %v, right value %v", bit, r.executed, reflect.DeepEqual(r.out["m"], want))
		}
		if got, err := storedValue(t, env, id, reflect.TypeFor[map[string]int]()); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("bit %d flipped: after the run the result holds %v", bit, err)
		}
	}

	// verify lists it; evicting damaged results removes it and its entry.
	bad := bytes.Clone(orig)
	bad[start+5] ^= 0x20 // in the count prefix
	env.write(t, id, bad)
	st := env.open(t)
	defer st.Close()
	ic := maintain.New(st.Metadata, st.Results)
	rep, err := ic.Verify(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 {
		t.Fatalf("verify found %+v, want the damaged map", rep.Problems)
	}
	p := rep.Problems[0]
	if p.Kind != maintain.ProblemCorrupt || p.Result != id.String() || p.Format != "gob" || !slices.Equal(p.Nodes, []string{"m"}) || !strings.Contains(p.Err, "checksum") {
		t.Errorf("verify: %+v, want the damaged result of m, format gob, with the checksum error", p)
	}
	ev, err := ic.Evict(ctx, maintain.Policy{Damaged: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Results) != 1 || ev.Results[0].Result != id.String() || ev.Results[0].Reason != maintain.EvictDamaged ||
		len(ev.Entries) != 1 || ev.Entries[0].Node != "m" || ev.Entries[0].Reason != maintain.EvictDamaged {
		t.Errorf("evict damaged: results %+v, entries %+v", ev.Results, ev.Entries)
	}
	if !env.gone(t, id) {
		t.Errorf("the damaged result is still stored after evicting it")
	}
	if rep, err := ic.Verify(ctx, nil); err != nil || !rep.OK() {
		t.Errorf("verify after evicting: %+v, %v", rep.Problems, err)
	}
	st.Close()
	if r := runOn(t, env, nodes, "m"); !reflect.DeepEqual(r.out["m"], want) || !slices.Equal(r.executed, []string{"m"}) {
		t.Errorf("run after evicting: executed %v", r.executed)
	}
}

// Content-addressed means checked: value A's stored bytes under value B's
// id — copied whole (the header or the inline CRC names A's id: caught
// before any decoder runs), or written by a writer that stored them under
// B's id with a valid checksum (caught when the loaded value does not
// fingerprint as B) — are a miss for B's node: executed again, the right
// value, and the bad object replaced.
func TestResultUnderAnotherValuesID(t *testing.T) {
	type setup struct {
		env  func(*testing.T) storeEnv
		a, b func() any
	}
	for _, s := range []setup{
		{localFileEnv, func() any { return MapA() }, func() any { return MapB() }},
		{localInlineEnv, func() any { return SmallA() }, func() any { return SmallB() }},
		{s3Env, func() any { return MapA() }, func() any { return MapB() }},
	} {
		for _, how := range []string{"copied", "rewritten"} {
			env := s.env(t)
			t.Run(env.name+"/"+how, func(t *testing.T) {
				ctx := context.Background()
				var nodes []*driver.NodeDef
				if _, ok := s.a().(map[string]int); ok {
					nodes = []*driver.NodeDef{driver.Node("a", MapA), driver.Node("b", MapB)}
				} else {
					nodes = []*driver.NodeDef{driver.Node("a", SmallA), driver.Node("b", SmallB)}
				}
				runOn(t, env, nodes, "a", "b")
				idA, idB := resultIDOf(t, s.a()), resultIDOf(t, s.b())
				switch how {
				case "copied":
					env.write(t, idB, env.read(t, idA))
				case "rewritten":
					st := env.open(t)
					if err := st.Results.Delete(ctx, idB); err != nil {
						t.Fatal(err)
					}
					if _, err := st.Results.Put(ctx, idB, func(w io.Writer) error { return formats.Gob().Encode(w, s.a()) }); err != nil {
						t.Fatal(err)
					}
					st.Close()
				}
				r := runOn(t, env, nodes, "a", "b")
				if !slices.Equal(r.executed, []string{"b"}) || !reflect.DeepEqual(r.out["b"], s.b()) || !reflect.DeepEqual(r.out["a"], s.a()) {
					t.Fatalf("executed %v; b right %v, a right %v", r.executed, reflect.DeepEqual(r.out["b"], s.b()), reflect.DeepEqual(r.out["a"], s.a()))
				}
				missed := false
				for _, e := range r.events {
					if e.Type == core.EventMissingResult && e.Node == "b" && strings.Contains(e.Value, "corrupt") {
						missed = true
					}
				}
				if !missed {
					t.Errorf("no missing_result event for b saying the result is corrupt")
				}
				got, err := storedValue(t, env, idB, reflect.TypeOf(s.b()))
				if err != nil || !reflect.DeepEqual(got, s.b()) {
					t.Errorf("B's id holds %v, %v after the run; want B's value stored again", got, err)
				}
			})
		}
	}
}

// validatingFormat is gob with a Validate that accepts what gob's own
// encoding of an int starts with and nothing else: a stand-in for the
// formats that check their bytes (colleagues' gob, zstd, json, csv,
// arrow and parquet validators).
type validatingFormat struct{ core.Format }

func (validatingFormat) Name() string { return "test-validating" }

func (validatingFormat) Validate(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(b) == 0 || bytes.Contains(b, []byte("HOSTILE")) {
		return fmt.Errorf("%w: hostile count at offset 3", core.ErrCorrupt)
	}
	return nil
}

// unregisteredFormat is gob under a name no Lookup knows.
type unregisteredFormat struct{ core.Format }

func (unregisteredFormat) Name() string { return "test-unregistered" }

func init() { formats.Register(validatingFormat{formats.Gob()}) }

func Number() int      { return 42 }
func OtherNumber() int { return 43 }
func ThirdNumber() int { return 44 }
func hostile(w io.Writer) error {
	_, err := w.Write([]byte("\x03HOSTILE bytes with a valid checksum"))
	return err
}

// verify reads results to their verified end and runs the format's
// Validate on the verified bytes: a crafted object with a valid checksum
// is reported with its format and reason, a result whose format is not
// registered is unverifiable (not fine), and evicting damaged results
// removes the hostile one only.
func TestVerifyValidatesFormats(t *testing.T) {
	ctx := context.Background()
	env := localFileEnv(t)
	nodes := []*driver.NodeDef{
		driver.Node("v", Number, driver.WithFormat(validatingFormat{formats.Gob()})),
		driver.Node("w", OtherNumber, driver.WithFormat(validatingFormat{formats.Gob()})),
		driver.Node("u", ThirdNumber, driver.WithFormat(unregisteredFormat{formats.Gob()})),
	}
	runOn(t, env, nodes, "v", "w", "u")
	st := env.open(t)
	defer st.Close()
	ic := maintain.New(st.Metadata, st.Results)
	rep, err := ic.Verify(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	idV := core.ResultID{Version: resultIDOf(t, 42).Version, Format: "test-validating"}
	idU := core.ResultID{Version: resultIDOf(t, 44).Version, Format: "test-unregistered"}
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != maintain.ProblemUnverifiable || rep.Problems[0].Result != idU.String() || !slices.Equal(rep.Problems[0].Nodes, []string{"u"}) {
		t.Fatalf("verify of a sound cache: %+v, want u's result unverifiable", rep.Problems)
	}
	if rep.Validated != rep.Results-0 || rep.Results != 3 { // v, w and the code manifests
		t.Errorf("verify: %d results, %d validated; want 3 and 3", rep.Results, rep.Validated)
	}

	// A hostile writer stores bytes with a valid checksum under v's id.
	if err := st.Results.Delete(ctx, idV); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Results.Put(ctx, idV, hostile); err != nil {
		t.Fatal(err)
	}
	rep, err = ic.Verify(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[maintain.ProblemKind]maintain.Problem{}
	for _, p := range rep.Problems {
		kinds[p.Kind] = p
	}
	p := kinds[maintain.ProblemCorrupt]
	if len(rep.Problems) != 2 || p.Result != idV.String() || p.Format != "test-validating" || !slices.Equal(p.Nodes, []string{"v"}) || !strings.Contains(p.Err, "hostile count at offset 3") {
		t.Fatalf("verify of a hostile object: %+v", rep.Problems)
	}
	ev, err := ic.Evict(ctx, maintain.Policy{Damaged: true, DryRun: true})
	if err != nil || len(ev.Results) != 1 || ev.Results[0].Result != idV.String() {
		t.Fatalf("evict damaged, dry run: %+v, %v", ev.Results, err)
	}
	if ok, _ := st.Results.Exists(ctx, idV); !ok {
		t.Fatalf("a dry run deleted the result")
	}
	ev, err = ic.Evict(ctx, maintain.Policy{Damaged: true})
	if err != nil || len(ev.Results) != 1 || ev.Results[0].Reason != maintain.EvictDamaged || len(ev.Entries) != 1 || ev.Entries[0].Node != "v" {
		t.Fatalf("evict damaged: %+v %+v, %v", ev.Results, ev.Entries, err)
	}
	if ok, _ := st.Results.Exists(ctx, idV); ok {
		t.Errorf("the hostile result is still stored")
	}
	if ok, _ := st.Results.Exists(ctx, idU); !ok {
		t.Errorf("the unverifiable result was deleted")
	}
	st.Close()
	if r := runOn(t, env, nodes, "v", "w", "u"); !slices.Equal(r.executed, []string{"v"}) || r.out["v"] != 42 {
		t.Errorf("run after evicting: executed %v, v = %v", r.executed, r.out["v"])
	}
}

// A directory at a result's path and a stale temporary file: verify
// reports both, evict --gc removes both (and the entry left dangling),
// and the next run stores the result again.
func TestVerifyAndGCDebris(t *testing.T) {
	ctx := context.Background()
	env := localFileEnv(t)
	nodes := []*driver.NodeDef{driver.Node("m", MapA)}
	runOn(t, env, nodes, "m")
	id := resultIDOf(t, MapA())
	v := string(id.Version)
	path := filepath.Join(env.dir, local.ResultsDir, v[:2], v+".gob")
	st := env.open(t)
	defer st.Close()
	res := st.Results.(*local.ResultStore)
	if _, err := res.FindDebris(ctx, local.StaleTempAge); err != nil { // the opening sweep is over
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(path, "inside"), 0o777); err != nil {
		t.Fatal(err)
	}
	temp := path + ".17d2f0a1b2c3d4e5.tmp"
	if err := os.WriteFile(temp, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * local.StaleTempAge)
	if err := os.Chtimes(temp, old, old); err != nil {
		t.Fatal(err)
	}
	ic := maintain.New(st.Metadata, st.Results)
	rep, err := ic.Verify(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[maintain.ProblemKind]maintain.Problem{}
	for _, p := range rep.Problems {
		got[p.Kind] = p
	}
	rel := v[:2] + "/" + v + ".gob"
	if len(rep.Problems) != 2 ||
		got[maintain.ProblemNotAFile].Path != rel || got[maintain.ProblemNotAFile].Result != id.String() || !slices.Equal(got[maintain.ProblemNotAFile].Nodes, []string{"m"}) ||
		got[maintain.ProblemStaleTemp].Path != rel+".17d2f0a1b2c3d4e5.tmp" {
		t.Fatalf("verify: %+v, want the directory at m's result path and the temporary file", rep.Problems)
	}
	ev, err := ic.Evict(ctx, maintain.Policy{GC: true, Grace: maintain.NoGrace})
	if err != nil {
		t.Fatal(err)
	}
	kinds := slices.Sorted(maps.Keys(func() map[core.DebrisKind]bool {
		m := map[core.DebrisKind]bool{}
		for _, d := range ev.Debris {
			m[d.Kind] = true
		}
		return m
	}()))
	// m's entry is dangling (and its code manifest goes with it).
	if len(ev.Debris) != 2 || !slices.Equal(kinds, []core.DebrisKind{core.DebrisNotAFile, core.DebrisStaleTemp}) ||
		!slices.ContainsFunc(ev.Entries, func(e maintain.EvictedEntry) bool { return e.Node == "m" && e.Reason == maintain.EvictDangling }) {
		t.Errorf("evict --gc: debris %+v, entries %+v", ev.Debris, ev.Entries)
	}
	for _, p := range []string{path, temp} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after evict --gc: %v", p, err)
		}
	}
	if rep, err := ic.Verify(ctx, nil); err != nil || !rep.OK() {
		t.Errorf("verify after evict --gc: %+v, %v", rep.Problems, err)
	}
	st.Close()
	if r := runOn(t, env, nodes, "m"); !slices.Equal(r.executed, []string{"m"}) || !reflect.DeepEqual(r.out["m"], MapA()) {
		t.Errorf("run after evict --gc: executed %v", r.executed)
	}
	if got, err := storedValue(t, env, id, reflect.TypeFor[map[string]int]()); err != nil || !reflect.DeepEqual(got, MapA()) {
		t.Errorf("the result after the run: %v", err)
	}
}
