package maintain_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/maintain"
)

func Double(x int) int { return 2 * x }

func Plus(d, y int) int { return d + y }

// A dry run lists what a policy would evict. The grace period protects what
// was stored or used in the last hour; NoGrace turns it off (here nothing
// else runs on the cache).
func ExampleCache_Evict() {
	ctx := context.Background()
	st := mem.Open()
	dr, err := driver.NewBuilder().
		WithNodes(driver.Node("double", Double, "x"), driver.Node("plus", Plus, "double", "y")).
		// Store the code manifests however long describing the code takes
		// (see core.WithManifestWait).
		WithCache(driver.CacheStores(st.Metadata(), st.Results()), driver.CacheCoreOptions(core.WithManifestWait(time.Minute))).
		Build()
	if err != nil {
		panic(err)
	}
	for y := range 3 {
		if _, err := dr.Execute(ctx, []string{"plus"}, driver.Inputs{"x": 1, "y": y}, nil); err != nil {
			panic(err)
		}
	}

	// double and plus with y=0 both have the value 2: their entries share
	// one result, which goes when both entries go (the two least recently
	// used). The code manifests of double and plus (what `flowcache why`
	// reads, stored together in one result by the first run) are entries
	// too: double's goes with its only entry.
	m := maintain.New(st.Metadata(), st.Results())
	u, _ := m.Usage(ctx)
	fmt.Printf("%d entries, %d results, of which %d code manifests\n", u.Entries, u.Results, u.CodeManifests)
	rep, err := m.Evict(ctx, maintain.Policy{MaxEntries: 2, Grace: maintain.NoGrace, DryRun: true})
	if err != nil {
		panic(err)
	}
	var evicted []string
	for _, e := range rep.Entries {
		evicted = append(evicted, e.Node+" ("+string(e.Reason)+")")
	}
	slices.Sort(evicted)
	fmt.Println("would evict", strings.Join(evicted, ", "))
	fmt.Printf("would evict %d results, keeping %d entries\n", len(rep.Results), rep.After.Entries)
	// Output:
	// 6 entries, 4 results, of which 2 code manifests
	// would evict @code (code_unused), double (max_entries), plus (max_entries)
	// would evict 1 results, keeping 3 entries
}

// Trim evicts at most once a day, by a marker file: a program can call it
// each time it starts. Here the cache is in memory, so the marker is a file
// of its own (a local cache directory keeps it, as trim.txt).
func ExampleCache_Trim() {
	ctx := context.Background()
	st := mem.Open()
	defer st.Close()
	dir, err := os.MkdirTemp("", "flowcache-trim")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	m := maintain.New(st.Metadata(), st.Results(), maintain.WithTrimMarker(filepath.Join(dir, "trim.txt")))
	p := maintain.Policy{MaxSize: 10 << 30, OlderThan: 30 * 24 * time.Hour, GC: true}
	for range 2 {
		rep, err := m.Trim(ctx, p, 0) // 0: maintain.DefaultTrimInterval, a day
		if err != nil {
			panic(err)
		}
		fmt.Println("evicted:", rep.Evicted)
	}
	// Output:
	// evicted: true
	// evicted: false
}
