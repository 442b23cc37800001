package formats_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/formats"
	"github.com/flowcache/flowcache/internal/allocguard"
)

func TestZstdName(t *testing.T) {
	if n := formats.Zstd(formats.JSON()).Name(); n != "json+zstd" {
		t.Errorf("name %q", n)
	}
	mustPanic(t, "Zstd(nil)", func() { formats.Zstd(nil) })
	mustPanic(t, "a bad level", func() { formats.Zstd(formats.Gob(), formats.ZstdLevel(99)) })
}

// rawFormat stores a []byte as it is: zstd's own costs, without an inner
// format's. With n set, Decode reads exactly n bytes into one allocation.
type rawFormat struct{ n int }

func (rawFormat) Name() string             { return "raw" }
func (rawFormat) Check(reflect.Type) error { return nil }
func (rawFormat) Encode(w io.Writer, v any) error {
	_, err := w.Write(v.([]byte))
	return err
}
func (f rawFormat) Decode(r io.Reader, _ reflect.Type) (any, error) {
	if f.n == 0 {
		return io.ReadAll(r)
	}
	b := make([]byte, f.n)
	_, err := io.ReadFull(r, b)
	return b, err
}

// zstdLevels are the levels Zstd offers.
var zstdLevels = []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression, zstd.SpeedBestCompression}

