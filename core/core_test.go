package core_test

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
)

func TestCacheKeyIDAndEncoding(t *testing.T) {
	k := core.NewCacheKey("B", "code1", []core.Dep{{Name: "z", Version: "v2"}, {Name: "A", Version: "v1"}})
	if k.Deps[0].Name != "A" {
		t.Fatalf("deps not sorted: %v", k.Deps)
	}
	// Order of the given dependencies does not matter.
	k2 := core.NewCacheKey("B", "code1", []core.Dep{{Name: "A", Version: "v1"}, {Name: "z", Version: "v2"}})
	if k.ID() != k2.ID() {
		t.Fatal("same parts, different ids")
	}
	// Every part matters, and the encoding is unambiguous.
	others := []core.CacheKey{
		core.NewCacheKey("C", "code1", []core.Dep{{Name: "A", Version: "v1"}, {Name: "z", Version: "v2"}}),
		core.NewCacheKey("B", "code2", []core.Dep{{Name: "A", Version: "v1"}, {Name: "z", Version: "v2"}}),
		core.NewCacheKey("B", "code1", []core.Dep{{Name: "A", Version: "v3"}, {Name: "z", Version: "v2"}}),
		core.NewCacheKey("B", "code1", []core.Dep{{Name: "A", Version: "v1"}}),
		core.NewCacheKey("Bc", "ode1", []core.Dep{{Name: "A", Version: "v1"}, {Name: "z", Version: "v2"}}),
	}
	seen := map[core.KeyID]bool{k.ID(): true}
	for _, o := range others {
		if seen[o.ID()] {
			t.Errorf("key %v collides", o)
		}
		seen[o.ID()] = true
	}
	if len(k.ID()) != 64 {
		t.Errorf("id %q is not 64 hex digits", k.ID())
	}
	back, err := core.DecodeCacheKey(k.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if back.ID() != k.ID() || back.Node != "B" || back.CodeVersion != "code1" || len(back.Deps) != 2 {
		t.Fatalf("decoded %+v, want %+v", back, k)
	}
	if v, ok := back.Dep("z"); !ok || v != "v2" {
		t.Errorf("Dep(z) = %q, %v", v, ok)
	}
	if _, err := core.DecodeCacheKey([]byte("{")); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("decoding garbage: %v, want ErrCorrupt", err)
	}
}

func TestSpecialVersions(t *testing.T) {
	u1, u2 := core.NewUniqueVersion(), core.NewUniqueVersion()
	if u1 == u2 || !u1.IsUnique() || u1.Storable() {
		t.Fatalf("unique versions %q %q", u1, u2)
	}
	if core.IgnoredVersion.Storable() || core.IgnoredVersion.IsUnique() {
		t.Fatal("ignored version must be neither storable nor unique")
	}
	if !core.DataVersion(strings.Repeat("a", 64)).Storable() {
		t.Fatal("a fingerprint must be storable")
	}
	r1, r2 := core.NewRunID(), core.NewRunID()
	if r1 == r2 || r1 > r2 {
		t.Fatalf("run ids %s, %s are not increasing", r1, r2)
	}
}

