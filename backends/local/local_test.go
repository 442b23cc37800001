package local_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/backends/local/localtest"
	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/core"
)

func TestMetadataStore(t *testing.T) {
	conformance.TestMetadataStore(t, func(t *testing.T) core.MetadataStore {
		s, err := local.OpenMetadata(t.Context(), filepath.Join(t.TempDir(), "metadata.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestResultStore(t *testing.T) {
	for _, limit := range []int{local.DefaultInlineLimit, 0} {
		t.Run(fmt.Sprint("inline-limit-", limit), func(t *testing.T) {
			testResultStore(t, limit)
		})
	}
}

func testResultStore(t *testing.T, limit int) {
	var store *local.Store
	calls := 0
	conformance.TestResultStore(t, func(t *testing.T) core.ResultStore {
		s, err := local.Open(t.Context(), t.TempDir(), local.WithInlineLimit(limit))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Metadata().Close() })
		store = s
		return s.Results()
	}, func(t *testing.T, id core.ResultID) {
		// Damage the result where it is stored: inline (once flushed) or
		// as a file.
		if err := store.Results().FlushResults(t.Context()); err != nil {
			t.Fatal(err)
		}
		calls++
		kinds := []localtest.Damage{localtest.Truncate, localtest.FlipBit, localtest.BadChecksum, localtest.Extend}
		if err := localtest.DamageResult(t.Context(), store.Dir(), id, kinds[calls%len(kinds)]); err != nil {
			t.Fatal(err)
		}
	})
}

func version(s string) core.DataVersion {
	sum := sha256.Sum256([]byte(s))
	return core.DataVersion(hex.EncodeToString(sum[:]))
}

// TestMoveDirectory stores metadata and a result, moves the directory and
// reads both back from the new place.
func TestMoveDirectory(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dir := filepath.Join(root, "cache")
	s, err := local.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	key := core.NewCacheKey("node", "code", []core.Dep{{Name: "in", Version: version("in")}})
	rid := core.ResultID{Version: version("out"), Format: "gob"}
	if _, err := s.Results().Put(ctx, rid, func(w io.Writer) error { _, err := io.WriteString(w, "payload"); return err }); err != nil {
		t.Fatal(err)
	}
	if err := s.Metadata().Write(ctx, core.Batch{Run: "r1", Now: time.Unix(1, 0), Entries: []core.Entry{{Key: key, DataVersion: rid.Version, Format: rid.Format}},
		Records: []core.NodeRecord{{Node: "node", Key: key, DataVersion: rid.Version, Format: "gob", Outcome: core.OutcomeExecuted, Size: 7}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(root, "elsewhere", "moved-cache")
	if err := os.MkdirAll(filepath.Dir(moved), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	s, err = local.Open(ctx, moved)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e, err := s.Metadata().Get(ctx, key.ID())
	if err != nil || e.DataVersion != rid.Version {
		t.Fatalf("Get after moving the directory = %+v, %v", e, err)
	}
	rc, err := s.Results().Get(ctx, core.ResultID{Version: e.DataVersion, Format: e.Format})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, err := io.ReadAll(rc); err != nil || string(b) != "payload" {
		t.Fatalf("result after moving the directory = %q, %v", b, err)
	}
	if recs, err := s.Metadata().Run(ctx, "r1"); err != nil || len(recs) != 1 {
		t.Fatalf("run history after moving the directory = %v, %v", recs, err)
	}
}

func TestDefaultDirAndLayout(t *testing.T) {
	t.Chdir(t.TempDir())
	s, err := local.Open(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	// A small result is stored inline, a large one as a file.
	small := core.ResultID{Version: version("small"), Format: "json"}
	if _, err := s.Results().Put(t.Context(), small, func(w io.Writer) error { _, err := w.Write([]byte("{}")); return err }); err != nil {
		t.Fatal(err)
	}
	rid := core.ResultID{Version: version("x"), Format: "json"}
	large := bytes.Repeat([]byte("x"), local.DefaultInlineLimit+1)
	if _, err := s.Results().Put(t.Context(), rid, func(w io.Writer) error { _, err := w.Write(large); return err }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		filepath.Join(local.DefaultDir, local.MetadataFile),
		filepath.Join(local.DefaultDir, local.ResultsDir, string(rid.Version[:2]), rid.String()),
	} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("expected %s: %v", p, err)
		}
	}
	if n := inlineRows(t, filepath.Join(local.DefaultDir, local.MetadataFile)); n != 1 {
		t.Errorf("%d inline results in the database, want 1", n)
	}
	// No sidecar or temporary files are left next to results.
	var extra []string
	filepath.WalkDir(filepath.Join(local.DefaultDir, local.ResultsDir), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(p) != rid.String() {
			extra = append(extra, p)
		}
		return nil
	})
	if len(extra) > 0 {
		t.Errorf("unexpected files in the results directory: %v", extra)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metadata.db")
	s, err := local.OpenMetadata(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = local.OpenMetadata(t.Context(), path)
	if err == nil || !strings.Contains(err.Error(), "99") || !strings.Contains(err.Error(), path) {
		t.Fatalf("OpenMetadata of a newer schema = %v, want an error naming the path and version 99", err)
	}
}

func TestNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metadata.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte("not sqlite "), 1000), 0o666); err != nil {
		t.Fatal(err)
	}
	if s, err := local.OpenMetadata(t.Context(), path); err == nil {
		s.Close()
		t.Fatal("OpenMetadata of a file that is not a database succeeded")
	}
}

// Several processes share one directory: the test binary runs itself as
// helper processes.
const (
	helperEnv     = "FLOWCACHE_LOCAL_HELPER"
	procs         = 4
	batchesPerRun = 30
	entriesPerRun = 10
)

func sharedResult(i int) (core.ResultID, []byte) {
	return core.ResultID{Version: version(fmt.Sprint("shared-result-", i)), Format: "gob"},
		bytes.Repeat([]byte(fmt.Sprintf("shared %d;", i)), 20_000)
}

func ownKey(p, b, i int) core.CacheKey {
	return core.NewCacheKey(fmt.Sprintf("node-%d-%d-%d", p, b, i), "code", []core.Dep{{Name: "p", Version: version(strconv.Itoa(p))}})
}

var sharedKey = core.NewCacheKey("shared-node", "code", nil)

// TestHelperProcess is one of the processes of TestMultiProcess; it does
// nothing unless started by it.
func TestHelperProcess(t *testing.T) {
	arg := os.Getenv(helperEnv)
	if arg == "" {
		t.Skip("helper process for TestMultiProcess")
	}
	dir, pstr, _ := strings.Cut(arg, "|")
	p, _ := strconv.Atoi(pstr)
	ctx := context.Background()
	s, err := local.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for b := range batchesPerRun {
		run := core.RunID(fmt.Sprintf("run-%d-%d", p, b))
		if err := s.Metadata().BeginRun(ctx, core.RunInfo{ID: run, Started: time.Now()}); err != nil {
			t.Fatal(err)
		}
		batch := core.Batch{Run: run, Now: time.Now(), Hits: []core.KeyID{sharedKey.ID()}}
		for i := range entriesPerRun {
			k := ownKey(p, b, i)
			v := version(k.Node)
			batch.Entries = append(batch.Entries, core.Entry{Key: k, DataVersion: v, Format: "gob"})
			batch.Records = append(batch.Records, core.NodeRecord{Node: k.Node, Key: k, DataVersion: v, Format: "gob", Outcome: core.OutcomeExecuted, Size: int64(i)})
		}
		batch.Entries = append(batch.Entries, core.Entry{Key: sharedKey, DataVersion: version(fmt.Sprint("shared", p, b)), Format: "gob"})
		if err := s.Metadata().Write(ctx, batch); err != nil {
			t.Fatal(err)
		}
		for i := range entriesPerRun {
			k := ownKey(p, b, i)
			if e, err := s.Metadata().Get(ctx, k.ID()); err != nil || e.DataVersion != version(k.Node) {
				t.Fatalf("Get(%s) = %v, %v", k.Node, e.DataVersion, err)
			}
		}
		// Every process stores the same results at once and reads them.
		rid, data := sharedResult(b % 5)
		if _, err := s.Results().Put(ctx, rid, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
			t.Fatal(err)
		}
		rc, err := s.Results().Get(ctx, rid)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("shared result %s: %d bytes, %v", rid, len(got), err)
		}
	}
}

func TestMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := filepath.Join(t.TempDir(), "cache")
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for p := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
		cmd.Env = append(os.Environ(), helperEnv+"="+dir+"|"+strconv.Itoa(p))
		out := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	for p, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", p, err, outs[p])
		} else if !strings.Contains(outs[p].String(), "--- PASS: TestHelperProcess") {
			t.Errorf("process %d did not run the helper:\n%s", p, outs[p])
		}
	}
	if t.Failed() {
		return
	}
	ctx := context.Background()
	s, err := local.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for p := range procs {
		for b := range batchesPerRun {
			for i := range entriesPerRun {
				k := ownKey(p, b, i)
				if e, err := s.Metadata().Get(ctx, k.ID()); err != nil || e.DataVersion != version(k.Node) || e.Key.Node != k.Node {
					t.Fatalf("Get(%s) = %+v, %v", k.Node, e, err)
				}
			}
		}
	}
	e, err := s.Metadata().Get(ctx, sharedKey.ID())
	if err != nil {
		t.Fatalf("shared key: %v", err)
	}
	found := false
	for p := range procs {
		for b := range batchesPerRun {
			found = found || e.DataVersion == version(fmt.Sprint("shared", p, b))
		}
	}
	if !found {
		t.Errorf("shared key maps to %s, which no process wrote", e.DataVersion)
	}
	runs, err := s.Metadata().Runs(ctx)
	if err != nil || len(runs) != procs*batchesPerRun {
		t.Fatalf("Runs = %d runs, %v; want %d", len(runs), err, procs*batchesPerRun)
	}
	for _, r := range runs {
		recs, err := s.Metadata().Run(ctx, r.ID)
		if err != nil || len(recs) != entriesPerRun {
			t.Fatalf("Run(%s) = %d records, %v", r.ID, len(recs), err)
		}
		for i, rec := range recs {
			if rec.Size != int64(i) {
				t.Fatalf("Run(%s) records out of order", r.ID)
			}
		}
	}
	for i := range 5 {
		rid, data := sharedResult(i)
		rc, err := s.Results().Get(ctx, rid)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("shared result %d: %d bytes, %v", i, len(got), err)
		}
	}
	var n int
	if err := s.Results().Walk(ctx, func(core.ResultID, int64) error { n++; return nil }); err != nil || n != 5 {
		t.Errorf("Walk found %d results, %v; want 5", n, err)
	}
}

