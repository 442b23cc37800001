package parquet

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/metadata"

	flowarrow "github.com/flowcache/flowcache/formats/arrow"
)

// Checking a file before arrow-go reads it.
//
// arrow-go trusts the footer: it allocates thrift lists at their declared
// lengths, schema groups at their declared child counts, column chunks at
// their declared sizes, and reads the Arrow schema stored in the footer
// with an IPC reader that allocates slices of the lengths its flatbuffer
// declares (one such length asked for 200 GB). checkFile reads the footer
// itself and hands arrow-go only a footer whose every length has been
// checked against the bytes that hold it (see thriftCheck), whose schema
// tree is consistent and shallow, whose column chunks lie inside the file
// with sizes that add up to at most the decoding budget, whose pages are
// of sizes, encodings and value counts it can decode without allocating
// at a lie (see checkPages), and whose Arrow schema passes formats/arrow's
// flatbuffer verifier. What arrow-go then
// allocates while reading pages goes through the budgeted allocator, with
// pages capped at the size of the largest column chunk and the snappy and
// zstd decoders bounded by the page size (see codec.go).

// errCorruptFile wraps every check that fails on the file's bytes.
var errCorruptFile = errors.New("invalid Parquet file")

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errCorruptFile, fmt.Sprintf(format, args...))
}

const (
	magic = "PAR1"
	// maxSchemaDepth bounds the nesting of the schema tree (arrow-go
	// builds it recursively); formats/arrow writes at most a few levels.
	maxSchemaDepth = 64
	// snappyRatio is more than snappy can expand: its densest element, a
	// 3-byte copy, produces 64 bytes.
	snappyRatio = 22
)

// fileInfo is what checkFile learned about a file.
type fileInfo struct {
	meta *metadata.FileMetaData
	// maxChunk is the largest declared uncompressed column chunk: no page
	// of a valid file is larger.
	maxChunk int64
}

// checkFile checks the file of size bytes in src, as described above,
// against a decoding budget of budget bytes, and returns its metadata.
func checkFile(src io.ReaderAt, size, budget int64) (*fileInfo, error) {
	if size < 12 {
		return nil, corruptf("%d bytes are too few for a Parquet file", size)
	}
	var head [4]byte
	var tail [8]byte
	if _, err := src.ReadAt(head[:], 0); err != nil {
		return nil, err
	}
	if _, err := src.ReadAt(tail[:], size-8); err != nil {
		return nil, err
	}
	switch {
	case string(head[:]) != magic:
		return nil, corruptf("the file does not start with %q", magic)
	case string(tail[4:]) == "PARE":
		return nil, corruptf("the file is encrypted, which this format does not support")
	case string(tail[4:]) != magic:
		return nil, corruptf("the file does not end with %q (truncated?)", magic)
	}
	footerLen := int64(binary.LittleEndian.Uint32(tail[:4]))
	dataEnd := size - 8 - footerLen
	if dataEnd < 4 {
		return nil, corruptf("a footer of %d bytes in a file of %d", footerLen, size)
	}
	footer := make([]byte, footerLen)
	if _, err := src.ReadAt(footer, dataEnd); err != nil {
		return nil, err
	}
	var sv schemaVisitor
	if err := thriftCheck(footer, kindFileMetaData, &sv); err != nil {
		return nil, corruptf("footer: %v", err)
	}
	if err := sv.checkTree(); err != nil {
		return nil, corruptf("schema: %v", err)
	}
	meta, err := metadata.NewFileMetaData(footer, nil)
	if err != nil {
		return nil, corruptf("footer: %v", err)
	}
	meta.SetSourceFileSize(size)
	info := &fileInfo{meta: meta}
	if err := info.checkChunks(dataEnd, budget); err != nil {
		return nil, err
	}
	if err := info.checkPages(src); err != nil {
		return nil, err
	}
	if err := checkArrowSchema(meta); err != nil {
		return nil, err
	}
	return info, nil
}

// schemaVisitor collects the child counts of the schema elements.
type schemaVisitor struct {
	children []int32
}

func (s *schemaVisitor) structStart(kind thriftKind) {
	if kind == kindSchemaElement {
		s.children = append(s.children, 0)
	}
}

func (s *schemaVisitor) i32(kind thriftKind, id int16, v int32) {
	if kind == kindSchemaElement && id == 5 { // num_children
		s.children[len(s.children)-1] = v
	}
}

// checkTree checks that the schema elements, in depth-first order, form
// exactly one tree no deeper than maxSchemaDepth: arrow-go allocates a
// group's children at its declared count and recurses.
func (s *schemaVisitor) checkTree() error {
	if len(s.children) == 0 {
		return errors.New("no elements")
	}
	open := []int32{} // children still to come, per open group
	for i, n := range s.children {
		for len(open) > 0 && open[len(open)-1] == 0 {
			open = open[:len(open)-1]
		}
		if i > 0 {
			if len(open) == 0 {
				return fmt.Errorf("element %d is outside the root's tree", i)
			}
			open[len(open)-1]--
		}
		switch {
		case n < 0:
			return fmt.Errorf("element %d has %d children", i, n)
		case n > 0:
			if int64(n) > int64(len(s.children)-i-1) {
				return fmt.Errorf("element %d has %d children, %d elements follow", i, n, len(s.children)-i-1)
			}
			open = append(open, n)
			if len(open) > maxSchemaDepth {
				return fmt.Errorf("nested deeper than %d", maxSchemaDepth)
			}
		}
	}
	for len(open) > 0 && open[len(open)-1] == 0 {
		open = open[:len(open)-1]
	}
	if len(open) > 0 {
		return fmt.Errorf("%d children missing", open[len(open)-1])
	}
	return nil
}

