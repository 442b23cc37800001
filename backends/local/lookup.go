package local

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/flowcache/flowcache/core"
)

// lookups runs Get, the statement of every warm node, on driver
// connections of its own instead of through database/sql: that saves the
// pool, argument conversion and Scan layers, about a quarter of a lookup
// (BenchmarkGet). Each connection has the statement prepared once and is
// used by one goroutine at a time.
type lookups struct {
	open   func() (driver.Conn, error)
	mu     sync.Mutex
	idle   []*lookupConn
	max    int // idle connections kept
	closed bool
}

type lookupConn struct {
	conn driver.Conn
	stmt driver.StmtQueryContext
	st   driver.Stmt
	pre  driver.Stmt // the preload statement, prepared on first use
	// result reads an inline result (sqlResultGet) and exists checks for
	// one (sqlResultExists), prepared on first use: a warm run that loads
	// a few values needs no connection of the database/sql reader pool
	// (opening one costs its pragmas and a parse of the schema), and a
	// cold node's check before it stores its result skips the pool's
	// layers, like a lookup.
	result, exists driver.Stmt
	args           [1]driver.NamedValue
	dest           [7]driver.Value
}

func (l *lookups) acquire(ctx context.Context) (*lookupConn, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, core.ErrClosed
	}
	if n := len(l.idle); n > 0 {
		c := l.idle[n-1]
		l.idle = l.idle[:n-1]
		l.mu.Unlock()
		return c, nil
	}
	l.mu.Unlock()
	conn, err := l.open()
	if err != nil {
		return nil, err
	}
	st, err := conn.(driver.ConnPrepareContext).PrepareContext(ctx, sqlGet)
	if err != nil {
		conn.Close()
		return nil, err
	}
	q, ok := st.(driver.StmtQueryContext)
	if !ok {
		st.Close()
		conn.Close()
		return nil, errors.New("sqlite driver statement without QueryContext")
	}
	return &lookupConn{conn: conn, stmt: q, st: st}, nil
}

