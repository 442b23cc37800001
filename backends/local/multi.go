package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
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

// exec inserts n rows in tx, after ready(n); fill sets the arguments of
// row i.
func (m *multiInsert) exec(ctx context.Context, tx *sql.Tx, n int, fill func(i int, args []any) error) error {
	if n == 0 {
		return nil
	}
	defer clear(m.args) // drop references to the batch
	prepared := func(l *lazyStmt) *sql.Stmt {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.st
	}
	var many, one *sql.Stmt
	for i := 0; i < n; {
		k, st := rowsPerStatement, many
		if n-i < rowsPerStatement {
			k, st = 1, one
		}
		if st == nil {
			l := &m.many
			if k == 1 {
				l = &m.one
			}
			p := prepared(l)
			if p == nil {
				return fmt.Errorf("%s: statement not prepared (multiInsert.ready)", m.what)
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
				return err
			}
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("%s %d to %d of the batch: %w", m.what, i+1, i+k, err)
		}
		i += k
	}
	return nil
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
	mu    sync.Mutex
	st    *sql.Stmt
}

func (l *lazyStmt) init(db *sql.DB, query string) { l.db, l.query = db, query }

// get returns the statement, preparing it the first time. On the writer's
// database (one connection) it must not be called while a transaction of
// the same goroutine holds the connection: get the statement first.
func (l *lazyStmt) get(ctx context.Context) (*sql.Stmt, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st == nil {
		if l.db == nil {
			return nil, errors.New("statement of a store that did not open")
		}
		st, err := l.db.PrepareContext(ctx, l.query)
		if err != nil {
			return nil, err
		}
		l.st = st
	}
	return l.st, nil
}

func (l *lazyStmt) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st == nil {
		return nil
	}
	err := l.st.Close()
	l.st = nil
	return err
}
