package driver_test

import (
	"strings"
	"testing"

	"github.com/flowcache/flowcache/driver"
)

// scaler returns a closure that captures k: state, not code.
func scaler(k int) func(int) int { return func(x int) int { return x * k } }

type model struct{ bias int }

func (m model) predict(x int) int { return x + m.bias }

func TestCapturedStateNeedsWithState(t *testing.T) {
	for name, fn := range map[string]any{"closure": scaler(2), "method value": model{bias: 1}.predict} {
		_, err := driver.NewBuilder().WithNodes(driver.Node("y", fn, "x")).WithCache(driver.CacheDir(t.TempDir())).Build()
		if err == nil {
			t.Fatalf("%s: Build accepted a node whose state is not versioned", name)
		}
		for _, want := range []string{`node "y"`, "WithState", "WithCodeVersion"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not mention %s", name, err, want)
			}
		}
		if name == "closure" && !strings.Contains(err.Error(), "captures k") {
			t.Errorf("closure: error %q does not name the captured k", err)
		}
		if name == "method value" && !strings.Contains(err.Error(), "driver_test.model") {
			t.Errorf("method value: error %q does not name the receiver type", err)
		}
		// Without a cache there is nothing to version.
		if _, err := driver.NewBuilder().WithNodes(driver.Node("y", fn, "x")).Build(); err != nil {
			t.Errorf("%s: uncached Build: %v", name, err)
		}
	}
}

func TestWithStateVersionsState(t *testing.T) {
	p := newPipeline(t)
	run := func(k int, m model) runResult {
		return p.run([]*driver.NodeDef{
			driver.Node("scaled", scaler(k), "x", driver.WithState(k)),
			driver.Node("predicted", m.predict, "x", driver.WithState(m)),
		}, []string{"scaled", "predicted"}, driver.Inputs{"x": 10}, nil)
	}
	r := run(2, model{bias: 1})
	if r.err != nil {
		t.Fatal(r.err)
	}
	r = run(2, model{bias: 1})
	if r.did("scaled") != "retrieved" || r.did("predicted") != "retrieved" {
		t.Errorf("same state: scaled %s, predicted %s; want both retrieved", r.did("scaled"), r.did("predicted"))
	}
	r = run(3, model{bias: 5})
	if r.did("scaled") != "executed" || r.did("predicted") != "executed" {
		t.Errorf("new state: scaled %s, predicted %s; want both executed", r.did("scaled"), r.did("predicted"))
	}
	if got := r.out["scaled"]; got != 30 {
		t.Errorf("scaled = %v, want 30", got)
	}
	if got := r.out["predicted"]; got != 15 {
		t.Errorf("predicted = %v, want 15", got)
	}
	_, err := driver.NewBuilder().WithNodes(driver.Node("y", scaler(2), "x", driver.WithState(func() {}))).
		WithCache(driver.CacheDir(t.TempDir())).Build()
	if err == nil || !strings.Contains(err.Error(), `node "y"`) || !strings.Contains(err.Error(), "WithState value 1") {
		t.Errorf("unhashable state: %v", err)
	}
}
