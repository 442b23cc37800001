package core

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// recordsMagic starts the encoding of a batch of node records; its last byte
// is the encoding's version. AppendRecords writes version 2, or version 3
// when a record of the batch has a lease wait; DecodeRecords reads 1, 2
// and 3.
const (
	recordsMagic   = "FCNR\x02"
	recordsMagicV1 = "FCNR\x01"
	recordsMagicV3 = "FCNR\x03"
)

// The bits of a record's flags (see AppendRecords).
const (
	flagHasKey    = 1
	flagRequested = 2
	flagWaited    = 4 // version 3 only
)

// AppendRecords appends the compact binary encoding of recs to dst. Stores
// keep a run's history as such blobs, one per batch, instead of a row or an
// object per node: a warm node then costs about a hundred bytes appended,
// not a database row with its index. DecodeRecords reverses it.
//
// Layout (version 2): the magic "FCNR" and version 2, the record count
// (uvarint), then per record: node, task, flags (uvarint), code version,
// the number of dependencies and each one's name and version, data
// version, format, then behaviour (uvarint), outcome, duration in
// nanoseconds (varint), size (varint). Names, the format and the outcome
// are strings (uvarint length + bytes). The three kinds of version are
// written by version2: a version that is a SHA-256 in lowercase hex (64
// characters, what this package makes) takes its 32 bytes the first time
// the blob holds it, and a back-reference to that first time afterwards (a
// dependency's version is, most often, the data version of a record just
// before), which halves a warm run's history; any other version is a
// string. Version 1 (the first encoders) wrote every version as a string;
// it is still read.
//
// The bits of flags: flagHasKey (1) says the record has a cache key,
// flagRequested (2) that the node was a requested output of the run
// (NodeRecord.Requested). The first encoders wrote only 0 or 1 there, and
// their decoders take any non-zero value for "has a key": the layout kept
// version 1 when the requested bit was added, so older readers still read
// newer runs (without the marker; a requested record without a key reads
// there as one with a key of its node name only, as inputs have), and newer
// readers read old runs (no record requested). Unknown bits are ignored, so
// a later flag does not make these readers fail either.
//
// Version 3 is version 2 with one more flag, flagWaited (4): the record
// has a lease wait (NodeRecord.Wait), written after its size as the wait's
// duration in nanoseconds (varint), then its holder's run id and host
// (strings) and pid (varint). A batch without waits, the common case, is
// still written as version 2, which every reader reads; readers before
// version 3 refuse a batch with waits as damaged (ErrCorrupt) rather than
// misread it. In version 2 the bit is unknown, and ignored.
func AppendRecords(dst []byte, recs []NodeRecord) []byte {
	// The size, close to what is written (a digest as its 32 bytes, the
	// numbers at their length): growing dst by much more cost a fresh
	// process about a millisecond a thousand records of memory it touched
	// for nothing.
	strLen := func(s string) int { return uvarintLen(uint64(len(s))) + len(s) }
	verLen := func(s string) int {
		if len(s) == 2*sha256.Size {
			return 1 + sha256.Size // checked when written; append grows dst if not
		}
		return uvarintLen(2*uint64(len(s))) + len(s)
	}
	size := len(recordsMagic) + binary.MaxVarintLen64
	for i := range recs {
		r := &recs[i]
		size += strLen(r.Node) + strLen(r.Task) + 1 + verLen(string(r.Key.CodeVersion)) + uvarintLen(uint64(len(r.Key.Deps))) +
			verLen(string(r.DataVersion)) + strLen(r.Format) + uvarintLen(uint64(r.Behavior)) + strLen(string(r.Outcome)) +
			2*binary.MaxVarintLen64
		for _, d := range r.Key.Deps {
			size += strLen(d.Name) + verLen(string(d.Version))
		}
		if r.Wait.Waited() {
			size += 2*binary.MaxVarintLen64 + strLen(string(r.Wait.For.Run)) + strLen(r.Wait.For.Host)
		}
	}
	dst = slices.Grow(dst, size)
	magic := recordsMagic
	for i := range recs {
		if recs[i].Wait.Waited() {
			magic = recordsMagicV3
			break
		}
	}
	dst = append(dst, magic...)
	dst = binary.AppendUvarint(dst, uint64(len(recs)))
	str := func(s string) {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	// The digests written so far, found by their bytes in dst (see
	// digestTable), which is kept for the next batch (a run writes one
	// every 256 records): a new one is new memory a fresh process pays for.
	digests := digestTables.Get().(*digestTable)
	defer digests.release()
	digests.reset(3 * len(recs))
	version := func(s string) {
		if d, ok := lowerHexDigest(s); ok {
			if i, ok := digests.index(dst, &d); ok {
				dst = binary.AppendUvarint(dst, 2*uint64(i)+3)
				return
			}
			dst = append(dst, 1)
			dst = append(dst, d[:]...)
			digests.add(dst, len(dst)-sha256.Size)
			return
		}
		dst = binary.AppendUvarint(dst, 2*uint64(len(s)))
		dst = append(dst, s...)
	}
	for i := range recs {
		r := &recs[i]
		str(r.Node)
		str(r.Task)
		flags := uint64(0)
		if r.Key.Node != "" || r.Key.CodeVersion != "" || len(r.Key.Deps) > 0 {
			flags |= flagHasKey
		}
		if r.Requested {
			flags |= flagRequested
		}
		if r.Wait.Waited() {
			flags |= flagWaited
		}
		dst = binary.AppendUvarint(dst, flags)
		version(string(r.Key.CodeVersion))
		dst = binary.AppendUvarint(dst, uint64(len(r.Key.Deps)))
		for _, d := range r.Key.Deps {
			str(d.Name)
			version(string(d.Version))
		}
		version(string(r.DataVersion))
		str(r.Format)
		dst = binary.AppendUvarint(dst, uint64(r.Behavior))
		str(string(r.Outcome))
		dst = binary.AppendVarint(dst, int64(r.Duration))
		dst = binary.AppendVarint(dst, r.Size)
		if r.Wait.Waited() {
			w := &r.Wait
			dst = binary.AppendVarint(dst, int64(w.Duration))
			str(string(w.For.Run))
			str(w.For.Host)
			dst = binary.AppendVarint(dst, int64(w.For.PID))
		}
	}
	return dst
}

// digestTable is the set of the digests AppendRecords wrote, and the
// index of each (the order in which they were first written): an open
// addressing table, by a digest's first 8 bytes, of where its bytes are
// in the output. A map keyed by the 32 bytes held them before: 96 KB for a
// batch of 256 records, where the table is 16 KB, and a record took a
// third longer to write (BenchmarkAppendRecords).
//
// A digest is SHA-256 (a code or data version), so its first bytes are
// uniform; versions made to collide there only make lookups longer, as
// they are compared whole.
type digestTable struct {
	// slots holds, for each digest, its index + 1 in the high 32 bits and
	// its offset in the output in the low ones; 0 is an empty slot.
	slots []uint64
	n     int // digests added
}

// digestTables holds the tables of AppendRecords.
var digestTables = sync.Pool{New: func() any { return new(digestTable) }}

// reset empties the table and sizes it for about n digests.
func (t *digestTable) reset(n int) {
	size := 64
	for size < 2*n {
		size *= 2
	}
	if cap(t.slots) >= size {
		t.slots = t.slots[:size]
	} else {
		t.slots = make([]uint64, size)
	}
	t.n = 0
}

// release clears the table and puts it back in the pool; a table grown
// past 64 K slots (a batch of about 10,000 records) is dropped.
func (t *digestTable) release() {
	if cap(t.slots) > 1<<16 {
		return
	}
	clear(t.slots)
	digestTables.Put(t)
}

// slot is where a digest whose bytes begin with d goes, or the first slot
// after it that is free.
func (t *digestTable) slot(d []byte) int {
	mask := len(t.slots) - 1
	i := int(binary.LittleEndian.Uint64(d[:8]) & uint64(mask))
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	return i
}

// index returns the index of d when it was added, its bytes being at the
// offset added in out.
func (t *digestTable) index(out []byte, d *[sha256.Size]byte) (int, bool) {
	mask := len(t.slots) - 1
	for i := int(binary.LittleEndian.Uint64(d[:8]) & uint64(mask)); ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return 0, false
		}
		if off := int(uint32(s)); string(out[off:off+sha256.Size]) == string(d[:]) {
			return int(s>>32) - 1, true
		}
	}
}

