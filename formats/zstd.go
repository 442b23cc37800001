package formats

import (
	"fmt"
	"io"
	"reflect"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/flowcache/flowcache/core"
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
// the memory a crafted frame can make it allocate. The encoder's windows
// are at most 8 MiB.
const zstdMaxWindow = 32 << 20

// Zstd returns f compressed with Zstandard (github.com/klauspost/compress),
// named f.Name()+"+zstd". It stores the values f stores, with f's checks and
// lossy cases.
//
// Both directions stream: Encode compresses what f writes as f writes it,
// and Decode hands f a decompressing reader, so no whole copy of either the
// compressed or the plain encoding is held beyond what f itself holds.
// Frames carry a checksum, verified when the frame's end is read; Decode
// reads to the end and fails if f left data unread. Decoding allocates at
// most a 32 MiB window per stream, whatever a frame claims. Encoders and
// decoders are pooled. Each call of Zstd returns a new format with its own
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

// Decode decompresses r and decodes what f wrote.
func (z *zstdFormat) Decode(r io.Reader, t reflect.Type) (v any, err error) {
	dec, _ := z.decoders.Get().(*zstd.Decoder)
	if dec == nil {
		dec, err = zstd.NewReader(nil,
			// One goroutine: no read-ahead workers to stop, and a pooled
			// decoder the pool drops leaks nothing.
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(zstdMaxWindow),
			zstd.WithDecoderMaxMemory(zstdMaxWindow),
			// Never decode a whole in-memory input at once (it would be
			// bounded by the max memory above, not by the window).
			zstd.WithDecodeBuffersBelow(0),
		)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", z.name, err)
		}
	}
	defer func() {
		_ = dec.Reset(nil) // drop r
		z.decoders.Put(dec)
	}()
	if err := dec.Reset(r); err != nil {
		return nil, fmt.Errorf("%s: %w", z.name, err)
	}
	v, err = z.inner.Decode(onlyReader{dec}, t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", z.name, err)
	}
	// f may have stopped before the end: nothing may follow, and reading
	// the end verifies the frame's checksum.
	var b [1]byte
	switch n, err := io.ReadFull(dec, b[:]); {
	case n > 0:
		return nil, fmt.Errorf("%s: decoding %v: trailing data after the value", z.name, t)
	case err != io.EOF:
		return nil, fmt.Errorf("%s: decoding %v: %w", z.name, t, err)
	}
	return v, nil
}

// onlyReader hides every method but Read (the decoder's WriterTo would
// read the whole stream at once).
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }
