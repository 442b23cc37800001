// Package sales is the pipeline of the quickstart and remote examples: read
// a CSV of sales, clean it, aggregate it per region.
package sales

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
)

// Nodes returns the pipeline's nodes. The file behind the path can change
// while the path stays the same, so the loader always runs; when what it
// read did not change, everything downstream is retrieved.
func Nodes() []*driver.NodeDef {
	return []*driver.NodeDef{
		driver.Node("raw_data", RawData, "path", driver.WithBehavior(core.Recompute)),
		driver.Node("clean_dataset", CleanDataset, "raw_data"),
		driver.Node("statistics", Statistics, "clean_dataset"),
	}
}

// Sale is one clean row of the dataset.
type Sale struct {
	Date      time.Time
	Region    string
	Product   string
	Units     int
	UnitPrice float64
}

// RegionStats aggregates the sales of one region.
type RegionStats struct {
	Region  string
	Sales   int
	Units   int
	Revenue float64
}

// RawData reads the CSV file at path.
func RawData(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return csv.NewReader(f).ReadAll()
}

// CleanDataset parses the rows and drops the invalid ones (missing or
// negative units, bad dates).
func CleanDataset(rows [][]string) ([]Sale, error) {
	if len(rows) == 0 {
		return nil, fmt.Errorf("empty file")
	}
	var out []Sale
	for _, r := range rows[1:] {
		date, err := time.Parse("2006-01-02", r[0])
		if err != nil {
			continue
		}
		units, err := strconv.Atoi(r[3])
		if err != nil || units < 0 {
			continue
		}
		price, err := strconv.ParseFloat(r[4], 64)
		if err != nil {
			continue
		}
		out = append(out, Sale{Date: date, Region: r[1], Product: r[2], Units: units, UnitPrice: price})
	}
	return out, nil
}

// Statistics aggregates the clean sales per region, sorted by region.
func Statistics(sales []Sale) []RegionStats {
	by := map[string]*RegionStats{}
	for _, s := range sales {
		st := by[s.Region]
		if st == nil {
			st = &RegionStats{Region: s.Region}
			by[s.Region] = st
		}
		st.Sales++
		st.Units += s.Units
		st.Revenue += float64(s.Units) * s.UnitPrice
	}
	out := make([]RegionStats, 0, len(by))
	for _, st := range by {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Region < out[j].Region })
	return out
}

// DefaultData finds data.csv beside this file, from the repository root or
// from this directory.
func DefaultData() string {
	for _, p := range []string{"examples/quickstart/data.csv", "../quickstart/data.csv", "data.csv"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		return filepath.Join(filepath.Dir(file), "..", "..", "quickstart", "data.csv")
	}
	return "data.csv"
}

// Run runs the pipeline on the CSV file data with the cache options given,
// and prints the statistics and the run's INFO log (every event when debug)
// to w.
func Run(ctx context.Context, w io.Writer, data string, debug bool, cache ...driver.CacheOption) error {
	dr, err := driver.NewBuilder().
		WithNodes(Nodes()...).
		WithCache(cache...).
		Build()
	if err != nil {
		return err
	}
	defer dr.Close()

	out, err := dr.Execute(ctx, []string{"statistics"}, driver.Inputs{"path": data}, nil)
	if err != nil {
		return err
	}
	stats, err := driver.Get[[]RegionStats](out, "statistics")
	if err != nil {
		return err
	}
	for _, s := range stats {
		fmt.Fprintf(w, "%-6s sales=%d units=%d revenue=%.2f\n", s.Region, s.Sales, s.Units, s.Revenue)
	}

	runID, err := dr.Cache().LastRunID(ctx)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	fmt.Fprintf(w, "run %s:\n", runID)
	for _, e := range dr.Cache().Events(level, runID) {
		fmt.Fprintln(w, "  "+e.String())
	}
	return nil
}