// add adds the digest written at offset off of out as the next index; the
// table doubles when half full. A digest past 4 GiB of output is not
// kept (it is written whole again if it comes again), but counted: the
// indexes are those DecodeRecords gives the digests written whole.
func (t *digestTable) add(out []byte, off int) {
	t.n++
	if uint64(off) > math.MaxUint32 {
		return
	}
	if 2*t.n > len(t.slots) {
		old := t.slots
		t.slots = make([]uint64, 2*len(old))
		for _, s := range old {
			if s != 0 {
				at := int(uint32(s))
				t.slots[t.slot(out[at:])] = s
			}
		}
	}
	t.slots[t.slot(out[off:])] = uint64(t.n)<<32 | uint64(off)
}

// lowerHexDigest returns the bytes of s when s is a digest in lowercase
// hex (64 digits).
func lowerHexDigest(s string) (d [sha256.Size]byte, ok bool) {
	if len(s) != 2*sha256.Size {
		return d, false
	}
	var bad byte
	for i := range d {
		hi, lo := hexValue[s[2*i]], hexValue[s[2*i+1]]
		bad |= (hi | lo) & 0x80
		d[i] = hi<<4 | lo&0x0f
	}
	return d, bad == 0
}

// hexValue is the value of a lowercase hex digit, 0x80 for any other byte.
var hexValue = func() (t [256]byte) {
	for c := range t {
		switch {
		case c >= '0' && c <= '9':
			t[c] = byte(c - '0')
		case c >= 'a' && c <= 'f':
			t[c] = byte(c - 'a' + 10)
		default:
			t[c] = 0x80
		}
	}
	return t
}()

