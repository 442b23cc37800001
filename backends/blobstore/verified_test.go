package blobstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"

	"github.com/flowcache/flowcache/backends/blobstore"
	"github.com/flowcache/flowcache/core"
)

func randomPayload(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 3})
	_, _ = r.Read(b)
	return b
}

// fileBucket opens a fileblob bucket the way package local does.
func fileBucket(t testing.TB, dir string) *blob.Bucket {
	t.Helper()
	b, err := fileblob.OpenBucket(dir, &fileblob.Options{CreateDir: true, NoTempDir: true, Metadata: fileblob.MetadataDontWrite})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readVerified opens a result with GetVerified and reads it whole.
func readVerified(s *blobstore.ResultStore, id core.ResultID) ([]byte, error) {
	rc, err := s.GetVerified(context.Background(), id)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return b, err
}

// GetVerified reads back every size, on a directory (verified, then read
// again or read once into memory) and in memory (spooled), and leaves no
// spool file behind.
func TestGetVerifiedRoundTrip(t *testing.T) {
	spool := t.TempDir()
	for _, kind := range []string{"file", "mem"} {
		var b *blob.Bucket
		if kind == "file" {
			b = fileBucket(t, t.TempDir())
		} else {
			b = memblob.OpenBucket(nil)
		}
		s := blobstore.New(b, blobstore.WithOwnedBucket(), blobstore.WithSpoolDir(spool))
		defer s.Close()
		for _, n := range []int{0, 1, 1000, 64 << 10, 64<<10 + 1, 1 << 20, core.SpoolMemory + 1, 9 << 20} {
			id := core.ResultID{Version: version(fmt.Sprint(kind, n)), Format: "gob"}
			data := randomPayload(n, uint64(n))
			put(t, s, id, data)
			got, err := readVerified(s, id)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("%s, %d bytes: read back %d bytes (equal %v), %v", kind, n, len(got), bytes.Equal(got, data), err)
			}
		}
		if ents, _ := os.ReadDir(spool); len(ents) != 0 {
			t.Errorf("%s: %d files left in the spool directory", kind, len(ents))
		}
		_, err := s.GetVerified(context.Background(), core.ResultID{Version: version("absent"), Format: "gob"})
		if !errors.Is(err, core.ErrNotFound) {
			t.Errorf("%s: missing result: %v, want ErrNotFound", kind, err)
		}
	}
}

// Damage anywhere in an object fails GetVerified itself, before any byte
// is handed over: flipped bits in the header, the payload and the trailer,
// truncation, extension, and an object copied under another result's name.
func TestGetVerifiedDamage(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"file", "mem"} {
		for _, n := range []int{100, 200 << 10, core.SpoolMemory + 100} {
			var b *blob.Bucket
			if kind == "file" {
				b = fileBucket(t, t.TempDir())
			} else {
				b = memblob.OpenBucket(nil)
			}
			s := blobstore.New(b, blobstore.WithSpoolDir(t.TempDir()))
			id := core.ResultID{Version: version(fmt.Sprint("damage", n)), Format: "gob"}
			other := core.ResultID{Version: version(fmt.Sprint("other", n)), Format: "gob"}
			data := randomPayload(n, 9)
			put(t, s, id, data)
			put(t, s, other, randomPayload(n, 10))
			orig, err := b.ReadAll(ctx, s.Key(id))
			if err != nil {
				t.Fatal(err)
			}
			damages := map[string][]byte{}
			for _, at := range []int{3, 20, 100, len(orig) / 2, len(orig) - 13, len(orig) - 1} {
				d := bytes.Clone(orig)
				d[at] ^= 0x04
				damages[fmt.Sprint("bit flipped at ", at)] = d
			}
			damages["truncated"] = orig[:len(orig)-7]
			damages["extended"] = append(bytes.Clone(orig), 0)
			copied, err := b.ReadAll(ctx, s.Key(other))
			if err != nil {
				t.Fatal(err)
			}
			damages["another result's object"] = copied
			for what, d := range damages {
				if err := b.WriteAll(ctx, s.Key(id), d, nil); err != nil {
					t.Fatal(err)
				}
				rc, err := s.GetVerified(ctx, id)
				if !errors.Is(err, core.ErrCorrupt) || rc != nil {
					t.Errorf("%s, %d bytes, %s: GetVerified = %v; want ErrCorrupt and no reader", kind, n, what, err)
					if rc != nil {
						rc.Close()
					}
				} else if !strings.Contains(err.Error(), id.Version.Short()) {
					t.Errorf("%s: error %q does not name the result", what, err)
				}
			}
			s.Close()
			b.Close()
		}
	}
}

// A result file changed in place after GetVerified verified it (between
// the two passes) fails at the end of the second pass.
func TestGetVerifiedFileChangedBetweenPasses(t *testing.T) {
	dir := t.TempDir()
	s := blobstore.New(fileBucket(t, dir), blobstore.WithOwnedBucket())
	defer s.Close()
	id := core.ResultID{Version: version("changed"), Format: "gob"}
	data := randomPayload(1<<20, 4)
	put(t, s, id, data)
	rc, err := s.GetVerified(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	f, err := os.OpenFile(filepath.Join(dir, filepath.FromSlash(s.Key(id))), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{data[5000] ^ 1}, 5000+200); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = io.Copy(io.Discard, rc)
	if !errors.Is(err, core.ErrCorrupt) || !strings.Contains(err.Error(), "changed") {
		t.Errorf("reading a file changed between the passes: %v, want ErrCorrupt", err)
	}
}

// Reading a 100 MB result costs the spool (a few MiB), not its size, from
// a bucket (memblob here; the same code path as S3, GCS and Azure) and from
// a directory.
func TestGetVerifiedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MB result: skipped under -short")
	}
	const size = 100 << 20
	for _, kind := range []string{"file", "mem"} {
		var b *blob.Bucket
		if kind == "file" {
			b = fileBucket(t, t.TempDir())
		} else {
			b = memblob.OpenBucket(&memblob.Options{NoMD5: true})
		}
		s := blobstore.New(b, blobstore.WithOwnedBucket(), blobstore.WithSpoolDir(t.TempDir()))
		id := core.ResultID{Version: version("100MB"), Format: "gob"}
		chunk := randomPayload(1<<20, 5)
		if _, err := s.Put(context.Background(), id, func(w io.Writer) error {
			for range size >> 20 {
				if _, err := w.Write(chunk); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		rc, err := s.GetVerified(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		runtime.ReadMemStats(&after)
		if err != nil || n != size {
			t.Fatalf("%s: read %d bytes, %v", kind, n, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
			t.Errorf("%s: reading 100 MB verified allocated %d MiB", kind, alloc>>20)
		}
		s.Close()
	}
}
