// Package damagetest holds the damage scenarios of package maintain's tests
// (a flipped bit in a stored result, one value's bytes under another value's
// id) with what they run on: an Env, a cache with raw access to the stored
// bytes of a result. maintain's own tests run them on local caches;
// maintain/remotetest runs them on a bucket of the test S3 server, so that
// maintain's tests build without the cloud SDKs (scripts/test runs them).
package damagetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/core/fingerprint"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/formats"
	"github.com/flowcache/flowcache/internal/allocguard"
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

// Env is a cache under test, with raw access to the stored bytes of
// a result (what a bit flip, a stray copy or a hostile writer changes).
type Env struct {
	Name  string
	Dir   string // a local cache directory
	Open  func(t *testing.T) *core.Stores
	Read  func(t *testing.T, id core.ResultID) []byte
	Write func(t *testing.T, id core.ResultID, b []byte)
	// Gone reports whether nothing is stored raw under id.
	Gone func(t *testing.T, id core.ResultID) bool
	// Payload is where the payload starts in the raw bytes of id.
	Payload func(id core.ResultID) int
}

// BlobHeader is where the payload starts in a result object of package
// blobstore (a result file of package local, an object in a bucket).
func BlobHeader(id core.ResultID) int { return 14 + len(id.Version) + len(id.Format) }

// Run is what a run on an Env did.
type Run struct {
	Out      driver.Results
	Executed []string
	Events   []core.Event
}

// RunOn runs nodes on a fresh opening of env's stores.
func RunOn(t *testing.T, env Env, nodes []*driver.NodeDef, outputs ...string) Run {
	t.Helper()
	st := env.Open(t)
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
	r := Run{Out: out, Events: dr.Cache().Events(slog.LevelDebug, id)}
	for _, e := range r.Events {
		if e.Type == core.EventExecuteNode {
			r.Executed = append(r.Executed, e.Node)
		}
	}
	return r
}

// ResultIDOf is the id of v stored as gob.
func ResultIDOf(t *testing.T, v any) core.ResultID {
	t.Helper()
	sum, err := fingerprint.Of(v)
	if err != nil {
		t.Fatal(err)
	}
	return core.ResultID{Version: core.DataVersion(sum.String()), Format: "gob"}
}

// StoredValue decodes what env holds under id (verified first).
func StoredValue(t *testing.T, env Env, id core.ResultID, typ reflect.Type) (any, error) {
	t.Helper()
	st := env.Open(t)
	defer st.Close()
	rc, err := core.GetVerified(context.Background(), st.Results, id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return formats.Gob().Decode(rc, typ)
}

// BitFlip is the verify/gc half of TestGobMapCountBitFlip, on a real cache:
// a map of 3,000 keys stored as an object, one bit flipped anywhere in its
// payload (the gob count prefix included), is a miss — the node executes
// again, the run returns the right value, the decoder never sees the bytes
// and nothing allocates beyond a small bound; `verify` lists the damaged
// result with its format and node, and evicting damaged results removes it.
// Every bit of the start of the payload is flipped on an Env named "local
// file" without -short; on others, and with -short, one in five.
func BitFlip(t *testing.T, env Env) {
	ctx := context.Background()
	nodes := []*driver.NodeDef{driver.Node("m", MapA)}
	RunOn(t, env, nodes, "m")
	id := ResultIDOf(t, MapA())
	orig := env.Read(t, id)
	start := env.Payload(id)
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
	if testing.Short() || env.Name != "local file" {
		flips = slices.DeleteFunc(flips, func(b int) bool { return b%5 != 0 && b/8 != count })
	}
	if !slices.Contains(flips, count*8+1) {
		t.Fatal("the lethal flip is not tested")
	}
	want := MapA()
	for _, bit := range flips {
		bad := bytes.Clone(orig)
		bad[bit/8] ^= 1 << (bit % 8)
		env.Write(t, id, bad)
		var r Run
		allocguard.Run(t, allocguard.Bound(len(orig), 64), func() { r = RunOn(t, env, nodes, "m") })
		if !reflect.DeepEqual(r.Out["m"], want) || !slices.Equal(r.Executed, []string{"m"}) {
			t.Fatalf("bit %d flipped: executed %v, right value %v", bit, r.Executed, reflect.DeepEqual(r.Out["m"], want))
		}
		if got, err := StoredValue(t, env, id, reflect.TypeFor[map[string]int]()); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("bit %d flipped: after the run the result holds %v", bit, err)
		}
	}

	// verify lists it; evicting damaged results removes it and its entry.
	bad := bytes.Clone(orig)
	bad[start+5] ^= 0x20 // in the count prefix
	env.Write(t, id, bad)
	st := env.Open(t)
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
	if !env.Gone(t, id) {
		t.Errorf("the damaged result is still stored after evicting it")
	}
	if rep, err := ic.Verify(ctx, nil); err != nil || !rep.OK() {
		t.Errorf("verify after evicting: %+v, %v", rep.Problems, err)
	}
	st.Close()
	if r := RunOn(t, env, nodes, "m"); !reflect.DeepEqual(r.Out["m"], want) || !slices.Equal(r.Executed, []string{"m"}) {
		t.Errorf("run after evicting: executed %v", r.Executed)
	}
}

