package blobstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/gcerrors"

	"github.com/flowcache/flowcache/backends/blobstore"
	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/core"
)

func version(s string) core.DataVersion {
	sum := sha256.Sum256([]byte(s))
	return core.DataVersion(hex.EncodeToString(sum[:]))
}

func put(t testing.TB, s *blobstore.ResultStore, id core.ResultID, data []byte) {
	t.Helper()
	if _, err := s.Put(context.Background(), id, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
		t.Fatal(err)
	}
}

func read(s *blobstore.ResultStore, id core.ResultID) ([]byte, error) {
	rc, err := s.Get(context.Background(), id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// TestConformanceSHA256 runs the result store suite with SHA-256 objects
// and a prefix (package mem runs it with the defaults).
func TestConformanceSHA256(t *testing.T) {
	var s *blobstore.ResultStore
	conformance.TestResultStore(t, func(t *testing.T) core.ResultStore {
		s = blobstore.New(memblob.OpenBucket(nil), blobstore.WithOwnedBucket(), blobstore.WithChecksum(blobstore.SHA256), blobstore.WithPrefix("p/q/"))
		return s
	}, func(t *testing.T, id core.ResultID) {
		ctx := context.Background()
		data, err := s.Bucket().ReadAll(ctx, s.Key(id))
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)-40] ^= 0xff // the payload's end, or the length for empty payloads
		if err := s.Bucket().WriteAll(ctx, s.Key(id), data, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestObjectLayout(t *testing.T) {
	s := blobstore.New(memblob.OpenBucket(nil))
	id := core.ResultID{Version: "abcdef", Format: "json"}
	put(t, s, id, []byte("hello"))
	if got, want := s.Key(id), "ab/abcdef.json"; got != want {
		t.Errorf("Key = %q, want %q", got, want)
	}
	obj, err := s.Bucket().ReadAll(context.Background(), s.Key(id))
	if err != nil {
		t.Fatal(err)
	}
	// The layout of the package doc, byte by byte.
	want := []byte("FCRESULT\x01\x01\x06\x00\x04\x00abcdefjsonhello\x05\x00\x00\x00\x00\x00\x00\x00")
	want = binary.LittleEndian.AppendUint32(want, crc32.Checksum(want, crc32.MakeTable(crc32.Castagnoli)))
	if !bytes.Equal(obj, want) {
		t.Errorf("object = %q\nwant     %q", obj, want)
	}
}

// TestEveryDamage truncates, extends and alters every byte of objects and
// checks that each is reported as corrupt, never read as valid.
func TestEveryDamage(t *testing.T) {
	ctx := context.Background()
	for _, alg := range []blobstore.Checksum{blobstore.CRC32C, blobstore.SHA256} {
		for _, size := range []int{0, 1, 300} {
			t.Run(fmt.Sprintf("%v/%d", alg, size), func(t *testing.T) {
				s := blobstore.New(memblob.OpenBucket(nil), blobstore.WithChecksum(alg))
				id := core.ResultID{Version: version("damage"), Format: "gob"}
				payload := bytes.Repeat([]byte{0xa5}, size)
				put(t, s, id, payload)
				key := s.Key(id)
				obj, err := s.Bucket().ReadAll(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				check := func(what string, damaged []byte) {
					t.Helper()
					if err := s.Bucket().WriteAll(ctx, key, damaged, nil); err != nil {
						t.Fatal(err)
					}
					got, err := read(s, id)
					if !errors.Is(err, core.ErrCorrupt) {
						t.Fatalf("%s: read %d bytes, %v; want ErrCorrupt", what, len(got), err)
					}
					if !strings.Contains(err.Error(), string(id.Version)) {
						t.Fatalf("%s: error %q does not name the result", what, err)
					}
				}
				for n := range len(obj) {
					check(fmt.Sprintf("truncated to %d bytes", n), obj[:n])
				}
				check("one byte appended", append(slices.Clone(obj), 0))
				for i := range obj {
					for _, mask := range []byte{0x01, 0x80, 0xff} {
						d := slices.Clone(obj)
						d[i] ^= mask
						check(fmt.Sprintf("byte %d xor %#x", i, mask), d)
					}
				}
				// Intact again: reads back.
				if err := s.Bucket().WriteAll(ctx, key, obj, nil); err != nil {
					t.Fatal(err)
				}
				if got, err := read(s, id); err != nil || !bytes.Equal(got, payload) {
					t.Fatalf("intact object: %d bytes, %v", len(got), err)
				}
			})
		}
	}
}

// TestWrongName copies objects under another result's name: the header
// gives it away.
func TestWrongName(t *testing.T) {
	ctx := context.Background()
	s := blobstore.New(memblob.OpenBucket(nil))
	a := core.ResultID{Version: version("a"), Format: "gob"}
	put(t, s, a, []byte("value of a"))
	for _, other := range []core.ResultID{
		{Version: version("b"), Format: "gob"},  // another version
		{Version: a.Version, Format: "json"},    // another format
		{Version: a.Version, Format: "gob+zst"}, // another format of the same length
	} {
		if err := s.Bucket().Copy(ctx, s.Key(other), s.Key(a), nil); err != nil {
			t.Fatal(err)
		}
		if got, err := read(s, other); !errors.Is(err, core.ErrCorrupt) {
			t.Errorf("object of %s read as %s: %q, %v; want ErrCorrupt", a, other, got, err)
		}
	}
}

func TestVerifiesBeforeLastBytes(t *testing.T) {
	// A decoder that stops reading at the end of its value gets the error
	// with the last payload bytes, not only from a later Read.
	ctx := context.Background()
	s := blobstore.New(memblob.OpenBucket(nil))
	id := core.ResultID{Version: version("x"), Format: "gob"}
	put(t, s, id, []byte("0123456789"))
	obj, _ := s.Bucket().ReadAll(ctx, s.Key(id))
	obj[len(obj)-1] ^= 1
	if err := s.Bucket().WriteAll(ctx, s.Key(id), obj, nil); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	buf := make([]byte, 10)
	n, err := rc.Read(buf)
	if n != 10 || !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("Read of the whole payload = %d, %v; want 10, ErrCorrupt", n, err)
	}
	if n, err := rc.Read(buf); n != 0 || !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("Read after the error = %d, %v; want the error again", n, err)
	}
}

func TestWalk(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	s := blobstore.New(bucket, blobstore.WithPrefix("cache/"))
	want := map[core.ResultID]int64{}
	for i, f := range []string{"gob", "json+zstd", "parquet.v2", "gob"} {
		id := core.ResultID{Version: version(fmt.Sprint(i)), Format: f}
		put(t, s, id, bytes.Repeat([]byte{1}, i*10))
		attrs, err := bucket.Attributes(ctx, s.Key(id))
		if err != nil {
			t.Fatal(err)
		}
		want[id] = attrs.Size
	}
	v := string(version("0"))
	for _, foreign := range []string{
		"cache/README", "cache/" + v[:2] + "/" + v + ".gob.18f3a9c2b1.tmp", "cache/zz/" + v + ".gob",
		"cache/" + v[:2] + "/" + v, "other/" + v[:2] + "/" + v + ".gob", v[:2] + "/" + v + ".gob",
	} {
		if err := bucket.WriteAll(ctx, foreign, []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	got := map[core.ResultID]int64{}
	if err := s.Walk(ctx, func(id core.ResultID, size int64) error { got[id] = size; return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Walk found %v\nwant %v", got, want)
	}
	stop := errors.New("stop")
	calls := 0
	if err := s.Walk(ctx, func(core.ResultID, int64) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("Walk with a failing fn = %v after %d calls; want stop after 1", err, calls)
	}
	// DeleteAll removes everything under the prefix, nothing outside.
	if err := s.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	var left []string
	it := bucket.List(nil)
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, obj.Key)
	}
	if len(left) != 2 || strings.HasPrefix(left[0], "cache/") || strings.HasPrefix(left[1], "cache/") {
		t.Errorf("after DeleteAll the bucket holds %v; want only the two objects outside the prefix", left)
	}
}

func TestPrefixesIsolate(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	a := blobstore.New(bucket, blobstore.WithPrefix("a/"))
	b := blobstore.New(bucket, blobstore.WithPrefix("b/"))
	id := core.ResultID{Version: version("v"), Format: "gob"}
	put(t, a, id, []byte("in a"))
	if ok, err := b.Exists(ctx, id); ok || err != nil {
		t.Errorf("store b sees store a's result: %v, %v", ok, err)
	}
	put(t, b, id, []byte("in b"))
	if err := a.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := read(b, id); err != nil || string(got) != "in b" {
		t.Errorf("b after a.DeleteAll: %q, %v", got, err)
	}
}

func TestInvalidIDs(t *testing.T) {
	ctx := context.Background()
	s := blobstore.New(memblob.OpenBucket(nil))
	for _, id := range []core.ResultID{
		{Version: "", Format: "gob"}, {Version: version("x"), Format: ""},
		{Version: "a.b", Format: "gob"}, {Version: "a/b", Format: "gob"}, {Version: `a\b`, Format: "gob"},
		{Version: version("x"), Format: "a/b"}, {Version: version("x"), Format: "gob.tmp"},
		{Version: version("x"), Format: "g\nob"}, {Version: "\xff\xfe", Format: "gob"},
		{Version: version("x"), Format: strings.Repeat("f", 1<<16)},
	} {
		called := false
		_, err := s.Put(ctx, id, func(io.Writer) error { called = true; return nil })
		if !errors.Is(err, core.ErrInvalid) || called {
			t.Errorf("Put(%q) = %v (write called: %v), want ErrInvalid", id.String(), err, called)
		}
		if _, err := s.Get(ctx, id); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("Get(%q) = %v, want ErrInvalid", id.String(), err)
		}
	}
	// Short versions are fine.
	id := core.ResultID{Version: "a", Format: "gob"}
	put(t, s, id, []byte("short"))
	if got, err := read(s, id); err != nil || string(got) != "short" {
		t.Errorf("one-character version: %q, %v", got, err)
	}
}

func TestPanickingWrite(t *testing.T) {
	ctx := context.Background()
	s := blobstore.New(memblob.OpenBucket(nil))
	id := core.ResultID{Version: version("p"), Format: "gob"}
	func() {
		defer func() {
			if r := recover(); r != "encoder bug" {
				t.Errorf("recovered %v, want the write's panic", r)
			}
		}()
		s.Put(ctx, id, func(w io.Writer) error {
			w.Write([]byte("partial"))
			panic("encoder bug")
		})
	}()
	if ok, _ := s.Exists(ctx, id); ok {
		t.Fatal("a panicking write stored a result")
	}
	put(t, s, id, []byte("ok"))
	if got, err := read(s, id); err != nil || string(got) != "ok" {
		t.Errorf("after a panicking write: %q, %v", got, err)
	}
}

func TestBucketOwnership(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	s := blobstore.New(bucket)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := bucket.Exists(ctx, "x"); err != nil {
		t.Errorf("closing a store that does not own its bucket closed the bucket: %v", err)
	}
	owned := blobstore.New(bucket, blobstore.WithOwnedBucket())
	if err := owned.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := bucket.Exists(ctx, "x"); err == nil {
		t.Errorf("closing a store that owns its bucket left the bucket open")
	}
}

// panicBucket is a driver whose writers panic in Close, like gocloud.dev
// v0.47.0's azureblob when an upload is refused. exists says what
// Attributes reports after the panic.
type panicBucket struct {
	driver.Bucket // nil: methods the test does not need panic
	closed        bool
	exists        bool
}

type panicWriter struct{ b *panicBucket }

func (w panicWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w panicWriter) Close() error                { w.b.closed = true; panic("nil pointer dereference") }

func (b *panicBucket) ErrorCode(err error) gcerrors.ErrorCode {
	if errors.Is(err, errMissing) {
		return gcerrors.NotFound
	}
	return gcerrors.Unknown
}

var errMissing = errors.New("missing")

func (b *panicBucket) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	if b.closed && b.exists {
		return &driver.Attributes{Size: 1}, nil
	}
	return nil, errMissing
}

func (b *panicBucket) NewTypedWriter(ctx context.Context, key, contentType string, opts *driver.WriterOptions) (driver.Writer, error) {
	return panicWriter{b}, nil
}

func (b *panicBucket) Close() error { return nil }

func TestDriverPanicInClose(t *testing.T) {
	ctx := context.Background()
	id := core.ResultID{Version: version("z"), Format: "gob"}
	write := func(w io.Writer) error { _, err := w.Write([]byte("data")); return err }

	// Refused and nothing there: an error, not a panic.
	s := blobstore.New(blob.NewBucket(&panicBucket{}))
	if _, err := s.Put(ctx, id, write); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("Put with a panicking driver = %v, want an error", err)
	}
	// Refused because it was stored already: success, nothing written.
	s = blobstore.New(blob.NewBucket(&panicBucket{exists: true}))
	if n, err := s.Put(ctx, id, write); err != nil || n != 0 {
		t.Errorf("Put refused because the result exists = %d, %v; want 0, nil", n, err)
	}
}

// FuzzObject reads arbitrary objects: reading never panics, and whatever
// reads back as valid is exactly what Put writes for that payload.
func FuzzObject(f *testing.F) {
	ctx := context.Background()
	id := core.ResultID{Version: "abcdef", Format: "gob"}
	for _, alg := range []blobstore.Checksum{blobstore.CRC32C, blobstore.SHA256} {
		s := blobstore.New(memblob.OpenBucket(nil), blobstore.WithChecksum(alg))
		for _, p := range []string{"", "x", "some longer payload"} {
			put(f, s, id, []byte(p))
			obj, _ := s.Bucket().ReadAll(ctx, s.Key(id))
			f.Add(obj)
			s.Delete(ctx, id)
		}
	}
	f.Fuzz(func(t *testing.T, obj []byte) {
		s := blobstore.New(memblob.OpenBucket(nil))
		if err := s.Bucket().WriteAll(ctx, s.Key(id), obj, nil); err != nil {
			t.Fatal(err)
		}
		payload, err := read(s, id)
		if err != nil {
			if !errors.Is(err, core.ErrCorrupt) {
				t.Fatalf("read error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		for _, alg := range []blobstore.Checksum{blobstore.CRC32C, blobstore.SHA256} {
			s2 := blobstore.New(memblob.OpenBucket(nil), blobstore.WithChecksum(alg))
			put(t, s2, id, payload)
			if again, _ := s2.Bucket().ReadAll(ctx, s2.Key(id)); bytes.Equal(again, obj) {
				return
			}
		}
		t.Fatalf("object %q read as valid payload %q but is not what Put writes", obj, payload)
	})
}

// BenchmarkChecksum compares the two checksum algorithms on 1 MiB (the
// numbers behind the default; see the package doc).
func BenchmarkChecksum(b *testing.B) {
	buf := bytes.Repeat([]byte("flowcache"), 1<<20/9)
	b.Run("crc32c", func(b *testing.B) {
		tab := crc32.MakeTable(crc32.Castagnoli)
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			crc32.Update(0, tab, buf)
		}
	})
	b.Run("sha256", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			sha256.Sum256(buf)
		}
	})
}

