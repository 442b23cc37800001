package blobstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/flowcache/flowcache/core"
)

// objectWriter is the io.Writer a result's write function gets: it hashes
// and counts the payload on its way to the blob writer and stops at the
// first error or when the Put's context is cancelled.
type objectWriter struct {
	w    *bufio.Writer
	h    hash.Hash
	n    int64 // payload bytes written
	ctx  context.Context
	done <-chan struct{}
	err  error // sticky
}

func (o *objectWriter) Write(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	select {
	case <-o.done:
		o.err = o.ctx.Err()
		return 0, o.err
	default:
	}
	n, err := o.w.Write(p)
	o.h.Write(p[:n])
	o.n += int64(n)
	if err != nil {
		o.err = err
	}
	return n, err
}

// writeHashed writes header or trailer bytes that the checksum covers.
func (o *objectWriter) writeHashed(p []byte) error {
	o.h.Write(p)
	return o.writeRaw(p)
}

// writeRaw writes bytes the checksum does not cover (the checksum itself).
func (o *objectWriter) writeRaw(p []byte) error {
	if o.err != nil {
		return o.err
	}
	_, o.err = o.w.Write(p)
	return o.err
}

var errWriterPanic = errors.New("blob writer panicked in Close")

// closeWriter closes w, turning a panic of the driver into an error.
// gocloud.dev v0.47.0's azureblob writer dereferences nil in Close when the
// server refuses an upload (a failed IfNotExist, a missing container).
func closeWriter(w *blob.Writer) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errWriterPanic, r)
		}
	}()
	return w.Close()
}

// Get opens the result stored under id. The returned reader streams the
// payload and verifies it; see the package doc. A missing result is an
// error wrapping core.ErrNotFound, a damaged header one wrapping
// core.ErrCorrupt.
func (s *ResultStore) Get(ctx context.Context, id core.ResultID) (io.ReadCloser, error) {
	if err := s.check("get", id); err != nil {
		return nil, err
	}
	key := s.Key(id)
	r, err := s.bucket.NewReader(ctx, key, nil)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return nil, fmt.Errorf("%s: get result %s: %w", s.name, id, core.ErrNotFound)
		}
		return nil, wrapErr(s.name, "get", id, err)
	}
	vr := &verifyingReader{r: r, name: s.name, id: id, key: key}
	if err := vr.readHeader(r.Size()); err != nil {
		r.Close()
		return nil, err
	}
	return blobReadCloser{vr, r}, nil
}

// verifyingReader streams a payload and verifies the object around it.
type verifyingReader struct {
	r         io.Reader // the object, from its start
	name      string    // what errors begin with
	id        core.ResultID
	key       string
	alg       Checksum
	h         hash.Hash
	payload   int64 // payload length derived from the object size
	remaining int64 // payload bytes not yet read
	err       error // sticky: io.EOF after a verified end, or the failure
	sum       [32]byte
	buf       [fixedHeader + 64]byte
}

func (v *verifyingReader) corrupt(format string, args ...any) error {
	return fmt.Errorf("%s: result %s (object %q): %w: %s", v.name, v.id, v.key, core.ErrCorrupt, fmt.Sprintf(format, args...))
}

// readFull reads len(p) bytes and hashes them; an early end is damage.
func (v *verifyingReader) readFull(p []byte, what string) error {
	n, err := io.ReadFull(v.r, p)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return v.corrupt("object ends inside the %s (%d of %d bytes)", what, n, len(p))
	case err != nil:
		return wrapErr(v.name, "read", v.id, err)
	}
	return nil
}

