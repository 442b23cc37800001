package driver_test

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/internal/testflow"
	"github.com/flowcache/flowcache/maintain"
)

// killBlob is the result of one task: large enough to be a file of its own
// (above the inline limit), with bytes that tell it from any other task's.
func killBlob(i, salt int) []byte {
	b := bytes.Repeat([]byte{byte(i * 7), byte(i), byte(salt)}, 7000+i*500)
	b[len(b)-1] = byte(i >> 8)
	return b
}

func killNodes() []*driver.NodeDef {
	return []*driver.NodeDef{
		driver.Node("items", testflow.Items, "n", driver.Expand()),
		driver.Node("blob", killBlob, "items", "salt"),
		driver.Node("check", func(blobs []uint32) uint64 {
			var s uint64
			for _, c := range blobs {
				s += uint64(c)
			}
			return s
		}, "sum32", driver.Collect()),
		driver.Node("sum32", crc32.ChecksumIEEE, "blob"),
	}
}

// killSalts is how many distinct salts the children use: enough that a
// child keeps writing new results until it is killed.
const killSalts = 40

func killWant(n, salt int) uint64 {
	var s uint64
	for i := 1; i <= n; i++ {
		s += uint64(crc32.ChecksumIEEE(killBlob(i, salt)))
	}
	return s
}

// Processes killed with SIGKILL at random points, while they build drivers
// and run a fan-out that stores results as files and inline rows, leave no
// wrong value behind: every later run gets right values, and verify finds
// nothing damaged.
func TestKilledWritersLeaveNoWrongValue(t *testing.T) {
	if os.Getenv("FLOWCACHE_KILL_DIR") != "" {
		t.Skip("child")
	}
	kills := 16
	if testing.Short() {
		kills = 6
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	finished := 0
	for k := range kills {
		var out bytes.Buffer
		cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriterChild$", "-test.v")
		cmd.Env = append(os.Environ(), "FLOWCACHE_KILL_DIR="+dir, "FLOWCACHE_KILL_SEED="+strconv.Itoa(k))
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(40+rng.IntN(400)) * time.Millisecond)
		_ = cmd.Process.Kill()
		if err := cmd.Wait(); err == nil {
			finished++ // it ran out of work before the kill: a weaker trial
		}
		if bytes.Contains(out.Bytes(), []byte("--- FAIL")) || bytes.Contains(out.Bytes(), []byte("panic:")) {
			t.Fatalf("child %d failed before it was killed:\n%s", k, out.String())
		}
	}
	if finished > kills/2 {
		t.Fatalf("%d of %d children finished before they were killed: the test kills nothing", finished, kills)
	}

	// Every value is right, twice: the first pass may execute what the
	// killed processes did not store, the second retrieves it.
	for pass := range 2 {
		dr, err := driver.NewBuilder().WithNodes(killNodes()...).WithCache(driver.CacheDir(dir)).Build()
		if err != nil {
			t.Fatal(err)
		}
		for salt := range killSalts {
			for _, n := range []int{9, 1 + salt%9} {
				out, err := dr.Execute(context.Background(), []string{"check"}, driver.Inputs{"n": n, "salt": salt}, nil)
				if err != nil {
					t.Fatalf("pass %d, n=%d salt=%d: %v", pass, n, salt, err)
				}
				if got := out["check"].(uint64); got != killWant(n, salt) {
					t.Fatalf("pass %d, n=%d salt=%d: check = %d, want %d: a killed writer left a wrong value", pass, n, salt, got, killWant(n, salt))
				}
			}
		}
		if err := dr.Close(); err != nil {
			t.Fatal(err)
		}
	}
	ic, err := maintain.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	rep, err := ic.Verify(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Results == 0 {
		t.Fatalf("verify after %d kills: %d results, problems %+v", kills, rep.Results, rep.Problems)
	}
	t.Logf("%d kills (%d children finished first), %d runs, %d results verified", kills, finished, rep.Runs, rep.Results)
}

// TestKilledWriterChild runs the pipeline of TestKilledWritersLeaveNoWrongValue
// for 30 s at most, a new driver each run, until it is killed.
func TestKilledWriterChild(t *testing.T) {
	dir := os.Getenv("FLOWCACHE_KILL_DIR")
	if dir == "" {
		t.Skip("run by TestKilledWritersLeaveNoWrongValue")
	}
	seed, _ := strconv.Atoi(os.Getenv("FLOWCACHE_KILL_SEED"))
	end := time.Now().Add(30 * time.Second)
	for i := seed; time.Now().Before(end); i++ {
		dr, err := driver.NewBuilder().WithNodes(killNodes()...).WithCache(driver.CacheDir(dir)).Build()
		if err != nil {
			t.Fatal(err)
		}
		n, salt := 1+(i*5)%9, (i*7)%killSalts
		out, err := dr.Execute(context.Background(), []string{"check"}, driver.Inputs{"n": n, "salt": salt}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := out["check"].(uint64); got != killWant(n, salt) {
			t.Fatalf("n=%d salt=%d: check = %d, want %d", n, salt, got, killWant(n, salt))
		}
		dr.Close()
		fmt.Println("run", i, "n", n)
	}
}
