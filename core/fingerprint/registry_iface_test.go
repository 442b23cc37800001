package fingerprint_test

import (
	"testing"

	"github.com/flowcache/flowcache/core/fingerprint"
)

type shape interface{ Area() float64 }

type square struct {
	side  float64
	cache []float64 // not part of the identity
}

func (s *square) Area() float64 { return s.side * s.side }

func TestRegisterInterface(t *testing.T) {
	r := fingerprint.NewRegistry()
	h := fingerprint.New(fingerprint.WithRegistry(r))
	a := &square{side: 2, cache: []float64{1}}
	b := &square{side: 2, cache: []float64{9, 9}}
	c := &square{side: 3}
	sa, _ := h.Sum(a)
	sb, _ := h.Sum(b)
	if sa == sb {
		t.Fatal("without a rule, the cache field makes the sums differ")
	}
	fingerprint.RegisterInterface(r, func(w *fingerprint.Writer, s shape) error {
		w.Float(s.Area())
		return nil
	})
	sa, err1 := h.Sum(a)
	sb, err2 := h.Sum(b)
	sc, err3 := h.Sum(c)
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatal(err1, err2, err3)
	}
	if sa != sb || sa == sc {
		t.Fatalf("interface rule not used: %v %v %v", sa, sb, sc)
	}
	// Inside a slice and an interface too.
	s1, _ := h.Sum([]shape{a})
	s2, _ := h.Sum([]shape{b})
	if s1 != s2 {
		t.Fatal("interface rule not used for elements")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("RegisterInterface with a non-interface type did not panic")
		}
	}()
	fingerprint.RegisterInterface(r, func(*fingerprint.Writer, int) error { return nil })
}
