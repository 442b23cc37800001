package cli

// The formats of flowcache register themselves when imported, so that
// `flowcache verify` and `evict --damaged` can check the structure of
// results stored in any of them (maintain.WithFormats; gob, json and their
// zstd variants are registered by package formats).
import (
	_ "github.com/flowcache/flowcache/formats/arrow"
	_ "github.com/flowcache/flowcache/formats/csv"
	_ "github.com/flowcache/flowcache/formats/parquet"
)
