package parquet_test

import (
	"testing"

	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/formats/internal/tabletest"
	"github.com/flowcache/flowcache/formats/parquet"
)

// Records and tables are not in the suite: it loads values as their
// dynamic type, and arrow-go's record and table types are unexported (the
// package tests round-trip them as arrow.Record and arrow.Table).
func TestConformance(t *testing.T) {
	conformance.TestFormat(t, tabletest.Suite(parquet.New(), sampleRows()))
}
