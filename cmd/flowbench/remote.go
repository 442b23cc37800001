package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"

	_ "github.com/flowcache/flowcache/backends/azure"
	_ "github.com/flowcache/flowcache/backends/gcs"
	_ "github.com/flowcache/flowcache/backends/s3"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
)

// remoteBench measures the chain against a bucket: cold (a fresh prefix)
// and warm (the cold run's prefix) per-node overhead over an uncached run,
// the requests each sends (counted by a proxy in front of the endpoint, when
// the URL has an endpoint parameter), and the put/get MB/s of one large
// result streamed through the result store.
func remoteBench(args []string) error {
	fs := flag.NewFlagSet("remote", flag.ExitOnError)
	rawURL := fs.String("url", os.Getenv(driver.EnvURL), "bucket URL (s3://…, gs://…, azblob://…); default $FLOWCACHE_URL")
	n := fs.Int("n", 1000, "number of chain nodes, at most 2000 (0: skip the chain)")
	reps := fs.Int("reps", 3, "repetitions of each chain phase (the median is reported)")
	mb := fs.Int("mb", 256, "size of the large result, MB (0: skip)")
	phase := fs.String("phase", "", "internal: run one phase in this process")
	fs.Parse(args)
	if *rawURL == "" {
		return fmt.Errorf("remote: no bucket URL: pass -url or set %s", driver.EnvURL)
	}
	if *n < 0 || *n > 2000 {
		return fmt.Errorf("remote: -n %d: want 0 (no chain) to 2000 chain nodes", *n)
	}
	if *phase != "" {
		if strings.HasPrefix(*phase, "large-") {
			return largePhase(*rawURL, *mb, *phase)
		}
		return remotePhase(*rawURL, *n, *phase)
	}
	base, err := url.Parse(*rawURL)
	if err != nil {
		return fmt.Errorf("remote: bad -url")
	}
	var tag [4]byte
	rand.Read(tag[:])
	prefix := func(name string) string {
		u := *base
		u.Path = strings.TrimSuffix(u.Path, "/") + "/flowbench-" + hex.EncodeToString(tag[:]) + "/" + name
		return u.String()
	}
	defer cleanup(prefix(""))

	self, err := os.Executable()
	if err != nil {
		return err
	}
	type result = remoteResult
	child := func(phase, u string) (result, error) {
		out, err := exec.Command(self, "remote", "-n", strconv.Itoa(*n), "-phase", phase, "-url", u).Output()
		var r result
		if err != nil {
			return r, fmt.Errorf("%s process: %w", phase, exitText(err))
		}
		return r, json.Unmarshal(out, &r)
	}
	median := func(phase string, u func(int) string) (result, error) {
		return medianOf(*reps, func(i int) (result, error) { return child(phase, u(i)) }, func(r result) int64 { return r.NS })
	}
	if *n > 0 {
		if err := chainPhases(median, prefix, *rawURL, base.Scheme, *n, *reps); err != nil {
			return err
		}
	}
	if *mb > 0 {
		if err := largeResult(prefix("large"), *mb); err != nil {
			return err
		}
		return largeWarm(self, prefix("large-run"), *mb, *reps)
	}
	return nil
}

// remoteResult is what a phase's process reports.
type remoteResult struct {
	NS       int64            `json:"ns"`
	Requests map[string]int64 `json:"requests"`
}

// chainPhases measures the chain of n nodes: uncached, cold, warm and cold
// with leases, each the median of reps processes.
func chainPhases(median func(string, func(int) string) (remoteResult, error), prefix func(string) string, rawURL, scheme string, n, reps int) error {
	uncached, err := median("uncached", func(int) string { return rawURL })
	if err != nil {
		return err
	}
	var last string
	cold, err := median("cold", func(i int) string { last = prefix("cold" + strconv.Itoa(i)); return last })
	if err != nil {
		return err
	}
	warm, err := median("warm", func(int) string { return last })
	if err != nil {
		return err
	}
	// Cold again, every node under a lease (driver.CacheLeases): what
	// single-flight costs a node that executes.
	leased, err := median("cold-leased", func(i int) string { return prefix("leased" + strconv.Itoa(i)) })
	if err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		r    remoteResult
	}{{"uncached", uncached}, {"cold", cold}, {"warm", warm}, {"cold_leased", leased}} {
		v := map[string]any{
			"bench": "remote-chain", "store": scheme, "phase": p.name, "n": n, "reps": reps,
			"total_ms":             round(float64(p.r.NS)/1e6, 1),
			"overhead_us_per_node": round(float64(p.r.NS-uncached.NS)/1e3/float64(n), 1),
		}
		if p.r.Requests != nil {
			total := int64(0)
			for _, c := range p.r.Requests {
				total += c
			}
			v["requests"] = p.r.Requests
			v["requests_per_node"] = round(float64(total)/float64(n), 2)
		}
		if p.name == "cold_leased" {
			v["lease_us_per_node"] = round(float64(p.r.NS-cold.NS)/1e3/float64(n), 1)
		}
		emit(v)
	}
	return nil
}

