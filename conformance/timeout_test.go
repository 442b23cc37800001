package conformance_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/core"
)

// hangEnv names, in the environment of the test binary TestOpTimeout
// starts, the way TestHangingStore's store hangs.
const hangEnv = "FLOWCACHE_CONFORMANCE_HANG"

// TestOpTimeout runs the suites, in a test binary of their own, on stores
// that hang, and checks that they fail naming the operation and the key
// instead of hanging.
func TestOpTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("starts test binaries")
	}
	for _, c := range []struct {
		hang, run string
		want      []string
	}{
		{"metadata-get", "WriteGet", []string{"Get(", "did not return within 200ms (-op-timeout)"}},
		{"result-get", "RoundTrip", []string{"Get(", ".gob) did not return within 200ms (-op-timeout)"}},
		{"result-read", "RoundTrip", []string{"Read of Get(", "did not return within 200ms"}},
		{"result-empty-read", "RoundTrip", []string{"Read of Get(", "returned (0, nil) 100 times in a row"}},
	} {
		t.Run(c.hang, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHangingStore$/^"+c.run+"$", "-test.timeout=1m", "-op-timeout=200ms", "-test.short")
			cmd.Env = append(os.Environ(), hangEnv+"="+c.hang)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed on a hanging store:\n%s", out)
			}
			if strings.Contains(string(out), "panic: test timed out") {
				t.Fatalf("the suite hung:\n%.4000s", out)
			}
			for _, w := range c.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output does not contain %q:\n%.4000s", w, out)
				}
			}
		})
	}
}

// TestHangingStore runs the suites on a store that hangs as $FLOWCACHE_CONFORMANCE_HANG
// says; it is run by TestOpTimeout, and skipped otherwise.
func TestHangingStore(t *testing.T) {
	hang := os.Getenv(hangEnv)
	if hang == "" {
		t.Skip("run by TestOpTimeout")
	}
	if strings.HasPrefix(hang, "metadata-") {
		conformance.TestMetadataStore(t, func(t *testing.T) core.MetadataStore {
			return hangingMetadata{mem.NewMetadataStore()}
		})
		return
	}
	conformance.TestResultStore(t, func(t *testing.T) core.ResultStore {
		return hangingResults{ResultStore: mem.NewResultStore(), hang: hang}
	}, nil)
}

// hangingMetadata's Get never returns, whatever its context.
type hangingMetadata struct{ *mem.MetadataStore }

func (hangingMetadata) Get(context.Context, core.KeyID) (core.Entry, error) { select {} }

// hangingResults hangs in Get, or returns readers that hang or return
// (0, nil) forever.
type hangingResults struct {
	*mem.ResultStore
	hang string
}

func (h hangingResults) Get(ctx context.Context, id core.ResultID) (io.ReadCloser, error) {
	switch h.hang {
	case "result-get":
		select {}
	case "result-read":
		return io.NopCloser(blockingReader{}), nil
	}
	return io.NopCloser(emptyReader{}), nil
}

type blockingReader struct{}

func (blockingReader) Read([]byte) (int, error) { select {} }

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

// TestReaderContext runs the result suite on a store whose readers read
// with the context given to Get, as a bucket's do: the suite's deadline on
// Get must not end the reads that follow.
func TestReaderContext(t *testing.T) {
	conformance.TestResultStore(t, func(t *testing.T) core.ResultStore {
		return ctxResults{mem.NewResultStore()}
	}, nil)
}

type ctxResults struct{ *mem.ResultStore }

func (s ctxResults) Get(ctx context.Context, id core.ResultID) (io.ReadCloser, error) {
	rc, err := s.ResultStore.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return ctxReader{ctx, rc}, nil
}

type ctxReader struct {
	ctx context.Context
	io.ReadCloser
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.ReadCloser.Read(p)
}