func TestBehaviorResolve(t *testing.T) {
	names := []string{"a", "b", "c", "d"}
	own := map[string]core.Behavior{"a": core.Recompute, "b": core.Ignore}
	cases := []struct {
		name string
		cfg  core.BehaviorConfig
		want map[string]core.Behavior
		err  string
	}{
		{name: "node options alone", want: map[string]core.Behavior{"a": core.Recompute, "b": core.Ignore, "c": core.Default, "d": core.Default}},
		{name: "list beats node option", cfg: core.BehaviorConfig{Default: []string{"a"}, Disable: []string{"b"}},
			want: map[string]core.Behavior{"a": core.Default, "b": core.Disable, "c": core.Default, "d": core.Default}},
		{name: "default behavior", cfg: core.BehaviorConfig{DefaultBehavior: core.Disable, Default: []string{"d"}},
			want: map[string]core.Behavior{"a": core.Recompute, "b": core.Ignore, "c": core.Disable, "d": core.Default}},
		{name: "all", cfg: core.BehaviorConfig{Recompute: core.All},
			want: map[string]core.Behavior{"a": core.Recompute, "b": core.Recompute, "c": core.Recompute, "d": core.Recompute}},
		{name: "two lists", cfg: core.BehaviorConfig{Recompute: []string{"c"}, Ignore: []string{"c"}}, err: `node "c" is in both the recompute and the ignore behavior lists`},
		{name: "all and a list", cfg: core.BehaviorConfig{Recompute: core.All, Ignore: []string{"d"}}, err: `node "d"`},
		{name: "unknown node", cfg: core.BehaviorConfig{Disable: []string{"zz"}}, err: `unknown node "zz"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.cfg.Resolve(names, own)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, core.ErrInvalid) {
					t.Fatalf("err = %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for n, b := range c.want {
				if got[n] != b {
					t.Errorf("%s: %v, want %v", n, got[n], b)
				}
			}
		})
	}
}

func TestParseBehavior(t *testing.T) {
	for _, b := range []core.Behavior{core.Default, core.Recompute, core.Disable, core.Ignore} {
		got, err := core.ParseBehavior(b.String())
		if err != nil || got != b {
			t.Errorf("ParseBehavior(%q) = %v, %v", b.String(), got, err)
		}
	}
	if _, err := core.ParseBehavior("sometimes"); err == nil || !strings.Contains(err.Error(), "sometimes") {
		t.Errorf("bad name: %v", err)
	}
}

func TestEventString(t *testing.T) {
	e := core.Event{Node: "foo", Actor: core.ActorResultStore, Type: core.EventGetResult, Message: "hit"}
	if got := e.String(); got != "foo::result_store::get_result::hit" {
		t.Errorf("String() = %q", got)
	}
	e.Task = "items[2]"
	if got := e.String(); got != "foo::items[2]::result_store::get_result::hit" {
		t.Errorf("String() = %q", got)
	}
	e.Message = ""
	if got := e.String(); got != "foo::items[2]::result_store::get_result" {
		t.Errorf("String() = %q", got)
	}
}

func TestReadLogFileTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	content := `{"run_id":"r1","node":"a","actor":"adapter","event_type":"execute_node","timestamp":"2026-01-01T00:00:00Z"}` + "\n" + `{"run_id":"r1","no`
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	evs, err := core.ReadLogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Node != "a" || evs[0].Type != core.EventExecuteNode {
		t.Fatalf("events = %+v", evs)
	}
}

func TestKeepRuns(t *testing.T) {
	st := mem.Open()
	c, err := core.New(st.Metadata(), st.Results(), core.WithKeepRuns(2))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ids []core.RunID
	for range 3 {
		r, err := c.BeginRun(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r.Input(ctx, "x", 1)
		r.End(ctx)
		ids = append(ids, r.ID())
	}
	logs := c.Logs(slog.LevelDebug)
	if len(logs) != 2 || logs[ids[0]] != nil || logs[ids[2]] == nil {
		t.Fatalf("kept runs %v, want the last two of %v", len(logs), ids)
	}
	if _, err := core.New(st.Metadata(), st.Results(), core.WithKeepRuns(0)); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("WithKeepRuns(0): %v", err)
	}
}

func TestRedactURL(t *testing.T) {
	u, _ := url.Parse("s3://user:pa55word@bucket/prefix?region=eu-west-1&secret_access_key=abc123&X-Amz-Signature=zz9")
	got := core.RedactURL(u)
	for _, secret := range []string{"pa55word", "abc123", "zz9"} {
		if strings.Contains(got, secret) {
			t.Errorf("RedactURL kept %q: %s", secret, got)
		}
	}
	if !strings.Contains(got, "region=eu-west-1") || !strings.Contains(got, "bucket/prefix") {
		t.Errorf("RedactURL dropped what is not secret: %s", got)
	}
	if err := core.CheckQueryParams(u, "region"); err == nil || !strings.Contains(err.Error(), `"X-Amz-Signature"`) || !errors.Is(err, core.ErrInvalid) {
		t.Errorf("CheckQueryParams = %v", err)
	}
	if _, err := core.OpenURL(context.Background(), "s3://user:pa55word@bucket?x=1"); err == nil || strings.Contains(err.Error(), "pa55word") {
		t.Errorf("OpenURL of an unregistered scheme: %v", err)
	}
}

func TestMetadataParam(t *testing.T) {
	ctx := context.Background()
	var opened []string
	shared := mem.Open()
	core.RegisterMetadataScheme("testmeta", func(_ context.Context, u *url.URL) (core.MetadataStore, error) {
		if err := core.CheckQueryParams(u, "p"); err != nil {
			return nil, err
		}
		opened = append(opened, u.Host)
		return shared.Metadata(), nil
	})
	st, err := core.OpenURL(ctx, "mem://metaparam?metadata="+url.QueryEscape("testmeta://db?p=1"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Metadata != shared.Metadata() || len(opened) != 1 || opened[0] != "db" {
		t.Fatalf("metadata store not taken from the metadata URL (opened %v)", opened)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := shared.Metadata().Runs(ctx); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Close did not close the metadata store: Runs = %v", err)
	}
	for raw, want := range map[string]string{
		"mem://x?metadata=":                                         "empty URL parameter metadata",
		"mem://x?metadata=nosuch%3A%2F%2Fdb":                        `no metadata backend for scheme "nosuch"`,
		"mem://x?metadata=testmeta%3A%2F%2Fdb%3Fq%3D1":              `unknown URL parameter "q"`,
		"mem://x?metadata=testmeta%3A%2F%2Fu%3As3cr3t%40db%3Fq%3D1": `unknown URL parameter "q"`,
	} {
		_, err := core.OpenURL(ctx, raw)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("OpenURL(%s) = %v, want an error containing %q without secrets", raw, err, want)
		}
	}
	u, _ := url.Parse("s3://b?metadata=" + url.QueryEscape("mongo://user:pa55@host/db/coll"))
	if got := core.RedactURL(u); strings.Contains(got, "pa55") || !strings.Contains(got, "host") {
		t.Errorf("RedactURL kept the nested password or lost the host: %s", got)
	}
}

func TestPlainPathQuery(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := core.OpenURL(ctx, filepath.Join(dir, "c")+"?inline_limit=0")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := os.Stat(filepath.Join(dir, "c")); err != nil {
		t.Errorf("the query became part of the directory name: %v", err)
	}
	if _, err := core.OpenURL(ctx, filepath.Join(dir, "c")+"?inline_limit=zz"); err == nil || !strings.Contains(err.Error(), "inline_limit") {
		t.Errorf("a bad parameter of a plain path was not checked: %v", err)
	}
	if _, err := core.OpenURL(ctx, dir+"?a=%zz"); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("bad query: %v", err)
	}
}