// Values are two values of one shape: the maps (stored as objects) or the
// small slices (stored inline by package local).
type Values struct{ A, B func() any }

var (
	Maps   = Values{func() any { return MapA() }, func() any { return MapB() }}
	Slices = Values{func() any { return SmallA() }, func() any { return SmallB() }}
)

// nodes are a node a returning v.A and a node b returning v.B.
func (v Values) nodes() []*driver.NodeDef {
	if _, ok := v.A().(map[string]int); ok {
		return []*driver.NodeDef{driver.Node("a", MapA), driver.Node("b", MapB)}
	}
	return []*driver.NodeDef{driver.Node("a", SmallA), driver.Node("b", SmallB)}
}

// ResultUnderAnotherValuesID checks that content-addressed means checked:
// value A's stored bytes under value B's id — "copied" whole (the header
// or the inline CRC names A's id: caught before any decoder runs), or
// "rewritten" by a writer that stored them under B's id with a valid
// checksum (caught when the loaded value does not fingerprint as B) — are
// a miss for B's node: executed again, the right value, and the bad object
// replaced.
func ResultUnderAnotherValuesID(t *testing.T, env Env, v Values, how string) {
	ctx := context.Background()
	nodes := v.nodes()
	RunOn(t, env, nodes, "a", "b")
	idA, idB := ResultIDOf(t, v.A()), ResultIDOf(t, v.B())
	switch how {
	case "copied":
		env.Write(t, idB, env.Read(t, idA))
	case "rewritten":
		st := env.Open(t)
		if err := st.Results.Delete(ctx, idB); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Results.Put(ctx, idB, func(w io.Writer) error { return formats.Gob().Encode(w, v.A()) }); err != nil {
			t.Fatal(err)
		}
		st.Close()
	default:
		t.Fatalf("ResultUnderAnotherValuesID: how = %q, want copied or rewritten", how)
	}
	r := RunOn(t, env, nodes, "a", "b")
	if !slices.Equal(r.Executed, []string{"b"}) || !reflect.DeepEqual(r.Out["b"], v.B()) || !reflect.DeepEqual(r.Out["a"], v.A()) {
		t.Fatalf("executed %v; b right %v, a right %v", r.Executed, reflect.DeepEqual(r.Out["b"], v.B()), reflect.DeepEqual(r.Out["a"], v.A()))
	}
	missed := false
	for _, e := range r.Events {
		if e.Type == core.EventMissingResult && e.Node == "b" && strings.Contains(e.Value, "corrupt") {
			missed = true
		}
	}
	if !missed {
		t.Errorf("no missing_result event for b saying the result is corrupt")
	}
	got, err := StoredValue(t, env, idB, reflect.TypeOf(v.B()))
	if err != nil || !reflect.DeepEqual(got, v.B()) {
		t.Errorf("B's id holds %v, %v after the run; want B's value stored again", got, err)
	}
}
