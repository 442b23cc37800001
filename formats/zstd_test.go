package formats_test

import (
	"bytes"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/flowcache/flowcache/formats"
)

func TestZstdName(t *testing.T) {
	if n := formats.Zstd(formats.JSON()).Name(); n != "json+zstd" {
		t.Errorf("name %q", n)
	}
	mustPanic(t, "Zstd(nil)", func() { formats.Zstd(nil) })
	mustPanic(t, "a bad level", func() { formats.Zstd(formats.Gob(), formats.ZstdLevel(99)) })
}

// TestZstdLevels checks that every level writes what the others read.
func TestZstdLevels(t *testing.T) {
	v := table(2000)
	var sizes []int
	for _, l := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression, zstd.SpeedBestCompression} {
		var buf bytes.Buffer
		if err := formats.Zstd(formats.Gob(), formats.ZstdLevel(l)).Encode(&buf, v); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, buf.Len())
		got, err := formats.Zstd(formats.Gob()).Decode(&buf, reflect.TypeOf(v))
		if err != nil || !reflect.DeepEqual(got, v) {
			t.Fatalf("level %v: %v", l, err)
		}
	}
	t.Logf("gob+zstd of 2000 rows, by level: %v bytes", sizes)
}

func TestZstdTrailing(t *testing.T) {
	f := formats.Zstd(formats.Gob())
	var buf bytes.Buffer
	if err := f.Encode(&buf, 1); err != nil {
		t.Fatal(err)
	}
	frame := bytes.Clone(buf.Bytes())
	// A second frame after the first: the plain stream has trailing data.
	buf.Write(frame)
	if _, err := f.Decode(&buf, reflect.TypeOf(0)); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Errorf("two frames: %v, want a trailing-data error", err)
	}
	// Garbage after the frame.
	if _, err := f.Decode(bytes.NewReader(append(frame, 1, 2, 3, 4, 5, 6, 7, 8)), reflect.TypeOf(0)); err == nil {
		t.Error("garbage after the frame decoded")
	}
}

// TestZstdBoundedWindow feeds a frame whose header claims a 1 GiB window:
// the decoder refuses it without allocating it.
func TestZstdBoundedWindow(t *testing.T) {
	var plain, frame bytes.Buffer
	if err := formats.Gob().Encode(&plain, bytes.Repeat([]byte("x"), 1<<10)); err != nil {
		t.Fatal(err)
	}
	enc, err := zstd.NewWriter(&frame, zstd.WithEncoderConcurrency(1), zstd.WithSingleSegment(false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Write(plain.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	b := frame.Bytes()
	// Magic (4 bytes), frame header descriptor, then the window
	// descriptor: exponent 20 means a window of 2^30 bytes.
	if b[4]&0x20 != 0 {
		t.Fatalf("the encoder wrote a single-segment frame (header % x)", b[:6])
	}
	b[5] = 20 << 3
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = formats.Zstd(formats.Gob()).Decode(bytes.NewReader(b), reflect.TypeOf([]byte{}))
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "window") {
		t.Fatalf("Decode of a frame claiming a 1 GiB window = %v, want a window error", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("refusing the frame allocated %d MB", grew>>20)
	}
}
