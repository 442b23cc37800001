package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/internal/atomicfile"
	"github.com/flowcache/flowcache/internal/mapfile"
)

// genSchema is the generation of the entries and the triggers that bump it
// on every deletion or change of entries, and on every deletion or change
// of results (a snapshot holds inline results too); the writer bumps it
// once per transaction that inserts entries (MetadataStore.write). The
// triggers call flowcache_changed(), defined only by this package (see
// gen.go), so that no other program changes what a snapshot holds without
// marking the generation file.
const genSchema = `
CREATE TABLE IF NOT EXISTS entries_gen (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	gen INTEGER NOT NULL
);
INSERT OR IGNORE INTO entries_gen (id, gen) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS entries_gen_delete AFTER DELETE ON entries
	BEGIN SELECT flowcache_changed(); UPDATE entries_gen SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS entries_gen_update AFTER UPDATE ON entries
	BEGIN SELECT flowcache_changed(); UPDATE entries_gen SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS results_gen_delete AFTER DELETE ON results
	BEGIN SELECT flowcache_changed(); UPDATE entries_gen SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS results_gen_update AFTER UPDATE ON results
	BEGIN SELECT flowcache_changed(); UPDATE entries_gen SET gen = gen + 1 WHERE id = 1; END;
`

// snapshotDir is the directory of the preload snapshots of the database
// at path.
func snapshotDir(path string) string { return path + "-snapshots" }

// snapshotKey names the snapshot of the JSON array of node names.
// nodeList returns the JSON array of nodes, as json.Marshal writes it (the
// snapshot's key is its hash, and the preload query reads it). Names of
// characters JSON takes as they are, the usual case, are written without
// json.Marshal, which cost a warm process 0.4 ms for a thousand.
func nodeList(nodes []string) ([]byte, error) {
	if nodes == nil {
		return json.Marshal(nodes)
	}
	n := 2
	for _, name := range nodes {
		n += len(name) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, name := range nodes {
		for j := 0; j < len(name); j++ {
			// What json.Marshal escapes: control characters, the quote, the
			// backslash and <, > and & (for HTML); and bytes above ASCII,
			// which it may (invalid UTF-8, U+2028 and U+2029).
			if c := name[j]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return json.Marshal(nodes)
			}
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"')
	}
	return append(b, ']'), nil
}

func snapshotKey(names []byte) string {
	sum := sha256.Sum256(names)
	return hex.EncodeToString(sum[:])
}

// readSnapshot returns the snapshot of nodes when it is current: made at
// the generation the generation file is clean at. It opens no database.
// The file is mapped, not read (see snapIndex), unless the system cannot
// map it.
func (s *MetadataStore) readSnapshot(key string) (*snapIndex, bool) {
	gen, ok := readGen(s.genPath)
	if !ok {
		return nil, false
	}
	at, x, err := openIndex(filepath.Join(s.snapDir, key))
	if err != nil {
		return nil, false
	}
	if at != gen {
		x.close()
		return nil, false
	}
	return x, true
}

// buildSnapshot reads the entries of nodes (and their inline results) and
// keeps them as the snapshot of nodes, all under the database's write lock
// (see gen.go): the generation and the rows are read, the snapshot file
// written and the generation file marked clean at that generation before
// any other writer can commit. The transaction writes nothing to the
// database and is rolled back. A snapshot that cannot be kept (a full
// disk) only costs the next preload this again.
func (s *MetadataStore) buildSnapshot(ctx context.Context, key, names string) (*preloaded, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var gen int64
	if err := tx.QueryRowContext(ctx, `SELECT gen FROM entries_gen WHERE id = 1`).Scan(&gen); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, sqlPreload, names)
	if err != nil {
		return nil, err
	}
	p, err := scanPreload(rows)
	if err != nil {
		return nil, err
	}
	if gen >= 0 && s.keepSnapshot(key, uint64(gen), p) == nil {
		if cur, ok := readGen(s.genPath); !ok || cur != uint64(gen) {
			_ = writeGen(s.genPath, uint64(gen), true)
		}
	}
	return p, nil
}

