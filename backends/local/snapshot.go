package local

import (
	"context"
	"crypto/sha256"
	"database/sql/driver"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"time"

	"github.com/flowcache/flowcache/core"
)

// snapshotSchema holds the preload snapshots (see "Preload snapshots" in
// the package doc): the entries' generation, the triggers that bump it on
// every change of entries, and the snapshots, each kept with the
// generation it was read at.
const snapshotSchema = `
CREATE TABLE IF NOT EXISTS entries_gen (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	gen INTEGER NOT NULL
);
INSERT OR IGNORE INTO entries_gen (id, gen) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS entries_gen_insert AFTER INSERT ON entries
	BEGIN UPDATE entries_gen SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS entries_gen_delete AFTER DELETE ON entries
	BEGIN UPDATE entries_gen SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS entries_gen_update AFTER UPDATE ON entries
	BEGIN UPDATE entries_gen SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS results_gen_delete AFTER DELETE ON results
	BEGIN UPDATE entries_gen SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS results_gen_update AFTER UPDATE ON results
	BEGIN UPDATE entries_gen SET gen = gen + 1 WHERE id = 1; END;
CREATE TABLE IF NOT EXISTS preload_snapshots (
	nodes TEXT PRIMARY KEY,
	gen   INTEGER NOT NULL,
	data  BLOB NOT NULL
);`

const (
	// sqlSnapshot reads the snapshot of a list of nodes (the SHA-256 of
	// its JSON array, in hex) if it is of the current generation.
	sqlSnapshot = `SELECT s.data FROM preload_snapshots s, entries_gen g WHERE s.nodes = ? AND g.id = 1 AND s.gen = g.gen`
	// sqlPreloadGen is sqlPreload with the generation the rows were read
	// at (one statement: one read transaction).
	sqlPreloadGen = `SELECT e.key_id, e.data_version, e.format, e.last_used, r.data, r.crc, (SELECT gen FROM entries_gen WHERE id = 1) FROM entries e LEFT JOIN results r ON r.version = e.data_version AND r.format = e.format WHERE e.node IN (SELECT value FROM json_each(?))`
	// sqlSaveSnapshot keeps a snapshot only if its generation is still
	// the current one; sqlDropSnapshots drops those of older generations,
	// so that the table holds at most one snapshot per graph.
	sqlSaveSnapshot  = `INSERT INTO preload_snapshots (nodes, gen, data) SELECT ?1, ?2, ?3 WHERE ?2 = (SELECT gen FROM entries_gen WHERE id = 1) ON CONFLICT (nodes) DO UPDATE SET gen = excluded.gen, data = excluded.data`
	sqlDropSnapshots = `DELETE FROM preload_snapshots WHERE gen <> (SELECT gen FROM entries_gen WHERE id = 1)`
)

// snapshotTables says whether this store made sure the snapshot tables and
// triggers exist (created at the first preload that found no snapshot, like
// the leases table, so that older databases get them without a new schema
// version).
type snapshotTables struct {
	mu    sync.Mutex
	ready bool
}

// ensureSnapshots creates the snapshot tables and triggers when missing.
func (s *MetadataStore) ensureSnapshots(ctx context.Context) error {
	s.snapTables.mu.Lock()
	defer s.snapTables.mu.Unlock()
	if s.snapTables.ready {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, snapshotSchema); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.snapTables.ready = true
	return nil
}

// saveSnapshot keeps p, read at generation gen, as the snapshot of nodes.
func (s *MetadataStore) saveSnapshot(ctx context.Context, nodes string, gen int64, p *preloaded) error {
	data := encodeSnapshot(p)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, sqlDropSnapshots); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, sqlSaveSnapshot, nodes, gen, data); err != nil {
		return err
	}
	return tx.Commit()
}

// snapshotKey names the snapshot of the JSON array of node names.
func snapshotKey(names []byte) string {
	sum := sha256.Sum256(names)
	return hex.EncodeToString(sum[:])
}

// errNoSnapshot is a snapshot that is missing, of an older generation,
// damaged, or in a database without the snapshot tables: the preload reads
// the rows.
var errNoSnapshot = errors.New("no preload snapshot")

// snapshot reads and decodes the current snapshot of nodes.
func (l *lookups) snapshot(ctx context.Context, nodes string) (*preloaded, error) {
	c, err := l.acquire(ctx)
	if err != nil {
		return nil, err
	}
	m, err := c.snapshot(ctx, nodes)
	l.release(c, err != nil && err != errNoSnapshot)
	return m, err
}

func (c *lookupConn) snapshot(ctx context.Context, nodes string) (*preloaded, error) {
	if c.snap == nil {
		st, err := c.conn.(driver.ConnPrepareContext).PrepareContext(ctx, sqlSnapshot)
		if err != nil {
			return nil, errNoSnapshot // no snapshot tables yet
		}
		c.snap = st
	}
	q, ok := c.snap.(driver.StmtQueryContext)
	if !ok {
		return nil, errors.New("sqlite driver statement without QueryContext")
	}
	rows, err := q.QueryContext(ctx, []driver.NamedValue{{Ordinal: 1, Value: nodes}})
	if err != nil {
		return nil, err
	}
	dest := make([]driver.Value, 1)
	err = rows.Next(dest)
	if cerr := rows.Close(); err == nil && cerr != nil {
		return nil, cerr
	}
	if err == io.EOF {
		return nil, errNoSnapshot
	}
	if err != nil {
		return nil, err
	}
	data, ok := dest[0].([]byte)
	if !ok {
		return nil, errNoSnapshot
	}
	m, err := decodeSnapshot(data)
	if err != nil {
		return nil, errNoSnapshot
	}
	return m, nil
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
	mu sync.Mutex
	m  map[core.ResultID]warmResult
}

