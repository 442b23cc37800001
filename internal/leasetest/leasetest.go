// Package leasetest is the multi-process scenario of single-flight
// (driver.CacheLeases), shared by the tests that run it on a local
// directory and on a bucket: several OS processes run one fan-out at the
// same moment, every task's node must execute once across all of them,
// and a process killed while it holds a lease must only delay the others.
//
// A test binary calls Child from a test that runs only when ChildEnv is
// set, and Start to launch such processes of itself. Waiter runs one
// process that waits for another's lease, for the tests of what the
// commands say about such waits.
package leasetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/internal/lockedbuf"
)

// ChildEnv carries a child process's Config, as JSON.
const ChildEnv = "FLOWCACHE_LEASETEST_CHILD"

// Config is what a child process runs.
type Config struct {
	URL   string        // the cache
	Marks string        // directory where each execution of a task leaves a file
	Items int           // tasks of the fan-out
	Sleep time.Duration // how long each task's node runs
	TTL   time.Duration // the leases' time to live
	Start time.Time     // when to begin (so that the processes overlap)
	// RunLogs keeps each run's events in the cache (driver.LogToFile("")).
	RunLogs bool
	// Events prints the events at INFO and above on the standard output.
	Events bool
}

// holdFile, while it exists in the marks directory, holds every task's
// node (up to two minutes): a process killed there holds the lease.
const holdFile = "hold"

// square is a task's node: it leaves a file named after its item in marks
// (one per execution), and takes sleep (and waits while marks holds
// holdFile).
func square(x int, marks string, sleep time.Duration) int {
	f, err := os.CreateTemp(marks, "x"+strconv.Itoa(x)+"-*")
	if err == nil {
		f.Close()
	}
	time.Sleep(sleep)
	for end := time.Now().Add(2 * time.Minute); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(marks, holdFile)); err != nil {
			break
		}
	}
	return x * x
}

func items(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func total(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// Nodes is the pipeline: items (a fan-out over 1..n), square per item,
// total.
func Nodes() []*driver.NodeDef {
	return []*driver.NodeDef{
		driver.Node("items", items, "n", driver.Expand()),
		driver.Node("square", square, "items", "marks", "sleep"),
		driver.Node("total", total, "square", driver.Collect()),
	}
}

// Want is the total of n items.
func Want(n int) int { return n * (n + 1) * (2*n + 1) / 6 }

// Run runs the pipeline once on cfg's cache and returns the total and the
// run's id.
func Run(ctx context.Context, cfg Config) (int, core.RunID, error) {
	opts := []driver.CacheOption{driver.CacheURL(cfg.URL), driver.CacheLeases(cfg.TTL)}
	if cfg.RunLogs {
		opts = append(opts, driver.LogToFile(""))
	}
	if cfg.Events {
		opts = append(opts, driver.CacheLogger(slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))))
	}
	dr, err := driver.NewBuilder().WithNodes(Nodes()...).WithCache(opts...).Build()
	if err != nil {
		return 0, "", err
	}
	defer dr.Close()
	time.Sleep(time.Until(cfg.Start))
	res, err := dr.Run(ctx, []string{"total"}, driver.Inputs{"n": cfg.Items, "marks": cfg.Marks, "sleep": cfg.Sleep}, nil)
	if err != nil {
		return 0, "", err
	}
	return res.Values["total"].(int), res.RunID, nil
}

// Child runs the pipeline when the process is a child (ChildEnv set) and
// prints "child ok total=N run=ID"; it reports whether it was one.
func Child(t *testing.T) bool {
	raw := os.Getenv(ChildEnv)
	if raw == "" {
		return false
	}
	var cfg Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatal(err)
	}
	got, run, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("child ok total=%d run=%s\n", got, run)
	return true
}

// Start starts a child process of the test binary running test (a test
// that calls Child) with cfg; its output goes to out.
func Start(t *testing.T, test string, cfg Config, out io.Writer) *exec.Cmd {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), ChildEnv+"="+string(raw))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// Executions counts the files each item's executions left in marks.
func Executions(t *testing.T, marks string) map[int]int {
	t.Helper()
	ents, err := os.ReadDir(marks)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]int{}
	for _, e := range ents {
		if e.Name() == holdFile {
			continue
		}
		name := strings.TrimPrefix(filepath.Base(e.Name()), "x")
		x, err := strconv.Atoi(name[:strings.IndexByte(name, '-')])
		if err != nil {
			t.Fatalf("mark %s: %v", e.Name(), err)
		}
		out[x]++
	}
	return out
}