// maxSnapshots bounds the snapshot files kept: one per list of nodes ever
// preloaded would grow without end in a cache whose runs ask for many
// different outputs. The least recently written go first; one removed while
// still in use only costs its next preload the rows.
const maxSnapshots = 64

// keepSnapshot writes the snapshot file of key, whole or not at all, and
// removes the oldest files past maxSnapshots (and temporary files a killed
// writer left, after an hour).
func (s *MetadataStore) keepSnapshot(key string, gen uint64, p *preloaded) error {
	if err := os.MkdirAll(s.snapDir, 0o777); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(s.snapDir, key), encodeSnapshot(gen, p), 0o644); err != nil {
		return err
	}
	s.pruneSnapshots(key)
	return nil
}

// pruneSnapshots removes the oldest snapshot files past maxSnapshots, never
// keep's, and stale temporary files. Failures are left for the next prune.
func (s *MetadataStore) pruneSnapshots(keep string) {
	ents, err := os.ReadDir(s.snapDir)
	if err != nil || len(ents) <= maxSnapshots {
		return
	}
	type file struct {
		name string
		mod  time.Time
	}
	var files []file
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || e.Name() == keep {
			continue
		}
		if strings.HasSuffix(e.Name(), ".tmp") {
			if time.Since(fi.ModTime()) > StaleTempAge {
				os.Remove(filepath.Join(s.snapDir, e.Name()))
			}
			continue
		}
		files = append(files, file{e.Name(), fi.ModTime()})
	}
	slices.SortFunc(files, func(a, b file) int { return a.mod.Compare(b.mod) })
	for _, f := range files[:max(0, len(files)-(maxSnapshots-1))] {
		os.Remove(filepath.Join(s.snapDir, f.name))
	}
}

// scanPreload reads the rows of sqlPreload.
func scanPreload(rows *sql.Rows) (*preloaded, error) {
	defer rows.Close()
	var pb preloadBuilder
	for rows.Next() {
		var id, dv, format string
		var lastUsed int64
		var data []byte
		var crc sql.NullInt64
		if err := rows.Scan(&id, &dv, &format, &lastUsed, &data, &crc); err != nil {
			return nil, err
		}
		pb.add(id, dv, format, lastUsed, data, crc.Int64, data != nil && crc.Valid)
	}
	return pb.result(), rows.Err()
}

// preloadBuilder collects the rows of a preload: the entries, and the
// inline results of those that have one while under maxPreloadResults.
type preloadBuilder struct {
	out         *preloaded
	formats     []string // formats are few: their strings are shared
	resultBytes int
}

// add adds an entry and, when hasResult, its inline result as stored (a
// crc out of range is left out: the result's own read will say it is
// damaged).
func (pb *preloadBuilder) add(id, dv, format string, lastUsed int64, data []byte, crc int64, hasResult bool) {
	pb.init()
	for _, known := range pb.formats {
		if known == format {
			format = known
			break
		}
	}
	if len(pb.formats) < 16 && !slices.Contains(pb.formats, format) {
		pb.formats = append(pb.formats, format)
	}
	pb.out.entries[core.KeyID(id)] = core.Entry{DataVersion: core.DataVersion(dv), Format: format, LastUsed: time.Unix(0, lastUsed)}
	if hasResult && crc >= 0 && crc <= 1<<32-1 && pb.resultBytes+len(data) <= maxPreloadResults {
		pb.resultBytes += len(data)
		pb.out.results[core.ResultID{Version: core.DataVersion(dv), Format: format}] = warmResult{data: data, crc: uint32(crc)}
	}
}

func (pb *preloadBuilder) init() {
	if pb.out == nil {
		pb.out = &preloaded{entries: map[core.KeyID]core.Entry{}, results: map[core.ResultID]warmResult{}}
	}
}

// result returns what was added (nothing when no row was).
func (pb *preloadBuilder) result() *preloaded {
	pb.init()
	return pb.out
}