// set replaces the results held with rs.
func (w *warmResults) set(rs map[core.ResultID]warmResult) {
	w.mu.Lock()
	w.m = rs
	w.mu.Unlock()
}

// get returns the preloaded bytes of id when they match their checksum.
func (w *warmResults) get(id core.ResultID) ([]byte, bool) {
	w.mu.Lock()
	r, ok := w.m[id]
	w.mu.Unlock()
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
		w.m = nil
		return
	}
	delete(w.m, *id)
}

// maxPreloadResults bounds the bytes of inline results a preload (and so
// a snapshot) holds: beyond it, results are read from the table as they
// are needed.
const maxPreloadResults = 8 << 20

// snapshotMagic begins every snapshot; it changes with the encoding.
const snapshotMagic = "flowcache preload snapshot 2\n"

// encodeSnapshot encodes p: the magic; the formats (a count, then each
// length-prefixed); the number of entries; every key id and data version
// concatenated (length-prefixed as a whole); per entry the lengths of its
// key id and data version, its format's index, its last-used time and its
// inline result's length plus one (0 for none) followed, for one, by its
// stored CRC-32C (4 bytes); the inline results' bytes concatenated; and
// the CRC-32C of all that. Lengths and counts are uvarints, times varints.
func encodeSnapshot(p *preloaded) []byte {
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
	b = binary.AppendUvarint(b, uint64(len(formats)))
	for _, f := range formats {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	b = binary.AppendUvarint(b, uint64(len(m)))
	b = binary.AppendUvarint(b, uint64(strLen))
	// Map order is random: the passes below must see one order.
	ids := make([]core.KeyID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
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

// decodeSnapshot parses the output of encodeSnapshot, checking its
// checksum first and every count and length against the bytes that
// remain. Key ids and data versions share one string; the results' bytes
// are slices of b.
func decodeSnapshot(b []byte) (*preloaded, error) {
	bad := func(what string) error { return fmt.Errorf("%w: preload snapshot: %s", core.ErrCorrupt, what) }
	if len(b) < len(snapshotMagic)+4 {
		return nil, bad("too short")
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(body):]) {
		return nil, bad("checksum mismatch")
	}
	if string(body[:len(snapshotMagic)]) != snapshotMagic {
		return nil, bad("unknown encoding")
	}
	p := body[len(snapshotMagic):]
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
		return nil, bad("format count")
	}
	formats := make([]string, nf)
	for i := range formats {
		n, ok := uvarint()
		if !ok || n > uint64(len(p)) {
			return nil, bad("format name")
		}
		formats[i] = string(p[:n])
		p = p[n:]
	}
	n, ok := uvarint()
	// Each entry takes at least five bytes after the strings.
	if !ok || n > uint64(len(p))/5 {
		return nil, bad("entry count")
	}
	strLen, ok := uvarint()
	if !ok || strLen > uint64(len(p)) {
		return nil, bad("strings length")
	}
	strs := string(p[:strLen])
	p = p[strLen:]
	if n > uint64(len(p))/5 {
		return nil, bad("entry count")
	}
	out := &preloaded{entries: make(map[core.KeyID]core.Entry, n), results: map[core.ResultID]warmResult{}}
	type pending struct {
		id  core.ResultID
		n   uint64
		crc uint32
	}
	var results []pending
	dataLen := uint64(0)
	off := uint64(0)
	for range n {
		idLen, ok1 := uvarint()
		dvLen, ok2 := uvarint()
		fi, ok3 := uvarint()
		lastUsed, k := binary.Varint(p)
		if !ok1 || !ok2 || !ok3 || k <= 0 || idLen == 0 || idLen > strLen-off || dvLen > strLen-off-idLen || fi >= nf {
			return nil, bad("entry")
		}
		p = p[k:]
		rlen, ok := uvarint()
		if !ok || (rlen > 0 && (len(p) < 4 || rlen-1 > uint64(len(p)-4))) {
			return nil, bad("result length")
		}
		id := strs[off : off+idLen]
		dv := core.DataVersion(strs[off+idLen : off+idLen+dvLen])
		off += idLen + dvLen
		out.entries[core.KeyID(id)] = core.Entry{DataVersion: dv, Format: formats[fi], LastUsed: time.Unix(0, lastUsed)}
		if rlen > 0 {
			results = append(results, pending{core.ResultID{Version: dv, Format: formats[fi]}, rlen - 1, binary.LittleEndian.Uint32(p)})
			p = p[4:]
			dataLen += rlen - 1
		}
	}
	if off != strLen || dataLen != uint64(len(p)) {
		return nil, bad("trailing bytes")
	}
	for _, r := range results {
		out.results[r.id] = warmResult{data: p[:r.n:r.n], crc: r.crc}
		p = p[r.n:]
	}
	return out, nil
}