// checkChunks checks the row groups and their column chunks: each lies in
// the data part of the file [4, dataEnd), their declared uncompressed sizes
// are possible for their codec and add up to at most budget, and the row
// and value counts agree.
func (f *fileInfo) checkChunks(dataEnd, budget int64) error {
	meta := f.meta
	ncols := meta.Schema.NumColumns()
	var rows, total int64
	inData := func(what string, off, n int64) error {
		if off < 4 || n < 0 || off > dataEnd || n > dataEnd-off {
			return corruptf("%s: %d bytes at %d, outside the data (bytes 4 to %d)", what, n, off, dataEnd)
		}
		return nil
	}
	for i, rg := range meta.RowGroups {
		if rg.NumRows < 0 || rg.NumRows > math.MaxInt64-rows {
			return corruptf("row group %d: %d rows", i, rg.NumRows)
		}
		rows += rg.NumRows
		if len(rg.Columns) != ncols {
			return corruptf("row group %d has %d column chunks, the schema %d columns", i, len(rg.Columns), ncols)
		}
		for j, cc := range rg.Columns {
			where := fmt.Sprintf("row group %d, column %d", i, j)
			md := cc.MetaData
			switch {
			case cc.IsSetFilePath():
				return corruptf("%s is in another file (%q)", where, cc.GetFilePath())
			case cc.IsSetCryptoMetadata() || cc.IsSetEncryptedColumnMetadata():
				return corruptf("%s is encrypted, which this format does not support", where)
			case md == nil:
				return corruptf("%s has no metadata", where)
			}
			leaf := meta.Schema.Column(j)
			if int32(md.Type) != int32(leaf.PhysicalType()) {
				return corruptf("%s is of type %v, the schema says %v", where, md.Type, leaf.PhysicalType())
			}
			codec := compress.Compression(md.Codec)
			if _, err := compress.GetCodec(codec); err != nil {
				return corruptf("%s: %v", where, err)
			}
			start := md.DataPageOffset
			if md.IsSetDictionaryPageOffset() && md.GetDictionaryPageOffset() > 0 && md.GetDictionaryPageOffset() < start {
				start = md.GetDictionaryPageOffset()
			}
			if md.TotalCompressedSize < 0 {
				return corruptf("%s: %d bytes", where, md.TotalCompressedSize)
			}
			if err := inData(where, start, md.TotalCompressedSize); err != nil {
				return err
			}
			if md.TotalCompressedSize > 0 && md.DataPageOffset >= start+md.TotalCompressedSize {
				return corruptf("%s: data pages at %d, after the chunk's end", where, md.DataPageOffset)
			}
			u, c := md.TotalUncompressedSize, md.TotalCompressedSize
			switch {
			case u < 0:
				return corruptf("%s: %d bytes uncompressed", where, u)
			case codec == compress.Codecs.Uncompressed && u > c:
				return corruptf("%s: uncompressed, yet %d bytes expand to %d", where, c, u)
			case codec == compress.Codecs.Snappy && u/snappyRatio > c:
				return corruptf("%s: %d bytes of snappy cannot expand to %d", where, c, u)
			}
			if u > budget-total {
				return corruptf("%s: the column chunks expand to more than the decoding limit of %d bytes (see WithMaxDecoded)", where, budget)
			}
			total += u
			f.maxChunk = max(f.maxChunk, u)
			if md.NumValues < rg.NumRows || (leaf.MaxRepetitionLevel() == 0 && md.NumValues != rg.NumRows) {
				return corruptf("%s: %d values in %d rows", where, md.NumValues, rg.NumRows)
			}
			if cc.IsSetOffsetIndexOffset() || cc.IsSetOffsetIndexLength() {
				if err := inData(where+" offset index", cc.GetOffsetIndexOffset(), int64(cc.GetOffsetIndexLength())); err != nil {
					return err
				}
			}
			if cc.IsSetColumnIndexOffset() || cc.IsSetColumnIndexLength() {
				if err := inData(where+" column index", cc.GetColumnIndexOffset(), int64(cc.GetColumnIndexLength())); err != nil {
					return err
				}
			}
			if md.IsSetBloomFilterOffset() {
				if err := inData(where+" bloom filter", md.GetBloomFilterOffset(), int64(md.GetBloomFilterLength())); err != nil {
					return err
				}
			}
		}
	}
	if rows != meta.NumRows {
		return corruptf("the row groups hold %d rows, the footer says %d", rows, meta.NumRows)
	}
	return nil
}

// arrowSchemaKey is where pqarrow stores the Arrow schema.
const arrowSchemaKey = "ARROW:schema"

// checkArrowSchema checks the Arrow schema in the footer, decoded as
// pqarrow decodes it, with the verifier of formats/arrow.
func checkArrowSchema(meta *metadata.FileMetaData) error {
	v := meta.KeyValueMetadata().FindValue(arrowSchemaKey)
	if v == nil {
		return nil
	}
	var b []byte
	var err error
	if len(*v)%4 == 0 {
		b, err = base64.StdEncoding.DecodeString(*v)
	}
	if len(b) == 0 || err != nil {
		b, err = base64.RawStdEncoding.DecodeString(*v)
	}
	if err != nil {
		return corruptf("%s: %v", arrowSchemaKey, err)
	}
	if err := flowarrow.CheckSchemaMessage(b); err != nil {
		return corruptf("%s: %v", arrowSchemaKey, err)
	}
	return nil
}