// preloaded is the answer of a preload: the entries of the nodes, by
// lookup key, and the inline results they map to, so that a warm run reads
// its small values from the preload instead of a query each (1000 inline
// results cost a fresh process about 5 ms read one by one).
type preloaded struct {
	entries map[core.KeyID]core.Entry
	results map[core.ResultID]warmResult
}

// warmResult is an inline result as a preload read it: its bytes and the
// CRC-32C stored with them (see inlineCRC), checked when it is served.
type warmResult struct {
	data []byte
	crc  uint32
}

// warmResults holds the inline results the store's last preload read,
// which ResultStore serves without a query, until the next preload
// replaces them. Results are content-addressed, so a result read by a
// preload stays right for as long as it is kept; Delete and DeleteAll drop
// theirs, and a result deleted or changed in the table by anyone ends the
// snapshots that hold it (triggers, like entries), so the next run's
// preload does not serve it.
type warmResults struct {
	mu      sync.Mutex
	src     warmSource
	dropped map[core.ResultID]bool
}

// warmSource is where a preload's results are: a map (read as rows) or a
// snapshot file's index.
type warmSource interface {
	result(id core.ResultID) (warmResult, bool)
}

type warmMap map[core.ResultID]warmResult

func (m warmMap) result(id core.ResultID) (warmResult, bool) {
	r, ok := m[id]
	return r, ok
}

// set replaces the results held with src.
func (w *warmResults) set(src warmSource) {
	w.mu.Lock()
	w.src, w.dropped = src, nil
	w.mu.Unlock()
}

// get returns the preloaded bytes of id when they match their checksum.
func (w *warmResults) get(id core.ResultID) ([]byte, bool) {
	w.mu.Lock()
	src, dropped := w.src, w.dropped[id]
	w.mu.Unlock()
	if src == nil || dropped {
		return nil, false
	}
	r, ok := src.result(id)
	if !ok || inlineCRC(id, r.data) != r.crc {
		return nil, false
	}
	return r.data, true
}

// drop forgets id (all results when id is nil).
func (w *warmResults) drop(id *core.ResultID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if id == nil {
		w.src, w.dropped = nil, nil
		return
	}
	if w.src == nil {
		return
	}
	if w.dropped == nil {
		w.dropped = map[core.ResultID]bool{}
	}
	w.dropped[*id] = true
}

// maxPreloadResults bounds the bytes of inline results a preload (and so
// a snapshot) holds: beyond it, results are read from the table as they
// are needed.
const maxPreloadResults = 8 << 20

// snapshotMagic begins every snapshot; it changes with the encoding.
const snapshotMagic = "flowcache preload snapshot 3\n"

