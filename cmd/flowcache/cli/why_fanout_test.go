package cli

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/inspect"
)

// why on a fan-out node names its tasks by task id, in item order: the
// retrieved ones on one line, then an explanation per task that was not
// retrieved.
func TestWhyFanOutTasks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	runShow(t, dir, 10)
	runShow(t, dir, 12)
	r := flowcache(t, dir, "why", "square")
	wantCode(t, r, exitOK)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	want := []string{
		"square ran as 12 tasks: 10 retrieved, 2 not",
		"  retrieved: items[0], items[1], items[2], items[3], items[4], items[5], items[6], items[7], items[8], items[9]",
		"square@items[10] missed: no earlier run has task items[10] of square (a new fan-out item)",
		"square@items[11] missed: no earlier run has task items[11] of square (a new fan-out item)",
	}
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "run ") || !slices.Equal(lines[1:], want) {
		t.Errorf("why square:\n%s\nwant run ID, then\n%s", r.stdout, strings.Join(want, "\n"))
	}
	es := decode[[]inspect.Explanation](t, flowcache(t, dir, "why", "square", "--json"))
	var tasks []string
	for _, e := range es {
		tasks = append(tasks, e.Task)
	}
	if want := []string{"items[0]", "items[1]", "items[2]", "items[3]", "items[4]", "items[5]", "items[6]", "items[7]", "items[8]", "items[9]", "items[10]", "items[11]"}; !slices.Equal(tasks, want) {
		t.Errorf("why --json tasks in order %v, want %v", tasks, want)
	}
}
