package arrow_test

import (
	"bytes"
	"fmt"
	"reflect"

	"github.com/apache/arrow-go/v18/arrow"

	flowarrow "github.com/flowcache/flowcache/formats/arrow"
)

func Example() {
	type Trade struct {
		Symbol string
		Price  float64
		Qty    *int64 `arrow:"qty"`
	}
	qty := int64(100)
	trades := []Trade{{"ACME", 12.5, &qty}, {"INIT", 3.25, nil}}

	f := flowarrow.New()
	var buf bytes.Buffer
	if err := f.Encode(&buf, trades); err != nil {
		panic(err)
	}
	stored := buf.Bytes()

	// Load it back as the node's declared type...
	v, err := f.Decode(bytes.NewReader(stored), reflect.TypeFor[[]Trade]())
	if err != nil {
		panic(err)
	}
	back := v.([]Trade)
	fmt.Println(back[0].Symbol, *back[0].Qty, back[1].Qty == nil)

	// ...or as an Arrow record.
	r, err := f.Decode(bytes.NewReader(stored), reflect.TypeFor[arrow.RecordBatch]())
	if err != nil {
		panic(err)
	}
	rec := r.(arrow.RecordBatch)
	for _, fd := range rec.Schema().Fields() {
		fmt.Printf("%s: %v, nullable %t\n", fd.Name, fd.Type, fd.Nullable)
	}
	fmt.Println(rec.Column(2))
	// Output:
	// ACME 100 true
	// Symbol: utf8, nullable false
	// Price: float64, nullable false
	// qty: int64, nullable true
	// [100 (null)]
}
