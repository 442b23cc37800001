package maintain_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/maintain"
)

// TestTrim: Trim evicts at most once per interval, by the marker it keeps
// in the cache directory, and by the Cache's clock.
func TestTrim(t *testing.T) {
	c, _ := fill(t)
	now := c.Clock().Add(time.Minute)
	m := c.open(maintain.WithClock(func() time.Time { return now }))
	ctx := context.Background()
	marker := filepath.Join(c.Path, maintain.TrimFile)
	p := maintain.Policy{OlderThan: 15 * 24 * time.Hour}

	// A dry run evicts nothing and records nothing.
	rep, err := m.Trim(ctx, maintain.Policy{OlderThan: p.OlderThan, DryRun: true}, 0)
	if err != nil || !rep.Evicted || len(rep.Evict.Entries) == 0 {
		t.Fatalf("dry trim: %+v, %v", rep, err)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("a dry run wrote the marker (%v)", err)
	}

	rep, err = m.Trim(ctx, p, 0)
	if err != nil || !rep.Evicted || !rep.Last.IsZero() {
		t.Fatalf("first trim: %+v, %v", rep, err)
	}
	if got := evictedNodes(rep.Evict); !slices.Equal(got, []string{"old1", "old2"}) {
		t.Fatalf("first trim evicted %v, want old1 and old2", got)
	}
	b, err := os.ReadFile(marker)
	if err != nil || strings.TrimSpace(string(b)) != strconv.FormatInt(now.Unix(), 10) {
		t.Fatalf("marker %q (%v), want %d", b, err, now.Unix())
	}

	// Within the interval: nothing, whatever the policy selects.
	now = now.Add(23 * time.Hour)
	rep, err = m.Trim(ctx, maintain.Policy{OlderThan: time.Hour}, 0)
	if err != nil || rep.Evicted || len(rep.Evict.Entries) != 0 || !rep.Last.Equal(now.Add(-23*time.Hour).Truncate(time.Second)) {
		t.Fatalf("trim within the day: %+v, %v", rep, err)
	}

	// A day after the last trim: it evicts again (mid is now 11 days old).
	now = now.Add(2 * time.Hour)
	rep, err = m.Trim(ctx, maintain.Policy{OlderThan: 10 * 24 * time.Hour}, 0)
	if err != nil || !rep.Evicted {
		t.Fatalf("trim after a day: %+v, %v", rep, err)
	}
	if got := evictedNodes(rep.Evict); !slices.Equal(got, []string{"mid"}) {
		t.Errorf("trim after a day evicted %v, want mid", got)
	}
	// A shorter interval of its own.
	now = now.Add(2 * time.Hour)
	if rep, err := m.Trim(ctx, p, time.Hour); err != nil || !rep.Evicted {
		t.Errorf("trim after 2h with an interval of 1h: %+v, %v", rep, err)
	}

	// A damaged marker, or one from a clock set far ahead, means trim again.
	for _, content := range []string{"garbage", strconv.FormatInt(now.Add(72*time.Hour).Unix(), 10)} {
		if err := os.WriteFile(marker, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if rep, err := m.Trim(ctx, p, 0); err != nil || !rep.Evicted {
			t.Errorf("marker %q: %+v, %v", content, rep, err)
		}
	}
	if _, err := m.Trim(ctx, p, -time.Hour); err == nil {
		t.Error("a negative interval is accepted")
	}
}

// TestTrimMarker: a cache without a directory needs WithTrimMarker.
func TestTrimMarker(t *testing.T) {
	st := mem.Open()
	defer st.Close()
	ctx := context.Background()
	if _, err := maintain.New(st.Metadata(), st.Results()).Trim(ctx, maintain.Policy{GC: true}, 0); !errors.Is(err, maintain.ErrUnsupported) {
		t.Fatalf("trim without a marker: %v, want ErrUnsupported", err)
	}
	marker := filepath.Join(t.TempDir(), "bucket-trim.txt")
	m := maintain.New(st.Metadata(), st.Results(), maintain.WithTrimMarker(marker))
	for i, want := range []bool{true, false} {
		rep, err := m.Trim(ctx, maintain.Policy{GC: true}, 0)
		if err != nil || rep.Evicted != want {
			t.Fatalf("trim %d: %+v, %v; want evicted=%v", i, rep, err, want)
		}
	}
	if _, err := os.Stat(marker); err != nil {
		t.Error(err)
	}
}
