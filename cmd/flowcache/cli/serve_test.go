package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/internal/lockedbuf"
)

// flowcache serve says where it listens, serves the runs of the cache, and
// stops when interrupted (its context cancelled), exiting 0.
func TestServe(t *testing.T) {
	dir, _, second := newCache(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb lockedbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--cache", dir, "serve", "--addr", "127.0.0.1:0"}, env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }})
	}()
	addr := regexp.MustCompile(`http://127\.0\.0\.1:\d+/`)
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		base = addr.FindString(out.String())
	}
	if base == "" {
		cancel()
		t.Fatalf("serve did not say where it listens: %q %q", out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "read-only") {
		t.Errorf("serve does not say it is read-only: %q", out.String())
	}
	resp, err := http.Get(base + "?format=json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var page struct {
		Runs []struct {
			ID string `json:"run_id"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(body, &page); err != nil || len(page.Runs) != 2 || page.Runs[0].ID != string(second) {
		t.Errorf("runs page: %v %s", err, body)
	}
	resp, err = http.Post(base+"usage/evict?gc=1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("eviction without --allow-evict: status %d, want 403", resp.StatusCode)
	}
	// A name that is not this machine's (a DNS rebinding attack) is refused.
	req, _ := http.NewRequest(http.MethodGet, base, nil)
	req.Host = "rebound.example:80"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("Host rebound.example: %v %v, want 421", resp, err)
	} else {
		resp.Body.Close()
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d after interrupt: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop when interrupted")
	}
	if r := flowcache(t, dir, "serve", "--addr", "nonsense"); r.code != exitUsage || !strings.Contains(r.stderr, "--addr nonsense") {
		t.Errorf("a bad --addr: exit %d, %q", r.code, r.stderr)
	}
}
