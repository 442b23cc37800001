// Command m is the pipeline of TestWhyNamesCodeChanges: built, run, edited,
// built and run again against one cache, so that `flowcache why` has two
// code versions of each node to compare. go.mod is written by the test.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"example.com/dep"
	"example.com/m/stats"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
)

// Factor scales the mean.
const Factor = 2

func Load(n int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = float64(i)
	}
	return xs
}

func Mean(xs []float64) float64 { return stats.Mean(xs) }

func Scaled(m float64) float64 { return m * Factor }

func Tagged(m float64) string { return dep.Tag(m) }

func main() {
	cache := flag.String("cache", "", "cache directory")
	flag.Parse()
	dr, err := driver.NewBuilder().WithNodes(
		driver.Node("load", Load, "n"),
		driver.Node("mean", Mean, "load"),
		driver.Node("scaled", Scaled, "mean"),
		driver.Node("tagged", Tagged, "mean"),
	).WithCache(driver.CacheDir(*cache),
		// Store every code manifest, however long describing the code
		// takes on a loaded machine.
		driver.CacheCoreOptions(core.WithManifestWait(time.Minute))).Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer dr.Close()
	out, err := dr.Execute(context.Background(), []string{"scaled", "tagged"}, driver.Inputs{"n": 10}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(out["scaled"], out["tagged"])
}
