package maintain_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/formats"
	"github.com/flowcache/flowcache/maintain"
	"github.com/flowcache/flowcache/maintain/internal/damagetest"
)

// localFileEnv is a local cache directory that stores every result as a
// file.
func localFileEnv(t *testing.T) damagetest.Env {
	dir := t.TempDir()
	path := func(id core.ResultID) string {
		v := string(id.Version)
		return filepath.Join(dir, local.ResultsDir, v[:2], v+"."+id.Format)
	}
	return damagetest.Env{
		Name: "local file",
		Dir:  dir,
		Open: func(t *testing.T) *core.Stores {
			st, err := local.Open(context.Background(), dir, local.WithInlineLimit(0))
			if err != nil {
				t.Fatal(err)
			}
			return &core.Stores{Metadata: st.Metadata(), Results: st.Results(), Close: st.Close}
		},
		Read: func(t *testing.T, id core.ResultID) []byte {
			b, err := os.ReadFile(path(id))
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		Write: func(t *testing.T, id core.ResultID, b []byte) {
			if err := os.WriteFile(path(id), b, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		Gone: func(t *testing.T, id core.ResultID) bool {
			_, err := os.Lstat(path(id))
			return errors.Is(err, os.ErrNotExist)
		},
		Payload: damagetest.BlobHeader,
	}
}

// localInlineEnv is a local cache directory with the default inline limit:
// small results are rows of metadata.db (data and crc columns).
func localInlineEnv(t *testing.T) damagetest.Env {
	dir := t.TempDir()
	db := func(t *testing.T) *sql.DB {
		d, err := sql.Open("sqlite", filepath.Join(dir, local.MetadataFile))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	return damagetest.Env{
		Name: "local inline",
		Open: func(t *testing.T) *core.Stores {
			st, err := local.Open(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			return &core.Stores{Metadata: st.Metadata(), Results: st.Results(), Close: st.Close}
		},
		// The raw bytes of an inline result: its crc (8 bytes) and data.
		Read: func(t *testing.T, id core.ResultID) []byte {
			d := db(t)
			defer d.Close()
			var data []byte
			var crc int64
			if err := d.QueryRow(`SELECT data, crc FROM results WHERE version = ? AND format = ?`, string(id.Version), id.Format).Scan(&data, &crc); err != nil {
				t.Fatal(err)
			}
			return append(fmt.Appendf(nil, "%08x", crc), data...)
		},
		Write: func(t *testing.T, id core.ResultID, b []byte) {
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
		Gone: func(t *testing.T, id core.ResultID) bool {
			d := db(t)
			defer d.Close()
			var n int
			if err := d.QueryRow(`SELECT count(*) FROM results WHERE version = ? AND format = ?`, string(id.Version), id.Format).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n == 0
		},
		Payload: func(core.ResultID) int { return 8 },
	}
}

// The verify/gc half of TestGobMapCountBitFlip, on a real local cache
// (damagetest.BitFlip; maintain/remotetest runs it on S3).
func TestBitFlipInStoredMap(t *testing.T) {
	env := localFileEnv(t)
	t.Run(env.Name, func(t *testing.T) { damagetest.BitFlip(t, env) })
}

// Content-addressed means checked: value A's stored bytes under value B's
// id, copied or rewritten, are a miss for B's node
// (damagetest.ResultUnderAnotherValuesID; maintain/remotetest runs it on S3).
func TestResultUnderAnotherValuesID(t *testing.T) {
	for _, s := range []struct {
		env    func(*testing.T) damagetest.Env
		values damagetest.Values
	}{
		{localFileEnv, damagetest.Maps},
		{localInlineEnv, damagetest.Slices},
	} {
		for _, how := range []string{"copied", "rewritten"} {
			env := s.env(t)
			t.Run(env.Name+"/"+how, func(t *testing.T) { damagetest.ResultUnderAnotherValuesID(t, env, s.values, how) })
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
	damagetest.RunOn(t, env, nodes, "v", "w", "u")
	st := env.Open(t)
	defer st.Close()
	ic := maintain.New(st.Metadata, st.Results)
	rep, err := ic.Verify(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	idV := core.ResultID{Version: damagetest.ResultIDOf(t, 42).Version, Format: "test-validating"}
	idU := core.ResultID{Version: damagetest.ResultIDOf(t, 44).Version, Format: "test-unregistered"}
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
	if r := damagetest.RunOn(t, env, nodes, "v", "w", "u"); !slices.Equal(r.Executed, []string{"v"}) || r.Out["v"] != 42 {
		t.Errorf("run after evicting: executed %v, v = %v", r.Executed, r.Out["v"])
	}
}

// A directory at a result's path and a stale temporary file: verify
// reports both, evict --gc removes both (and the entry left dangling),
// and the next run stores the result again.
func TestVerifyAndGCDebris(t *testing.T) {
	ctx := context.Background()
	env := localFileEnv(t)
	nodes := []*driver.NodeDef{driver.Node("m", damagetest.MapA)}
	damagetest.RunOn(t, env, nodes, "m")
	id := damagetest.ResultIDOf(t, damagetest.MapA())
	v := string(id.Version)
	path := filepath.Join(env.Dir, local.ResultsDir, v[:2], v+".gob")
	st := env.Open(t)
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
	if r := damagetest.RunOn(t, env, nodes, "m"); !slices.Equal(r.Executed, []string{"m"}) || !reflect.DeepEqual(r.Out["m"], damagetest.MapA()) {
		t.Errorf("run after evict --gc: executed %v", r.Executed)
	}
	if got, err := damagetest.StoredValue(t, env, id, reflect.TypeFor[map[string]int]()); err != nil || !reflect.DeepEqual(got, damagetest.MapA()) {
		t.Errorf("the result after the run: %v", err)
	}
}