// encodeSnapshot encodes p, made at generation gen, its entries in the
// order of their key ids: the magic; the generation (8 bytes); the formats
// (a count, then each length-prefixed); the number of entries; every key
// id and data version
// concatenated (length-prefixed as a whole); per entry the lengths of its
// key id and data version, its format's index, its last-used time and its
// inline result's length plus one (0 for none) followed, for one, by its
// stored CRC-32C (4 bytes); the inline results' bytes concatenated; and
// the CRC-32C of all that. Lengths and counts are uvarints, times varints.
func encodeSnapshot(gen uint64, p *preloaded) []byte {
	m := p.entries
	var formats []string
	index := map[string]uint64{}
	strLen, dataLen := 0, 0
	for id, e := range m {
		if _, ok := index[e.Format]; !ok {
			index[e.Format] = uint64(len(formats))
			formats = append(formats, e.Format)
		}
		strLen += len(id) + len(e.DataVersion)
	}
	for _, r := range p.results {
		dataLen += len(r.data)
	}
	b := make([]byte, 0, len(snapshotMagic)+16+strLen+len(m)*24+dataLen+4)
	b = append(b, snapshotMagic...)
	b = binary.LittleEndian.AppendUint64(b, gen)
	b = binary.AppendUvarint(b, uint64(len(formats)))
	for _, f := range formats {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	b = binary.AppendUvarint(b, uint64(len(m)))
	b = binary.AppendUvarint(b, uint64(strLen))
	// In key order: a lookup is a binary search (see snapIndex).
	ids := make([]core.KeyID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		b = append(b, id...)
		b = append(b, m[id].DataVersion...)
	}
	var data [][]byte
	for _, id := range ids {
		e := m[id]
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = binary.AppendUvarint(b, uint64(len(e.DataVersion)))
		b = binary.AppendUvarint(b, index[e.Format])
		b = binary.AppendVarint(b, e.LastUsed.UnixNano())
		r, ok := p.results[core.ResultID{Version: e.DataVersion, Format: e.Format}]
		if !ok {
			b = binary.AppendUvarint(b, 0)
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(r.data))+1)
		b = binary.LittleEndian.AppendUint32(b, r.crc)
		data = append(data, r.data)
	}
	for _, d := range data {
		b = append(b, d...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// snapIndex is a decoded snapshot: a core.PreloadIndex over the bytes of
// the snapshot file, with one small record per entry and no map, so that
// a fresh process pays for the entries it looks up, not for a map of all
// of them (a map of 1000 entries cost about 3 ms there). Entries are in
// key order, and a lookup is a binary search; one that finds nothing is a
// miss, whatever the file held, so a file out of order (which its CRC
// would have to match) can only cost misses. The inline results are found
// by a scan of the entries for the first few asked for (a run often loads
// only its outputs: a chain of 1000 loads one), then through a map built
// then (building it first cost a fresh process 0.8 ms and 190 KB for one
// result).
//
// The file is mapped (package mapfile), not read: read into the heap, the
// 150 KB snapshot of 1000 nodes cost a fresh process about 37 page faults
// and a copy, where the mapping shares the page cache's pages. So:
//
//   - Every read of the mapped bytes (the checksum and parse, a lookup's
//     binary search, a result's scan, preloaded) runs inside mapfile.Guard:
//     a file truncated under the index faults, and the index then acts as
//     empty (every lookup a miss, Len 0) for the rest of its life, never a
//     crash and never a wrong value. Flowcache itself never changes a
//     snapshot in place: a new one is renamed over it, and the mapping
//     keeps the old file's bytes. A process that writes the file's bytes in
//     place, after the index checked its checksum, is outside what the
//     index can see, as one writing the database file in place is.
//   - Nothing handed out points into the mapping: a lookup's data version
//     is copied (into a chunk shared by many, see strArena), a result's
//     bytes are copied (and checked against their CRC after the copy, by
//     warmResults.get), and preloaded's maps are built over copies.
//   - The mapping is released by a cleanup (runtime.AddCleanup) when the
//     index becomes unreachable: core holds it for its run, the result
//     store (warmResults) until the next preload. Every method that reads
//     the mapping keeps the index reachable until its last read
//     (mapfile.Reader), so the cleanup never unmaps it under a
//     reader. An index readSnapshot does not serve is released at once
//     (close).
//
// Where the system cannot map (not unix), mapfile reads the file into the
// heap, and the index works over those bytes as it did before mapping:
// no guard, no copies.
type snapIndex struct {
	strs    string // key ids and data versions, over the file's bytes
	formats []string
	ents    []snapEnt
	// heads holds the first 8 bytes of each entry's key id, as a number
	// that sorts as the id does (idHead): a lookup searches them, in the
	// heap, and compares one id in strs, not ten.
	heads []uint64
	data  []byte // the inline results, over the file's bytes

	file    *mapfile.File   // nil when decoded from bytes in the heap
	cleanup runtime.Cleanup // unmaps file once the index is unreachable
	mapped  bool            // strs and data are a mapping: read in Guard, copy out
	reads   mapfile.Reader  // broken by a fault: the index acts as empty
	arena   strArena        // the copies of data versions Lookup hands out

	scans   atomic.Int32 // results found by a scan so far
	resOnce sync.Once
	res     map[core.ResultID]int32 // index into ents; keys over the mapping
}

// snapScans is how many results a snapIndex finds by scanning its entries
// before it builds a map of them.
const snapScans = 8

type snapEnt struct {
	idOff, idLen, dvLen uint32 // the data version follows the key id in strs
	format              uint32
	lastUsed            int64
	resOff, resLen      uint32
	crc                 uint32
	hasRes              bool
}

var _ core.PreloadIndex = (*snapIndex)(nil)

// openIndex maps the snapshot file at path and decodes it (see snapIndex).
// It returns the generation the snapshot was made at.
func openIndex(path string) (uint64, *snapIndex, error) {
	f, err := mapfile.Open(path)
	if err != nil {
		return 0, nil, err
	}
	var gen uint64
	var x *snapIndex
	if ferr := mapfile.Guard(func() { gen, x, err = decodeIndex(f.Bytes()) }); ferr != nil {
		err = ferr
	}
	if err != nil {
		f.Close()
		return 0, nil, err
	}
	x.file, x.mapped = f, f.Mapped()
	if x.mapped {
		x.cleanup = runtime.AddCleanup(x, func(f *mapfile.File) { f.Close() }, f)
	}
	return gen, x, nil
}

// close releases the file of an index nothing holds (one readSnapshot does
// not serve). The index must not be used afterwards.
func (x *snapIndex) close() {
	if x.file != nil {
		x.cleanup.Stop()
		x.file.Close()
	}
}

// strArena copies strings out of a mapping into chunks shared by many: a
// warm run of 1000 hits copies 1000 data versions of 64 bytes each, one
// allocation for every 128 of them instead of one each. A string handed
// out keeps its whole chunk alive (8 KiB at most). It is safe for
// concurrent use.
type strArena struct {
	mu  sync.Mutex
	buf []byte // the current chunk; its bytes past len are free
}

const arenaChunk = 8 << 10

// clone returns a copy of s. The copy is made outside the lock: reading s
// may fault (the caller guards it), which only wastes the bytes reserved.
func (a *strArena) clone(s string) string {
	n := len(s)
	if n == 0 {
		return ""
	}
	if n > arenaChunk/8 {
		return strings.Clone(s)
	}
	a.mu.Lock()
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, arenaChunk)
	}
	dst := a.buf[len(a.buf) : len(a.buf)+n]
	a.buf = a.buf[:len(a.buf)+n]
	a.mu.Unlock()
	copy(dst, s)
	// dst is never written again: the string may stand on it.
	return unsafe.String(&dst[0], n)
}

func (x *snapIndex) id(e *snapEnt) string { return x.strs[e.idOff : e.idOff+e.idLen] }

func (x *snapIndex) dv(e *snapEnt) string {
	return x.strs[e.idOff+e.idLen : e.idOff+e.idLen+e.dvLen]
}

func (x *snapIndex) entry(e *snapEnt) core.Entry {
	return core.Entry{DataVersion: core.DataVersion(x.dv(e)), Format: x.formats[e.format], LastUsed: time.Unix(0, e.lastUsed)}
}

// Lookup implements core.PreloadIndex. Over a mapping, it costs a guard
// (no allocation) and the copy of the data version.
func (x *snapIndex) Lookup(id core.KeyID) (e core.Entry, ok bool) {
	if !x.mapped {
		return x.lookup(id)
	}
	if x.reads.Broken() {
		return core.Entry{}, false
	}
	if x.reads.Read(func() {
		if e, ok = x.lookup(id); ok {
			e.DataVersion = core.DataVersion(x.arena.clone(string(e.DataVersion)))
		}
	}) != nil {
		return core.Entry{}, false
	}
	return e, ok
}

// lookup finds id by a binary search of the ids' heads, then of the ids
// whose head is id's (one, but for a chance of 2^-64 a pair); its data
// version is over strs.
func (x *snapIndex) lookup(id core.KeyID) (core.Entry, bool) {
	h := idHead(string(id))
	lo, _ := slices.BinarySearch(x.heads, h)
	hi := lo
	for hi < len(x.heads) && x.heads[hi] == h {
		hi++
	}
	ents := x.ents[lo:hi]
	i, found := slices.BinarySearchFunc(ents, string(id), func(e snapEnt, id string) int {
		return strings.Compare(x.id(&e), id)
	})
	if !found {
		return core.Entry{}, false
	}
	return x.entry(&ents[i]), true
}

// idHead is the first 8 bytes of id, big-endian, padded with zeros: two
// ids compare as their heads do, unless their heads are equal.
func idHead(id string) uint64 {
	var b [8]byte
	copy(b[:], id)
	return binary.BigEndian.Uint64(b[:])
}

// Len implements core.PreloadIndex: 0 once a read of the mapping faulted.
func (x *snapIndex) Len() int {
	if x.reads.Broken() {
		return 0
	}
	return len(x.ents)
}

// result returns the inline result id as the snapshot holds it: its bytes
// copied out of a mapping.
func (x *snapIndex) result(id core.ResultID) (r warmResult, ok bool) {
	if !x.mapped {
		return x.findResult(id)
	}
	if x.reads.Broken() {
		return warmResult{}, false
	}
	if x.reads.Read(func() {
		if r, ok = x.findResult(id); ok {
			r.data = append(make([]byte, 0, len(r.data)), r.data...)
		}
	}) != nil {
		return warmResult{}, false
	}
	return r, ok
}

// findResult finds the result id; its bytes are over the file's.
func (x *snapIndex) findResult(id core.ResultID) (warmResult, bool) {
	if x.scans.Add(1) <= snapScans {
		for i := range x.ents {
			e := &x.ents[i]
			if e.hasRes && x.dv(e) == string(id.Version) && x.formats[e.format] == id.Format {
				return warmResult{data: x.data[e.resOff : e.resOff+e.resLen : e.resOff+e.resLen], crc: e.crc}, true
			}
		}
		return warmResult{}, false
	}
	// A fault while the map is built leaves it partial, and breaks the
	// index: it is not read again.
	x.resOnce.Do(func() {
		x.res = make(map[core.ResultID]int32)
		for i := range x.ents {
			if e := &x.ents[i]; e.hasRes {
				en := x.entry(e)
				x.res[core.ResultID{Version: en.DataVersion, Format: en.Format}] = int32(i)
			}
		}
	})
	i, ok := x.res[id]
	if !ok {
		return warmResult{}, false
	}
	e := &x.ents[i]
	return warmResult{data: x.data[e.resOff : e.resOff+e.resLen : e.resOff+e.resLen], crc: e.crc}, true
}

// preloaded returns the snapshot as maps, over a copy of the mapping's
// strings and results (nothing when a read of it faulted).
func (x *snapIndex) preloaded() *preloaded {
	if !x.mapped {
		return x.preloadedFrom(x.strs, x.data)
	}
	var p *preloaded
	if x.reads.Broken() || x.reads.Read(func() { p = x.preloadedFrom(strings.Clone(x.strs), bytes.Clone(x.data)) }) != nil {
		return &preloaded{entries: map[core.KeyID]core.Entry{}, results: map[core.ResultID]warmResult{}}
	}
	return p
}

// preloadedFrom builds the maps of preloaded over strs and data, the
// index's strings and results or copies of them.
func (x *snapIndex) preloadedFrom(strs string, data []byte) *preloaded {
	p := &preloaded{entries: make(map[core.KeyID]core.Entry, len(x.ents)), results: map[core.ResultID]warmResult{}}
	for i := range x.ents {
		e := &x.ents[i]
		id, dv := strs[e.idOff:e.idOff+e.idLen], strs[e.idOff+e.idLen:e.idOff+e.idLen+e.dvLen]
		en := core.Entry{DataVersion: core.DataVersion(dv), Format: x.formats[e.format], LastUsed: time.Unix(0, e.lastUsed)}
		p.entries[core.KeyID(id)] = en
		if e.hasRes {
			p.results[core.ResultID{Version: en.DataVersion, Format: en.Format}] = warmResult{data: data[e.resOff : e.resOff+e.resLen : e.resOff+e.resLen], crc: e.crc}
		}
	}
	return p
}

// decodeIndex parses the output of encodeSnapshot, checking its checksum
// first and every count and length against the bytes that remain. It
// returns the generation the snapshot was made at. Key ids and data
// versions are strings over b and the results' bytes slices of it, so b
// must not be modified afterwards; a mapped b is read inside
// mapfile.Guard (see openIndex).
func decodeIndex(b []byte) (gen uint64, _ *snapIndex, _ error) {
	bad := func(what string) error { return fmt.Errorf("%w: preload snapshot: %s", core.ErrCorrupt, what) }
	if len(b) < len(snapshotMagic)+8+4 {
		return 0, nil, bad("too short")
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(body):]) {
		return 0, nil, bad("checksum mismatch")
	}
	if string(body[:len(snapshotMagic)]) != snapshotMagic {
		return 0, nil, bad("unknown encoding")
	}
	gen = binary.LittleEndian.Uint64(body[len(snapshotMagic):])
	p := body[len(snapshotMagic)+8:]
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, false
		}
		p = p[n:]
		return v, true
	}
	nf, ok := uvarint()
	if !ok || nf > uint64(len(p)) {
		return 0, nil, bad("format count")
	}
	x := &snapIndex{formats: make([]string, nf)}
	for i := range x.formats {
		n, ok := uvarint()
		if !ok || n > uint64(len(p)) {
			return 0, nil, bad("format name")
		}
		x.formats[i] = string(p[:n])
		p = p[n:]
	}
	n, ok := uvarint()
	// Each entry takes at least five bytes after the strings.
	if !ok || n > uint64(len(p))/5 {
		return 0, nil, bad("entry count")
	}
	strLen, ok := uvarint()
	if !ok || strLen > uint64(len(p)) || strLen > 1<<32-1 {
		return 0, nil, bad("strings length")
	}
	// The key ids and data versions are substrings of b itself, which
	// the caller hands over (it is never written again): no copy. Over a
	// mapping, what is handed out is copied (see snapIndex).
	if strLen > 0 {
		x.strs = unsafe.String(&p[0], int(strLen))
	}
	p = p[strLen:]
	if n > uint64(len(p))/5 {
		return 0, nil, bad("entry count")
	}
	x.ents, x.heads = make([]snapEnt, n), make([]uint64, n)
	dataLen := uint64(0)
	off := uint64(0)
	for i := range x.ents {
		idLen, ok1 := uvarint()
		dvLen, ok2 := uvarint()
		fi, ok3 := uvarint()
		lastUsed, k := binary.Varint(p)
		if !ok1 || !ok2 || !ok3 || k <= 0 || idLen == 0 || idLen > strLen-off || dvLen > strLen-off-idLen || fi >= nf {
			return 0, nil, bad("entry")
		}
		p = p[k:]
		rlen, ok := uvarint()
		if !ok || (rlen > 0 && (len(p) < 4 || rlen-1 > uint64(len(p)-4))) {
			return 0, nil, bad("result length")
		}
		e := &x.ents[i]
		e.idOff, e.idLen, e.dvLen, e.format, e.lastUsed = uint32(off), uint32(idLen), uint32(dvLen), uint32(fi), lastUsed
		x.heads[i] = idHead(x.strs[off : off+idLen])
		off += idLen + dvLen
		if rlen > 0 {
			e.hasRes, e.resOff, e.resLen, e.crc = true, uint32(dataLen), uint32(rlen-1), binary.LittleEndian.Uint32(p)
			p = p[4:]
			dataLen += rlen - 1
		}
	}
	if off != strLen || dataLen != uint64(len(p)) {
		return 0, nil, bad("trailing bytes")
	}
	x.data = p
	return gen, x, nil
}
