package driver_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/formats"
)

// Data versions that once made a hit serve a value computed for another
// input: each case runs a node on one input, then on an
// input that == or a loose fingerprint would call the same, and checks the
// second run executes and returns its own value.

func Inverse(x float64) float64 { return 1 / x }

// -0 and +0 are equal to ==, but 1/-0 is -Inf and 1/+0 is +Inf.
func TestNegativeZeroInputIsNotZero(t *testing.T) {
	p := newPipeline(t)
	nodes := []*driver.NodeDef{driver.Node("inv", Inverse, "x")}
	r := p.run(nodes, []string{"inv"}, driver.Inputs{"x": math.Copysign(0, -1)}, nil)
	wantOut(t, r, "inv", math.Inf(-1))
	want(t, r, "inv", "executed")
	r = p.run(nodes, []string{"inv"}, driver.Inputs{"x": 0.0}, nil)
	wantOut(t, r, "inv", math.Inf(1))
	want(t, r, "inv", "executed")
	r = p.run(nodes, []string{"inv"}, driver.Inputs{"x": math.Copysign(0, -1)}, nil)
	wantOut(t, r, "inv", math.Inf(-1))
	want(t, r, "inv", "retrieved")
}

type Point struct{ X, Y float64 }

func NegZeroPoint() Point { return Point{X: math.Copysign(0, -1), Y: 1} }

func InverseX(p Point) float64 { return 1 / p.X }

// A -0 in a struct field, which gob alone stores as +0, is retrieved as -0
// (and so is a hit), and a node that executes on the retrieved value sees
// it.
func TestNegativeZeroResultRetrieved(t *testing.T) {
	p := newPipeline(t)
	nodes := func(code string) []*driver.NodeDef {
		return []*driver.NodeDef{
			driver.Node("p", NegZeroPoint),
			driver.Node("inv", InverseX, "p", driver.WithCodeVersion(code)),
		}
	}
	r := p.run(nodes("1"), []string{"p", "inv"}, nil, nil)
	wantOut(t, r, "inv", math.Inf(-1))
	r = p.run(nodes("2"), []string{"p", "inv"}, nil, nil) // inv executes on the retrieved p
	want(t, r, "p", "retrieved")
	want(t, r, "inv", "executed")
	wantOut(t, r, "inv", math.Inf(-1))
	if got, _ := driver.Get[Point](r.out, "p"); !math.Signbit(got.X) {
		t.Errorf("retrieved p = %+v, want X = -0", got)
	}
}

func IsNil(xs []int) bool { return xs == nil }

// A nil slice and an empty one: len and range cannot tell them apart, but
// == nil can.
func TestNilInputIsNotEmpty(t *testing.T) {
	p := newPipeline(t)
	nodes := []*driver.NodeDef{driver.Node("isNil", IsNil, "xs")}
	r := p.run(nodes, []string{"isNil"}, driver.Inputs{"xs": []int(nil)}, nil)
	wantOut(t, r, "isNil", true)
	r = p.run(nodes, []string{"isNil"}, driver.Inputs{"xs": []int{}}, nil)
	wantOut(t, r, "isNil", false)
	want(t, r, "isNil", "executed")
	r = p.run(nodes, []string{"isNil"}, driver.Inputs{"xs": []int(nil)}, nil)
	wantOut(t, r, "isNil", true)
	want(t, r, "isNil", "retrieved")
}

type Batch struct {
	IDs   []int
	Index map[string]int
}

func EmptyBatch() Batch     { return Batch{IDs: []int{}} }
func EmptyIDs() []int       { return []int{} }
func NilIndex() map[int]int { return nil }

func Describe(b Batch, ids []int, idx map[int]int) string {
	return fmt.Sprintf("ids nil %v, index nil %v, top nil %v, map nil %v", b.IDs == nil, b.Index == nil, ids == nil, idx == nil)
}

