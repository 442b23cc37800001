package formats

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/internal/corrupt"
)

// ZstdOption configures Zstd.
type ZstdOption func(*zstdConfig)

type zstdConfig struct {
	level zstd.EncoderLevel
}

// ZstdLevel sets the compression level (default zstd.SpeedDefault, zstd's
// level 3; see the package doc for why). The level changes only the encoder: results written
// at any level are read by every Zstd format of the same name.
func ZstdLevel(l zstd.EncoderLevel) ZstdOption {
	return func(c *zstdConfig) { c.level = l }
}

// zstdMaxWindow bounds the window a frame may ask the decoder for, and so
// the memory a crafted frame can make it allocate: the decoder's history
// buffer is twice the window. The encoder writes 4 MiB windows at
// SpeedFastest and 8 MiB at every other level (TestZstdLevels checks it).
const zstdMaxWindow = 8 << 20

// Zstd returns f compressed with Zstandard (github.com/klauspost/compress),
// named f.Name()+"+zstd". It stores the values f stores, with f's checks and
// lossy cases.
//
// Both directions stream: Encode compresses what f writes as f writes it,
// and Decode hands f a decompressing reader, so no whole copy of either the
// compressed or the plain encoding is held beyond what f itself holds.
// Frames carry a checksum, verified when the frame's end is read; Decode
// reads to the end and fails if f left data unread. A frame may declare a
// window of at most 8 MiB (what the encoder writes), so decompressing
// allocates at most 16 MiB of history per stream plus 128 KiB blocks,
// whatever the frame claims; what f builds from the stream is f's bound.
// Damaged frames are errors wrapping core.ErrCorrupt. Validate (see
// core.FormatValidator) decompresses under the same bound and hands the
// stream to f's Validate, if f has one. Encoders and decoders are pooled. Each call of Zstd returns a new format with its own
// pools; the registered "gob+zstd" and "json+zstd" (see Lookup) are shared.
func Zstd(f core.Format, opts ...ZstdOption) core.Format {
	if f == nil {
		panic("formats: Zstd of a nil format")
	}
	cfg := zstdConfig{level: zstd.SpeedDefault}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.level.String() == "invalid" {
		panic(fmt.Sprintf("formats: Zstd: unknown level %d", cfg.level))
	}
	return &zstdFormat{inner: f, name: f.Name() + "+zstd", level: cfg.level}
}

type zstdFormat struct {
	inner    core.Format
	name     string
	level    zstd.EncoderLevel
	encoders sync.Pool // *zstd.Encoder
	decoders sync.Pool // *zstd.Decoder
}

func (z *zstdFormat) Name() string { return z.name }

// Check is f's Check.
func (z *zstdFormat) Check(t reflect.Type) error { return z.inner.Check(t) }

func (z *zstdFormat) newEncoder() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderLevel(z.level))
}

// Encode compresses what f writes for v into w.
func (z *zstdFormat) Encode(w io.Writer, v any) error {
	enc, _ := z.encoders.Get().(*zstd.Encoder)
	if enc == nil {
		var err error
		if enc, err = z.newEncoder(); err != nil {
			return fmt.Errorf("%s: %w", z.name, err)
		}
	}
	enc.Reset(w)
	err := z.inner.Encode(enc, v)
	if cerr := enc.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%s: %w", z.name, cerr)
	}
	enc.Reset(nil) // drop w
	z.encoders.Put(enc)
	return err
}

func (z *zstdFormat) decoder() (*zstd.Decoder, error) {
	if dec, _ := z.decoders.Get().(*zstd.Decoder); dec != nil {
		return dec, nil
	}
	return zstd.NewReader(nil,
		// One goroutine: no read-ahead workers to stop, and a pooled
		// decoder the pool drops leaks nothing.
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(zstdMaxWindow),
		zstd.WithDecoderMaxMemory(zstdMaxWindow),
		// Never decode a whole in-memory input at once (it would be
		// bounded by the max memory above, not by the window).
		zstd.WithDecodeBuffersBelow(0),
		// Not WithDecoderLowmem: it saves 7 MiB of history per decoder
		// but made decompression 15-60% slower here.
	)
}

// stream returns a decompressing reader of r and a function that puts the
// decoder back.
func (z *zstdFormat) stream(r io.Reader) (io.Reader, func(), error) {
	dec, err := z.decoder()
	if err != nil {
		return nil, nil, err
	}
	done := func() {
		_ = dec.Reset(nil) // drop r
		z.decoders.Put(dec)
	}
	if err := dec.Reset(r); err != nil {
		done()
		return nil, nil, err
	}
	return onlyReader{dec}, done, nil
}

// atEnd reads the end of the plain stream: nothing may follow what f
// read, and reading the end verifies the last frame's checksum.
func atEnd(r io.Reader) error {
	var b [1]byte
	switch n, err := io.ReadFull(r, b[:]); {
	case n > 0:
		return errors.New("trailing data after the value")
	case err != io.EOF:
		return err
	}
	return nil
}

// Decode decompresses r and decodes what f wrote. Damaged frames (and
// whatever f reports about the bytes) are an error wrapping
// core.ErrCorrupt; a failure of r itself is passed on.
func (z *zstdFormat) Decode(r io.Reader, t reflect.Type) (v any, err error) {
	src := &corrupt.Reader{R: r}
	plain, done, err := z.stream(src)
	if err != nil {
		return nil, src.Wrap(z.name, err)
	}
	defer done()
	what := fmt.Sprintf("%s: decoding %v", z.name, t)
	v, err = z.inner.Decode(plain, t)
	if err != nil {
		return nil, src.Wrap(z.name, err)
	}
	if err := atEnd(plain); err != nil {
		return nil, src.Wrap(what, err)
	}
	return v, nil
}

// Validate decompresses r, with the same bound as Decode, and checks what
// it holds with f's Validate if f is a core.FormatValidator; otherwise it
// checks only the frames and their checksums.
func (z *zstdFormat) Validate(r io.Reader) error {
	src := &corrupt.Reader{R: r}
	plain, done, err := z.stream(src)
	if err != nil {
		return src.Wrap(z.name, err)
	}
	defer done()
	if v, ok := core.As[core.FormatValidator](z.inner); ok {
		if err := v.Validate(plain); err != nil {
			return src.Wrap(z.name, err)
		}
		if err := atEnd(plain); err != nil {
			return src.Wrap(z.name+": validating", err)
		}
		return nil
	}
	if _, err := io.Copy(io.Discard, plain); err != nil {
		return src.Wrap(z.name+": validating", err)
	}
	return nil
}

var _ core.FormatValidator = (*zstdFormat)(nil)

// onlyReader hides every method but Read (the decoder's WriterTo would
// read the whole stream at once).
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }
