// Command readmepicture draws the pictures of runs in the README with
// package view: the second run of examples/quickstart (its loader executed,
// the rest retrieved) and a fan-out run in which one new item executes.
// Regenerate them from the repository root with
//
//	go generate ./view
//
// (which runs go run ../internal/cmd/readmepicture -root .. -out
// ../docs/run.svg -fanout ../docs/fanout.svg in view/). The drawings leave out timings and
// run ids, so the files change only when the drawing does.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/view"
	_ "github.com/flowcache/flowcache/view/svg"
)

func main() {
	root := flag.String("root", ".", "the repository's root")
	out := flag.String("out", "docs/run.svg", "the quickstart picture (.svg or .dot)")
	fanout := flag.String("fanout", "", "the fan-out picture, if any")
	flag.Parse()
	ctx := context.Background()
	if err := quickstart(ctx, *root, *out); err != nil {
		fmt.Fprintln(os.Stderr, "readmepicture:", err)
		os.Exit(1)
	}
	if *fanout != "" {
		if err := fanOut(ctx, *fanout); err != nil {
			fmt.Fprintln(os.Stderr, "readmepicture:", err)
			os.Exit(1)
		}
	}
}

// quickstart runs examples/quickstart twice on a fresh cache, in processes
// of its own, and draws the second run from the cache directory.
func quickstart(ctx context.Context, root, out string) error {
	tmp, err := os.MkdirTemp("", "readmepicture")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "quickstart")
	build := exec.Command("go", "build", "-o", bin, "./examples/quickstart")
	build.Dir, build.Stderr = root, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the quickstart: %w", err)
	}
	cache := filepath.Join(tmp, "cache")
	for range 2 {
		run := exec.Command(bin, "-cache", cache)
		run.Dir, run.Stderr = root, os.Stderr
		if err := run.Run(); err != nil {
			return fmt.Errorf("running the quickstart: %w", err)
		}
	}
	st, err := local.Open(ctx, cache)
	if err != nil {
		return err
	}
	defer st.Close()
	return draw(ctx, st.Metadata(), "quickstart-2", "examples/quickstart, second run", out)
}

// draw writes the newest run of meta to path without timings, its run id
// replaced by name so that the file does not change from one generation to
// the next.
func draw(ctx context.Context, meta core.MetadataStore, name core.RunID, title, path string) error {
	g, err := view.Load(ctx, meta, "", view.WithoutTimings(), view.WithTitle(title))
	if err != nil {
		return err
	}
	g.Run = name
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := g.Render(ctx, f, filepath.Ext(path)[1:]); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Println("wrote", path)
	return nil
}

// The fan-out pipeline: list the files, parse each one (a task per file),
// then a report of all of them.
func listFiles(n int) []string {
	files := make([]string, n)
	for i := range files {
		files[i] = "file" + strconv.Itoa(i) + ".csv"
	}
	return files
}
func parse(file string) int   { return int(file[len("file")] - '0') }
func score(n, weight int) int { return n * weight }
func report(scores []int, title string) string {
	total := 0
	for _, s := range scores {
		total += s
	}
	return title + ": " + strconv.Itoa(total)
}

// fanOut runs the fan-out pipeline on three files, then on four: the new
// file's tasks execute, the others are retrieved.
func fanOut(ctx context.Context, path string) error {
	st := mem.Open()
	defer st.Close()
	for _, n := range []int{3, 4} {
		dr, err := driver.NewBuilder().WithNodes(
			driver.Node("files", listFiles, "n", driver.Expand()),
			driver.Node("parse", parse, "files"),
			driver.Node("score", score, "parse", "weight"),
			driver.Node("report", report, "score", "title", driver.Collect()),
		).WithCache(driver.CacheStores(st.Metadata(), st.Results())).Build()
		if err != nil {
			return err
		}
		_, err = dr.Execute(ctx, []string{"report"}, driver.Inputs{"n": n, "weight": 2, "title": "scores"}, nil)
		dr.Close()
		if err != nil {
			return err
		}
	}
	return draw(ctx, st.Metadata(), "fanout-2", "a fan-out, second run with one more item", path)
}
