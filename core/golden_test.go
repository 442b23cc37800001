package core_test

import (
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/core/fingerprint"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden.json from the current code (only when a change of key derivation or fingerprints is intended: every existing cache turns cold)")

// goldenRow is a value whose fingerprint is fixed.
type goldenRow struct {
	Name  string
	Score float64
	Tags  []string
	When  time.Time
	Next  *goldenRow
}

// goldenValues are common results: their data versions must never change
// by accident, or every stored cache turns cold (or, worse, two releases
// disagree on one value).
func goldenValues() map[string]any {
	when := time.Date(2026, 12, 4, 9, 30, 0, 123456789, time.UTC)
	return map[string]any{
		"int 0":              0,
		"int 42":             42,
		"int64 -1":           int64(-1),
		"uint8 255":          uint8(255),
		"float64 1.5":        1.5,
		"float64 -0":         math.Copysign(0, -1),
		"float64 NaN":        math.NaN(),
		"bool true":          true,
		"string empty":       "",
		"string hello":       "hello, 世界",
		"bytes":              []byte{0, 1, 2, 254, 255},
		"bytes nil":          []byte(nil),
		"[]float64":          []float64{1, 2.5, -3, math.Inf(1)},
		"[]string":           []string{"a", "", "c"},
		"map[string]int":     map[string]int{"b": 2, "a": 1, "c": 3},
		"map[int][]string":   map[int][]string{2: {"x"}, 1: nil},
		"[3]int":             [3]int{1, 2, 3},
		"time UTC":           when,
		"duration":           90 * time.Second,
		"struct":             goldenRow{Name: "n", Score: 0.25, Tags: []string{"t"}, When: when},
		"*struct nested":     &goldenRow{Name: "outer", Next: &goldenRow{Name: "inner"}},
		"[]struct":           []goldenRow{{Name: "a"}, {Name: "b", Score: 1}},
		"nil *struct":        (*goldenRow)(nil),
		"any holding int":    []any{1, "x", nil},
		"map[string]any":     map[string]any{"k": 1.0, "l": []any{"m"}},
		"complex128":         complex(1, -2),
		"struct{} (empty)":   struct{}{},
		"int32 min":          int32(math.MinInt32),
		"uint64 max":         uint64(math.MaxUint64),
		"[]int empty (!nil)": []int{},
	}
}

// goldenKeys are cache keys whose ids are fixed.
func goldenKeys() map[string]core.CacheKey {
	return map[string]core.CacheKey{
		"no deps":       core.NewCacheKey("raw_data", "c0de", nil),
		"one dep":       core.NewCacheKey("clean", "c0de", []core.Dep{{Name: "raw_data", Version: "d47a"}}),
		"two deps":      core.NewCacheKey("stats", "v2", []core.Dep{{Name: "b", Version: "2"}, {Name: "a", Version: "1"}}),
		"unicode name":  core.NewCacheKey("größe", "v", []core.Dep{{Name: "ø", Version: ""}}),
		"empty version": core.NewCacheKey("n", "", nil),
		"task":          core.NewCacheKey("slow[3]", "v", []core.Dep{{Name: "items", Version: "0"}}),
	}
}

// TestGoldenVectors fails when a cache key's id or a common value's data
// version changes: that makes every existing cache cold, so it must be a
// decision (go test ./core -run TestGoldenVectors -update, and a note in
// the release), never an accident of a refactoring.
func TestGoldenVectors(t *testing.T) {
	got := map[string]map[string]string{"key_ids": {}, "data_versions": {}}
	for name, k := range goldenKeys() {
		got["key_ids"][name] = string(k.ID())
	}
	for name, v := range goldenValues() {
		sum, err := fingerprint.Of(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got["data_versions"][name] = sum.String()
	}
	path := filepath.Join("testdata", "golden.json")
	if *updateGolden {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]map[string]string
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for kind, vals := range got {
		if len(want[kind]) != len(vals) {
			t.Errorf("%s: %d golden vectors stored, %d computed (run with -update after adding one)", kind, len(want[kind]), len(vals))
		}
		for name, v := range vals {
			if w, ok := want[kind][name]; ok && w != v {
				t.Errorf("%s %q changed: %s, golden %s: every existing cache would turn cold", kind, name, v, w)
			}
		}
	}
}
