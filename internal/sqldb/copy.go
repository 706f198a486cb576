package sqldb

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// WriteRows stores n rows in table, all or none, in a transaction of its
// own, the fastest way the dialect has: on PostgreSQL one COPY, which is
// atomic by itself; on SQLite InsertRows in a transaction. row(i) returns
// the values of row i, one per column, in the order of columns; for COPY
// each must have the Go type pgx encodes for its column (int64 for BIGINT,
// string for TEXT, nil for NULL). table and columns are SQL names, never
// input.
func (db *DB) WriteRows(ctx context.Context, table string, columns []string, n int, row func(i int) []any) error {
	if n == 0 {
		return nil
	}
	if db.flavor.dialect == Postgres {
		return db.copyRows(ctx, table, columns, n, row)
	}
	tx, err := db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := db.InsertRows(ctx, tx, table, columns, n, row); err != nil {
		return err
	}
	return tx.Commit()
}

// copyRows is WriteRows on PostgreSQL: COPY through pgx's own connection
// under the database/sql one, which database/sql has no API for.
func (db *DB) copyRows(ctx context.Context, table string, columns []string, n int, row func(i int) []any) error {
	conn, err := db.Writer.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("copy: driver connection is %T, not pgx's", dc)
		}
		src := pgx.CopyFromSlice(n, func(i int) ([]any, error) { return row(i), nil })
		copied, err := c.Conn().CopyFrom(ctx, pgx.Identifier{table}, columns, src)
		if err != nil {
			return err
		}
		if copied != int64(n) {
			return fmt.Errorf("copy: %d of %d rows copied", copied, n)
		}
		return nil
	})
}
