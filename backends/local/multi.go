package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// rowsPerStatement is how many rows one INSERT writes. A statement per row
// costs a trip through database/sql and the driver each; 32 rows per
// statement make BenchmarkWrite1000 about twice as fast, and more give
// little.
const rowsPerStatement = 32

// multiInsert inserts rows through statements of rowsPerStatement rows (and
// one-row statements for the rest), prepared once, at first use (see
// lazyStmt).
type multiInsert struct {
	what      string
	cols      int
	one, many lazyStmt
	args      []any // guarded by the writer connection: one write at a time
	// wanted is set when the statements were needed (as a fallback)
	// without being ready: ready prepares them from then on.
	wanted atomic.Bool
}

// init sets the statements up; they are prepared by ready.
func (m *multiInsert) init(db *sql.DB, into string, cols int, suffix, what string) {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	m.one.init(db, into+row+suffix)
	m.many.init(db, into+strings.TrimSuffix(strings.Repeat(row+", ", rowsPerStatement), ", ")+suffix)
	m.what, m.cols = what, cols
	m.args = make([]any, cols*rowsPerStatement)
}

// ready prepares the statements that inserting n rows uses. It must be
// called before the transaction of exec begins: preparing a statement on
// the writer's single connection would wait for that transaction.
func (m *multiInsert) ready(ctx context.Context, n int) error {
	if n >= rowsPerStatement {
		if _, err := m.many.get(ctx); err != nil {
			return err
		}
	}
	if n%rowsPerStatement != 0 {
		if _, err := m.one.get(ctx); err != nil {
			return err
		}
	}
	return nil
}

// readyIfWanted is ready for a fallback (see execOr): the statements are
// prepared before the transaction only once they were needed.
func (m *multiInsert) readyIfWanted(ctx context.Context, n int) error {
	if !m.wanted.Load() {
		return nil
	}
	return m.ready(ctx, n)
}

// exec inserts n rows in tx, after ready(n); fill sets the arguments of
// row i. It returns the number of rows the statements changed.
func (m *multiInsert) exec(ctx context.Context, tx *sql.Tx, n int, fill func(i int, args []any) error) (int64, error) {
	return m.execOr(ctx, tx, n, fill, nil)
}

// execOr is exec with a fallback, statements of the same columns (the
// upsert of the rows the insert leaves, ON CONFLICT DO NOTHING): a
// statement that changed fewer rows than it had is run again, with the
// same arguments, as the fallback's (after fallback.readyIfWanted). The
// rows it changed are not counted.
func (m *multiInsert) execOr(ctx context.Context, tx *sql.Tx, n int, fill func(i int, args []any) error, fallback *multiInsert) (int64, error) {
	if n == 0 {
		return 0, nil
	}
	defer clear(m.args) // drop references to the batch
	var many, one *sql.Stmt
	var changed int64
	for i := 0; i < n; {
		k, st := rowsPerStatement, many
		if n-i < rowsPerStatement {
			k, st = 1, one
		}
		if st == nil {
			p := m.shape(k).prepared()
			if p == nil {
				return changed, fmt.Errorf("%s: statement not prepared (multiInsert.ready)", m.what)
			}
			st = tx.StmtContext(ctx, p)
			if k == 1 {
				one = st
			} else {
				many = st
			}
		}
		args := m.args[:k*m.cols]
		for j := range k {
			if err := fill(i+j, args[j*m.cols:(j+1)*m.cols]); err != nil {
				return changed, err
			}
		}
		res, err := st.ExecContext(ctx, args...)
		if err != nil {
			return changed, fmt.Errorf("%s %d to %d of the batch: %w", m.what, i+1, i+k, err)
		}
		c, err := res.RowsAffected()
		if err != nil {
			return changed, err
		}
		changed += c
		if fallback != nil && c < int64(k) {
			if err := fallback.execIn(ctx, tx, k, args); err != nil {
				return changed, fmt.Errorf("%s %d to %d of the batch: %w", fallback.what, i+1, i+k, err)
			}
		}
		i += k
	}
	return changed, nil
}

// shape returns the statement of k rows (1 or rowsPerStatement).
func (m *multiInsert) shape(k int) *lazyStmt {
	if k == 1 {
		return &m.one
	}
	return &m.many
}

// execIn runs the statement of k rows with args in tx. One not prepared
// yet is prepared in tx (the writer's connection is the transaction's) for
// this once, and marked wanted, so that the next ready prepares it before
// its transaction.
func (m *multiInsert) execIn(ctx context.Context, tx *sql.Tx, k int, args []any) error {
	l := m.shape(k)
	if p := l.prepared(); p != nil {
		_, err := tx.StmtContext(ctx, p).ExecContext(ctx, args...)
		return err
	}
	m.wanted.Store(true)
	_, err := tx.ExecContext(ctx, l.query, args...)
	return err
}

func (m *multiInsert) close() error {
	return errors.Join(m.one.close(), m.many.close())
}

// lazyStmt is a statement prepared at its first use. A warm run uses few
// of a store's statements, and each one prepared when the store opens cost
// it a parse (a 32-row insert about 0.2 ms in modernc's SQLite) and, on the
// reader pool, opened a connection.
type lazyStmt struct {
	db    *sql.DB
	query string
	mu    sync.Mutex // held while preparing
	// st is read without mu: a transaction on the writer's connection
	// looks its statements up while another goroutine may hold mu,
	// preparing one and waiting for that connection.
	st atomic.Pointer[sql.Stmt]
}

func (l *lazyStmt) init(db *sql.DB, query string) { l.db, l.query = db, query }

// get returns the statement, preparing it the first time. On the writer's
// database (one connection) it must not be called while a transaction of
// the same goroutine holds the connection: get the statement first.
func (l *lazyStmt) get(ctx context.Context) (*sql.Stmt, error) {
	if st := l.st.Load(); st != nil {
		return st, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.st.Load(); st != nil {
		return st, nil
	}
	if l.db == nil {
		return nil, errors.New("statement of a store that did not open")
	}
	st, err := l.db.PrepareContext(ctx, l.query)
	if err != nil {
		return nil, err
	}
	l.st.Store(st)
	return st, nil
}

// prepared returns the statement if it was prepared, or nil. It never
// waits.
func (l *lazyStmt) prepared() *sql.Stmt { return l.st.Load() }

func (l *lazyStmt) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.st.Swap(nil)
	if st == nil {
		return nil
	}
	return st.Close()
}