// ManyProcesses starts procs processes running the pipeline of items tasks
// on url at the same moment, and checks that every one got the right
// total, that every task's node executed exactly once across them, and
// that a run afterwards executes nothing.
func ManyProcesses(t *testing.T, test, url string, procs, items int) {
	t.Helper()
	marks := t.TempDir()
	cfg := Config{URL: url, Marks: marks, Items: items, Sleep: 20 * time.Millisecond, TTL: 10 * time.Second, Start: time.Now().Add(3 * time.Second)}
	outs := make([]strings.Builder, procs)
	cmds := make([]*exec.Cmd, procs)
	for i := range cmds {
		cmds[i] = Start(t, test, cfg, &outs[i])
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, outs[i].String())
		}
		if want := fmt.Sprintf("child ok total=%d", Want(items)); !strings.Contains(outs[i].String(), want) {
			t.Fatalf("process %d did not print %q:\n%s", i, want, outs[i].String())
		}
	}
	ex := Executions(t, marks)
	for x := 1; x <= items; x++ {
		if ex[x] != 1 {
			t.Errorf("task %d executed %d times across %d processes, want once", x, ex[x], procs)
		}
	}
	// A repeat run executes nothing: no new marks.
	cfg.Start = time.Time{}
	if got, _, err := Run(context.Background(), cfg); err != nil || got != Want(items) {
		t.Fatalf("repeat run: %d, %v; want %d", got, err, Want(items))
	}
	if n := len(Executions(t, marks)); n != items {
		t.Errorf("the repeat run executed tasks: %d items have marks, want %d", n, items)
	}
}

// KilledHolder starts a process that holds its task (holdFile), kills it
// with SIGKILL while it holds that task's lease, and runs the pipeline in
// another process: it waits for the lease's expiry, takes it over, and
// gets the right total.
func KilledHolder(t *testing.T, test, url string) {
	t.Helper()
	marks := t.TempDir()
	const ttl = 2 * time.Second
	hold := filepath.Join(marks, holdFile)
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{URL: url, Marks: marks, Items: 1, Sleep: time.Millisecond, TTL: ttl}
	var out1 strings.Builder
	holder := Start(t, test, cfg, &out1)
	deadline := time.Now().Add(time.Minute)
	for len(Executions(t, marks)) == 0 {
		if time.Now().After(deadline) {
			holder.Process.Kill()
			t.Fatalf("the holder never executed its task:\n%s", out1.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := holder.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	holder.Wait()
	killed := time.Now()
	if err := os.Remove(hold); err != nil {
		t.Fatal(err)
	}
	var out2 strings.Builder
	taker := Start(t, test, cfg, &out2)
	done := make(chan error, 1)
	go func() { done <- taker.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the taker: %v\n%s", err, out2.String())
		}
	case <-time.After(2 * time.Minute):
		taker.Process.Kill()
		t.Fatalf("the taker did not finish:\n%s", out2.String())
	}
	if !strings.Contains(out2.String(), fmt.Sprintf("child ok total=%d", Want(1))) {
		t.Fatalf("the taker's output:\n%s", out2.String())
	}
	if !strings.Contains(out2.String(), "lease_takeover") {
		t.Errorf("the taker did not say it took the lease over:\n%s", out2.String())
	}
	if waited := time.Since(killed); waited < ttl/2 {
		t.Errorf("the taker finished %v after the kill, before the lease could expire", waited)
	}
	if n := Executions(t, marks)[1]; n != 2 {
		t.Errorf("the task executed %d times, want 2 (the killed holder, the taker)", n)
	}
}

// runOf returns the run id a child printed ("child ok total=N run=ID").
func runOf(t *testing.T, out string) core.RunID {
	t.Helper()
	_, after, ok := strings.Cut(out, "child ok total=")
	_, id, ok2 := strings.Cut(after, " run=")
	if !ok || !ok2 {
		t.Fatalf("the child did not print its run:\n%s", out)
	}
	id, _, _ = strings.Cut(id, "\n")
	return core.RunID(id)
}

// Waiter starts a process (the holder) that executes the pipeline's one
// task and holds it there, then a second (the waiter) on the same cache,
// waits until the waiter says it waits for the holder's lease
// (lease_wait), lets the holder finish, and returns the two runs once both
// processes completed: the waiter retrieved the task the holder stored.
// runLogs keeps the runs' events in the cache (driver.LogToFile("")).
func Waiter(t *testing.T, test, url string, runLogs bool) (holder, waiter core.RunID) {
	t.Helper()
	marks := t.TempDir()
	hold := filepath.Join(marks, holdFile)
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{URL: url, Marks: marks, Items: 1, Sleep: time.Millisecond, TTL: time.Minute, RunLogs: runLogs, Events: true}
	var out1, out2 lockedbuf.Buffer
	h := Start(t, test, cfg, &out1)
	defer h.Process.Kill()
	deadline := time.Now().Add(2 * time.Minute)
	for len(Executions(t, marks)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the holder never executed its task:\n%s", out1.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	w := Start(t, test, cfg, &out2)
	defer w.Process.Kill()
	for !strings.Contains(out2.String(), "lease_wait") {
		if time.Now().After(deadline) {
			t.Fatalf("the waiter never waited:\n%s", out2.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a wait long enough to see
	if err := os.Remove(hold); err != nil {
		t.Fatal(err)
	}
	if err := h.Wait(); err != nil {
		t.Fatalf("the holder: %v\n%s", err, out1.String())
	}
	if err := w.Wait(); err != nil {
		t.Fatalf("the waiter: %v\n%s", err, out2.String())
	}
	if n := Executions(t, marks)[1]; n != 1 {
		t.Fatalf("the task executed %d times, want once (the holder)", n)
	}
	return runOf(t, out1.String()), runOf(t, out2.String())
}
