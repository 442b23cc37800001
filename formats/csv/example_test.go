package csv_test

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/flowcache/flowcache/formats/csv"
)

func Example() {
	type Reading struct {
		Station string    `csv:"station"`
		At      time.Time `csv:"at"`
		Celsius *float64  `csv:"celsius"` // nil: no reading
	}
	t := 21.5
	rows := []Reading{
		{"Oslo, harbour", time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC), &t},
		{"", time.Date(2024, 5, 6, 7, 30, 0, 5, time.UTC), nil},
	}

	f := csv.New()
	var buf bytes.Buffer
	if err := f.Encode(&buf, rows); err != nil {
		panic(err)
	}
	// The last record ends with "\r\n", the end mark (see the package doc).
	file := buf.String()
	fmt.Print(strings.TrimSuffix(file, "\r\n") + "\n")
	fmt.Println("end mark:", strings.HasSuffix(file, "\r\n"))

	v, err := f.Decode(&buf, reflect.TypeOf(rows))
	if err != nil {
		panic(err)
	}
	back := v.([]Reading)
	fmt.Println(back[0].Station, *back[0].Celsius, back[1].Station == "", back[1].Celsius == nil)

	// Output:
	// station,at,celsius
	// "Oslo, harbour",2024-05-06T07:00:00Z,21.5
	// "",2024-05-06T07:30:00.000000005Z,
	// end mark: true
	// Oslo, harbour 21.5 true true
}
