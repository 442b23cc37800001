package parquet

import (
	"errors"
	"fmt"
	"io"

	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/schema"
)

// Checking page headers before arrow-go reads the pages.
//
// arrow-go allocates from counts in pages too: a dictionary is decoded into
// a slice as long as the highest index a data page uses, up to the
// dictionary page's declared value count (2^31 values of 24 bytes from a
// page of a few bytes), and its delta decoders allocate at a block size or
// value count read from the page (up to 4 billion values). checkPages walks
// every page header of every column chunk first and requires
//
//   - the pages to fill their column chunk exactly, each header to be
//     well-formed thrift (thriftPrefix) of at most maxPageHeader bytes;
//   - a dictionary page to come first, at most once, PLAIN encoded, with
//     no more values than its uncompressed bytes can hold;
//   - data pages to use the encodings arrow-go's and pyarrow's writers use
//     by default (plain, dictionary, RLE, byte stream split; not the delta
//     encodings), their value counts to add up to the column chunk's;
//   - every uncompressed size to be possible for the codec (see
//     checkChunks) and at most the column chunk's.
//
// A page header is a few dozen bytes and a page is up to a megabyte, so
// this reads a small fraction of the file.

// maxPageHeader is arrow-go's own limit on a page header.
const maxPageHeader = 4 << 20

// Parquet page types and encodings (parquet.thrift).
const (
	pageData       = 0
	pageDictionary = 2
	pageDataV2     = 3

	encPlain            = 0
	encPlainDictionary  = 2
	encRLE              = 3
	encBitPacked        = 4
	encRLEDictionary    = 8
	encByteStreamSplit  = 9
	encDeltaBinary      = 5
	encDeltaLengthBytes = 6
	encDeltaBytes       = 7
)

// pageHeader holds the fields of a page header checkPages looks at.
type pageHeader struct {
	typ, uncompressed, compressed int32
	values, encoding              int32 // of the data or dictionary page header
	defEnc, repEnc                int32 // of a (V1) data page header
}

func (h *pageHeader) structStart(thriftKind) {}

func (h *pageHeader) i32(kind thriftKind, id int16, v int32) {
	switch kind {
	case kindPageHeader:
		switch id {
		case 1:
			h.typ = v
		case 2:
			h.uncompressed = v
		case 3:
			h.compressed = v
		}
	case kindDataPageHeader:
		switch id {
		case 1:
			h.values = v
		case 2:
			h.encoding = v
		case 3:
			h.defEnc = v
		case 4:
			h.repEnc = v
		}
	case kindDictionaryPageHeader, kindDataPageHeaderV2:
		switch {
		case id == 1:
			h.values = v
		case kind == kindDictionaryPageHeader && id == 2, kind == kindDataPageHeaderV2 && id == 4:
			h.encoding = v
		}
	}
}

// checkPages checks the pages of every column chunk of f, in src.
func (f *fileInfo) checkPages(src io.ReaderAt) error {
	var buf []byte
	for i, rg := range f.meta.RowGroups {
		for j, cc := range rg.Columns {
			where := fmt.Sprintf("row group %d, column %d", i, j)
			md := cc.MetaData
			start := md.DataPageOffset
			if md.IsSetDictionaryPageOffset() && md.GetDictionaryPageOffset() > 0 && md.GetDictionaryPageOffset() < start {
				start = md.GetDictionaryPageOffset()
			}
			end := start + md.TotalCompressedSize
			leaf := f.meta.Schema.Column(j)
			codec := compress.Compression(md.Codec)
			values := int64(0)
			for pos, n := start, 0; pos < end; n++ {
				var h pageHeader
				var hlen int
				var err error
				buf, hlen, err = readPageHeader(src, pos, end, buf, &h)
				if err != nil {
					return corruptf("%s, page %d at %d: %v", where, n, pos, err)
				}
				if err := checkPage(&h, n, leaf, codec, md.TotalUncompressedSize); err != nil {
					return corruptf("%s, page %d at %d: %v", where, n, pos, err)
				}
				if h.compressed < 0 || int64(h.compressed) > end-pos-int64(hlen) {
					return corruptf("%s, page %d at %d: %d bytes, past the column chunk's end at %d", where, n, pos, h.compressed, end)
				}
				if h.typ == pageData || h.typ == pageDataV2 {
					values += int64(h.values)
				}
				pos += int64(hlen) + int64(h.compressed)
			}
			if values != md.NumValues {
				return corruptf("%s: the pages hold %d values, the column chunk %d", where, values, md.NumValues)
			}
		}
	}
	return nil
}

