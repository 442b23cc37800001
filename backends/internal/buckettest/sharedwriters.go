package buckettest

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"

	"gocloud.dev/blob"

	"github.com/flowcache/flowcache/backends/blobmeta"
	"github.com/flowcache/flowcache/core"
)

// SharedWriters checks that metadata stores sharing a bucket, as processes
// on several machines do, never hide each other's entries: writers with
// stores of their own add keys to the same node indexes at the same
// instant (so their conditional rewrites collide), one of them keeping a
// preload snapshot of its nodes up to date with its own view; then a fresh
// store's Preload, of that set of nodes and of another set sharing a node,
// returns every key. baseURL is scheme://bucket?params of an empty bucket
// whose backend is imported.
func SharedWriters(t *testing.T, baseURL string) {
	const (
		writers = 8
		batches = 6
		perKey  = 3 // keys a writer adds to each node per batch
	)
	ctx := context.Background()
	base, err := url.Parse(baseURL)
	if err != nil {
		t.Fatal(err)
	}
	bu := url.URL{Scheme: base.Scheme, Host: base.Host, RawQuery: base.RawQuery}
	open := func() *blobmeta.MetadataStore {
		b, err := blob.OpenBucket(ctx, bu.String())
		if err != nil {
			t.Fatal(err)
		}
		return blobmeta.New(b, "shared/", blobmeta.WithOwnedBucket())
	}
	nodes := []string{"a", "b"}
	want := map[core.KeyID]core.DataVersion{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, writers)
	for w := range writers {
		m := open()
		defer m.Close()
		// Every writer preloads the set, so each keeps (and rewrites) the
		// snapshot with its own view, as the processes of one pipeline do.
		if _, err := m.Preload(ctx, nodes); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			<-start
			for i := range batches {
				var b core.Batch
				for _, node := range nodes {
					for j := range perKey {
						k := core.NewCacheKey(node, "code", []core.Dep{{Name: "x", Version: core.DataVersion(fmt.Sprintf("w%d-b%d-k%d", w, i, j))}})
						v := core.DataVersion(fmt.Sprintf("v-%s-%d-%d-%d", node, w, i, j))
						b.Entries = append(b.Entries, core.Entry{Key: k, DataVersion: v, Format: "gob"})
						mu.Lock()
						want[k.ID()] = v
						mu.Unlock()
					}
				}
				if err := m.Write(ctx, b); err != nil {
					errs <- fmt.Errorf("writer %d batch %d: %w", w, i, err)
					return
				}
				// A Preload between batches, as the next run of a process
				// makes: it reads what the others wrote into the snapshot.
				if _, err := m.Preload(ctx, nodes); err != nil {
					errs <- fmt.Errorf("writer %d preload: %w", w, err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	check := func(set []string) {
		t.Helper()
		m := open()
		defer m.Close()
		got, err := m.Preload(ctx, set)
		if err != nil {
			t.Fatal(err)
		}
		lost := 0
		for id, v := range want {
			k := got[id]
			if k.DataVersion != v {
				lost++
			}
		}
		if lost > 0 {
			t.Errorf("Preload(%v) after %d writers × %d batches: %d of %d keys missing or wrong", set, writers, batches, lost, len(want))
		}
	}
	check(nodes)
	check(nodes) // through the snapshot the first check wrote
	// Another pipeline sharing node b: its own snapshot, written before
	// the writers added to b, must not hide what they added.
	other := []string{"b", "c"}
	m := open()
	if _, err := m.Preload(ctx, other); err != nil {
		t.Fatal(err)
	}
	m.Close()
	k := core.NewCacheKey("b", "code", []core.Dep{{Name: "x", Version: "late"}})
	writer := open()
	if _, err := writer.Preload(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	if err := writer.Write(ctx, core.Batch{Entries: []core.Entry{{Key: k, DataVersion: "v-late", Format: "gob"}}}); err != nil {
		t.Fatal(err)
	}
	writer.Close()
	m = open()
	defer m.Close()
	got, err := m.Preload(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if got[k.ID()].DataVersion != "v-late" {
		t.Errorf("Preload of another set sharing node b does not return the key a run of the first set wrote: %+v", got[k.ID()])
	}
}