// Results gob alone would load back changed (an empty slice as nil, a nil
// map as empty) are retrieved as they were returned, in every format that
// can store them, so a warm run is a hit with the right value.
func TestNilAndEmptyResultsRetrieved(t *testing.T) {
	for _, f := range []core.Format{formats.Gob(), formats.JSON(), formats.Zstd(formats.Gob())} {
		t.Run(f.Name(), func(t *testing.T) {
			p := newPipeline(t)
			nodes := func(code string) []*driver.NodeDef {
				return []*driver.NodeDef{
					driver.Node("b", EmptyBatch), driver.Node("ids", EmptyIDs), driver.Node("idx", NilIndex),
					driver.Node("d", Describe, "b", "ids", "idx", driver.WithCodeVersion(code)),
				}
			}
			const wantD = "ids nil false, index nil true, top nil false, map nil true"
			r := p.run(nodes("1"), []string{"d", "b", "ids", "idx"}, nil, nil, driver.DefaultFormat(f))
			wantOut(t, r, "d", wantD)
			r = p.run(nodes("2"), []string{"d", "b", "ids", "idx"}, nil, nil, driver.DefaultFormat(f))
			for _, n := range []string{"b", "ids", "idx"} {
				want(t, r, n, "retrieved")
			}
			want(t, r, "d", "executed")
			wantOut(t, r, "d", wantD)
			if r.has("b", core.EventMissingResult) || r.has("ids", core.EventMissingResult) || r.has("idx", core.EventMissingResult) {
				t.Error("a result loaded back different (missing_result)")
			}
			if ids, _ := driver.Get[[]int](r.out, "ids"); ids == nil {
				t.Error("retrieved ids is nil, want empty")
			}
		})
	}
}

func Hour(t time.Time) int { return t.Hour() }

// Two machines sharing a cache, each with its own zone as time.Local (named
// "Local" on both): the same instant in each machine's Local is another
// input, and another hour.
func TestTimeInOtherLocalIsNotSame(t *testing.T) {
	p := newPipeline(t)
	nodes := []*driver.NodeDef{driver.Node("hour", Hour, "t")}
	at := time.Date(2024, 1, 2, 12, 0, 0, 0, time.UTC)
	r := p.run(nodes, []string{"hour"}, driver.Inputs{"t": at.In(time.FixedZone("Local", 3600))}, nil)
	wantOut(t, r, "hour", 13)
	r = p.run(nodes, []string{"hour"}, driver.Inputs{"t": at.In(time.FixedZone("Local", -5*3600))}, nil)
	wantOut(t, r, "hour", 7)
	want(t, r, "hour", "executed")
	// The same zone under another *Location is the same input.
	r = p.run(nodes, []string{"hour"}, driver.Inputs{"t": at.In(time.FixedZone("Local", 3600))}, nil)
	wantOut(t, r, "hour", 13)
	want(t, r, "hour", "retrieved")
}

func AnyResult() any               { return 42 }
func StringerResult() fmt.Stringer { return time.Second }
func Twice(x any) int              { return 2 * x.(int) }

type Holder struct{ V any }

func HolderResult() Holder { return Holder{V: 42} }

// A result of interface type cannot be loaded back into the interface by
// gob or json (they get the value inside, and would decode it as another
// type or not at all): Build refuses the node, naming it and the type and
// saying what to do, instead of a miss on every run.
func TestInterfaceResultRefusedAtBuild(t *testing.T) {
	for _, c := range []struct {
		fn   any
		f    core.Format
		typ  string
		name string
	}{
		{AnyResult, formats.Gob(), "interface {}", "gob"},
		{AnyResult, formats.JSON(), "interface {}", "json"},
		{AnyResult, formats.Zstd(formats.Gob()), "interface {}", "gob+zstd"},
		{StringerResult, formats.Gob(), "fmt.Stringer", "gob"},
	} {
		_, err := driver.NewBuilder().WithNodes(driver.Node("x", c.fn), driver.Node("y", Twice, "x")).
			WithCache(driver.CacheDir(t.TempDir()), driver.DefaultFormat(c.f)).Build()
		for _, w := range []string{`node "x"`, c.typ, c.name, "concrete type", "Ignore or Disable"} {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s, %s: Build error %v does not say %q", c.typ, c.name, err, w)
			}
		}
		if err != nil && !errors.Is(err, core.ErrUnsupportedType) {
			t.Errorf("Build error %v does not wrap core.ErrUnsupportedType", err)
		}
	}
	// Not stored, an interface result is fine; and an interface inside a
	// concrete result is stored and retrieved (gob registers the types it
	// meets at the top of a value, and 42 is an int).
	p := newPipeline(t)
	nodes := []*driver.NodeDef{driver.Node("x", AnyResult, driver.WithBehavior(core.Ignore)), driver.Node("y", Twice, "x")}
	for _, did := range []string{"executed", "retrieved"} {
		r := p.run(nodes, []string{"y"}, nil, nil)
		wantOut(t, r, "y", 84)
		want(t, r, "x", "executed")
		want(t, r, "y", did)
	}
	holder := []*driver.NodeDef{driver.Node("h", HolderResult)}
	p.run(holder, []string{"h"}, nil, nil)
	r := p.run(holder, []string{"h"}, nil, nil)
	want(t, r, "h", "retrieved")
	if h, _ := driver.Get[Holder](r.out, "h"); h.V != 42 {
		t.Errorf("retrieved h = %+v", h)
	}
}