// readPageHeader reads and walks the page header at pos (before end) into
// h, reading more of the file while the header goes on, up to
// maxPageHeader bytes. It returns the buffer (for reuse) and the header's
// length.
func readPageHeader(src io.ReaderAt, pos, end int64, buf []byte, h *pageHeader) ([]byte, int, error) {
	for size := int64(256); ; size *= 2 {
		size = min(size, end-pos, maxPageHeader)
		if int64(cap(buf)) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := src.ReadAt(buf, pos); err != nil {
			return buf, 0, err
		}
		*h = pageHeader{typ: -1, uncompressed: -1, compressed: -1}
		n, err := thriftPrefix(buf, kindPageHeader, h)
		if err == nil {
			return buf, n, nil
		}
		if !errors.Is(err, errThriftShort) || size == end-pos || size == maxPageHeader {
			return buf, 0, err
		}
	}
}

// checkPage checks page n of a column chunk (see checkPages).
func checkPage(h *pageHeader, n int, leaf *schema.Column, codec compress.Compression, chunkUncompressed int64) error {
	switch {
	case h.typ < 0 || h.uncompressed < 0 || h.compressed < 0:
		return errors.New("a page header without its type or sizes")
	case int64(h.uncompressed) > chunkUncompressed:
		return fmt.Errorf("%d bytes uncompressed, more than the column chunk's %d", h.uncompressed, chunkUncompressed)
	case h.typ != pageDataV2 && codec == compress.Codecs.Uncompressed && h.uncompressed != h.compressed:
		return fmt.Errorf("uncompressed, yet %d bytes expand to %d", h.compressed, h.uncompressed)
	case h.typ != pageDataV2 && codec == compress.Codecs.Snappy && int64(h.uncompressed)/snappyRatio > int64(h.compressed):
		return fmt.Errorf("%d bytes of snappy cannot expand to %d", h.compressed, h.uncompressed)
	}
	switch h.typ {
	case pageDictionary:
		if n != 0 {
			return errors.New("a dictionary page after the first page")
		}
		if h.encoding != encPlain && h.encoding != encPlainDictionary {
			return fmt.Errorf("a dictionary of encoding %d", h.encoding)
		}
		if h.values < 0 || int64(h.values) > maxPlainValues(leaf, int64(h.uncompressed)) {
			return fmt.Errorf("a dictionary of %d %v values in %d bytes", h.values, leaf.PhysicalType(), h.uncompressed)
		}
	case pageData, pageDataV2:
		if h.values < 0 {
			return fmt.Errorf("%d values", h.values)
		}
		switch h.encoding {
		case encPlain, encPlainDictionary, encRLE, encRLEDictionary, encByteStreamSplit:
		case encDeltaBinary, encDeltaLengthBytes, encDeltaBytes:
			return fmt.Errorf("delta encoding %d, which this format does not read (arrow-go's decoders allocate at counts the page declares)", h.encoding)
		default:
			return fmt.Errorf("unknown encoding %d", h.encoding)
		}
		if h.typ == pageData {
			for _, e := range []int32{h.defEnc, h.repEnc} {
				if e != encRLE && e != encBitPacked {
					return fmt.Errorf("levels of encoding %d", e)
				}
			}
		}
	}
	return nil
}

// maxPlainValues is how many values of leaf's type n bytes of PLAIN
// encoding hold at most.
func maxPlainValues(leaf *schema.Column, n int64) int64 {
	switch leaf.PhysicalType() {
	case pq.Types.Boolean:
		return 8 * n
	case pq.Types.Int32, pq.Types.Float, pq.Types.ByteArray: // a byte array has a 4-byte length
		return n / 4
	case pq.Types.Int64, pq.Types.Double:
		return n / 8
	case pq.Types.Int96:
		return n / 12
	case pq.Types.FixedLenByteArray:
		return n / max(1, int64(leaf.TypeLength()))
	}
	return 0
}