// DecodeRecords decodes the output of AppendRecords. Damaged input gives an
// error wrapping ErrCorrupt, never a panic nor an allocation larger than the
// input. A record's Key.Node is its Node when it had a key, and empty
// otherwise.
func DecodeRecords(b []byte) ([]NodeRecord, error) {
	d := recordDecoder{b: b}
	switch {
	case len(b) < len(recordsMagic):
		return nil, fmt.Errorf("%w: node records: bad header", ErrCorrupt)
	case string(b[:len(recordsMagic)]) == recordsMagic:
		d.v2 = true
	case string(b[:len(recordsMagicV3)]) == recordsMagicV3:
		d.v2, d.v3 = true, true
	case string(b[:len(recordsMagicV1)]) != recordsMagicV1:
		return nil, fmt.Errorf("%w: node records: bad header", ErrCorrupt)
	}
	d.b = b[len(recordsMagic):]
	n := d.count()
	recs := make([]NodeRecord, 0, n)
	for range n {
		var r NodeRecord
		r.Node = d.str()
		r.Task = d.str()
		flags := d.uvarint()
		r.Key.CodeVersion = CodeVersion(d.version())
		if nd := d.count(); nd > 0 {
			r.Key.Deps = make([]Dep, nd)
			for j := range r.Key.Deps {
				r.Key.Deps[j] = Dep{Name: d.str(), Version: DataVersion(d.version())}
			}
		}
		// A key with parts is a key whatever the flag says (the encoder
		// derives the flag from the parts), so that what decodes
		// re-encodes to the same records.
		if flags&flagHasKey != 0 || r.Key.CodeVersion != "" || len(r.Key.Deps) > 0 {
			r.Key.Node = r.Node
		}
		r.Requested = flags&flagRequested != 0
		r.DataVersion = DataVersion(d.version())
		r.Format = d.str()
		r.Behavior = Behavior(d.uvarint())
		r.Outcome = Outcome(d.str())
		r.Duration = time.Duration(d.varint())
		r.Size = d.varint()
		if d.v3 && flags&flagWaited != 0 {
			r.Wait.Duration = time.Duration(d.varint())
			r.Wait.For.Run = RunID(d.str())
			r.Wait.For.Host = d.str()
			r.Wait.For.PID = int(d.varint())
		}
		if d.err != nil {
			return nil, d.err
		}
		recs = append(recs, r)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: node records: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return recs, nil
}

type recordDecoder struct {
	b       []byte
	err     error
	v2      bool     // versions as version2 writes them
	v3      bool     // version 3: lease waits (flagWaited)
	digests []string // version 2: the digests read so far, in hex
}

// version reads a version: a string in version 1; in version 2 a string
// (even tag: twice its length), a new digest (tag 1, then its 32 bytes) or
// a back-reference to one read before (odd tag 2i+3: the i-th).
func (d *recordDecoder) version() string {
	if !d.v2 {
		return d.str()
	}
	tag := d.uvarint()
	switch {
	case d.err != nil:
		return ""
	case tag == 1:
		if len(d.b) < sha256.Size {
			d.fail("digest longer than the input")
			return ""
		}
		s := hex.EncodeToString(d.b[:sha256.Size])
		d.b = d.b[sha256.Size:]
		d.digests = append(d.digests, s)
		return s
	case tag%2 == 1:
		i := (tag - 3) / 2
		if i >= uint64(len(d.digests)) {
			d.fail("reference to a digest not read")
			return ""
		}
		return d.digests[i]
	}
	return d.raw(tag / 2)
}

func (d *recordDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: node records: %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *recordDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recordDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of items that take at least one byte each, so it is
// bounded by the input left.
func (d *recordDecoder) count() int {
	v := d.uvarint()
	if v > uint64(len(d.b)) {
		d.fail("count larger than the input")
		return 0
	}
	return int(v)
}

func (d *recordDecoder) str() string { return d.raw(d.uvarint()) }

// raw reads a string of n bytes.
func (d *recordDecoder) raw(n uint64) string {
	if n > uint64(len(d.b)) {
		d.fail("string longer than the input")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// uvarintLen is the length of binary.AppendUvarint's encoding of u.
func uvarintLen(u uint64) int {
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}
