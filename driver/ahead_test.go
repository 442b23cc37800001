package driver_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
)

func plusInput(x, y int) int { return x + y }

// The keys a driver works out ahead of its runs (core.Prefetch.LookAhead for
// the first run, core.Run.LookAhead for the others) serve exactly the hits
// the run would find itself: on a local cache directory, a warm run
// retrieves every node; an override, or an input with another value, makes
// the nodes after it execute, with the right values, never a stale hit.
func TestLookAheadWarmRuns(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const n = 200
	nodes := []*driver.NodeDef{driver.Node("n0", plusInput, "x", "y")}
	for i := 1; i < n; i++ {
		nodes = append(nodes, driver.Node("n"+strconv.Itoa(i), inc, "n"+strconv.Itoa(i-1)))
	}
	last := "n" + strconv.Itoa(n-1)
	build := func() *driver.Driver {
		dr, err := driver.NewBuilder().WithNodes(nodes...).WithCache(driver.CacheDir(dir)).Build()
		if err != nil {
			t.Fatal(err)
		}
		return dr
	}
	check := func(what string, dr *driver.Driver, inputs driver.Inputs, overrides driver.Overrides, want int, outcome func(i int) core.Outcome) {
		t.Helper()
		res, err := dr.Run(ctx, []string{last}, inputs, overrides)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := res.Values[last]; got != want {
			t.Errorf("%s: %s = %v, want %d", what, last, got, want)
		}
		for i := range n {
			name := "n" + strconv.Itoa(i)
			if got, want := res.Outcomes[name], outcome(i); got != want {
				t.Errorf("%s: %s %s, want %s", what, name, got, want)
			}
		}
	}
	all := func(int) core.Outcome { return core.OutcomeExecuted }
	none := func(int) core.Outcome { return core.OutcomeRetrieved }
	// after100 is a run that overrides n100: the nodes before it are not
	// needed, those after it are executed (or retrieved, once stored).
	after100 := func(after core.Outcome) func(int) core.Outcome {
		return func(i int) core.Outcome {
			switch {
			case i < 100:
				return ""
			case i == 100:
				return core.OutcomeOverride
			}
			return after
		}
	}

	dr := build()
	check("cold", dr, driver.Inputs{"x": 1, "y": 0}, nil, n, all)
	dr.Close()

	dr = build() // its first run looks ahead from the build's prefetch
	check("warm, from the build", dr, driver.Inputs{"x": 1, "y": 0}, nil, n, none)
	check("warm, second run", dr, driver.Inputs{"x": 1, "y": 0}, nil, n, none)
	check("another input", dr, driver.Inputs{"x": 1, "y": 5}, nil, n+5, all)
	check("override in the middle", dr, driver.Inputs{"x": 1, "y": 0}, driver.Overrides{"n100": 1000}, 1000+n-1-100, after100(core.OutcomeExecuted))
	check("override, stored", dr, driver.Inputs{"x": 1, "y": 0}, driver.Overrides{"n100": 1000}, 1000+n-1-100, after100(core.OutcomeRetrieved))
	dr.Close()

	dr = build()
	check("override, from the build", dr, driver.Inputs{"x": 1, "y": 0}, driver.Overrides{"n100": 7}, 7+n-1-100, after100(core.OutcomeExecuted))
	dr.Close()
	dr = build()
	check("back to the first inputs, from the build", dr, driver.Inputs{"x": 1, "y": 0}, nil, n, none)
	dr.Close()
}
