package sqldb

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// Args are the arguments of a query built at run time, numbered as they are
// added, so its text carries the $N placeholders that every dialect binds.
// The zero value is empty and ready to use.
type Args []any

// Add appends v and returns its placeholder: "$1" for the first value.
func (a *Args) Add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// List appends vs and returns their placeholders separated by commas, for
// an IN list: "$3, $4, $5". vs must not be empty: "IN ()" is not SQL.
func (a *Args) List(vs ...any) string {
	ps := make([]string, len(vs))
	for i, v := range vs {
		ps[i] = a.Add(v)
	}
	return strings.Join(ps, ", ")
}

// Scanner is a row to scan: *sql.Row or *sql.Rows.
type Scanner interface{ Scan(dest ...any) error }

// Page runs query, a SELECT without LIMIT whose ORDER BY is the keyset
// order, on q for one more row than limit, and scans the rows with scan.
// It returns at most limit items, and more when another page follows, whose
// cursor the caller takes from the last item.
func Page[T any](ctx context.Context, q *sql.DB, query string, args Args, limit int, scan func(Scanner) (T, error)) (items []T, more bool, err error) {
	query += " LIMIT " + args.Add(limit+1) // the one more tells whether there is a next page
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	for rows.Next() {
		it, err := scan(rows)
		if err != nil {
			return nil, false, err
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(items) > limit {
		return items[:limit], true, nil
	}
	return items, false, nil
}
