package conformance

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/core/fingerprint"
	"github.com/flowcache/flowcache/formats"
)

// FormatCase is one value a format must store and load back.
type FormatCase struct {
	Name string
	// Value is stored and loaded back as a value of its dynamic type; the
	// loaded value must have that type and the same fingerprint.Of.
	Value any
}

// FormatSuite describes what a format supports.
type FormatSuite struct {
	Format core.Format
	// Supported are values the format must round-trip. Their types must
	// pass Check, and so are their zero values (and empty slices and maps)
	// whenever Check accepts the type.
	Supported []FormatCase
	// Unsupported are values whose types Check must reject with an error
	// wrapping core.ErrUnsupportedType that names the type.
	Unsupported []any
	// Large returns a supported value whose encoding is about n bytes, or
	// nil to skip the large-value test (it is also skipped under -short and
	// the race detector).
	Large func(n int) any
}

// LargeSize is the encoded size the large-value test asks Large for.
const LargeSize = 200 << 20

// TestFormat runs the format contract against s.Format:
//
//   - Name: the name is valid (formats.ValidateName).
//   - Check: accepts the type of every supported value; rejects the type of
//     every unsupported one with an error wrapping core.ErrUnsupportedType
//     whose message names the type.
//   - RoundTrip: every supported value loads back with the same type and
//     fingerprint, read whole, one byte at a time, and through a result
//     store (backends/mem) as the cache does it: Put, Get, Decode, then
//     read to io.EOF.
//   - Empty: the zero value of every supported type Check accepts (and an
//     empty slice or map) round-trips.
//   - Corrupt: Decode of every strict prefix of an encoding (or of many,
//     for long ones) and of random bytes returns an error and never panics;
//     encodings with a flipped byte may decode, but must not panic.
//   - Concurrent: encoding and decoding from several goroutines at once.
//   - Large: a value of about LargeSize encoded bytes is encoded to a file
//     and decoded from it through a plain io.Reader (the runtime's heap
//     sampled every 200µs, with GOGC at 2). With size = max(encoding,
//     value), Encode may grow the heap by size/2 + 32 MiB, and Decode by
//     twice the decoded value (a decoder that does not know the length
//     builds it in pieces, or by appending, and copies them once) plus
//     size/4 + 32 MiB. A format that holds a whole copy of its encoding
//     fails the Encode bound, and the Decode bound when the encoding is
//     larger than the value (text formats). The test is skipped under
//     -short and the race detector.
func TestFormat(t *testing.T, s FormatSuite) {
	f := s.Format
	if f == nil {
		t.Fatal("FormatSuite.Format is nil")
	}
	for _, c := range s.Supported {
		if c.Value == nil {
			t.Fatalf("supported case %q has a nil Value: give it a typed value", c.Name)
		}
		if _, err := fingerprint.Of(c.Value); err != nil {
			t.Fatalf("supported case %q cannot be fingerprinted: %v", c.Name, err)
		}
	}

	t.Run("Name", func(t *testing.T) {
		if err := formats.ValidateName(f.Name()); err != nil {
			t.Error(err)
		}
	})

	t.Run("Check", func(t *testing.T) {
		for _, c := range s.Supported {
			if err := f.Check(reflect.TypeOf(c.Value)); err != nil {
				t.Errorf("%s: Check(%T) = %v, want nil", c.Name, c.Value, err)
			}
		}
		for _, u := range s.Unsupported {
			typ := reflect.TypeOf(u)
			if typ == nil {
				t.Errorf("an unsupported value is nil: give it a typed value")
				continue
			}
			err := f.Check(typ)
			switch {
			case err == nil:
				t.Errorf("Check(%v) = nil, want an error wrapping core.ErrUnsupportedType", typ)
			case !errors.Is(err, core.ErrUnsupportedType):
				t.Errorf("Check(%v) = %v, want an error wrapping core.ErrUnsupportedType", typ, err)
			case !namesType(err.Error(), typ):
				t.Errorf("Check(%v) = %q, which does not name the type", typ, err)
			}
		}
	})

	t.Run("RoundTrip", func(t *testing.T) {
		for _, c := range s.Supported {
			t.Run(c.Name, func(t *testing.T) {
				b := mustEncode(t, f, c.Value)
				typ := reflect.TypeOf(c.Value)
				checkDecode(t, f, bytes.NewReader(b), typ, c.Value, "read whole")
				if len(b) <= 1<<16 {
					checkDecode(t, f, iotest.OneByteReader(bytes.NewReader(b)), typ, c.Value, "read one byte at a time")
				}
				checkStore(t, f, c.Value)
			})
		}
	})

	t.Run("Empty", func(t *testing.T) {
		seen := map[reflect.Type]bool{}
		for _, c := range s.Supported {
			typ := reflect.TypeOf(c.Value)
			if seen[typ] {
				continue
			}
			seen[typ] = true
			if f.Check(typ) != nil {
				continue
			}
			vals := []reflect.Value{reflect.Zero(typ)}
			switch typ.Kind() {
			case reflect.Slice:
				vals = append(vals, reflect.MakeSlice(typ, 0, 0))
			case reflect.Map:
				vals = append(vals, reflect.MakeMap(typ))
			}
			for i, v := range vals {
				t.Run(fmt.Sprintf("%v#%d", typ, i), func(t *testing.T) {
					want := v.Interface()
					b := mustEncode(t, f, want)
					checkDecode(t, f, bytes.NewReader(b), typ, want, "zero value")
				})
			}
		}
	})

	t.Run("Corrupt", func(t *testing.T) {
		for _, c := range s.Supported {
			t.Run(c.Name, func(t *testing.T) {
				b := mustEncode(t, f, c.Value)
				if len(b) > 1<<20 {
					t.Skipf("encoding of %d bytes: too long to cut up", len(b))
				}
				typ := reflect.TypeOf(c.Value)
				for _, n := range cutPoints(len(b)) {
					decodeMustFail(t, f, b[:n], typ, fmt.Sprintf("the first %d of %d bytes", n, len(b)))
				}
				rng := rand.New(rand.NewPCG(uint64(len(b)), 1))
				for i := range 64 {
					r := make([]byte, 1+rng.IntN(min(2*len(b), 4096)))
					for j := range r {
						r[j] = byte(rng.Uint32())
					}
					decodeMustFail(t, f, r, typ, fmt.Sprintf("random input #%d (%d bytes)", i, len(r)))
				}
				for range 64 {
					m := bytes.Clone(b)
					m[rng.IntN(len(m))] ^= byte(1 + rng.IntN(255))
					decodeNoPanic(t, f, m, typ)
				}
			})
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := range s.Supported {
					c := s.Supported[(i+g)%len(s.Supported)]
					var buf bytes.Buffer
					if err := f.Encode(&buf, c.Value); err != nil {
						t.Errorf("%s: Encode: %v", c.Name, err)
						return
					}
					if buf.Len() > 1<<20 {
						continue
					}
					got, err := f.Decode(&buf, reflect.TypeOf(c.Value))
					if err != nil {
						t.Errorf("%s: Decode: %v", c.Name, err)
						return
					}
					if err := sameValue(c.Value, got); err != nil {
						t.Errorf("%s: %v", c.Name, err)
					}
				}
			})
		}
		wg.Wait()
	})

	t.Run("Large", func(t *testing.T) {
		switch {
		case s.Large == nil:
			t.Skip("the suite has no large value")
		case testing.Short():
			t.Skip("skipped under -short")
		case raceEnabled:
			t.Skip("skipped under the race detector (slow, and it distorts memory use)")
		}
		testLarge(t, f, s.Large)
	})
}

