package docstore_test

import (
	"context"
	"testing"

	"github.com/flowcache/flowcache/backends/docstore"
	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/core"
)

// TestSharedLeases takes leases through several stores on one collection,
// each with its own client, as processes on several machines would: of
// the stores acquiring a free key, or taking over an expired lease, at
// once, exactly one gets it.
func TestSharedLeases(t *testing.T) {
	t.Run("memdocstore", func(t *testing.T) {
		coll := memCollection(t)
		conformance.TestSharedLeases(t, func(t *testing.T) core.MetadataStore { return docstore.New(coll) })
	})
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			u := srv.newURL(t)
			conformance.TestSharedLeases(t, func(t *testing.T) core.MetadataStore {
				s, err := docstore.Open(context.Background(), u)
				if err != nil {
					t.Fatal(err)
				}
				return s
			})
		})
	}
}
