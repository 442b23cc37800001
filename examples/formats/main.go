// Command formats shows a node's result stored in a chosen format: a raw table, the cleaned
// dataset stored as Parquet and the statistics as JSON. It then reads the
// stored Parquet bytes back with the Arrow Parquet reader, to show that a
// cached result is an ordinary Parquet file other tools can open.
//
//	go run ./examples/formats
package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/formats"
	"github.com/flowcache/flowcache/formats/parquet"
)

// Sale is one clean row.
type Sale struct {
	Region    string
	Product   string
	Units     int64
	UnitPrice float64
}

// Stats is the JSON-stored summary.
type Stats struct {
	Rows    int                `json:"rows"`
	Revenue map[string]float64 `json:"revenue_by_region"`
}

// RawTable reads the CSV file at path.
func RawTable(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return csv.NewReader(f).ReadAll()
}

// CleanDataset keeps the rows with valid units and prices.
func CleanDataset(rows [][]string) []Sale {
	var out []Sale
	for _, r := range rows[1:] {
		units, err1 := strconv.ParseInt(r[3], 10, 64)
		price, err2 := strconv.ParseFloat(r[4], 64)
		if err1 != nil || err2 != nil || units < 0 {
			continue
		}
		out = append(out, Sale{Region: r[1], Product: r[2], Units: units, UnitPrice: price})
	}
	return out
}

// Statistics sums the revenue per region.
func Statistics(sales []Sale) Stats {
	st := Stats{Rows: len(sales), Revenue: map[string]float64{}}
	for _, s := range sales {
		st.Revenue[s.Region] += float64(s.Units) * s.UnitPrice
	}
	return st
}

func defaultData() string {
	for _, p := range []string{"examples/formats/data.csv", "data.csv"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "data.csv")
}

func main() {
	data := flag.String("data", defaultData(), "CSV file to read")
	dir := flag.String("cache", driver.DefaultCacheDir, "cache directory")
	flag.Parse()
	if err := run(*data, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "formats:", err)
		os.Exit(1)
	}
}

func run(data, dir string) error {
	ctx := context.Background()
	dr, err := driver.NewBuilder().
		WithNodes(
			driver.Node("raw_table", RawTable, "path", driver.WithBehavior(core.Recompute)),
			driver.Node("clean_dataset", CleanDataset, "raw_table", driver.WithFormat(parquet.New())),
			driver.Node("statistics", Statistics, "clean_dataset", driver.WithFormat(formats.JSON())),
		).
		WithCache(driver.CacheDir(dir)).
		Build()
	if err != nil {
		return err
	}
	defer dr.Close()
	out, err := dr.Execute(ctx, []string{"statistics"}, driver.Inputs{"path": data}, nil)
	if err != nil {
		return err
	}
	st := out["statistics"].(Stats)
	fmt.Printf("statistics: %d rows, revenue north %.2f\n", st.Rows, st.Revenue["north"])
	last, err := dr.Cache().LastRunID(ctx)
	if err != nil {
		return err
	}
	for _, e := range dr.Cache().Events(slog.LevelInfo, last) {
		fmt.Println("  " + e.String())
	}

	// Find the stored result of clean_dataset in this run's history and
	// read its bytes as any Parquet reader would.
	runID, err := dr.Cache().LastRunID(ctx)
	if err != nil {
		return err
	}
	recs, err := dr.Cache().Metadata().Run(ctx, runID)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.Node != "clean_dataset" {
			continue
		}
		rc, err := dr.Cache().Results().Get(ctx, core.ResultID{Version: r.DataVersion, Format: "parquet"})
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		tbl, err := pqarrow.ReadTable(ctx, bytes.NewReader(b), nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		if err != nil {
			return fmt.Errorf("reading the stored Parquet file: %w", err)
		}
		defer tbl.Release()
		fmt.Printf("clean_dataset is a Parquet file of %d bytes, %d rows:", len(b), tbl.NumRows())
		for _, f := range tbl.Schema().Fields() {
			fmt.Printf(" %s %s", f.Name, f.Type)
		}
		fmt.Println()
	}
	return nil
}
