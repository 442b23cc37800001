// Command quickstart is the smallest real flowcache pipeline: it reads a CSV
// of sales, cleans it, and aggregates it per region, with every result cached
// in ./.flowcache. Run it twice: the first run executes every node, the
// second retrieves them.
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart   # retrieved from ./.flowcache
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/examples/internal/sales"
)

func main() {
	data := flag.String("data", sales.DefaultData(), "CSV file to read")
	dir := flag.String("cache", driver.DefaultCacheDir, `cache directory ("": $FLOWCACHE_URL, else ./.flowcache)`)
	debug := flag.Bool("debug", false, "print every cache event, not only the INFO ones")
	flag.Parse()
	if err := run(*data, *dir, *debug); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// cacheOptions keeps the cache in dir, or, when dir is "", where
// FLOWCACHE_URL says (./.flowcache if it is not set).
func cacheOptions(dir string) []driver.CacheOption {
	if dir == "" {
		return nil
	}
	return []driver.CacheOption{driver.CacheDir(dir)}
}

func run(data, dir string, debug bool) error {
	return sales.Run(context.Background(), os.Stdout, data, debug, cacheOptions(dir)...)
}
