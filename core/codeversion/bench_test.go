package codeversion

import (
	"fmt"
	"os"
	"testing"
)

// benchFile writes the 1000-function file and returns its locations.
func benchFile(b *testing.B) (string, []location) {
	b.Helper()
	path, lines := writeManyFuncs(b, b.TempDir(), 1000)
	locs := make([]location, len(lines))
	for i, l := range lines {
		locs[i] = location{name: fmt.Sprintf("gen.f%04d", i), file: path, line: l, exact: true}
	}
	return path, locs
}

// BenchmarkManyFuncsOneFile measures 1000 functions of one file: parsing the
// file ("parse"), the first version of each function once the file is parsed
// ("first": stat, lookup, scan and hash), a repeated lookup ("repeat": stat
// and lookup; Of itself answers repeats from a per-function memo, see
// BenchmarkOf), and all of it from an empty cache ("cold").
func BenchmarkManyFuncsOneFile(b *testing.B) {
	path, locs := benchFile(b)
	n := float64(len(locs))
	b.Run("parse", func(b *testing.B) {
		src, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			if _, err := parseSource(path, src); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/func")
	})
	b.Run("first", func(b *testing.B) {
		r := newResolver()
		s, err := r.source(path)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			for i := range s.memo {
				s.memo[i].Store(nil)
			}
			for _, l := range locs {
				if info := r.info(l); !info.FromSource {
					b.Fatal(info.Fallback)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/func")
	})
	b.Run("repeat", func(b *testing.B) {
		r := newResolver()
		for b.Loop() {
			for _, l := range locs {
				if info := r.info(l); !info.FromSource {
					b.Fatal(info.Fallback)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/func")
	})
	b.Run("cold", func(b *testing.B) {
		// A fresh cache each time: read, parse, and version all 1000.
		for b.Loop() {
			r := newResolver()
			for _, l := range locs {
				if info := r.info(l); !info.FromSource {
					b.Fatal(info.Fallback)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/func")
	})
}

// BenchmarkOf measures Of end to end (runtime lookup, stat, cached version).
func BenchmarkOf(b *testing.B) {
	c := counter{}
	for _, bm := range []struct {
		name string
		fn   any
	}{
		{"func", double},
		{"closure", makeAdder(1)},
		{"methodValue", c.Get},
	} {
		b.Run(bm.name, func(b *testing.B) {
			if info, _ := Of(bm.fn); !info.FromSource {
				b.Skip("no source:", info.Fallback)
			}
			for b.Loop() {
				if _, err := Of(bm.fn); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
