package view_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/view"
)

// TestGraphJSON holds the JSON of a graph to golden files, written by
// `flowcache draw --json` before the encoding moved from the command to
// this package: indented as the command indents it, the bytes must not
// change (scripts parse them).
func TestGraphJSON(t *testing.T) {
	escaping := []core.NodeRecord{
		{Node: `a"b\`, Outcome: core.OutcomeInput, Key: core.CacheKey{Node: `a"b\`}, Size: -1},
		{Node: "<x&y>\n\\N", Key: key("<x&y>\n\\N", `a"b\`), Outcome: core.OutcomeExecuted, Size: -1},
		{Node: "legend:executed", Key: key("legend:executed", "<x&y>\n\\N"), Outcome: core.OutcomeExecuted, Size: -1},
		{Node: "bad\xffutf8", Key: key("bad\xffutf8", "legend:executed"), Outcome: core.OutcomeFailed, Size: -1},
		{Node: "over", Outcome: core.OutcomeOverride, Key: core.CacheKey{Node: "over"}, Size: -1},
	}
	for _, c := range []struct {
		name string
		g    *view.Graph
	}{
		{"quickstart", view.FromRecords("r1", quickstartRecords())},
		{"fanout-tasks", view.FromRecords("r2", fanOutRecords(3, 1))},
		{"fanout-grouped", view.FromRecords("r3", fanOutRecords(1000, 998))},
		{"escaping", view.FromRecords("r<&>", escaping)},
		{"empty", view.FromRecords("", nil)},
	} {
		t.Run(c.name, func(t *testing.T) {
			var indented bytes.Buffer
			enc := json.NewEncoder(&indented)
			enc.SetIndent("", "  ")
			if err := enc.Encode(c.g); err != nil {
				t.Fatal(err)
			}
			golden(t, c.name+".json", indented.Bytes())
			// json.Marshal gives the same JSON, compact.
			compact, err := json.Marshal(c.g)
			if err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			if err := json.Compact(&want, indented.Bytes()); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(compact, want.Bytes()) {
				t.Errorf("json.Marshal:\n%s\nwant\n%s", compact, want.Bytes())
			}
		})
	}
}
