package blobmeta

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/flowcache/flowcache/core"
)

// Metadata objects are sealed: a 6-byte header (magic "FCMD", codec
// version, kind), a payload, and the CRC-32C of everything before it. A
// torn, truncated or altered object fails to unseal and is treated as
// missing, never decoded into wrong values.
const (
	metaMagic   = "FCMD"
	metaVersion = 1

	kindEntry   = 'e' // one cache entry
	kindUsed    = 'u' // the last-used time of an entry
	kindIndex   = 'n' // the entries of one node, for Preload
	kindRun     = 'r' // a run and when it started
	kindHistory = 'h' // one batch of a run's records (core.AppendRecords)
	kindSnap    = 's' // a preload snapshot: the indexes of a set of nodes, each with its head
	kindHeads   = 'H' // the head of every node: its index's tag and pending batches
	kindBatch   = 'b' // the new entries of one Write
	kindLease   = 'l' // the lease of a key (leases.go)
	// 'p' was the first snapshot layout (entries without the version of
	// the index they came from), 'q' the second (each node with its tag
	// only), 't' the tags of every node index (the layout before batch
	// objects, still written by older writers); such objects read as
	// damaged.
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

var errSeal = errors.New("bad metadata object")

// seal returns the stored form of payload.
func seal(kind byte, payload []byte) []byte {
	b := make([]byte, 0, 6+len(payload)+4)
	b = append(b, metaMagic...)
	b = append(b, metaVersion, kind)
	b = append(b, payload...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// unseal checks a stored object and returns its payload.
func unseal(kind byte, b []byte) ([]byte, error) {
	if len(b) < 10 || string(b[:4]) != metaMagic {
		return nil, fmt.Errorf("%w: %w: too short or bad magic", core.ErrCorrupt, errSeal)
	}
	if b[4] != metaVersion || b[5] != kind {
		return nil, fmt.Errorf("%w: %w: codec version %d kind %q, want %d %q", core.ErrCorrupt, errSeal, b[4], b[5], metaVersion, kind)
	}
	n := len(b) - 4
	if crc32.Checksum(b[:n], crcTable) != binary.LittleEndian.Uint32(b[n:]) {
		return nil, fmt.Errorf("%w: %w: checksum mismatch", core.ErrCorrupt, errSeal)
	}
	return b[6:n], nil
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

func appendKey(b []byte, k core.CacheKey) []byte {
	b = appendStr(b, k.Node)
	b = appendStr(b, string(k.CodeVersion))
	b = binary.AppendUvarint(b, uint64(len(k.Deps)))
	for _, d := range k.Deps {
		b = appendStr(b, d.Name)
		b = appendStr(b, string(d.Version))
	}
	return b
}

// decoder reads a payload; the first error sticks and later reads return
// zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: metadata object: bad %s", core.ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) uvarint(what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str(what string) string {
	n := d.uvarint(what)
	if n > uint64(len(d.b)) {
		d.fail(what)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) time(what string) time.Time {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return time.Time{}
	}
	d.b = d.b[n:]
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v)
}

// count reads a length that must fit in what is left, at least min bytes
// an element.
func (d *decoder) count(what string, min int) int {
	n := d.uvarint(what)
	if n > uint64(len(d.b)/min) {
		d.fail(what)
		return 0
	}
	return int(n)
}

func (d *decoder) key() core.CacheKey {
	k := core.CacheKey{Node: d.str("node name"), CodeVersion: core.CodeVersion(d.str("code version"))}
	if n := d.count("dependency count", 2); n > 0 {
		k.Deps = make([]core.Dep, n)
		for i := range k.Deps {
			k.Deps[i] = core.Dep{Name: d.str("dependency name"), Version: core.DataVersion(d.str("dependency version"))}
		}
	}
	return k
}

// end fails unless the whole payload was read.
func (d *decoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("length (trailing bytes)")
	}
	return d.err
}

func encodeEntry(e core.Entry) []byte {
	b := appendKey(nil, e.Key)
	b = appendStr(b, string(e.DataVersion))
	b = appendStr(b, e.Format)
	b = appendTime(b, e.Created)
	b = appendTime(b, e.LastUsed)
	return seal(kindEntry, b)
}

func decodeEntry(obj []byte) (core.Entry, error) {
	p, err := unseal(kindEntry, obj)
	if err != nil {
		return core.Entry{}, err
	}
	d := &decoder{b: p}
	e := core.Entry{Key: d.key(), DataVersion: core.DataVersion(d.str("data version")), Format: d.str("format")}
	e.Created, e.LastUsed = d.time("created time"), d.time("last-used time")
	if err := d.end(); err != nil {
		return core.Entry{}, err
	}
	if e.Key.Node == "" || e.DataVersion == "" || e.Format == "" {
		return core.Entry{}, fmt.Errorf("%w: metadata object: entry without node, data version or format", core.ErrCorrupt)
	}
	return e, nil
}

func encodeTime(kind byte, t time.Time) []byte { return seal(kind, appendTime(nil, t)) }

func decodeTime(kind byte, obj []byte) (time.Time, error) {
	p, err := unseal(kind, obj)
	if err != nil {
		return time.Time{}, err
	}
	d := &decoder{b: p}
	t := d.time("time")
	return t, d.end()
}

// indexEntry is what a node index keeps of an entry: what Preload returns.
type indexEntry struct {
	DataVersion core.DataVersion
	Format      string
	Created     time.Time
	LastUsed    time.Time
}

func encodeIndex(ix map[core.KeyID]indexEntry) []byte {
	b := binary.AppendUvarint(nil, uint64(len(ix)))
	for id, e := range ix {
		b = appendStr(b, string(id))
		b = appendStr(b, string(e.DataVersion))
		b = appendStr(b, e.Format)
		b = appendTime(b, e.Created)
		b = appendTime(b, e.LastUsed)
	}
	return seal(kindIndex, b)
}

func decodeIndex(obj []byte) (map[core.KeyID]indexEntry, error) {
	p, err := unseal(kindIndex, obj)
	if err != nil {
		return nil, err
	}
	d := &decoder{b: p}
	n := d.count("index length", 5)
	ix := make(map[core.KeyID]indexEntry, n)
	for range n {
		id := core.KeyID(d.str("key id"))
		e := indexEntry{DataVersion: core.DataVersion(d.str("data version")), Format: d.str("format")}
		e.Created, e.LastUsed = d.time("created time"), d.time("last-used time")
		ix[id] = e
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return ix, nil
}

func encodeRun(r core.RunInfo) []byte {
	return seal(kindRun, appendTime(appendStr(nil, string(r.ID)), r.Started))
}

func decodeRun(obj []byte) (core.RunInfo, error) {
	p, err := unseal(kindRun, obj)
	if err != nil {
		return core.RunInfo{}, err
	}
	d := &decoder{b: p}
	r := core.RunInfo{ID: core.RunID(d.str("run id"))}
	r.Started = d.time("start time")
	return r, d.end()
}

// snapNode is what a preload snapshot holds of one node: the entries of
// its index, and the tag of the index they were read from or written as
// (see Metadata.Preload), nil when unknown.
type snapNode struct {
	tag     []byte
	pending []string
	entries map[core.KeyID]indexEntry
}

// encodeSnapshot encodes a snapshot: the node count, then for each node
// its name, its tag, its entry count and entries as in a node index.
func encodeSnapshot(s map[string]*snapNode) []byte {
	b := binary.AppendUvarint(nil, uint64(len(s)))
	for node, n := range s {
		b = appendStr(b, node)
		b = appendStr(b, string(n.tag))
		b = binary.AppendUvarint(b, uint64(len(n.pending)))
		for _, p := range n.pending {
			b = appendStr(b, p)
		}
		b = binary.AppendUvarint(b, uint64(len(n.entries)))
		for id, e := range n.entries {
			b = appendStr(b, string(id))
			b = appendStr(b, string(e.DataVersion))
			b = appendStr(b, e.Format)
			b = appendTime(b, e.Created)
			b = appendTime(b, e.LastUsed)
		}
	}
	return seal(kindSnap, b)
}

func decodeSnapshot(obj []byte) (map[string]*snapNode, error) {
	p, err := unseal(kindSnap, obj)
	if err != nil {
		return nil, err
	}
	d := &decoder{b: p}
	n := d.count("snapshot length", 3)
	s := make(map[string]*snapNode, n)
	for range n {
		node := d.str("node name")
		sn := &snapNode{}
		if tag := d.str("index tag"); tag != "" {
			sn.tag = []byte(tag)
		}
		for range d.count("pending count", 1) {
			sn.pending = append(sn.pending, d.str("pending batch"))
		}
		k := d.count("node entry count", 5)
		sn.entries = make(map[core.KeyID]indexEntry, k)
		for range k {
			id := core.KeyID(d.str("key id"))
			e := indexEntry{DataVersion: core.DataVersion(d.str("data version")), Format: d.str("format")}
			e.Created, e.LastUsed = d.time("created time"), d.time("last-used time")
			sn.entries[id] = e
		}
		if d.err == nil {
			if _, dup := s[node]; dup {
				d.fail("snapshot (a node twice)")
			}
		}
		s[node] = sn
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return s, nil
}

// head is a node's state in the heads object: its index's tag and the
// batch objects written since its index was last rewritten, oldest first
// (their names under "batches/").
type head struct {
	tag     string
	pending []string
}

// encodeHeads encodes the heads object: the batch names any node names,
// then the count of nodes and each node's key (tagKey), tag and pending
// batches as positions in the list of names.
func encodeHeads(heads map[string]head) []byte {
	pos := map[string]int{}
	var names []string
	for _, h := range heads {
		for _, p := range h.pending {
			if _, ok := pos[p]; !ok {
				pos[p] = len(names)
				names = append(names, p)
			}
		}
	}
	b := binary.AppendUvarint(nil, uint64(len(names)))
	for _, n := range names {
		b = appendStr(b, n)
	}
	b = binary.AppendUvarint(b, uint64(len(heads)))
	for k, h := range heads {
		b = appendStr(b, k)
		b = appendStr(b, h.tag)
		b = binary.AppendUvarint(b, uint64(len(h.pending)))
		for _, p := range h.pending {
			b = binary.AppendUvarint(b, uint64(pos[p]))
		}
	}
	return seal(kindHeads, b)
}

func decodeHeads(obj []byte) (map[string]head, error) {
	p, err := unseal(kindHeads, obj)
	if err != nil {
		return nil, err
	}
	d := &decoder{b: p}
	names := make([]string, d.count("batch count", 1))
	for i := range names {
		names[i] = d.str("batch name")
	}
	n := d.count("head count", 3)
	heads := make(map[string]head, n)
	for range n {
		k := d.str("node key")
		h := head{tag: d.str("tag")}
		for range d.count("pending count", 1) {
			i := d.uvarint("pending batch")
			if d.err == nil && i >= uint64(len(names)) {
				d.fail("pending batch")
			}
			if d.err != nil {
				break
			}
			h.pending = append(h.pending, names[i])
		}
		heads[k] = h
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return heads, nil
}

// batchEntry is one new entry of a batch object.
type batchEntry struct {
	node string
	id   core.KeyID
	e    indexEntry
}

// encodeBatch encodes a batch object: the count, then each entry's node,
// key id and index entry.
func encodeBatch(entries []batchEntry) []byte {
	b := binary.AppendUvarint(nil, uint64(len(entries)))
	for _, be := range entries {
		b = appendStr(b, be.node)
		b = appendStr(b, string(be.id))
		b = appendStr(b, string(be.e.DataVersion))
		b = appendStr(b, be.e.Format)
		b = appendTime(b, be.e.Created)
		b = appendTime(b, be.e.LastUsed)
	}
	return seal(kindBatch, b)
}

func decodeBatch(obj []byte) ([]batchEntry, error) {
	p, err := unseal(kindBatch, obj)
	if err != nil {
		return nil, err
	}
	d := &decoder{b: p}
	n := d.count("batch length", 6)
	out := make([]batchEntry, 0, n)
	for range n {
		be := batchEntry{node: d.str("node name"), id: core.KeyID(d.str("key id"))}
		be.e = indexEntry{DataVersion: core.DataVersion(d.str("data version")), Format: d.str("format")}
		be.e.Created, be.e.LastUsed = d.time("created time"), d.time("last-used time")
		out = append(out, be)
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return out, nil
}

// putEntry applies a new entry to an index: it replaces the key's, keeping
// the created time and the later last-used time when both map the key to
// the same result. It reports whether ix changed.
func putEntry(ix map[core.KeyID]indexEntry, id core.KeyID, e indexEntry) bool {
	if old, ok := ix[id]; ok && old.DataVersion == e.DataVersion && old.Format == e.Format {
		if !old.Created.IsZero() {
			e.Created = old.Created
		}
		if old.LastUsed.After(e.LastUsed) {
			e.LastUsed = old.LastUsed
		}
	}
	if cur, ok := ix[id]; ok && cur == e {
		return false
	}
	ix[id] = e
	return true
}
