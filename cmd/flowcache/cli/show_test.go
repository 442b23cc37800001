package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/local/localtest"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/formats"
	"github.com/flowcache/flowcache/formats/csv"
	"github.com/flowcache/flowcache/formats/parquet"
	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/internal/testflow"
)

type ShowPoint struct {
	Name  string
	X, Y  float64
	At    time.Time
	Tags  []string
	Attrs map[string]int
	Next  *ShowPoint
}

func ShowPoints(n int) []ShowPoint {
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	out := make([]ShowPoint, n)
	for i := range out {
		out[i] = ShowPoint{Name: strings.Repeat("p", i+1), X: float64(i) / 4, Y: -float64(i), At: at.Add(time.Duration(i) * time.Hour),
			Tags: []string{"t"}, Attrs: map[string]int{"i": i}}
	}
	out[0].Next = &ShowPoint{Name: "next", Tags: []string{"u", "v"}, At: at}
	return out
}

type ShowRow struct {
	City string
	Temp float64
	N    int64
}

func ShowRows(n int) []ShowRow {
	out := make([]ShowRow, n)
	for i := range out {
		out[i] = ShowRow{City: "c" + strings.Repeat("i", i), Temp: float64(i) + 0.5, N: int64(i)}
	}
	return out
}

func ShowCount(ps []ShowPoint) map[string]float64 {
	m := map[string]float64{}
	for _, p := range ps {
		m[p.Name] = p.X
	}
	return m
}

func showNodes() []*driver.NodeDef {
	return append(testflow.FanOut("n", "items", "sum"),
		driver.Node("points", ShowPoints, "n"),
		driver.Node("counts", ShowCount, "points", driver.WithFormat(formats.JSON())),
		driver.Node("rows", ShowRows, "n", driver.WithFormat(csv.New())),
		driver.Node("prows", ShowRows, "n", driver.WithFormat(parquet.New())),
		driver.Node("off", testflow.Square, "n", driver.WithBehavior(core.Disable)),
	)
}

// runShow runs showNodes on dir, now, and returns the run's id.
func runShow(t *testing.T, dir string, n int) core.RunID {
	t.Helper()
	return testflow.DirAt(t, dir, time.Now()).Run(showNodes(), []string{"counts", "rows", "prows", "sum", "off"}, driver.Inputs{"n": n}, nil).ID
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(t *testing.T, got string, want any) {
	t.Helper()
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("printed\n%s\nwant\n%s", got, b)
	}
}

// show prints a node's value: gob and json results as JSON equal to the
// value, tables as CSV (or JSON rows), fan-out tasks by name; -o writes
// what it prints; errors have the exit codes of main.go.
func TestShowCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	first := runShow(t, dir, 3)
	second := runShow(t, dir, 4)

	r := flowcache(t, dir, "show", "points")
	wantCode(t, r, exitOK)
	sameJSON(t, r.stdout, ShowPoints(4))
	r = flowcache(t, dir, "show", "points", string(first)[:len(first)-3])
	wantCode(t, r, exitOK)
	sameJSON(t, r.stdout, ShowPoints(3))
	r = flowcache(t, dir, "show", "counts", "last", "-v")
	wantCode(t, r, exitOK)
	sameJSON(t, r.stdout, ShowCount(ShowPoints(4)))
	if !strings.Contains(r.stderr, "node counts of run "+string(second)+": map[string]float64, format json") {
		t.Errorf("-v: %s", r.stderr)
	}
	r = flowcache(t, dir, "show", "square@items[2]")
	wantCode(t, r, exitOK)
	sameJSON(t, r.stdout, 9)

	// Tables.
	r = flowcache(t, dir, "show", "rows")
	wantCode(t, r, exitOK)
	if want := "City,Temp,N\nc,0.5,0\nci,1.5,1\ncii,2.5,2\nciii,3.5,3\r\n"; r.stdout != want {
		t.Errorf("csv table:\n%q\nwant\n%q", r.stdout, want)
	}
	r = flowcache(t, dir, "show", "prows")
	wantCode(t, r, exitOK)
	if !strings.HasPrefix(r.stdout, "City [utf8") || !strings.Contains(r.stdout, "\nciii,3.5,3") {
		t.Errorf("parquet table as CSV:\n%s", r.stdout)
	}
	for _, node := range []string{"rows", "prows"} {
		r = flowcache(t, dir, "show", node, "--json")
		wantCode(t, r, exitOK)
		sameJSON(t, r.stdout, []map[string]string{
			{"City": "c", "Temp": "0.5", "N": "0"}, {"City": "ci", "Temp": "1.5", "N": "1"},
			{"City": "cii", "Temp": "2.5", "N": "2"}, {"City": "ciii", "Temp": "3.5", "N": "3"}})
	}

	// -o writes what would be printed; --raw the stored bytes.
	out := filepath.Join(t.TempDir(), "points.json")
	r = flowcache(t, dir, "show", "points", "-o", out)
	wantCode(t, r, exitOK)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, string(b), ShowPoints(4))
	if !strings.Contains(r.stdout, "wrote node points of run "+string(second)+" to "+out) {
		t.Errorf("-o: %s", r.stdout)
	}
	r = flowcache(t, dir, "show", "points", "--raw", "-o", out)
	wantCode(t, r, exitOK)
	b, _ = os.ReadFile(out)
	var pts []ShowPoint
	v, err := formats.Gob().Decode(strings.NewReader(string(b)), reflect.TypeOf(pts))
	if err != nil || !reflect.DeepEqual(v, ShowPoints(4)) {
		t.Errorf("--raw: the bytes decode to %v, %v", v, err)
	}

	// Errors.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"show", "nosuch"}, exitNotFound, `node "nosuch" is in none of the 2 runs`},
		{[]string{"show", "off"}, exitNotFound, "its behaviour was disable"},
		{[]string{"show", "n"}, exitNotFound, "inputs are not stored"},
		{[]string{"show", "square"}, exitUsage, "ran as 4 tasks"},
		{[]string{"show", "points", "zzz"}, exitNotFound, `no run "zzz"`},
		{[]string{"show"}, exitUsage, "want NODE [RUN]"},
		{[]string{"show", "a", "b", "c"}, exitUsage, "want NODE [RUN]"},
	} {
		r := flowcache(t, dir, c.args...)
		wantCode(t, r, c.code)
		if !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: stderr %q lacks %q", c.args, r.stderr, c.want)
		}
	}

	// A damaged result is an error, exit code 4, never a value.
	ic, err := inspect.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ic.FindResult(context.Background(), "points", "")
	ic.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := localtest.DamageResult(context.Background(), dir, res.ResultID(), localtest.FlipBit); err != nil {
		t.Fatal(err)
	}
	r = flowcache(t, dir, "show", "points")
	wantCode(t, r, exitDamaged)
	if r.stdout != "" || !strings.Contains(r.stderr, `node "points" of run `+string(second)) {
		t.Errorf("damaged: stdout %q, stderr %q", r.stdout, r.stderr)
	}

	r = flowcache(t, "", "help", "show")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "usage: flowcache show [flags] NODE [RUN]") || !strings.Contains(r.stdout, "flowcache show 'parsed@files[3]' last") {
		t.Errorf("help show:\n%s", r.stdout)
	}
}
