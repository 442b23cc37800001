package inspect_test

import (
	"context"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/inspect"
)

func Count(n int) int             { return n + 1 }
func CountF(n int) float64        { return float64(n) + 0.5 }
func scaleBy(k int) func(int) int { return func(n int) int { return n * k } }

// codeChanges returns the code changes of node's explanation in run, and
// its text.
func codeChanges(t *testing.T, ic *inspect.Cache, run core.RunID, node string) ([]inspect.CodeChange, inspect.Change, string) {
	t.Helper()
	e := why(t, ic, run, node)
	wantReason(t, e, inspect.ReasonKeyChanged, inspect.Change{Kind: inspect.ChangeCodeVersion})
	if len(e.Changes) == 0 {
		return nil, inspect.Change{}, e.Text
	}
	return e.Changes[0].Code, e.Changes[0], e.Text
}

// Why names what changed in a node's code, from the code manifests of the
// two versions: WithState values, the function replaced by another, the
// result type; and without the manifests, only that the version changed.
func TestWhyCode(t *testing.T) {
	c := newCacheDir(t)
	in := driver.Inputs{"n": 1}
	run := func(nodes ...*driver.NodeDef) core.RunID {
		r := c.Run(nodes, []string{nodes[0].Name()}, in, nil)
		return r.ID
	}
	run(driver.Node("first", Count, "n"))
	ic := c.open()

	t.Run("state", func(t *testing.T) {
		run(driver.Node("scaled", scaleBy(2), "n", driver.WithState(2)))
		id := run(driver.Node("scaled", scaleBy(3), "n", driver.WithState(3)))
		code, _, text := codeChanges(t, ic, id, "scaled")
		if len(code) != 1 || code[0].What != inspect.CodeState || !strings.Contains(text, "WithState values changed") {
			t.Errorf("code changes %+v (%s): want the state", code, text)
		}
	})

	t.Run("function and result type", func(t *testing.T) {
		run(driver.Node("count", Count, "n"))
		id := run(driver.Node("count", CountF, "n"))
		code, _, text := codeChanges(t, ic, id, "count")
		if len(code) != 2 || code[0].What != inspect.CodeReplaced || code[1].What != inspect.CodeResultType {
			t.Fatalf("code changes %+v: want the function replaced and the result type", code)
		}
		for _, want := range []string{"its function is func github.com/flowcache/flowcache/inspect_test.CountF (inspect/code_test.go) now, was github.com/flowcache/flowcache/inspect_test.Count", "the result type changed (int -> float64)"} {
			if !strings.Contains(text, want) {
				t.Errorf("text %q does not say %q", text, want)
			}
		}
	})

	t.Run("without manifests", func(t *testing.T) {
		run(driver.Node("count2", Count, "n"))
		id := run(driver.Node("count2", CountF, "n"))
		// Delete the manifests, as eviction would, or as in a cache
		// written before manifests existed.
		ctx := context.Background()
		st, err := local.Open(ctx, c.Path)
		if err != nil {
			t.Fatal(err)
		}
		err = st.Metadata().WalkEntries(ctx, func(e core.Entry) error {
			if e.Key.Node == core.CodeManifestNode {
				return st.Metadata().Delete(ctx, e.ID())
			}
			return nil
		})
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		code, ch, text := codeChanges(t, ic, id, "count2")
		if len(code) != 0 || !strings.Contains(ch.Detail, "no code manifest of "+ch.Old[:12]) || !strings.HasSuffix(text, "its code version changed ("+ch.Old[:12]+" → "+ch.New[:12]+")") {
			t.Errorf("code changes %+v, detail %q, text %q: want the version changed, without details", code, ch.Detail, text)
		}
	})
}
