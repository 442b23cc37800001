package inspect

import (
	"slices"
	"testing"
)

func TestCompareTasks(t *testing.T) {
	tasks := []string{"files[10]", "b[1]", "files[2]", "x", "files[0]", "files[1]", "", "odd[-1]", "a[3]"}
	slices.SortFunc(tasks, compareTasks)
	want := []string{"a[3]", "b[1]", "files[0]", "files[1]", "files[2]", "files[10]", "", "odd[-1]", "x"}
	if !slices.Equal(tasks, want) {
		t.Errorf("sorted %q, want %q", tasks, want)
	}
}
