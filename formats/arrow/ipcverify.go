package arrow

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow/ipc"
)

// verifyMessage checks the flatbuffer metadata of an IPC message before
// arrow-go reads it. arrow-go has no flatbuffer verifier: it allocates
// slices of the lengths that vectors declare (fields, children, metadata
// pairs) and follows table offsets wherever they point, so one flipped
// byte can ask for hundreds of gigabytes or send it into endless
// recursion, neither of which can be recovered from. This verifier walks
// the tables arrow-go reads (Message, Schema, Field and its type and
// dictionary, KeyValue, RecordBatch, DictionaryBatch, BodyCompression) and
// requires every table, vector and string to lie inside the buffer, nesting
// to stay under maxNesting, and the number of tables to stay under one per
// four bytes (tables cannot be shared in a well-formed message). It refuses
// compressed record batches.
//
// Field indices are those of Arrow's format/Message.fbs and Schema.fbs.
func verifyMessage(buf []byte) error {
	v := &fbVerifier{buf: buf, budget: len(buf)/4 + 1}
	root, err := v.u32(0)
	if err != nil {
		return err
	}
	msg := int64(root)
	if err := v.table(msg); err != nil {
		return err
	}
	if err := v.keyValues(msg, 4); err != nil { // custom_metadata
		return err
	}
	kind, _, err := v.scalar8(msg, 1) // header_type
	if err != nil {
		return err
	}
	hdr, ok, err := v.subTable(msg, 2)
	if err != nil || !ok {
		return err
	}
	switch kind {
	case 1: // Schema
		return v.schema(hdr)
	case 2: // DictionaryBatch
		data, ok, err := v.subTable(hdr, 1)
		if err != nil || !ok {
			return err
		}
		return v.recordBatch(data)
	case 3: // RecordBatch
		return v.recordBatch(hdr)
	}
	return nil
}

var errFlatbuffer = errors.New("malformed IPC metadata")

type fbVerifier struct {
	buf    []byte
	budget int // tables still allowed
}

func (v *fbVerifier) in(pos, size int64) error {
	if pos < 0 || size < 0 || pos+size > int64(len(v.buf)) {
		return fmt.Errorf("%w: %d bytes at %d, outside %d", errFlatbuffer, size, pos, len(v.buf))
	}
	return nil
}

func (v *fbVerifier) u32(pos int64) (uint32, error) {
	if err := v.in(pos, 4); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(v.buf[pos:]), nil
}

func (v *fbVerifier) u16(pos int64) (uint16, error) {
	if err := v.in(pos, 2); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(v.buf[pos:]), nil
}

// table checks the table at pos and its vtable.
func (v *fbVerifier) table(pos int64) error {
	v.budget--
	if v.budget < 0 {
		return fmt.Errorf("%w: too many tables", errFlatbuffer)
	}
	so, err := v.u32(pos)
	if err != nil {
		return err
	}
	vt := pos - int64(int32(so))
	n, err := v.u16(vt)
	if err != nil {
		return err
	}
	if n%2 != 0 || n < 4 {
		return fmt.Errorf("%w: vtable of %d bytes", errFlatbuffer, n)
	}
	if err := v.in(vt, int64(n)); err != nil {
		return err
	}
	tlen, _ := v.u16(vt + 2)
	return v.in(pos, int64(tlen))
}

// field returns the position of field idx of the table at tab.
func (v *fbVerifier) field(tab int64, idx int) (int64, bool, error) {
	so, err := v.u32(tab)
	if err != nil {
		return 0, false, err
	}
	vt := tab - int64(int32(so))
	n, err := v.u16(vt)
	if err != nil {
		return 0, false, err
	}
	off := int64(4 + 2*idx)
	if off+2 > int64(n) {
		return 0, false, nil
	}
	o, err := v.u16(vt + off)
	if err != nil || o == 0 {
		return 0, false, err
	}
	return tab + int64(o), true, nil
}

func (v *fbVerifier) scalar8(tab int64, idx int) (byte, bool, error) {
	p, ok, err := v.field(tab, idx)
	if err != nil || !ok {
		return 0, ok, err
	}
	if err := v.in(p, 1); err != nil {
		return 0, false, err
	}
	return v.buf[p], true, nil
}

// subTable returns the position of the table field idx points to.
func (v *fbVerifier) subTable(tab int64, idx int) (int64, bool, error) {
	p, ok, err := v.field(tab, idx)
	if err != nil || !ok {
		return 0, ok, err
	}
	o, err := v.u32(p)
	if err != nil {
		return 0, false, err
	}
	t := p + int64(o)
	return t, true, v.table(t)
}

