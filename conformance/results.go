package conformance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/flowcache/flowcache/core"
)

// TestResultStore runs the result store contract against the stores open
// returns. open must return a new, empty store; the suite closes it.
//
// corrupt, if not nil, damages the stored result id in place (for the
// store open returned last); the suite then expects reading it to fail with
// core.ErrCorrupt. It is called for several results of different sizes and
// should vary the damage between calls.
func TestResultStore(t *testing.T, open func(t *testing.T) core.ResultStore, corrupt func(t *testing.T, id core.ResultID)) {
	newStore := func(t *testing.T) core.ResultStore {
		t.Helper()
		s := timeResults(t, open(t))
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		s := newStore(t)
		for _, size := range []int{0, 1, 511, 512, 4096, 100_000, 1 << 20} {
			id := resultID(fmt.Sprint("rt", size), "gob")
			data := randomBytes(size, uint64(size))
			n, err := s.Put(ctx, id, writeAll(data))
			if err != nil || n != int64(size) {
				t.Fatalf("Put(%d bytes) = %d, %v; want %d, nil", size, n, err, size)
			}
			if got := mustRead(t, s, id); !bytes.Equal(got, data) {
				t.Fatalf("Get(%d bytes) returned %d different bytes", size, len(got))
			}
			if got, err := readVerified(s, id); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("GetVerified(%d bytes) returned %d bytes (equal %v), %v", size, len(got), bytes.Equal(got, data), err)
			}
			if ok, err := s.Exists(ctx, id); !ok || err != nil {
				t.Errorf("Exists(stored) = %v, %v; want true, nil", ok, err)
			}
		}
	})

	t.Run("SmallWrites", func(t *testing.T) {
		s := newStore(t)
		id := resultID("small-writes", "json+zstd")
		data := randomBytes(10_000, 7)
		_, err := s.Put(ctx, id, func(w io.Writer) error {
			for i := 0; i < len(data); i += 3 {
				if _, err := w.Write(data[i:min(i+3, len(data))]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		rc := mustOpen(t, s, id)
		defer rc.Close()
		// Reads of every size, one byte at a time included, see the same
		// bytes and then io.EOF.
		if err := iotest.TestReader(rc, data); err != nil {
			t.Error(err)
		}
	})

	t.Run("GetMissing", func(t *testing.T) {
		s := newStore(t)
		id := resultID("missing", "gob")
		rc, err := s.Get(ctx, id)
		if !errors.Is(err, core.ErrNotFound) {
			if rc != nil {
				rc.Close()
			}
			t.Fatalf("Get(missing) = %v, want an error wrapping ErrNotFound", err)
		}
		if !strings.Contains(err.Error(), id.Version.Short()) {
			t.Errorf("Get(missing) error %q does not name the result %s", err, id)
		}
		if ok, err := s.Exists(ctx, id); ok || err != nil {
			t.Errorf("Exists(missing) = %v, %v; want false, nil", ok, err)
		}
	})

	t.Run("PutExisting", func(t *testing.T) {
		s := newStore(t)
		id := resultID("existing", "gob")
		if _, err := s.Put(ctx, id, writeAll([]byte("first"))); err != nil {
			t.Fatal(err)
		}
		// A store may skip write when it knows the result exists, or call it
		// and find out when it stores (a conditional upload); either way
		// Put returns 0 and the stored result stays as it was.
		n, err := s.Put(ctx, id, func(w io.Writer) error {
			_, err := w.Write([]byte("second"))
			return err
		})
		if err != nil || n != 0 {
			t.Errorf("Put(existing) = %d, %v; want 0, nil", n, err)
		}
		if got := mustRead(t, s, id); string(got) != "first" {
			t.Errorf("Get = %q, want %q", got, "first")
		}
	})

	t.Run("WriteError", func(t *testing.T) {
		s := newStore(t)
		id := resultID("write-error", "gob")
		errBoom := errors.New("boom")
		_, err := s.Put(ctx, id, func(w io.Writer) error {
			if _, err := w.Write(randomBytes(100_000, 1)); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("Put with a failing write = %v, want an error wrapping the write's error", err)
		}
		checkAbsent(t, s, id)
		// A later Put stores the result.
		if n, err := s.Put(ctx, id, writeAll([]byte("ok"))); err != nil || n != 2 {
			t.Fatalf("Put after a failed Put = %d, %v", n, err)
		}
		if got := mustRead(t, s, id); string(got) != "ok" {
			t.Errorf("Get = %q, want %q", got, "ok")
		}
	})

	t.Run("CancelledContext", func(t *testing.T) {
		s := newStore(t)
		id := resultID("cancelled-before", "gob")
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Put(cctx, id, writeAll([]byte("data"))); err == nil {
			t.Errorf("Put with a cancelled context succeeded")
		}
		checkAbsent(t, s, id)

		id = resultID("cancelled-during", "gob")
		cctx, cancel = context.WithCancel(ctx)
		defer cancel()
		_, err := s.Put(cctx, id, func(w io.Writer) error {
			if _, err := w.Write(randomBytes(50_000, 2)); err != nil {
				return err
			}
			cancel()
			_, _ = w.Write(randomBytes(50_000, 3)) // may fail; the write func ignores it
			return nil
		})
		if err == nil {
			t.Errorf("Put whose context was cancelled during write succeeded")
		}
		checkAbsent(t, s, id)
	})

	t.Run("Delete", func(t *testing.T) {
		s := newStore(t)
		id, other := resultID("del", "gob"), resultID("del-other", "gob")
		for _, x := range []core.ResultID{id, other} {
			if _, err := s.Put(ctx, x, writeAll([]byte(x.String()))); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Delete(ctx, id); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		checkAbsent(t, s, id)
		if got := mustRead(t, s, other); string(got) != other.String() {
			t.Errorf("Delete removed another result")
		}
		if err := s.Delete(ctx, id); err != nil {
			t.Errorf("Delete of a missing result = %v, want nil", err)
		}
		// A deleted result can be stored again.
		if n, err := s.Put(ctx, id, writeAll([]byte("again"))); err != nil || n != 5 {
			t.Errorf("Put after Delete = %d, %v; want 5, nil", n, err)
		}
	})

	t.Run("DeleteAll", func(t *testing.T) {
		s := newStore(t)
		var ids []core.ResultID
		for i := range 20 {
			id := resultID(fmt.Sprint("all", i), []string{"gob", "json"}[i%2])
			ids = append(ids, id)
			if _, err := s.Put(ctx, id, writeAll(randomBytes(i*100, uint64(i)))); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DeleteAll(ctx); err != nil {
			t.Fatalf("DeleteAll: %v", err)
		}
		for _, id := range ids {
			checkAbsent(t, s, id)
		}
		if _, err := s.Put(ctx, ids[0], writeAll([]byte("x"))); err != nil {
			t.Fatalf("Put after DeleteAll: %v", err)
		}
		if got := mustRead(t, s, ids[0]); string(got) != "x" {
			t.Errorf("Get after DeleteAll and Put = %q", got)
		}
	})

	t.Run("FormatMismatch", func(t *testing.T) {
		s := newStore(t)
		stored := resultID("fmt", "gob")
		if _, err := s.Put(ctx, stored, writeAll([]byte("gob bytes"))); err != nil {
			t.Fatal(err)
		}
		other := core.ResultID{Version: stored.Version, Format: "json"}
		got, err := readAll(s, other)
		if !errors.Is(err, core.ErrNotFound) && !errors.Is(err, core.ErrCorrupt) {
			t.Errorf("Get of a result stored in another format = %q, %v; want ErrNotFound or ErrCorrupt", got, err)
		}
		if ok, err := s.Exists(ctx, other); ok || err != nil {
			t.Errorf("Exists(other format) = %v, %v; want false, nil", ok, err)
		}
	})

	t.Run("ConcurrentPuts", func(t *testing.T) {
		s := newStore(t)
		id := resultID("concurrent", "gob")
		data := randomBytes(300_000, 9)
		var calls atomic.Int32
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				_, errs[i] = s.Put(ctx, id, func(w io.Writer) error {
					calls.Add(1)
					// Write in pieces so the writers overlap.
					for off := 0; off < len(data); off += 10_000 {
						if _, err := w.Write(data[off:min(off+10_000, len(data))]); err != nil {
							return err
						}
					}
					return nil
				})
			})
		}
		// Readers run alongside: they see the whole result or none.
		for range 4 {
			wg.Go(func() {
				got, err := readAll(s, id)
				if err != nil && !errors.Is(err, core.ErrNotFound) {
					t.Errorf("Get during concurrent Puts: %v", err)
				} else if err == nil && !bytes.Equal(got, data) {
					t.Errorf("Get during concurrent Puts returned %d wrong bytes", len(got))
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Put %d: %v", i, err)
			}
		}
		if calls.Load() < 1 {
			t.Errorf("no Put called write")
		}
		if got := mustRead(t, s, id); !bytes.Equal(got, data) {
			t.Errorf("after concurrent Puts Get returned %d wrong bytes", len(got))
		}
	})

	t.Run("Large", func(t *testing.T) {
		if testing.Short() {
			t.Skip("100 MB result: skipped under -short")
		}
		s := newStore(t)
		id := resultID("large", "parquet")
		const chunk, chunks = 1 << 20, 100
		buf := randomBytes(chunk, 42)
		sent := sha256.New()
		n, err := s.Put(ctx, id, func(w io.Writer) error {
			for i := range chunks {
				buf[0], buf[1] = byte(i), byte(i>>8) // every chunk differs
				sent.Write(buf)
				if _, err := w.Write(buf); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || n != chunk*chunks {
			t.Fatalf("Put(100 MB) = %d, %v", n, err)
		}
		rc := mustOpen(t, s, id)
		defer rc.Close()
		got := sha256.New()
		m, err := io.Copy(got, rc)
		if err != nil || m != chunk*chunks {
			t.Fatalf("reading 100 MB: %d bytes, %v", m, err)
		}
		if !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
			t.Errorf("100 MB result read back different")
		}
		// Verified whole first, then handed over: the same bytes.
		vrc, err := core.GetVerified(ctx, s, id)
		if err != nil {
			t.Fatalf("GetVerified(100 MB): %v", err)
		}
		defer vrc.Close()
		got.Reset()
		if m, err := io.Copy(got, vrc); err != nil || m != chunk*chunks || !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
			t.Errorf("100 MB result read back verified: %d bytes, %v (equal %v)", m, err, bytes.Equal(got.Sum(nil), sent.Sum(nil)))
		}
	})

	t.Run("Corrupt", func(t *testing.T) {
		if corrupt == nil {
			t.Skip("no corrupt function for this store")
		}
		s := newStore(t)
		for i, size := range []int{0, 1, 100, 1000, 300_000, 64 << 10} {
			id := resultID(fmt.Sprint("corrupt", i), "gob")
			data := randomBytes(size, uint64(i))
			if _, err := s.Put(ctx, id, writeAll(data)); err != nil {
				t.Fatal(err)
			}
			corrupt(t, id)
			got, err := readAll(s, id)
			if !errors.Is(err, core.ErrCorrupt) {
				t.Errorf("damaged result %d (%d bytes): read %d bytes, %v; want an error wrapping ErrCorrupt", i, size, len(got), err)
			}
			if err != nil && !strings.Contains(err.Error(), id.Version.Short()) {
				t.Errorf("error %q does not name the result %s", err, id)
			}
			// Verified before anything is handed over: the error comes
			// from GetVerified, with no reader.
			if rc, err := core.GetVerified(ctx, s, id); !errors.Is(err, core.ErrCorrupt) || rc != nil {
				t.Errorf("GetVerified of damaged result %d (%d bytes) = %v, %v; want no reader and ErrCorrupt", i, size, rc, err)
				if rc != nil {
					rc.Close()
				}
			}
		}
	})

	t.Run("Closed", func(t *testing.T) {
		s := timeResults(t, open(t))
		id := resultID("closed", "gob")
		if _, err := s.Put(ctx, id, writeAll([]byte("x"))); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, err := s.Get(ctx, id); !errors.Is(err, core.ErrClosed) {
			t.Errorf("Get after Close = %v, want ErrClosed", err)
		}
		if _, err := s.Put(ctx, resultID("closed2", "gob"), writeAll([]byte("x"))); !errors.Is(err, core.ErrClosed) {
			t.Errorf("Put after Close = %v, want ErrClosed", err)
		}
	})
}

func resultID(seed, format string) core.ResultID {
	return core.ResultID{Version: dataVersion(seed), Format: format}
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 1})
	_, _ = r.Read(b)
	return b
}

func writeAll(data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
}

func mustOpen(t *testing.T, s core.ResultStore, id core.ResultID) io.ReadCloser {
	t.Helper()
	rc, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return rc
}

// readAll opens and reads a result to its end; an error from Get, Read or
// Close is returned.
func readAll(s core.ResultStore, id core.ResultID) ([]byte, error) {
	rc, err := s.Get(context.Background(), id)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return data, err
}

// readVerified opens a result with core.GetVerified and reads it whole.
func readVerified(s core.ResultStore, id core.ResultID) ([]byte, error) {
	rc, err := core.GetVerified(context.Background(), s, id)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return data, err
}

func mustRead(t *testing.T, s core.ResultStore, id core.ResultID) []byte {
	t.Helper()
	data, err := readAll(s, id)
	if err != nil {
		t.Fatalf("reading %s: %v", id, err)
	}
	return data
}

func checkAbsent(t *testing.T, s core.ResultStore, id core.ResultID) {
	t.Helper()
	if ok, err := s.Exists(context.Background(), id); ok || err != nil {
		t.Errorf("Exists(%s) = %v, %v; want false, nil", id, ok, err)
	}
	if data, err := readAll(s, id); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get(%s) = %d bytes, %v; want ErrNotFound", id, len(data), err)
	}
}
