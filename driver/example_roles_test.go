package driver_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
)

// LoadCSV reads external data: the cache cannot see the file change.
func LoadCSV(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	return strings.Split(strings.TrimSpace(string(b)), "\n"), err
}

// Rows counts the data rows.
func Rows(lines []string) int { return len(lines) - 1 }

// WriteReport writes the report and returns its path.
func WriteReport(rows int, path string) (string, error) {
	return path, os.WriteFile(path, fmt.Appendf(nil, "rows: %d\n", rows), 0o644)
}

// Loaders read in every run (Hamilton's default_loader_behavior="recompute"),
// and what depends on them is retrieved while the data read is the same;
// the saver writes in every run. The third run sees the edited file.
func ExampleLoader() {
	dir, _ := os.MkdirTemp("", "flowcache-example")
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data.csv")
	os.WriteFile(data, []byte("region,sales\nnorth,10\nsouth,20\n"), 0o644)

	st := mem.Open()
	dr, err := driver.NewBuilder().
		WithNodes(
			driver.Node("lines", LoadCSV, "path", driver.Loader()),
			driver.Node("rows", Rows, "lines"),
			driver.Node("report", WriteReport, "rows", "out", driver.Saver()),
		).
		WithCache(driver.CacheStores(st.Metadata(), st.Results()),
			driver.DefaultLoaderBehavior(core.Recompute),
			driver.DefaultSaverBehavior(core.Recompute)).
		Build()
	if err != nil {
		panic(err)
	}
	defer dr.Close()
	in := driver.Inputs{"path": data, "out": filepath.Join(dir, "report.txt")}
	for run := range 3 {
		if run == 2 {
			os.WriteFile(data, []byte("region,sales\nnorth,10\nsouth,20\neast,5\n"), 0o644)
		}
		res, err := dr.Run(context.Background(), []string{"report"}, in, nil)
		if err != nil {
			panic(err)
		}
		report, _ := os.ReadFile(filepath.Join(dir, "report.txt"))
		fmt.Printf("run %d: lines %s, rows %s, report %s: %s", run+1,
			res.Outcomes["lines"], res.Outcomes["rows"], res.Outcomes["report"], report)
	}
	// Output:
	// run 1: lines executed, rows executed, report executed: rows: 2
	// run 2: lines executed, rows retrieved, report executed: rows: 2
	// run 3: lines executed, rows executed, report executed: rows: 3
}

// BuildContext opens the cache's store under a context: a build whose
// context is done fails, and opens nothing.
func ExampleBuilder_BuildContext() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dr, err := driver.NewBuilder().
		WithNodes(driver.Node("words", Words, "text")).
		WithCache(driver.CacheURL("mem://example-buildcontext")). // "s3://bucket/cache?region=…" alike
		BuildContext(ctx)
	if err != nil {
		panic(err)
	}
	dr.Close()

	cancel()
	_, err = driver.NewBuilder().
		WithNodes(driver.Node("words", Words, "text")).
		WithCache(driver.CacheURL("mem://example-buildcontext")).
		BuildContext(ctx)
	fmt.Println(err, errors.Is(err, context.Canceled))
	// Output: driver: build: context canceled true
}