// namesType reports whether msg names typ.
func namesType(msg string, typ reflect.Type) bool {
	return strings.Contains(msg, typ.String()) || (typ.Name() != "" && strings.Contains(msg, typ.Name()))
}

func mustEncode(t *testing.T, f core.Format, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := f.Encode(&buf, v); err != nil {
		t.Fatalf("Encode(%T): %v", v, err)
	}
	return buf.Bytes()
}

// sameValue reports how got differs from want: type or fingerprint.
func sameValue(want, got any) error {
	if reflect.TypeOf(got) != reflect.TypeOf(want) {
		return fmt.Errorf("loaded a %T, want a %T", got, want)
	}
	sw, err := fingerprint.Of(want)
	if err != nil {
		return err
	}
	sg, err := fingerprint.Of(got)
	if err != nil {
		return fmt.Errorf("the loaded value cannot be fingerprinted: %v", err)
	}
	if sw != sg {
		return fmt.Errorf("the loaded value fingerprints differently:\n got  %s\n want %s", clip(fmt.Sprintf("%#v", got)), clip(fmt.Sprintf("%#v", want)))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:297] + "..."
	}
	return s
}

func checkDecode(t *testing.T, f core.Format, r io.Reader, typ reflect.Type, want any, how string) {
	t.Helper()
	got, err := f.Decode(r, typ)
	if err != nil {
		t.Fatalf("Decode (%s): %v", how, err)
	}
	if err := sameValue(want, got); err != nil {
		t.Fatalf("Decode (%s): %v", how, err)
	}
}