// vector checks the vector (or string) field idx points to, of elements of
// elem bytes, and returns its start and length.
func (v *fbVerifier) vector(tab int64, idx int, elem int64) (int64, int64, error) {
	p, ok, err := v.field(tab, idx)
	if err != nil || !ok {
		return 0, 0, err
	}
	o, err := v.u32(p)
	if err != nil {
		return 0, 0, err
	}
	vp := p + int64(o)
	n, err := v.u32(vp)
	if err != nil {
		return 0, 0, err
	}
	return vp + 4, int64(n), v.in(vp+4, int64(n)*elem)
}

// tables calls fn for each table of the vector of tables field idx
// points to.
func (v *fbVerifier) tables(tab int64, idx int, fn func(int64) error) error {
	start, n, err := v.vector(tab, idx, 4)
	if err != nil {
		return err
	}
	for i := range n {
		p := start + 4*i
		o, err := v.u32(p)
		if err != nil {
			return err
		}
		t := p + int64(o)
		if err := v.table(t); err != nil {
			return err
		}
		if err := fn(t); err != nil {
			return err
		}
	}
	return nil
}

func (v *fbVerifier) keyValues(tab int64, idx int) error {
	return v.tables(tab, idx, func(kv int64) error {
		if _, _, err := v.vector(kv, 0, 1); err != nil {
			return err
		}
		_, _, err := v.vector(kv, 1, 1)
		return err
	})
}

func (v *fbVerifier) schema(s int64) error {
	if err := v.tables(s, 1, func(f int64) error { return v.fieldTable(f, 0) }); err != nil {
		return err
	}
	if err := v.keyValues(s, 2); err != nil {
		return err
	}
	_, _, err := v.vector(s, 3, 8) // features
	return err
}

func (v *fbVerifier) fieldTable(f int64, depth int) error {
	if depth > maxNesting {
		return fmt.Errorf("%w: fields nested deeper than %d", errFlatbuffer, maxNesting)
	}
	if _, _, err := v.vector(f, 0, 1); err != nil { // name
		return err
	}
	kind, _, err := v.scalar8(f, 2) // type_type
	if err != nil {
		return err
	}
	if typ, ok, err := v.subTable(f, 3); err != nil {
		return err
	} else if ok {
		switch kind {
		case 14: // Union: typeIds
			if _, _, err := v.vector(typ, 1, 4); err != nil {
				return err
			}
		case 10: // Timestamp: timezone
			if _, _, err := v.vector(typ, 1, 1); err != nil {
				return err
			}
		}
	}
	if dict, ok, err := v.subTable(f, 4); err != nil {
		return err
	} else if ok {
		if _, _, err := v.subTable(dict, 1); err != nil { // indexType
			return err
		}
	}
	if err := v.tables(f, 5, func(c int64) error { return v.fieldTable(c, depth+1) }); err != nil {
		return err
	}
	return v.keyValues(f, 6)
}

func (v *fbVerifier) recordBatch(rb int64) error {
	if _, _, err := v.vector(rb, 1, 16); err != nil { // nodes
		return err
	}
	if _, _, err := v.vector(rb, 2, 16); err != nil { // buffers
		return err
	}
	if _, ok, err := v.subTable(rb, 3); err != nil { // compression
		return err
	} else if ok {
		// arrow-go decompresses with a zstd decoder of default limits
		// (a 512 MiB window) outside the allocator; Encode never
		// compresses.
		return errors.New("compressed IPC bodies are not supported")
	}
	_, _, err := v.vector(rb, 4, 8) // variadicBufferCounts
	return err
}

// CheckSchemaMessage checks that b starts with an Arrow IPC schema message
// that arrow-go's reader (ipc.NewReader, flight.DeserializeSchema) can read
// without allocating more than b's size: its metadata length and body
// length fit in b, and its flatbuffer passes the verifier Decode uses.
// Parquet files carry such a message, base64 encoded, under the
// ARROW:schema key, and pqarrow hands it to arrow-go's reader as it is.
func CheckSchemaMessage(b []byte) (err error) {
	mr := newMessageReader(&countingReader{r: bytes.NewReader(b)})
	defer mr.Release()
	msg, err := mr.Message()
	switch {
	case err == io.EOF || errors.Is(err, errEOS):
		return errors.New("no IPC message")
	case err != nil:
		return err
	case msg.Type() != ipc.MessageSchema:
		return fmt.Errorf("an IPC %v message, not a schema", msg.Type())
	}
	return nil
}