// largeWarm measures warm runs of a pipeline whose output is one result of
// mb megabytes, each in a process of its own (as the next job on a
// machine), with and without a local tier (local_cache=) in front of the
// bucket: the cold run stores it, warm runs without the tier download it,
// the first run with the tier downloads it into the tier, and the next ones
// read it from the tier.
func largeWarm(self, rawURL string, mb, reps int) error {
	tierDir, err := os.MkdirTemp("", "flowbench-tier-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tierDir)
	tiered := rawURL + "?" + core.LocalCacheParam + "=" + url.QueryEscape(tierDir)
	if strings.Contains(rawURL, "?") {
		tiered = rawURL + "&" + core.LocalCacheParam + "=" + url.QueryEscape(tierDir)
	}
	type result struct {
		NS       int64            `json:"ns"`
		Requests map[string]int64 `json:"requests"`
		Received int64            `json:"received"`
	}
	child := func(phase, u string) (result, error) {
		out, err := exec.Command(self, "remote", "-mb", strconv.Itoa(mb), "-phase", phase, "-url", u).Output()
		var r result
		if err != nil {
			return r, fmt.Errorf("%s process: %w", phase, exitText(err))
		}
		return r, json.Unmarshal(out, &r)
	}
	emitRun := func(name string, reps int, rs []result) {
		slices.SortFunc(rs, func(a, b result) int { return cmp.Compare(a.NS, b.NS) })
		res := rs[len(rs)/2]
		v := map[string]any{
			"bench": "remote-large-run", "mb": mb, "phase": name, "reps": reps,
			"total_ms": round(float64(res.NS)/1e6, 1),
			"min_ms":   round(float64(rs[0].NS)/1e6, 1),
		}
		if res.Requests != nil {
			v["requests"] = res.Requests
			v["mb_from_bucket"] = round(float64(res.Received)/(1<<20), 2)
		}
		emit(v)
	}
	// One run each to store the result and to fill the tier, then the
	// warm runs with and without the tier taking turns, so that a machine
	// shared with other work slows both alike.
	for _, r := range []struct{ name, phase, url string }{
		{"cold", "large-cold", rawURL},
		{"warm_tier_first", "large-warm", tiered},
	} {
		res, err := child(r.phase, r.url)
		if err != nil {
			return err
		}
		emitRun(r.name, 1, []result{res})
	}
	var warm, warmTier []result
	for range reps {
		w, err := child("large-warm", rawURL)
		if err != nil {
			return err
		}
		wt, err := child("large-warm", tiered)
		if err != nil {
			return err
		}
		warm, warmTier = append(warm, w), append(warmTier, wt)
	}
	emitRun("warm", reps, warm)
	emitRun("warm_tier", reps, warmTier)
	return nil
}

// largeNode returns mb megabytes, the same each time.
func largeNode(mb int) []byte {
	b := make([]byte, mb<<20)
	for i := range b {
		b[i] = byte(i ^ i>>11)
	}
	return b
}

// largePhase is one run of the large-result pipeline in a child process;
// it prints its time and requests as JSON, as remotePhase does.
func largePhase(rawURL string, mb int, phase string) error {
	rawURL, counts, err := countRequests(rawURL)
	if err != nil {
		return err
	}
	start := time.Now()
	dr, err := driver.NewBuilder().WithNodes(driver.Node("large", largeNode, "mb")).
		WithCache(driver.CacheURL(rawURL)).Build()
	if err != nil {
		return err
	}
	res, err := dr.Run(context.Background(), []string{"large"}, map[string]any{"mb": mb}, nil)
	if err != nil {
		return err
	}
	if len(res.Faults) > 0 {
		return fmt.Errorf("the cache failed during the run: %w", errors.Join(res.Faults...))
	}
	if err := dr.Close(); err != nil {
		return err
	}
	d := time.Since(start)
	if got, _ := res.Values["large"].([]byte); len(got) != mb<<20 {
		return fmt.Errorf("large result of %d bytes, want %d", len(got), mb<<20)
	}
	out := map[string]any{"ns": d.Nanoseconds()}
	if counts != nil {
		out["requests"] = counts.snapshot()
		out["received"] = counts.received()
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	return nil
}

// remotePhase is one chain run in a child process; it prints its time and
// the requests it sent, as JSON.
func remotePhase(rawURL string, n int, phase string) error {
	var counts *requestCounter
	if phase != "uncached" {
		var err error
		rawURL, counts, err = countRequests(rawURL)
		if err != nil {
			return err
		}
	}
	var d time.Duration
	var err error
	switch phase {
	case "uncached":
		d, err = runChainCache(n)
	case "cold-leased":
		d, err = runChainCache(n, driver.CacheURL(rawURL), driver.CacheLeases(30*time.Second))
	default:
		d, err = runChainCache(n, driver.CacheURL(rawURL))
	}
	if err != nil {
		return err
	}
	out := map[string]any{"ns": d.Nanoseconds()}
	if counts != nil {
		out["requests"] = counts.snapshot()
		out["received"] = counts.received()
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	return nil
}

type requestCounter struct {
	mu   sync.Mutex
	m    map[string]int64
	recv int64 // bytes of the responses' bodies
}

// received returns the bytes the bucket sent in response bodies.
func (c *requestCounter) received() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recv
}

// countingWriter counts the body bytes of a response.
type countingWriter struct {
	http.ResponseWriter
	c *requestCounter
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.c.mu.Lock()
	w.c.recv += int64(n)
	w.c.mu.Unlock()
	return n, err
}

// Flush keeps the proxy's streaming.
func (w countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (c *requestCounter) snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.m)
}

// countRequests puts a counting reverse proxy in front of the URL's
// endpoint parameter and returns the URL pointing at it; a URL without an
// endpoint is returned as is, with a nil counter.
func countRequests(raw string) (string, *requestCounter, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", nil, err
	}
	q := u.Query()
	ep := q.Get("endpoint")
	if ep == "" {
		return raw, nil, nil
	}
	target, err := url.Parse(ep)
	if err != nil {
		return "", nil, err
	}
	c := &requestCounter{m: map[string]int64{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		kind := r.Method
		if r.Method == http.MethodGet && r.URL.Query().Has("list-type") {
			kind = "LIST"
		}
		c.m[kind]++
		c.mu.Unlock()
		proxy.ServeHTTP(countingWriter{w, c}, r)
	}))
	q.Set("endpoint", srv.URL)
	u.RawQuery = q.Encode()
	return u.String(), c, nil
}