// checkStore stores v and loads it back the way the cache does with a
// result store: Encode into the stored bytes, then Decode from a reader of
// them that verifies their checksum when it reaches the end (as
// core.ResultStore.Get's readers do) and hands them out in reads of a few
// KiB, then read to io.EOF. (The suite keeps the bytes itself: it depends on
// no backend.)
func checkStore(t *testing.T, f core.Format, v any) {
	t.Helper()
	var stored bytes.Buffer
	if err := f.Encode(&stored, v); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	rc := &checkedReader{r: bytes.NewReader(stored.Bytes()), want: sha256.Sum256(stored.Bytes()), h: sha256.New()}
	got, err := f.Decode(rc, reflect.TypeOf(v))
	if err != nil {
		t.Fatalf("Decode from the store: %v", err)
	}
	if _, err := io.Copy(io.Discard, rc); err != nil {
		t.Fatalf("reading the rest of the result: %v", err)
	}
	if err := sameValue(v, got); err != nil {
		t.Fatalf("through the store: %v", err)
	}
}

// checkedReader reads a stored result as a result store's reader does: in
// reads of at most checkedRead bytes, and at the end it compares the
// checksum of what was read with the stored one (a mismatch wraps
// core.ErrCorrupt).
type checkedReader struct {
	r    io.Reader
	h    hash.Hash
	want [sha256.Size]byte
}

// checkedRead is the most a Read of checkedReader returns: less than a
// decoder may ask for, as a store reading from a network does.
const checkedRead = 4 << 10

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p[:min(len(p), checkedRead)])
	c.h.Write(p[:n])
	if err == io.EOF && !bytes.Equal(c.h.Sum(nil), c.want[:]) {
		return n, fmt.Errorf("stored result: %w: checksum mismatch", core.ErrCorrupt)
	}
	return n, err
}

// cutPoints returns the prefix lengths to try: all of them for short
// encodings, else the first and last 64 and 128 in between.
func cutPoints(n int) []int {
	if n <= 320 {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	var out []int
	for i := range 64 {
		out = append(out, i, n-64+i)
	}
	for i := 1; i <= 128; i++ {
		out = append(out, 64+(n-128)*i/129)
	}
	return out
}

func decodeMustFail(t *testing.T, f core.Format, b []byte, typ reflect.Type, what string) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("Decode of %s panicked: %v", what, p)
		}
	}()
	if v, err := f.Decode(bytes.NewReader(b), typ); err == nil {
		t.Fatalf("Decode of %s succeeded (%s); want an error", what, clip(fmt.Sprintf("%#v", v)))
	}
}

