package driver_test

import (
	"math"
	"testing"

	"github.com/flowcache/flowcache/driver"
)

// Data versions that once made a hit serve a value computed for another
// input (issue 9, item 7): each case runs a node on one input, then on an
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
