package parquet

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// Bounded page decompression.
//
// arrow-go sizes a page's buffer from the page header, checks the header
// against a limit, and then asks the codec to decompress into it. Two of
// its codecs may allocate beyond that buffer, at a size the compressed
// bytes declare: snappy allocates the length in its preamble (up to 4 GiB)
// when the buffer is smaller, and zstd's DecodeAll allocates a frame's
// declared content size (up to its 64 GiB default) and appends past the
// buffer for as long as the frames go on. arrow-go compares the result
// with the header only afterwards. Importing this package registers (with
// compress.RegisterCodec, as arrow-go intends codecs to be replaced)
// versions of both that never produce more than len(dst) bytes: a block
// that would is an error. For every valid file the output is the same,
// since arrow-go refuses a page whose output differs from its header.
// Gzip, brotli and lz4 already decode into dst only.

func init() {
	if c, err := compress.GetCodec(compress.Codecs.Snappy); err == nil {
		compress.RegisterCodec(compress.Codecs.Snappy, boundedSnappy{streamingCodec{c}})
	}
	if c, err := compress.GetCodec(compress.Codecs.Zstd); err == nil {
		compress.RegisterCodec(compress.Codecs.Zstd, boundedZstd{streamingCodec{c}})
	}
}

// streamingCodec passes arrow-go's optional streaming methods through to
// the codec it wraps.
type streamingCodec struct{ compress.Codec }

func (s streamingCodec) NewReader(r io.Reader) io.ReadCloser {
	return s.Codec.(compress.StreamingCodec).NewReader(r)
}

func (s streamingCodec) NewWriter(w io.Writer) io.WriteCloser {
	return s.Codec.(compress.StreamingCodec).NewWriter(w)
}

func (s streamingCodec) NewWriterLevel(w io.Writer, level int) (io.WriteCloser, error) {
	return s.Codec.(compress.StreamingCodec).NewWriterLevel(w, level)
}

// boundedSnappy checks a block's declared length against dst before
// decoding it.
type boundedSnappy struct{ streamingCodec }

func (b boundedSnappy) Decode(dst, src []byte) []byte {
	out, err := b.DecodeWithError(dst, src)
	if err != nil {
		panic(err)
	}
	return out
}

func (b boundedSnappy) DecodeWithError(dst, src []byte) ([]byte, error) {
	n, k := binary.Uvarint(src)
	if k <= 0 {
		return nil, fmt.Errorf("snappy: corrupt block length")
	}
	if n > uint64(len(dst)) {
		return nil, fmt.Errorf("snappy: a block of %d bytes for a page of %d", n, len(dst))
	}
	return compress.Decode(b.Codec, dst, src)
}

// boundedZstd decodes with DecodeAll limited to len(dst) bytes.
type boundedZstd struct{ streamingCodec }

var zstdPageDecoders = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderMaxWindow(zstdMaxPageWindow),
	)
	if err != nil {
		panic(err) // only for invalid options
	}
	return d
}}

// zstdMaxPageWindow bounds the window a page's frame may declare. DecodeAll
// decodes into dst and needs no window buffer, so this only refuses
// nonsense early.
const zstdMaxPageWindow = 1 << 30

func (b boundedZstd) Decode(dst, src []byte) []byte {
	out, err := b.DecodeWithError(dst, src)
	if err != nil {
		panic(err)
	}
	return out
}

func (boundedZstd) DecodeWithError(dst, src []byte) ([]byte, error) {
	d := zstdPageDecoders.Get().(*zstd.Decoder)
	defer zstdPageDecoders.Put(d)
	out, err := d.DecodeAll(src, dst[:0:len(dst)])
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	return out, nil
}