// TestZstdLevels checks that every level writes what the others read.
func TestZstdLevels(t *testing.T) {
	v := table(2000)
	var sizes []int
	for _, l := range zstdLevels {
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

// TestZstdLevelsLarge stores 24 MiB, three times the largest window, at
// every level: each frame's window fits the decoder's 8 MiB bound, and
// decoding allocates the value, its history and little more. The value is
// random 256 KiB pieces, half of them repeats of the piece 6 MiB back, so
// that matches reach far into the window.
func TestZstdLevelsLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const piece, back = 256 << 10, 24
	v := make([]byte, 24<<20)
	for at := 0; at < len(v); at += piece {
		if at >= back*piece && r.IntN(2) == 0 {
			copy(v[at:at+piece], v[at-back*piece:])
			continue
		}
		for i := at; i < at+piece; i += 8 {
			binary.LittleEndian.PutUint64(v[i:], r.Uint64())
		}
	}
	for _, l := range zstdLevels {
		t.Run(l.String(), func(t *testing.T) {
			var buf bytes.Buffer
			if err := formats.Zstd(rawFormat{}, formats.ZstdLevel(l)).Encode(&buf, v); err != nil {
				t.Fatal(err)
			}
			b := buf.Bytes()
			t.Logf("%d MiB stored in %.1f MiB", len(v)>>20, float64(len(b))/(1<<20))
			if b[4]&0x20 != 0 {
				t.Fatalf("a single-segment frame (header % x)", b[:6])
			}
			if w := 1 << (10 + b[5]>>3); w > 8<<20 {
				t.Fatalf("the frame's window is %d MiB", w>>20)
			}
			var got any
			var err error
			// The value, 16 MiB of history, and the decoder's tables.
			allocguard.Run(t, uint64(len(v))+20<<20, func() {
				got, err = formats.Zstd(rawFormat{len(v)}).Decode(bytes.NewReader(b), reflect.TypeOf(v))
			})
			if err != nil || !bytes.Equal(got.([]byte), v) {
				t.Fatalf("decoding: %v", err)
			}
		})
	}
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

// hostileFrame is a frame of a gob []byte of 1 KiB whose header declares
// a window of 2^(10+exp) bytes.
func hostileFrame(t *testing.T, exp byte) []byte {
	t.Helper()
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
	// descriptor.
	if b[4]&0x20 != 0 {
		t.Fatalf("the encoder wrote a single-segment frame (header % x)", b[:6])
	}
	b[5] = exp << 3
	return b
}

// TestZstdBoundedWindow feeds frames whose headers claim large windows: one
// past the 8 MiB bound is refused without allocating it; one of 8 MiB costs
// its 16 MiB history and no more.
func TestZstdBoundedWindow(t *testing.T) {
	for _, exp := range []byte{20, 14} { // 1 GiB, 16 MiB
		b := hostileFrame(t, exp)
		var err error
		// A new decoder costs about 2 MiB of tables and buffers.
		allocguard.Run(t, 4<<20, func() {
			_, err = formats.Zstd(formats.Gob()).Decode(bytes.NewReader(b), reflect.TypeOf([]byte{}))
		})
		if err == nil || !strings.Contains(err.Error(), "window") || !errors.Is(err, core.ErrCorrupt) {
			t.Fatalf("Decode of a frame claiming a %d MiB window = %v, want a window error wrapping core.ErrCorrupt", 1<<(exp-10), err)
		}
	}
	b := hostileFrame(t, 13) // 8 MiB
	var err error
	allocguard.Run(t, 20<<20, func() {
		_, err = formats.Zstd(formats.Gob()).Decode(bytes.NewReader(b), reflect.TypeOf([]byte{}))
	})
	if err != nil {
		t.Fatalf("Decode of a frame with an 8 MiB window: %v", err)
	}
}

// failingReader returns its bytes, then err.
type failingReader struct {
	b   []byte
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.b) == 0 {
		return 0, f.err
	}
	n := copy(p, f.b)
	f.b = f.b[n:]
	return n, nil
}

// TestZstdErrors: damaged frames are core.ErrCorrupt, a failing reader is
// its own error; Validate says the same.
func TestZstdErrors(t *testing.T) {
	for _, name := range []string{"gob+zstd", "json+zstd"} {
		f, _ := formats.Lookup(name)
		var buf bytes.Buffer
		if err := f.Encode(&buf, fuzzRows); err != nil {
			t.Fatal(err)
		}
		good := buf.Bytes()
		damaged := bytes.Clone(good)
		damaged[len(damaged)/2] ^= 0x40
		for what, b := range map[string][]byte{"damaged": damaged, "truncated": good[:len(good)-5], "not zstd": []byte("PAR1 and so on")} {
			if _, err := f.Decode(bytes.NewReader(b), reflect.TypeOf(fuzzRows)); !errors.Is(err, core.ErrCorrupt) {
				t.Errorf("%s: Decode of %s bytes = %v, want core.ErrCorrupt", name, what, err)
			}
			if err := f.(core.FormatValidator).Validate(bytes.NewReader(b)); !errors.Is(err, core.ErrCorrupt) {
				t.Errorf("%s: Validate of %s bytes = %v, want core.ErrCorrupt", name, what, err)
			}
		}
		errDisk := errors.New("disk on fire")
		_, err := f.Decode(&failingReader{good[:len(good)/2], errDisk}, reflect.TypeOf(fuzzRows))
		if !errors.Is(err, errDisk) || errors.Is(err, core.ErrCorrupt) {
			t.Errorf("%s: Decode from a failing reader = %v, want the reader's error and not core.ErrCorrupt", name, err)
		}
		if err := f.(core.FormatValidator).Validate(bytes.NewReader(good)); err != nil {
			t.Errorf("%s: Validate of good bytes: %v", name, err)
		}
	}
	// An inner format without Validate: the frames are checked.
	raw := formats.Zstd(rawFormat{})
	var buf bytes.Buffer
	if err := raw.Encode(&buf, []byte("some bytes")); err != nil {
		t.Fatal(err)
	}
	if err := raw.(core.FormatValidator).Validate(bytes.NewReader(buf.Bytes())); err != nil {
		t.Errorf("raw+zstd: Validate of good bytes: %v", err)
	}
	b := buf.Bytes()
	b[len(b)-1] ^= 1 // the checksum
	if err := raw.(core.FormatValidator).Validate(bytes.NewReader(b)); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("raw+zstd: Validate with a bad checksum = %v, want core.ErrCorrupt", err)
	}
}