// BenchmarkPutGet stores and reads 4 MiB results in memory: the cost of the
// layout, checksum and buffering without a disk.
func BenchmarkPutGet(b *testing.B) {
	ctx := context.Background()
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<18)
	for _, alg := range []blobstore.Checksum{blobstore.CRC32C, blobstore.SHA256} {
		b.Run("put/"+alg.String(), func(b *testing.B) {
			s := blobstore.New(memblob.OpenBucket(&memblob.Options{NoMD5: true}), blobstore.WithChecksum(alg))
			b.SetBytes(int64(len(payload)))
			i := 0
			for b.Loop() {
				id := core.ResultID{Version: version(fmt.Sprint(i)), Format: "gob"}
				i++
				put(b, s, id, payload)
				s.Delete(ctx, id)
			}
		})
		b.Run("get/"+alg.String(), func(b *testing.B) {
			s := blobstore.New(memblob.OpenBucket(&memblob.Options{NoMD5: true}), blobstore.WithChecksum(alg))
			id := core.ResultID{Version: version("get"), Format: "gob"}
			put(b, s, id, payload)
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				rc, err := s.Get(ctx, id)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, rc); err != nil {
					b.Fatal(err)
				}
				rc.Close()
			}
		})
	}
}

// TestPutExistingLarge: a result already stored is found when the new
// write outgrows memory (1 MiB): the write is stopped there, not uploaded,
// and the stored result is left as it was.
func TestPutExistingLarge(t *testing.T) {
	ctx := context.Background()
	s := blobstore.New(memblob.OpenBucket(nil), blobstore.WithOwnedBucket())
	defer s.Close()
	id := core.ResultID{Version: version("large"), Format: "raw"}
	chunk := bytes.Repeat([]byte{7}, 64<<10)
	writeN := func(total int, sent *int) func(io.Writer) error {
		return func(w io.Writer) error {
			for *sent < total {
				if _, err := w.Write(chunk); err != nil {
					return err
				}
				*sent += len(chunk)
			}
			return nil
		}
	}
	var first int
	if n, err := s.Put(ctx, id, writeN(3<<20, &first)); err != nil || n != 3<<20 {
		t.Fatalf("first Put = %d, %v", n, err)
	}
	var second int
	n, err := s.Put(ctx, id, writeN(3<<20, &second))
	if err != nil || n != 0 {
		t.Fatalf("Put of a stored large result = %d, %v; want 0, nil", n, err)
	}
	if second > 1<<20+len(chunk) {
		t.Errorf("the write went on to %d bytes after the result was found stored", second)
	}
	got, err := read(s, id)
	if err != nil || len(got) != 3<<20 {
		t.Errorf("stored result after the second Put: %d bytes, %v", len(got), err)
	}
}
