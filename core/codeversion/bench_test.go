package codeversion

import (
	"testing"

	"github.com/flowcache/flowcache/internal/chaingen"
)

// BenchmarkWarmProcess measures what a process of an unchanged module pays
// for the versions of 1000 functions: listing the module, reading the
// persisted table and looking each function up (a fresh resolver per
// iteration stands for a fresh process).
func BenchmarkWarmProcess(b *testing.B) { benchProcess(b, nil) }

// benchProcess computes and keeps the versions of 1000 functions once, then
// measures a fresh resolver (a later process) getting them again, with
// buildID as the executable's build ID (nil: no executable table).
func benchProcess(b *testing.B, buildID func() string) {
	tables := b.TempDir()
	fns := chaingen.Funcs[:1000]
	newR := func() *resolver {
		r := newResolver()
		r.tables, r.buildID = tables, buildID
		return r
	}
	r := newR()
	for _, fn := range fns {
		if _, err := r.of(fn); err != nil {
			b.Fatal(err)
		}
	}
	r.saveTables()
	b.ReportAllocs()
	for b.Loop() {
		r := newR()
		if buildID != nil {
			r.scanTree = func(string) (*tree, error) { b.Fatal("listed the module"); return nil, nil }
		}
		for _, fn := range fns {
			info, _ := r.of(fn)
			if !info.FromSource {
				b.Fatal(info.Fallback)
			}
		}
		// A process does not unmap its table: its mappings go with it.
		b.StopTimer()
		r.exeTab.loaded.release()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/process")
}

// BenchmarkEditProcess measures the first process after an edit: the module
// is parsed and type-checked and the versions of 1000 functions computed.
func BenchmarkEditProcess(b *testing.B) {
	fns := chaingen.Funcs[:1000]
	for b.Loop() {
		r := newResolver()
		for _, fn := range fns {
			info, _ := r.of(fn)
			if !info.FromSource {
				b.Fatal(info.Fallback)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/process")
}

// BenchmarkExeTableProcess is BenchmarkWarmProcess for a later process of
// the same executable: the versions come from the executable's table
// (exetable.go), the module is not listed.
func BenchmarkExeTableProcess(b *testing.B) {
	benchProcess(b, func() string { return "aaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbb" })
}
