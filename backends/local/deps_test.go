package local

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/core"
)

// TestDepsCodec checks that the hand-written codec writes what
// encoding/json writes and reads back what it wrote, on both paths.
func TestDepsCodec(t *testing.T) {
	cases := [][]core.Dep{
		nil,
		{},
		{{Name: "a", Version: "0123abcd"}},
		{{Name: "x", Version: core.IgnoredVersion}, {Name: "y", Version: "u-5f0c"}, {Name: "z z", Version: ""}},
		{{Name: `quote"d`, Version: "v"}},
		{{Name: `back\slash`, Version: "v"}},
		{{Name: "<html>&", Version: "v"}},
		{{Name: "naïve 名前", Version: "v"}},
		{{Name: "tab\tnl\n", Version: "v\x00"}},
		{{Name: "a", Version: "b"}, {Name: "\u2028", Version: "c"}},
		{{Name: `","version":"`, Version: `"}`}},
		{{Name: "}{,][", Version: ":"}},
	}
	for _, deps := range cases {
		got, err := appendDeps(nil, deps)
		if err != nil {
			t.Fatal(err)
		}
		want := "[]"
		if len(deps) > 0 {
			w, _ := json.Marshal(deps)
			want = string(w)
		}
		if string(got) != want {
			t.Errorf("appendDeps(%q) = %s, encoding/json writes %s", deps, got, want)
		}
		back, err := decodeDeps(string(got))
		if err != nil {
			t.Fatalf("decodeDeps(%s): %v", got, err)
		}
		if len(deps) == 0 {
			if back != nil {
				t.Errorf("decodeDeps(%s) = %q, want nil", got, back)
			}
		} else if !reflect.DeepEqual(back, deps) {
			t.Errorf("decodeDeps(%s) = %q, want %q", got, back, deps)
		}
	}
	// JSON the fast path does not take still decodes.
	for in, want := range map[string][]core.Dep{
		` [ {"version":"v","name":"n"} ] `: {{Name: "n", Version: "v"}},
		`[{"name":"a\"b","version":"v"}]`:  {{Name: `a"b`, Version: "v"}},
		`[{"name": "n", "version": "v"}]`:  {{Name: "n", Version: "v"}},
	} {
		got, err := decodeDeps(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("decodeDeps(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`[`, `[{"name":"a","version":"b"}`, `{"name":"a"}`, strings.Repeat("x", 50)} {
		if _, err := decodeDeps(bad); err == nil {
			t.Errorf("decodeDeps(%s) succeeded", bad)
		}
	}
}
