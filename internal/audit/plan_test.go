package audit

import (
	"database/sql"
	"fmt"
	"math"
	"strings"
	"testing"

	"authsvc/internal/sqldb"
	"authsvc/internal/sqldb/sqldbtest"
)

// TestListUsesIndexes holds the queries List pages with on SQLite to plans
// whose every step reads an index, but the scan of the blocks waiting for
// the indexer: no table scan, no sort of the whole selection. (The cursor's lookups are by primary key.) (PostgreSQL's plans depend on its statistics, which
// a test database does not have.)
func TestListUsesIndexes(t *testing.T) {
	t.Parallel()
	var db *sqldb.DB
	for _, d := range sqldbtest.Dialects {
		if d.Name == sqldb.SQLite {
			db = d.Open(t).Audit()
		}
	}
	at := base.UnixMicro()
	queries := []Query{
		{},
		{UserID: "alice"},
		{Event: TokenIssued},
		{Event: UserCreated},
		{UserID: "alice", Event: TokenRenewed},
		{Since: base},
		{UserID: "alice", Since: base},
		{Event: TokenIssued, Since: base},
	}
	for _, q := range queries {
		for _, bound := range []struct {
			at, id int64
		}{{math.MaxInt64, 0}, {at, 0}, {at, 12345}} {
			since := int64(math.MinInt64)
			if !q.Since.IsZero() {
				since = ceilMicro(q.Since)
			}
			rows, rowArgs := rowsQuery(db, q, since, bound.at, bound.id)
			type query struct {
				query string
				args  []any
			}
			queries := []query{{rows + " LIMIT 101", rowArgs}}
			if q.UserID == "" {
				blocks, blockArgs := blocksQuery(q, since, satAdd(bound.at, blockSpan.Microseconds()+1), bound.id, 8)
				queries = append(queries, query{blocks, blockArgs})
			} else {
				runs, runArgs := runsQuery(q, since, satAdd(bound.at, (blockSpan+runSpan).Microseconds()+1), bound.id, 8)
				blocks, blockArgs := runBlocksQuery(q, since, bound.at, []int64{3, 2, 1})
				unindexed, unindexedArgs := unindexedQuery(q, since, bound.at)
				queries = append(queries, query{runs, runArgs}, query{blocks, blockArgs}, query{unindexed, unindexedArgs})
			}
			for _, c := range queries {
				plan := explain(t, db.Reader, c.query, c.args)
				name := fmt.Sprintf("%+v before (%d, %d)", q, bound.at, bound.id)
				for _, step := range strings.Split(strings.TrimSpace(plan), "\n") {
					// A SEARCH reads an index range; a SCAN is allowed only in
					// an index's order, under the page's LIMIT, and of the
					// blocks not indexed yet, a few seconds of them.
					indexed := strings.Contains(step, " USING INDEX ") || strings.Contains(step, " USING COVERING INDEX ") ||
						strings.Contains(step, " USING PRIMARY KEY") || strings.Contains(step, " USING INTEGER PRIMARY KEY") ||
						step == "SCAN n"
					if !indexed || strings.Contains(step, "TEMP B-TREE") {
						t.Errorf("%s: %s\nstep %q of the plan:\n%s", name, c.query, step, plan)
					}
				}
			}
		}
	}
}

// explain returns SQLite's plan of query, a step a line.
func explain(t *testing.T, db *sql.DB, query string, args []any) string {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		b.WriteString(detail + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
