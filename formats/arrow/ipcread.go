package arrow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Reading an IPC stream without trusting it.
//
// arrow-go's stream reader allocates a message body of the length its
// metadata declares before reading it, so eight corrupt bytes can ask for
// terabytes (and a failed allocation that large kills the process; it
// cannot be recovered). It also takes a stream that ends between two
// messages, without its end-of-stream marker, for a complete one.
// messageReader replaces its framing layer: a body is read in steps whose
// allocation grows with the bytes actually read (a buffer never exceeds
// twice what arrived, plus firstChunk), and a stream must end with the
// end-of-stream marker. Everything else arrow-go allocates while reading
// goes through a LimitedAllocator, which refuses to exceed a constant plus
// twice the bytes read.

const (
	// firstChunk is the largest allocation made before the bytes are
	// there: bodies up to this size are read in one step. The 64 K-row
	// batches Encode writes for slices (4 MiB for 8 numeric columns) fit.
	firstChunk = 4 << 20
	// maxMetadata bounds a message's flatbuffer metadata (arrow-go's
	// default limit too; a schema of thousands of columns is far below).
	maxMetadata = 64 << 20
	// allocSlack is what the LimitedAllocator grants before anything is read.
	allocSlack = 1 << 20
)

// errEOS reports a stream that ends without its end-of-stream marker.
var errEOS = errors.New("stream ends without its end-of-stream marker (truncated)")

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// prealloc is how much slice memory Decode allocates on the strength of
// the row count a stream declares (RowsKey), before the rows are read: 64
// bytes per byte read so far plus 1 MiB, at most MaxPrealloc. A stream of
// fixed-width columns holds about as many bytes as its rows take in Go, so
// once its first batch is read, the slice is allocated whole.
func (c *countingReader) prealloc() int64 {
	return min(MaxPrealloc, 1<<20+64*c.n.Load())
}

// messageReader implements ipc.MessageReader over an untrusted stream.
type messageReader struct {
	r    *countingReader
	refs atomic.Int64
	msg  *ipc.Message
	hdr  [4]byte
}

func newMessageReader(r *countingReader) *messageReader {
	m := &messageReader{r: r}
	m.refs.Store(1)
	return m
}

func (m *messageReader) Retain() { m.refs.Add(1) }

func (m *messageReader) Release() {
	if m.refs.Add(-1) == 0 && m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
}

// Message returns the next message, valid until the next call; io.EOF
// after the end-of-stream marker.
func (m *messageReader) Message() (msg *ipc.Message, err error) {
	defer func() {
		if p := recover(); p != nil {
			msg, err = nil, fmt.Errorf("invalid IPC message: %v", p)
		}
	}()
	if m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
	if _, err := io.ReadFull(m.r, m.hdr[:]); err != nil {
		if err == io.EOF {
			return nil, errEOS
		}
		return nil, err
	}
	n := binary.LittleEndian.Uint32(m.hdr[:])
	if n == 0xFFFFFFFF { // continuation marker, then the length
		if _, err := io.ReadFull(m.r, m.hdr[:]); err != nil {
			return nil, noEOF(err)
		}
		n = binary.LittleEndian.Uint32(m.hdr[:])
	}
	if n == 0 {
		return nil, io.EOF
	}
	if n < 8 || n > maxMetadata {
		return nil, fmt.Errorf("IPC message metadata of %d bytes", n)
	}
	meta, err := readGrowing(m.r, int64(n))
	if err != nil {
		return nil, err
	}
	if err := verifyMessage(meta); err != nil {
		return nil, err
	}
	metaBuf := memory.NewBufferBytes(meta)
	head := ipc.NewMessage(metaBuf, memory.NewBufferBytes(nil))
	bodyLen := head.BodyLen()
	head.Release()
	if bodyLen < 0 || bodyLen > 1<<50 {
		return nil, fmt.Errorf("IPC message body of %d bytes", bodyLen)
	}
	body, err := readGrowing(m.r, bodyLen)
	if err != nil {
		return nil, err
	}
	m.msg = ipc.NewMessage(metaBuf, memory.NewBufferBytes(body))
	return m.msg, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readGrowing reads exactly n bytes. It allocates at most firstChunk before
// data arrives and then doubles the buffer as it fills, so a corrupt length
// costs no more memory than the bytes the stream really holds (times two).
// Bodies up to firstChunk are read with no extra copy; larger ones cost one
// extra copy of their bytes in total, spread over the doublings.
func readGrowing(r io.Reader, n int64) ([]byte, error) {
	size := min(n, firstChunk)
	buf := make([]byte, size)
	done := int64(0)
	for {
		k, err := io.ReadFull(r, buf[done:])
		done += int64(k)
		if err != nil {
			return nil, noEOF(err)
		}
		if done == n {
			return buf, nil
		}
		next := make([]byte, min(2*int64(len(buf)), n))
		copy(next, buf)
		buf = next
	}
}

var errBudget = errors.New("decoding would allocate more than twice the stored bytes")

// LimitedAllocator is a memory.Allocator for decoders of untrusted bytes:
// it hands out memory from Mem until the bytes allocated in total exceed
// Limit(), and then panics with Err (a decoder recovers it and returns an
// error), so a damaged input can never make a decoder allocate without
// bound. The arrow format allows allocSlack plus twice the bytes read so
// far; the parquet format a fixed budget. Safe for concurrent use.
type LimitedAllocator struct {
	Mem   memory.Allocator
	Limit func() int64
	Err   error
	used  atomic.Int64
}

func (a *LimitedAllocator) take(n int) {
	if a.used.Add(int64(n)) > a.Limit() {
		panic(a.Err)
	}
}

// Allocate implements memory.Allocator.
func (a *LimitedAllocator) Allocate(size int) []byte {
	a.take(size)
	return a.Mem.Allocate(size)
}

// Reallocate implements memory.Allocator.
func (a *LimitedAllocator) Reallocate(size int, b []byte) []byte {
	if size > len(b) {
		a.take(size - len(b))
	}
	return a.Mem.Reallocate(size, b)
}

// Free implements memory.Allocator.
func (a *LimitedAllocator) Free(b []byte) { a.Mem.Free(b) }
