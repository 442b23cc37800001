package local

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/internal/tmpfs"
)

// TestRunLogsFullDisk begins runs on a file system with some room and on
// a full one: with room, BeginRun makes no file (the first batch will);
// full, it tries to make the log at once, as before logs were made late,
// and fails, so that the run stores nothing rather than fail every write.
func TestRunLogsFullDisk(t *testing.T) {
	ctx := t.Context()
	mnt := tmpfs.Mount(t, 4<<20)
	s, err := OpenMetadata(ctx, filepath.Join(mnt, MetadataFile))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.BeginRun(ctx, core.RunInfo{ID: "roomy", Started: time.Unix(1, 0)}); err != nil {
		t.Fatal(err)
	}
	if got := logNames(t, s); len(got) != 0 {
		t.Fatalf("BeginRun with room made %v", got)
	}
	filler := tmpfs.Fill(t, mnt)
	if err := s.BeginRun(ctx, core.RunInfo{ID: "full", Started: time.Unix(2, 0)}); err == nil {
		t.Fatal("BeginRun on a full disk succeeded")
	}
	if got := logNames(t, s); len(got) != 0 {
		t.Fatalf("BeginRun on a full disk left %v", got)
	}
	os.Remove(filler)
	if err := s.EndRun(ctx, "roomy"); err != nil {
		t.Fatal(err)
	}
	if n := countRuns(t, s, "roomy"); n != 1 {
		t.Fatalf("Runs lists the run begun with room %d times", n)
	}
}