// largeResult stores and reads back one result of mb megabytes, streamed
// (generated and checked chunk by chunk, never held whole).
func largeResult(rawURL string, mb int) error {
	ctx := context.Background()
	st, err := core.OpenURL(ctx, rawURL)
	if err != nil {
		return err
	}
	defer st.Close()
	chunk := make([]byte, 1<<20)
	rand.Read(chunk)
	id := core.ResultID{Version: "flowbench-large", Format: "raw"}
	start := time.Now()
	n, err := st.Results.Put(ctx, id, func(w io.Writer) error {
		for i := range mb {
			chunk[0] = byte(i)
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	put := time.Since(start)
	start = time.Now()
	rc, err := st.Results.Get(ctx, id)
	if err != nil {
		return err
	}
	got, err := io.Copy(io.Discard, rc)
	rc.Close()
	if err != nil {
		return err
	}
	get := time.Since(start)
	if got != n || n != int64(mb)<<20 {
		return fmt.Errorf("large result: wrote %d bytes, read %d", n, got)
	}
	emit(map[string]any{
		"bench": "remote-large", "mb": mb,
		"put_mb_s": round(float64(mb)/put.Seconds(), 1),
		"get_mb_s": round(float64(mb)/get.Seconds(), 1),
	})
	return nil
}

// cleanup deletes every object the benchmark stored (under the path of
// root).
func cleanup(root string) {
	ctx := context.Background()
	u, err := url.Parse(root)
	if err != nil {
		return
	}
	prefix := strings.TrimPrefix(u.Path, "/")
	u.Path = ""
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		fmt.Fprintln(os.Stderr, "flowbench: cleanup:", err)
		return
	}
	defer b.Close()
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err != nil {
			if err != io.EOF {
				fmt.Fprintln(os.Stderr, "flowbench: cleanup:", err)
			}
			return
		}
		b.Delete(ctx, obj.Key)
	}
}
