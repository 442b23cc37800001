package codeversion

import (
	"fmt"
	"github.com/flowcache/flowcache/internal/chaingen"
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
// file ("parse", what a function that cannot be found without a parse costs
// once per file), scanning and hashing each function from its line
// ("quick"), the same through the resolver with the file cached ("first":
// stat, scan and hash; Of answers repeats from a per-function memo, see
// BenchmarkOf), and all of it from an empty cache ("cold": read, stat, scan
// and hash; Of stats a file at most once a second, see
// BenchmarkOfFreshProcess1000).
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
	b.Run("quick", func(b *testing.B) {
		src, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		text := newQuickText(src)
		for b.Loop() {
			for _, l := range locs {
				if _, _, ok := quickVersion(&text, l.name, l.line); !ok {
					b.Fatal("not found without a parse:", l.name)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/func")
	})
	b.Run("first", func(b *testing.B) {
		r := newResolver()
		if _, err := r.source(path); err != nil {
			b.Fatal(err)
		}
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
		// A fresh cache each time: read, stat, and version all 1000.
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

// BenchmarkOfFreshProcess1000 measures what a fresh process pays to version
// the 1000 nodes of `flowbench chain -n 1000`: Of for 1000 distinct functions
// of one generated 2000-function file (package internal/chaingen, the
// functions of cmd/flowbench), from empty caches, reading the file
// included. The functions are found by the quick path, without a parse.
func BenchmarkOfFreshProcess1000(b *testing.B) {
	fns := chaingen.Funcs[:1000]
	if info, _ := Of(fns[0]); !info.FromSource {
		b.Skip("no source:", info.Fallback)
	}
	for b.Loop() {
		r := newProcessResolver()
		for _, fn := range fns {
			if info, err := r.of(fn); err != nil || !info.FromSource {
				b.Fatal(err, info.Fallback)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N)/float64(len(fns)), "µs/func")
}