func TestClosedErrors(t *testing.T) {
	s, err := local.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := s.Metadata().Runs(t.Context()); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Runs after Close = %v", err)
	}
}

// TestErrorsNameLocal: the errors of a local cache begin with "local:",
// those about result files too (stored through package blobstore), and
// keep their cause.
func TestErrorsNameLocal(t *testing.T) {
	ctx := t.Context()
	st, err := local.Open(ctx, t.TempDir(), local.WithInlineLimit(0))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id := core.ResultID{Version: "0123abcd", Format: "bin"}
	if _, err := st.Results().Put(ctx, id, func(w io.Writer) error { _, err := w.Write([]byte("payload")); return err }); err != nil {
		t.Fatal(err)
	}
	files := st.Files()
	if err := files.Bucket().WriteAll(ctx, files.Key(id), []byte("not a result"), nil); err != nil {
		t.Fatal(err)
	}
	_, err = st.Results().GetVerified(ctx, id)
	if !errors.Is(err, core.ErrCorrupt) || !strings.HasPrefix(err.Error(), "local: ") {
		t.Errorf("GetVerified of a damaged file = %v, want ErrCorrupt beginning with local:", err)
	}
	_, err = st.Results().Get(ctx, core.ResultID{Version: "99ff", Format: "bin"})
	if !errors.Is(err, core.ErrNotFound) || !strings.HasPrefix(err.Error(), "local: ") {
		t.Errorf("Get of a missing result = %v, want ErrNotFound beginning with local:", err)
	}
}
