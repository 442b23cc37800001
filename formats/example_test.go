package formats_test

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"reflect"
	"time"

	"github.com/flowcache/flowcache/formats"
)

func ExampleJSON() {
	type Stat struct {
		Region string    `json:"region"`
		Mean   float64   `json:"mean"`
		Since  time.Time `json:"since"`
	}
	f := formats.JSON()
	stats := []Stat{{"north", 1.5, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}}
	if err := f.Encode(os.Stdout, stats); err != nil {
		fmt.Println(err)
	}

	var buf bytes.Buffer
	_ = f.Encode(&buf, stats)
	back, _ := f.Decode(&buf, reflect.TypeOf(stats))
	fmt.Println(reflect.DeepEqual(back, stats))

	// What JSON cannot hold fails at build time (Check) or when encoding.
	fmt.Println(f.Check(reflect.TypeOf(map[string]complex128{})))
	fmt.Println(f.Encode(&buf, math.NaN()))
	// Output:
	// [{"region":"north","mean":1.5,"since":"2026-01-02T00:00:00Z"}]
	// true
	// unsupported type: json cannot store map[string]complex128[value] (type complex128): JSON has no complex numbers; use another format (gob), or the Ignore or Disable behavior
	// json: encoding float64: json: unsupported value: NaN (JSON has no NaN or ±Inf: replace them, or use gob)
}

func ExampleZstd() {
	f := formats.Zstd(formats.JSON())
	rows := make([]float64, 100_000) // compresses well
	var plain, packed bytes.Buffer
	_ = formats.JSON().Encode(&plain, rows)
	_ = f.Encode(&packed, rows)
	fmt.Println(f.Name(), plain.Len(), "bytes as json,", packed.Len() < plain.Len()/100, "under 1% of that with zstd")
	back, err := f.Decode(&packed, reflect.TypeOf(rows))
	fmt.Println(len(back.([]float64)), err)
	// Output:
	// json+zstd 200002 bytes as json, true under 1% of that with zstd
	// 100000 <nil>
}

func ExampleLookup() {
	f, err := formats.Lookup("gob+zstd")
	fmt.Println(f.Name(), err)
	_, err = formats.Lookup("yaml")
	fmt.Println(err)
	// Output:
	// gob+zstd <nil>
	// invalid argument: unknown format "yaml" (known: gob, gob+zstd, json, json+zstd; formats/csv, formats/arrow and formats/parquet register theirs when imported)
}
