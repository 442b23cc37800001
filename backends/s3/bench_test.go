package s3_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/internal/servertest"
)

// requestCounter is a reverse proxy in front of the S3 server that counts
// the requests going through it, by method.
type requestCounter struct {
	srv *httptest.Server
	mu  sync.Mutex
	n   map[string]int
	all atomic.Int64
	// batches counts the batch objects written (PUTs under meta/batches/),
	// lookups the entries read one by one (GETs under meta/entries/),
	// indexReads the GETs of the heads, snapshot and batch objects (what a
	// preload reads).
	batches, lookups, indexReads atomic.Int64
}

func newRequestCounter(t testing.TB) *requestCounter {
	t.Helper()
	target, err := url.Parse(servertest.S3Endpoint(t))
	if err != nil {
		t.Fatal(err)
	}
	c := &requestCounter{n: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := r.Method
		if r.Method == http.MethodGet && r.URL.Query().Has("list-type") {
			op = "LIST"
		}
		c.mu.Lock()
		c.n[op]++
		c.mu.Unlock()
		c.all.Add(1)
		switch {
		case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/meta/batches/"):
			c.batches.Add(1)
		case r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/meta/entries/"):
			c.lookups.Add(1)
		case op == http.MethodGet && (strings.HasSuffix(r.URL.Path, "/meta/heads") ||
			strings.Contains(r.URL.Path, "/meta/snapshots/") || strings.Contains(r.URL.Path, "/meta/batches/")):
			c.indexReads.Add(1)
		}
		proxy.ServeHTTP(w, r) // Host stays the proxy's: the request is signed for it
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// url is the flowcache URL of bucket/prefix through the proxy.
func (c *requestCounter) url(bucket, prefix string) string {
	return "s3://" + bucket + "/" + prefix + "?endpoint=" + c.srv.URL + "&use_path_style=true&disable_https=true&region=us-east-1"
}

// take returns the counts since the last take, and resets them.
func (c *requestCounter) take() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n, int(c.all.Swap(0))
}

const benchWide = 1000

// wide is a pipeline of benchWide nodes: four chains of plusOne, and a
// node that sums their ends.
func wide() ([]*driver.NodeDef, []string) {
	var nodes []*driver.NodeDef
	var names, ends []string
	for c := range 4 {
		prev := "x"
		for i := range benchWide / 4 {
			name := fmt.Sprintf("c%d_%d", c, i)
			nodes = append(nodes, driver.Node(name, inc, prev))
			names = append(names, name)
			prev = name
		}
		ends = append(ends, prev)
	}
	nodes = append(nodes, driver.Node("sum", sum4, ends[0], ends[1], ends[2], ends[3]))
	names = append(names, "sum")
	return nodes, names
}

func inc(x int) int           { return x + 1 }
func sum4(a, b, c, d int) int { return a + b + c + d }

const wideWant = 4 * (1 + benchWide/4)

// BenchmarkWarm measures, on MinIO through a counting proxy, a warm Preload
// of 1001 nodes (one entry each), a warm run of that 1001-node pipeline
// (Build, Execute, Close) and a cold one, with the requests each sends.
func BenchmarkWarm(b *testing.B) {
	bucket := servertest.S3Bucket(b)
	counter := newRequestCounter(b)
	u := counter.url(bucket, "bench")
	ctx := context.Background()
	runWide := func(u string) {
		nodes, _ := wide()
		dr, err := driver.NewBuilder().WithNodes(nodes...).WithCache(driver.CacheURL(u)).Build()
		if err != nil {
			b.Fatal(err)
		}
		out, err := dr.Execute(ctx, []string{"sum"}, driver.Inputs{"x": 1}, nil)
		if err != nil || out["sum"] != wideWant {
			b.Fatalf("%v %v", out, err)
		}
		if err := dr.Close(); err != nil {
			b.Fatal(err)
		}
	}
	runWide(u) // cold
	runWide(u) // the first warm run may still write what the cold one left
	report := func(b *testing.B) {
		n, all := counter.take()
		b.ReportMetric(float64(all)/float64(b.N), "req/op")
		for op, k := range n {
			b.ReportMetric(float64(k)/float64(b.N), op+"/op")
		}
	}

	b.Run("Preload1000", func(b *testing.B) {
		st, err := core.OpenURL(ctx, u)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		_, nodes := wide()
		p := st.Metadata.(core.Preloader)
		counter.take()
		for b.Loop() {
			m, err := p.Preload(ctx, nodes)
			if err != nil || len(m) != benchWide+1 {
				b.Fatalf("Preload: %d entries, %v", len(m), err)
			}
		}
		report(b)
	})
	b.Run("Run1000", func(b *testing.B) {
		counter.take()
		for b.Loop() {
			runWide(u)
		}
		report(b)
	})
	b.Run("Cold1000", func(b *testing.B) {
		counter.take()
		for i := 0; b.Loop(); i++ {
			runWide(counter.url(bucket, fmt.Sprint("cold", i)))
		}
		report(b)
	})
}
