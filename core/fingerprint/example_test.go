package fingerprint_test

import (
	"errors"
	"fmt"
	"math"
	"net/netip"

	"github.com/flowcache/flowcache/core/fingerprint"
)

func Example() {
	a, _ := fingerprint.Of(1)
	b, _ := fingerprint.Of("1")
	c, _ := fingerprint.Of(int64(1))
	d, _ := fingerprint.Of(1)
	fmt.Println("1 == \"1\":", a == b)
	fmt.Println("1 == int64(1):", a == c)
	fmt.Println("1 == 1:", a == d)

	m1, _ := fingerprint.Of(map[string]float64{"x": 1, "y": 2})
	m2, _ := fingerprint.Of(map[string]float64{"y": 2, "x": 1})
	fmt.Println("maps, any order:", m1 == m2)

	negZero, _ := fingerprint.Of(math.Copysign(0, -1))
	zero, _ := fingerprint.Of(0.0)
	fmt.Println("-0 == +0:", negZero == zero)
	// Output:
	// 1 == "1": false
	// 1 == int64(1): false
	// 1 == 1: true
	// maps, any order: true
	// -0 == +0: false
}

func ExampleSum_String() {
	s, _ := fingerprint.Of(1)
	fmt.Println(s.String()[:16], len(s.String()))
	// Output: cac326b2d2626338 64
}

func ExampleHasher_Sum() {
	type Row struct {
		ID int
		Fn func() int
	}
	type Table struct{ Rows []Row }
	h := fingerprint.New(fingerprint.WithMaxDepth(4))

	_, err := h.Sum(Table{Rows: []Row{{ID: 1}, {ID: 2}, {ID: 3, Fn: func() int { return 3 }}}})
	fmt.Println(err)
	fmt.Println(errors.Is(err, fingerprint.ErrUnhashable))

	var ue *fingerprint.UnhashableError
	if errors.As(err, &ue) {
		fmt.Println("path:", ue.Path(), "type:", ue.Type)
	}
	// Output:
	// fingerprint: unhashable value at .Rows[2].Fn: func() int (funcs cannot be fingerprinted)
	// true
	// path: .Rows[2].Fn type: func() int
}

// Query has a cache that is not part of its identity.
type Query struct {
	SQL   string
	Args  []any
	cache map[string]int
}

// Fingerprint hashes the SQL text and arguments, not the cache.
func (q *Query) Fingerprint(w *fingerprint.Writer) error {
	w.String(q.SQL)
	return w.Value(q.Args)
}

func ExampleFingerprinter() {
	a, _ := fingerprint.Of(Query{SQL: "select 1", cache: map[string]int{"warm": 1}})
	b, _ := fingerprint.Of(Query{SQL: "select 1"})
	fmt.Println(a == b)
	// Output: true
}

func ExampleRegister() {
	// netip.Addr is not ours; hash it by its canonical text form.
	r := fingerprint.NewRegistry()
	fingerprint.Register(r, func(w *fingerprint.Writer, a netip.Addr) error {
		w.String(a.String())
		return nil
	})
	h := fingerprint.New(fingerprint.WithRegistry(r))
	x, _ := h.Sum(netip.MustParseAddr("::ffff:10.0.0.1").Unmap())
	y, _ := h.Sum(netip.MustParseAddr("10.0.0.1"))
	fmt.Println(x == y)
	// Output: true
}
