package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// rowsPerStatement is how many rows one INSERT writes. A statement per row
// costs a trip through database/sql and the driver each; 32 rows per
// statement make BenchmarkWrite1000 about twice as fast, and more give
// little.
const rowsPerStatement = 32

// multiInsert inserts rows through statements of rowsPerStatement rows (and
// one-row statements for the rest), prepared once.
type multiInsert struct {
	what      string
	cols      int
	one, many *sql.Stmt
	args      []any // guarded by the writer connection: one write at a time
}

func (m *multiInsert) prepare(ctx context.Context, db *sql.DB, into string, cols int, suffix, what string) error {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	var err error
	if m.one, err = db.PrepareContext(ctx, into+row+suffix); err != nil {
		return err
	}
	many := into + strings.TrimSuffix(strings.Repeat(row+", ", rowsPerStatement), ", ") + suffix
	if m.many, err = db.PrepareContext(ctx, many); err != nil {
		return err
	}
	m.what, m.cols = what, cols
	m.args = make([]any, cols*rowsPerStatement)
	return nil
}

// exec inserts n rows in tx; fill sets the arguments of row i.
func (m *multiInsert) exec(ctx context.Context, tx *sql.Tx, n int, fill func(i int, args []any) error) error {
	if n == 0 {
		return nil
	}
	defer clear(m.args) // drop references to the batch
	var many, one *sql.Stmt
	for i := 0; i < n; {
		k, st := rowsPerStatement, many
		if n-i < rowsPerStatement {
			k, st = 1, one
		}
		if st == nil {
			if k == 1 {
				one = tx.StmtContext(ctx, m.one)
				st = one
			} else {
				many = tx.StmtContext(ctx, m.many)
				st = many
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
	var errs []error
	for _, st := range []*sql.Stmt{m.one, m.many} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}
