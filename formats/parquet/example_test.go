package parquet_test

import (
	"bytes"
	"context"
	"fmt"
	"reflect"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/flowcache/flowcache/formats/parquet"
)

func Example() {
	type Reading struct {
		Sensor string
		Value  float64
		Count  uint32
	}
	rows := []Reading{{"a", 1.5, 3}, {"b", -2, 4000000000}}

	f := parquet.New()
	var buf bytes.Buffer
	if err := f.Encode(&buf, rows); err != nil {
		panic(err)
	}

	// The stored bytes are an ordinary Parquet file: any reader opens it.
	tbl, err := pqarrow.ReadTable(context.Background(), bytes.NewReader(buf.Bytes()), nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		panic(err)
	}
	fmt.Println(tbl.NumRows(), "rows")
	for i := range int(tbl.NumCols()) {
		fmt.Println(tbl.Column(i).Name(), tbl.Column(i).DataType(), tbl.Column(i).Data().Chunk(0))
	}

	// And it loads back as the node's type.
	v, err := f.Decode(bytes.NewReader(buf.Bytes()), reflect.TypeFor[[]Reading]())
	if err != nil {
		panic(err)
	}
	fmt.Println(v.([]Reading)[1])
	// Output:
	// 2 rows
	// Sensor utf8 ["a" "b"]
	// Value float64 [1.5 -2]
	// Count uint32 [3 4000000000]
	// {b -2 4000000000}
}