func decodeNoPanic(t *testing.T, f core.Format, b []byte, typ reflect.Type) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("Decode of a damaged encoding panicked: %v\ninput: %q", p, clip(string(b)))
		}
	}()
	_, _ = f.Decode(bytes.NewReader(b), typ)
}

// largeSlack is what the large-value test allows any format beyond its
// share: buffers, compression windows, garbage not yet collected.
const largeSlack = 32 << 20

// testLarge checks that encoding and decoding a large value stream: the heap
// grows by much less than a whole copy of the encoding.
func testLarge(t *testing.T, f core.Format, large func(int) any) {
	runtime.GC()
	before := heapBytes()
	v := large(LargeSize)
	if v == nil {
		t.Skip("Large returned nil")
	}
	runtime.GC()
	valueSize := heapBytes() - before
	typ := reflect.TypeOf(v)
	if err := f.Check(typ); err != nil {
		t.Fatalf("Check of the large value's type: %v", err)
	}
	want, err := fingerprint.Of(v)
	if err != nil {
		t.Fatal(err)
	}

	file, err := os.Create(filepath.Join(t.TempDir(), "large"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()

	// Collect garbage early, so the heap's peak is mostly live memory.
	defer debug.SetGCPercent(debug.SetGCPercent(2))

	cw := &countingWriter{w: file}
	start := time.Now()
	encPeak, err := peakGrowth(func() error { return f.Encode(cw, v) })
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	encTime := time.Since(start)
	// v is not used below, so the collector may free it before decoding.
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var got any
	start = time.Now()
	decBase := heapAfterGC()
	decPeak, err := peakGrowth(func() (err error) {
		got, err = f.Decode(onlyReader{file}, typ)
		return err
	})
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	decTime := time.Since(start)
	decoded := heapAfterGC() - decBase
	if s, err := fingerprint.Of(got); err != nil || s != want {
		t.Fatalf("the large value loads back different (%v)", err)
	}

	size := max(cw.n, valueSize)
	encAllow := size/2 + largeSlack
	decAllow := 2*decoded + size/4 + largeSlack
	mb := func(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
	t.Logf("value %s, encoding %s; encode %v (peak heap +%s, allowed %s), decode %v (peak heap +%s, allowed %s, decoded value %s)",
		mb(valueSize), mb(cw.n), encTime.Round(time.Millisecond), mb(encPeak), mb(encAllow),
		decTime.Round(time.Millisecond), mb(decPeak), mb(decAllow), mb(decoded))
	if encPeak > encAllow {
		t.Errorf("Encode grew the heap by %s, more than %s: it seems to hold a whole copy of the encoding (%s) in memory", mb(encPeak), mb(encAllow), mb(cw.n))
	}
	if decPeak > decAllow {
		t.Errorf("Decode grew the heap by %s for a value of %s, more than %s: it seems to hold a whole copy of the encoding (%s) in memory",
			mb(decPeak), mb(decoded), mb(decAllow), mb(cw.n))
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// onlyReader hides every method of a reader but Read.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

var heapMetric = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}

var heapMu sync.Mutex

// heapBytes returns the bytes of heap objects, live or not yet swept.
func heapBytes() int64 {
	heapMu.Lock()
	defer heapMu.Unlock()
	metrics.Read(heapMetric)
	return int64(heapMetric[0].Value.Uint64())
}

func heapAfterGC() int64 {
	runtime.GC()
	return heapBytes()
}

// peakGrowth runs fn while sampling the heap every 200µs, and returns how
// far above its starting point the heap went.
func peakGrowth(fn func() error) (int64, error) {
	base := heapAfterGC()
	var peak int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for {
			peak = max(peak, heapBytes())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	err := fn()
	close(done)
	wg.Wait()
	peak = max(peak, heapBytes())
	return max(peak-base, 0), err
}