// release returns c to the pool, or closes it when the pool is full or
// closed, or c failed (broken).
func (l *lookups) release(c *lookupConn, broken bool) {
	l.mu.Lock()
	if !broken && !l.closed && len(l.idle) < l.max {
		l.idle = append(l.idle, c)
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	c.close()
}

func (c *lookupConn) close() error {
	var errs []error
	for _, st := range []driver.Stmt{c.pre, c.result, c.exists} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(append(errs, c.st.Close(), c.conn.Close())...)
}

// preload runs sqlPreload with the JSON array of node names on a pooled
// connection, straight through the driver like lookup: the entries and the
// inline results they map to (see preloaded). A store that cannot keep a
// snapshot (read-only) reads them so.
func (l *lookups) preload(ctx context.Context, names string) (out *preloaded, err error) {
	c, err := l.acquire(ctx)
	if err != nil {
		return nil, err
	}
	out, err = c.preload(ctx, names)
	l.release(c, err != nil)
	return out, err
}

func (c *lookupConn) preload(ctx context.Context, names string) (*preloaded, error) {
	st, query, cols := &c.pre, sqlPreload, 6
	if *st == nil {
		prepared, err := c.conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
		if err != nil {
			return nil, err
		}
		*st = prepared
	}
	q, ok := (*st).(driver.StmtQueryContext)
	if !ok {
		return nil, errors.New("sqlite driver statement without QueryContext")
	}
	rows, err := q.QueryContext(ctx, []driver.NamedValue{{Ordinal: 1, Value: names}})
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var pb preloadBuilder
	dest := make([]driver.Value, cols)
	for {
		err := rows.Next(dest)
		if err == io.EOF {
			return pb.result(), nil
		}
		if err != nil {
			return nil, err
		}
		id, ok1 := dest[0].(string)
		dv, ok2 := dest[1].(string)
		lastUsed, ok4 := dest[3].(int64)
		var format string
		switch f := dest[2].(type) {
		case string:
			format = f
		case []byte:
			format = string(f)
		default:
			ok1 = false
		}
		if !ok1 || !ok2 || !ok4 {
			return nil, fmt.Errorf("%w: preloaded entry holds %T, %T, %T, %T", core.ErrCorrupt, dest[0], dest[1], dest[2], dest[3])
		}
		// The entry's inline result, when it has one. A row of the wrong
		// types is left out: the result's own read will say it is damaged.
		data, okd := dest[4].([]byte)
		crc, okc := dest[5].(int64)
		pb.add(id, dv, format, lastUsed, data, crc, okd && okc)
	}
}

func (l *lookups) close() error {
	l.mu.Lock()
	idle := l.idle
	l.idle, l.closed = nil, true
	l.mu.Unlock()
	var errs []error
	for _, c := range idle {
		errs = append(errs, c.close())
	}
	return errors.Join(errs...)
}

// errNoRow is what lookup returns for a missing key.
var errNoRow = core.ErrNotFound

// lookup reads the entry of id.
func (l *lookups) lookup(ctx context.Context, id core.KeyID) (core.Entry, error) {
	c, err := l.acquire(ctx)
	if err != nil {
		return core.Entry{}, err
	}
	e, err := c.lookup(ctx, id)
	l.release(c, err != nil && err != errNoRow && !errors.Is(err, core.ErrCorrupt))
	return e, err
}

func (c *lookupConn) lookup(ctx context.Context, id core.KeyID) (core.Entry, error) {
	c.args[0] = driver.NamedValue{Ordinal: 1, Value: string(id)}
	rows, err := c.stmt.QueryContext(ctx, c.args[:])
	if err != nil {
		return core.Entry{}, err
	}
	err = rows.Next(c.dest[:])
	if cerr := rows.Close(); err == nil && cerr != nil {
		return core.Entry{}, cerr
	}
	if err == io.EOF {
		return core.Entry{}, errNoRow
	}
	if err != nil {
		return core.Entry{}, err
	}
	d := &c.dest
	defer clear(d[:]) // drop references to the strings
	var e core.Entry
	var ok [7]bool
	var node, code, deps, dv string
	node, ok[0] = d[0].(string)
	code, ok[1] = d[1].(string)
	deps, ok[2] = d[2].(string)
	dv, ok[3] = d[3].(string)
	e.Format, ok[4] = d[4].(string)
	created, ok5 := d[5].(int64)
	lastUsed, ok6 := d[6].(int64)
	ok[5], ok[6] = ok5, ok6
	for i, good := range ok {
		if !good {
			return core.Entry{}, fmt.Errorf("%w: column %d of the entry holds %T", core.ErrCorrupt, i, d[i])
		}
	}
	e.Key = core.CacheKey{Node: node, CodeVersion: core.CodeVersion(code)}
	if e.Key.Deps, err = decodeDeps(deps); err != nil {
		return core.Entry{}, err
	}
	e.DataVersion = core.DataVersion(dv)
	e.Created, e.LastUsed = time.Unix(0, created), time.Unix(0, lastUsed)
	return e, nil
}

// inlineResult reads the row of an inline result: its data and crc
// columns, as stored (the caller checks their types), and whether there is
// one.
func (l *lookups) inlineResult(ctx context.Context, version, format string) (data, crc driver.Value, found bool, err error) {
	c, err := l.acquire(ctx)
	if err != nil {
		return nil, nil, false, err
	}
	data, crc, found, err = c.inlineResult(ctx, version, format)
	l.release(c, err != nil)
	return data, crc, found, err
}

func (c *lookupConn) inlineResult(ctx context.Context, version, format string) (data, crc driver.Value, found bool, err error) {
	dest := make([]driver.Value, 2)
	found, err = c.resultRow(ctx, &c.result, sqlResultGet, version, format, dest)
	return dest[0], dest[1], found, err
}

// inlineExists reports whether the results table has a row for the result.
func (l *lookups) inlineExists(ctx context.Context, version, format string) (bool, error) {
	c, err := l.acquire(ctx)
	if err != nil {
		return false, err
	}
	var dest [1]driver.Value
	found, err := c.resultRow(ctx, &c.exists, sqlResultExists, version, format, dest[:])
	l.release(c, err != nil)
	return found, err
}

// resultRow runs query (prepared into *st on first use) for the result
// (version, format) and reads its first row into dest.
func (c *lookupConn) resultRow(ctx context.Context, st *driver.Stmt, query, version, format string, dest []driver.Value) (found bool, err error) {
	if *st == nil {
		prepared, err := c.conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
		if err != nil {
			return false, err
		}
		*st = prepared
	}
	q, ok := (*st).(driver.StmtQueryContext)
	if !ok {
		return false, errors.New("sqlite driver statement without QueryContext")
	}
	rows, err := q.QueryContext(ctx, []driver.NamedValue{{Ordinal: 1, Value: version}, {Ordinal: 2, Value: format}})
	if err != nil {
		return false, err
	}
	err = rows.Next(dest)
	if cerr := rows.Close(); err == nil && cerr != nil {
		return false, cerr
	}
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}
