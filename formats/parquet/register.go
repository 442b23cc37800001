package parquet

import "github.com/flowcache/flowcache/formats"

func init() { formats.Register(New()) }
