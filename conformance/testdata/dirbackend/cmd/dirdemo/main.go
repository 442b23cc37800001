// Command dirdemo runs a three-node pipeline with its cache in a dir://
// store, and prints the run id and each node's outcome:
//
//	go run ./cmd/dirdemo -cache dir:///tmp/dirstore
//	go run ./cmd/dirdemo -cache dir:///tmp/dirstore   # retrieves what it can
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	_ "example.com/dirbackend" // registers dir://
	"github.com/flowcache/flowcache/driver"
)

func main() {
	cache := flag.String("cache", "", "the store URL, dir:///absolute/path")
	text := flag.String("text", "the quick brown fox jumps over the lazy dog", "the input")
	flag.Parse()
	if err := run(*cache, *text); err != nil {
		fmt.Fprintln(os.Stderr, "dirdemo:", err)
		os.Exit(1)
	}
}

func words(text string) []string { return strings.Fields(text) }

func longest(ws []string) string {
	var l string
	for _, w := range ws {
		if len(w) > len(l) {
			l = w
		}
	}
	return l
}

func count(ws []string) int { return len(ws) }

func run(cache, text string) error {
	dr, err := driver.NewBuilder().
		WithNodes(
			driver.Node("words", words, "text"),
			driver.Node("longest", longest, "words"),
			driver.Node("count", count, "words"),
		).
		WithCache(driver.CacheURL(cache)).
		Build()
	if err != nil {
		return err
	}
	defer dr.Close()
	res, err := dr.Run(context.Background(), []string{"longest", "count"}, driver.Inputs{"text": text}, nil)
	if err != nil {
		return err
	}
	fmt.Printf("run %s: longest=%v count=%v\n", res.RunID, res.Values["longest"], res.Values["count"])
	names := make([]string, 0, len(res.Outcomes))
	for n := range res.Outcomes {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Printf("  %s: %s\n", n, res.Outcomes[n])
	}
	return nil
}
