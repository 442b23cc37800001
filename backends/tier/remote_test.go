package tier_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	_ "github.com/flowcache/flowcache/backends/azure"
	_ "github.com/flowcache/flowcache/backends/gcs"
	_ "github.com/flowcache/flowcache/backends/s3"
	"github.com/flowcache/flowcache/backends/tier"
	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/internal/servertest"
)

// withTier adds the tier parameters to a store URL.
func withTier(raw, dir, max string) string {
	sep := "?"
	if strings.Contains(raw, "?") {
		sep = "&"
	}
	raw += sep + "local_cache=" + url.QueryEscape(dir)
	if max != "" {
		raw += "&local_cache_max=" + max
	}
	return raw
}

// TestS3Conformance runs the result store suite on a tier in front of a
// MinIO bucket, opened by URL as a user opens it.
func TestS3Conformance(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("child")
	}
	if testing.Short() {
		t.Skip("-short: the suite stores 100 MB in the bucket")
	}
	testURL(t, servertest.S3URL(t, servertest.S3Bucket(t), "conformance"))
}

// TestGCSConformance: the same on fake-gcs-server.
func TestGCSConformance(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("child")
	}
	if testing.Short() {
		t.Skip("-short: the suite stores 100 MB in the bucket")
	}
	testURL(t, servertest.GCSURL(t, servertest.GCSBucket(t), "conformance"))
}

// TestAzureConformance: the same on Azurite.
func TestAzureConformance(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("child")
	}
	if testing.Short() {
		t.Skip("-short: the suite stores 100 MB in the container")
	}
	testURL(t, servertest.AzureURL(t, servertest.AzureContainer(t), "conformance"))
}

// testURL runs the result store suite on the stores of remote with a tier
// in front, opened by URL.
func testURL(t *testing.T, remote string) {
	raw := withTier(remote, t.TempDir(), "")
	open := conformance.OpenURLFunc(t, raw)
	conformance.TestResultStore(t, func(t *testing.T) core.ResultStore {
		st := open(t)
		if _, ok := core.As[*tier.Store](st.Results); !ok {
			t.Fatalf("%s opened no tier", raw)
		}
		if st.Close != nil {
			t.Cleanup(func() { st.Close() })
		}
		return st.Results
	}, nil)
}

// The child process: it opens CHILD_URL through a proxy that counts the
// requests sent to the bucket, does what CHILD_DO says, and prints the
// requests as JSON.
const (
	childEnv = "FLOWCACHE_TEST_TIER_CHILD_URL"
	childDo  = "FLOWCACHE_TEST_TIER_CHILD_DO"
)

const bigSize = 12 << 20

var bigID = core.ResultID{Version: core.DataVersion(strings.Repeat("b1", 32)), Format: "raw"}

// childReport is what the child prints.
type childReport struct {
	// Requests are "METHOD path" of every request to the bucket.
	Requests []string `json:"requests"`
	Err      string   `json:"err,omitempty"`
}

func TestS3TierChild(t *testing.T) {
	raw := os.Getenv(childEnv)
	if raw == "" {
		t.Skip("only run as the child process of TestS3SecondProcess")
	}
	var mu sync.Mutex
	var rep childReport
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	target, err := url.Parse(q.Get("endpoint"))
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		rep.Requests = append(rep.Requests, r.Method+" "+r.URL.Path)
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	q.Set("endpoint", srv.URL)
	u.RawQuery = q.Encode()

	err = func() error {
		ctx := context.Background()
		st, err := core.OpenURL(ctx, u.String())
		if err != nil {
			return err
		}
		defer st.Close()
		switch do := os.Getenv(childDo); do {
		case "read":
			rc, err := core.GetVerified(ctx, st.Results, bigID)
			if err != nil {
				return err
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil {
				return err
			}
			if want := payload(bigSize, 1); string(got) != string(want) {
				return fmt.Errorf("read %d bytes, not the ones stored", len(got))
			}
		case "write":
			for i := range 3 {
				data := payload(5<<20, byte(i))
				if _, err := st.Results.Put(ctx, core.ResultID{Version: core.DataVersion(strings.Repeat(fmt.Sprint(i), 64)), Format: "raw"}, func(w io.Writer) error {
					_, err := w.Write(data)
					return err
				}); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("unknown %s=%q", childDo, do)
		}
		return nil
	}()
	if err != nil {
		rep.Err = err.Error()
	}
	mu.Lock()
	b, _ := json.Marshal(rep)
	mu.Unlock()
	fmt.Printf("\nCHILD %s\n", b)
}

// runChild runs the child process on rawURL and returns its report.
func runChild(t *testing.T, rawURL, do string) childReport {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestS3TierChild$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+rawURL, childDo+"="+do)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", do, err, out)
	}
	_, js, ok := strings.Cut(string(out), "\nCHILD ")
	if !ok {
		t.Fatalf("child %s printed no report:\n%s", do, out)
	}
	js, _, _ = strings.Cut(js, "\n")
	var rep childReport
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatalf("child %s: %v\n%s", do, err, out)
	}
	if rep.Err != "" {
		t.Fatalf("child %s: %s", do, rep.Err)
	}
	return rep
}

// resultGets returns the GETs of the object of bigID among requests.
func resultGets(requests []string, key string) int {
	n := 0
	for _, r := range requests {
		if strings.HasPrefix(r, "GET ") && strings.HasSuffix(r, "/"+key) {
			n++
		}
	}
	return n
}

// TestS3SecondProcess: on a MinIO bucket, from the outside. A result one
// process stored through the tier is read by another process on the same
// tier directory without a GET to the bucket; a damaged local copy is read
// from the bucket once and repaired; another process's writes keep the
// tier under its maximum.
func TestS3SecondProcess(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("child")
	}
	bucket := servertest.S3Bucket(t)
	dir := t.TempDir()
	const max = "16MiB"
	raw := withTier(servertest.S3URL(t, bucket, "tier"), dir, max)
	ctx := context.Background()
	st, err := core.OpenURL(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ts, ok := core.As[*tier.Store](st.Results)
	if !ok {
		t.Fatalf("%s opened no tier", raw)
	}
	put(t, st.Results, bigID, payload(bigSize, 1))
	key := "tier/results/" + ts.Local().Files().Key(bigID)

	rep := runChild(t, raw, "read")
	if n := resultGets(rep.Requests, key); n != 0 {
		t.Errorf("the second process sent %d GETs of the result to the bucket, want 0 (requests: %v)", n, rep.Requests)
	}

	damage(t, ts, bigID)
	rep = runChild(t, raw, "read")
	if n := resultGets(rep.Requests, key); n != 1 {
		t.Errorf("with a damaged local copy the second process sent %d GETs of the result, want 1 (requests: %v)", n, rep.Requests)
	}
	if _, err := read(ts.Local(), bigID); err != nil {
		t.Errorf("the damaged local copy was not repaired: %v", err)
	}

	// 12 MB here and 15 MB written by another process: over 16 MiB, the
	// least recently used go.
	runChild(t, raw, "write")
	var total int64
	n := 0
	if err := ts.Local().WalkResults(ctx, func(ri core.ResultInfo) error {
		total += ri.Size
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if total > ts.MaxSize() || n == 0 {
		t.Errorf("tier holds %d results, %d bytes; max %d", n, total, ts.MaxSize())
	}
	if ok, _ := ts.Local().Exists(ctx, bigID); ok {
		t.Error("the least recently used result was kept")
	}
	if ok, err := ts.Remote().Exists(ctx, bigID); !ok || err != nil {
		t.Errorf("eviction touched the bucket: %v, %v", ok, err)
	}
}
