package mem_test

import (
	"context"
	"testing"

	"gocloud.dev/blob"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/conformance/scenarios"
	"github.com/flowcache/flowcache/core"
)

func TestMetadataStore(t *testing.T) {
	conformance.TestMetadataStore(t, func(t *testing.T) core.MetadataStore { return mem.NewMetadataStore() })
}

func TestResultStore(t *testing.T) {
	var bucket *blob.Bucket
	var prefix func(core.ResultID) string
	calls := 0
	conformance.TestResultStore(t, func(t *testing.T) core.ResultStore {
		s := mem.NewResultStore()
		bucket, prefix = s.Bucket(), s.Key
		return s
	}, func(t *testing.T, id core.ResultID) {
		ctx := context.Background()
		key := prefix(id)
		data, err := bucket.ReadAll(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		calls++
		switch calls % 3 {
		case 0:
			data = data[:len(data)-1] // lose the last byte
		case 1:
			data[len(data)/2] ^= 0x40 // flip a bit in the middle
		case 2:
			data = append(data, 0) // a byte too many
		}
		if err := bucket.WriteAll(ctx, key, data, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestScenarios(t *testing.T) {
	scenarios.TestScenarios(t, func(t *testing.T) (core.MetadataStore, core.ResultStore) {
		st := mem.Open()
		t.Cleanup(func() { st.Close() })
		return st.Metadata(), st.Results()
	})
}