func (v *verifyingReader) readHeader(size int64) error {
	fixed := v.buf[:fixedHeader]
	if size < int64(fixedHeader) {
		return v.corrupt("object is %d bytes, shorter than a header", size)
	}
	if err := v.readFull(fixed, "header"); err != nil {
		return err
	}
	if string(fixed[:len(magic)]) != magic {
		return v.corrupt("bad magic %q", fixed[:len(magic)])
	}
	if lv := fixed[len(magic)]; lv != layoutVersion {
		return v.corrupt("unknown layout version %d (this flowcache reads version %d)", lv, layoutVersion)
	}
	v.alg = Checksum(fixed[len(magic)+1])
	if v.alg.size() == 0 {
		return v.corrupt("unknown checksum algorithm %d", uint8(v.alg))
	}
	vlen := int(binary.LittleEndian.Uint16(fixed[len(magic)+2:]))
	flen := int(binary.LittleEndian.Uint16(fixed[len(magic)+4:]))
	v.payload = size - int64(fixedHeader+vlen+flen+trailerSize(v.alg))
	if v.payload < 0 {
		return v.corrupt("object is %d bytes, shorter than its header and trailer", size)
	}
	if vlen != len(v.id.Version) || flen != len(v.id.Format) {
		return v.corrupt("header names a result with a %d-byte version and a %d-byte format, not %s", vlen, flen, v.id)
	}
	v.h = v.alg.newHash()
	v.h.Write(fixed)
	var idb []byte
	if vlen+flen <= len(v.buf)-fixedHeader {
		idb = v.buf[fixedHeader : fixedHeader+vlen+flen]
	} else {
		idb = make([]byte, vlen+flen)
	}
	if err := v.readFull(idb, "header"); err != nil {
		return err
	}
	if string(idb[:vlen]) != string(v.id.Version) || string(idb[vlen:]) != v.id.Format {
		return v.corrupt("header names result %q.%q", idb[:vlen], idb[vlen:])
	}
	v.h.Write(idb)
	v.remaining = v.payload
	return nil
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.remaining == 0 {
		v.err = v.finish()
		if v.err == nil {
			v.err = io.EOF
		}
		return 0, v.err
	}
	if int64(len(p)) > v.remaining {
		p = p[:v.remaining]
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.remaining -= int64(n)
	switch {
	case err == io.EOF && v.remaining > 0:
		v.err = v.corrupt("object ends %d bytes before the end of the payload", v.remaining)
		return n, v.err
	case err != nil && err != io.EOF:
		v.err = wrapErr(v.name, "read", v.id, err)
		return n, v.err
	}
	if v.remaining == 0 {
		// Verify now, with the last bytes: a decoder that stops reading at
		// the end of its value still learns about damage from this call.
		if err := v.finish(); err != nil {
			v.err = err
			return n, err
		}
		v.err = io.EOF
	}
	return n, nil
}

// finish reads the trailer and checks the length and checksum; nil means
// the object is intact.
func (v *verifyingReader) finish() error {
	var tb [8 + 32]byte
	t := tb[:trailerSize(v.alg)]
	n, err := io.ReadFull(v.r, t)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return v.corrupt("object ends inside the trailer (%d of %d bytes)", n, len(t))
	case err != nil:
		return wrapErr(v.name, "read", v.id, err)
	}
	if got := binary.LittleEndian.Uint64(t); got != uint64(v.payload) {
		return v.corrupt("trailer says the payload is %d bytes, the object holds %d", got, v.payload)
	}
	v.h.Write(t[:8])
	if sum := v.h.Sum(v.sum[:0]); !bytes.Equal(sum, t[8:]) {
		return v.corrupt("%s checksum mismatch (stored %x, computed %x)", v.alg, t[8:], sum)
	}
	return nil
}

// headerSize returns the size of the header of the object being read.
func (v *verifyingReader) headerSize() int64 {
	return int64(fixedHeader + len(v.id.Version) + len(v.id.Format))
}

// blobReadCloser is a verifyingReader over a blob reader, which Close closes.
type blobReadCloser struct {
	*verifyingReader
	br *blob.Reader
}

// Close closes the underlying blob reader.
func (b blobReadCloser) Close() error {
	if err := b.br.Close(); err != nil {
		return wrapErr(b.name, "close", b.id, err)
	}
	return nil
}

// Len returns the number of payload bytes not yet read: a format's decoder
// checks the counts it reads against it before allocating (see the gob
// format's chunked values).
func (v *verifyingReader) Len() int { return int(v.remaining) }
