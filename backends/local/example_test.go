package local_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/core"
)

// Open a cache directory, store a node's result and its mapping, and find
// them again, as the caching adapter does for a warm node.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "flowcache-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	store, err := local.Open(ctx, dir) // "" opens ./.flowcache
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// The result, content-addressed by its data version and format.
	result := core.ResultID{Version: "5d41402abc4b2a76b9719d911017c592", Format: "json"}
	n, err := store.Results().Put(ctx, result, func(w io.Writer) error {
		_, err := io.WriteString(w, `{"answer":42}`)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}

	// The mapping from the node's cache key to the result, and the run.
	key := core.NewCacheKey("answer", "code-v1", []core.Dep{{Name: "question", Version: "7d793037a0760186574b0282f2f435e7"}})
	err = store.Metadata().Write(ctx, core.Batch{
		Run:     "run-1",
		Now:     time.Now(),
		Entries: []core.Entry{{Key: key, DataVersion: result.Version, Format: result.Format}},
		Records: []core.NodeRecord{{Node: "answer", Key: key, DataVersion: result.Version, Format: "json", Behavior: core.Default, Outcome: core.OutcomeExecuted, Size: n}},
	})
	if err != nil {
		log.Fatal(err)
	}

	// A later run: look the key up, then read the result to its verified end.
	e, err := store.Metadata().Get(ctx, key.ID())
	if err != nil {
		log.Fatal(err)
	}
	r, err := store.Results().Get(ctx, core.ResultID{Version: e.DataVersion, Format: e.Format})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, r); err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Key, "->", b.String())
	// Output: answer@code-v1(question=7d793037a076) -> {"answer":42}
}
