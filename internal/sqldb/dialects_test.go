package sqldb_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"authsvc/internal/sqldb"
	"authsvc/internal/sqldb/sqldbtest"
	"authsvc/migrations"
)

// The tests here run on every dialect: what the stores rely on must hold on
// each.

func migrationsOf(d sqldbtest.Dialect) fs.FS {
	if d.Name == sqldb.Postgres {
		return migrations.Postgres()
	}
	return migrations.SQLite()
}

func known(t *testing.T, d sqldbtest.Dialect) int {
	t.Helper()
	entries, err := fs.Glob(migrationsOf(d), "*.sql")
	if err != nil || len(entries) == 0 {
		t.Fatalf("no migrations embedded for %s: %v", d.Name, err)
	}
	return len(entries)
}

// TestMigrationSetsMatch: both dialects have the same migrations, so a schema
// version means the same on each.
func TestMigrationSetsMatch(t *testing.T) {
	t.Parallel()
	names := func(fsys fs.FS) []string {
		ns, err := fs.Glob(fsys, "*.sql")
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}
	lite, pg := names(migrations.SQLite()), names(migrations.Postgres())
	if len(lite) == 0 || !slices.Equal(lite, pg) {
		t.Errorf("migrations differ:\nsqlite:   %q\npostgres: %q", lite, pg)
	}
}

func TestOpenMigratesOnce(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		dsn := d.DSN(t)
		db, err := sqldb.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if db.Dialect() != d.Name {
			t.Errorf("Dialect() = %q, want %q", db.Dialect(), d.Name)
		}
		if !db.Created() {
			t.Error("Created() = false for a database Open migrated from nothing")
		}
		if v, err := db.SchemaVersion(ctx); err != nil || v != known(t, d) {
			t.Errorf("SchemaVersion() = %d, %v, want %d", v, err, known(t, d))
		}
		if err := db.Ping(ctx); err != nil {
			t.Errorf("Ping() = %v", err)
		}
		if _, err := db.Writer.ExecContext(ctx, `INSERT INTO users (id, name, session_epoch, created_at, updated_at) VALUES ('x', 'x', 1, 0, 0)`); err != nil {
			t.Fatalf("insert into migrated schema: %v", err)
		}
		db.Close()

		// Reopening applies nothing twice and keeps the data.
		db = sqldbtest.OpenPath(t, dsn)
		if db.Created() {
			t.Error("Created() = true for a database that was there")
		}
		var rows, n int
		if err := db.Reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&rows); err != nil || rows != known(t, d) {
			t.Errorf("schema_migrations has %d rows, %v, want %d", rows, err, known(t, d))
		}
		if err := db.Reader.QueryRowContext(ctx, `SELECT SUM(n) FROM user_count`).Scan(&n); err != nil || n != 1 {
			t.Errorf("user count after reopen = %d, %v, want 1", n, err)
		}
	})
}

// TestConcurrentOpenMigratesOnce: replicas started at once on an empty
// database migrate it exactly once between them.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		dsn := d.DSN(t)
		const replicas = 3
		var wg sync.WaitGroup
		errs := make([]error, replicas)
		for i := range replicas {
			wg.Go(func() {
				db, err := sqldb.Open(ctx, dsn)
				if err == nil {
					err = db.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("concurrent Open: %v", err)
		}
		db := sqldbtest.OpenPath(t, dsn)
		var rows, distinct int
		err := db.Reader.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations`).Scan(&rows, &distinct)
		if err != nil || rows != known(t, d) || distinct != rows {
			t.Errorf("schema_migrations: %d rows, %d versions, %v; want %d of each", rows, distinct, err, known(t, d))
		}
	})
}

func TestSchemaTooNew(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		dsn := d.DSN(t)
		db := sqldbtest.OpenPath(t, dsn)
		k := known(t, d)
		if _, err := db.Writer.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'from_the_future.sql', 0)`, k+1); err != nil {
			t.Fatal(err)
		}
		_, err := sqldb.Open(ctx, dsn)
		if !errors.Is(err, sqldb.ErrSchemaTooNew) {
			t.Fatalf("Open(newer database) = %v, want ErrSchemaTooNew", err)
		}
		for _, want := range []string{"upgrade", "version " + strconv.Itoa(k+1), "up to " + strconv.Itoa(k)} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Open(newer database) = %q, want it to mention %q", err, want)
			}
		}
	})
}

func TestFailedMigrationRollsBack(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		dsn := d.DSN(t)
		fsys := fstest.MapFS{
			"0001_ok.sql":     {Data: []byte(`CREATE TABLE a (x INTEGER);`)},
			"0002_broken.sql": {Data: []byte(`CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);`)},
		}
		if _, err := sqldb.OpenFS(ctx, dsn, fsys, sqldb.Options{}); err == nil || !strings.Contains(err.Error(), "0002_broken.sql") {
			t.Fatalf("open with a broken migration = %v, want an error naming it", err)
		}
		// 0001 stays applied, 0002 left nothing behind; a fixed 0002 then applies.
		fsys["0002_broken.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE b (x INTEGER);`)}
		db, err := sqldb.OpenFS(ctx, dsn, fsys, sqldb.Options{})
		if err != nil {
			t.Fatalf("open after fixing the migration = %v", err)
		}
		defer db.Close()
		if v, err := db.SchemaVersion(ctx); err != nil || v != 2 {
			t.Errorf("SchemaVersion() = %d, %v, want 2", v, err)
		}
	})
}

func TestOpenNoMigrate(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		dsn := d.DSN(t)
		v1 := fstest.MapFS{"0001_a.sql": {Data: []byte(`CREATE TABLE a (x INTEGER);`)}}
		v2 := fstest.MapFS{
			"0001_a.sql": v1["0001_a.sql"],
			"0002_b.sql": {Data: []byte(`CREATE TABLE b (x INTEGER);`)},
		}
		// A new database is migrated even with NoMigrate: there is nothing to keep.
		db, err := sqldb.OpenFS(ctx, dsn, v1, sqldb.Options{NoMigrate: true})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		_, err = sqldb.OpenFS(ctx, dsn, v2, sqldb.Options{NoMigrate: true})
		if !errors.Is(err, sqldb.ErrSchemaTooOld) || !strings.Contains(err.Error(), "version 1, this binary's is 2") {
			t.Fatalf("open(older database, NoMigrate) = %v, want ErrSchemaTooOld with both versions", err)
		}
		db, err = sqldb.OpenFS(ctx, dsn, v1, sqldb.Options{NoMigrate: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if v, err := db.SchemaVersion(ctx); err != nil || v != 1 {
			t.Errorf("SchemaVersion() after a refused open = %d, %v, want 1", v, err)
		}
	})
}

func TestPostgresMustExist(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := sqldbtest.NewSchema(t)
	_, err := sqldb.OpenWith(ctx, dsn, sqldb.Options{MustExist: true})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenWith(unmigrated schema, MustExist) = %v, want ErrNotExist", err)
	}
	if strings.Contains(err.Error(), "search_path") {
		t.Errorf("error %q quotes the URL", err)
	}
	sqldbtest.OpenPath(t, dsn)
	db, err := sqldb.OpenWith(ctx, dsn, sqldb.Options{MustExist: true})
	if err != nil {
		t.Fatalf("OpenWith(migrated schema, MustExist) = %v", err)
	}
	db.Close()
}

// TestPostgresURLErrorsHidePassword: a bad or unreachable URL is reported
// without its password.
func TestPostgresURLErrorsHidePassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, dsn := range []string{
		"postgres://u:hunter2@127.0.0.1:1/db?sslmode=disable&connect_timeout=5",
		"postgres://u:hunter2@127.0.0.1:5432/db?sslmode=nonsense",
	} {
		_, err := sqldb.Open(ctx, dsn)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%s) = %v, want an error without the password", strings.ReplaceAll(dsn, "hunter2", "***"), err)
		}
	}
}

func TestIsUniqueViolation(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		db := d.Open(t)
		insert := `INSERT INTO users (id, name, session_epoch, created_at, updated_at) VALUES ('dup', 'x', 1, 0, 0)`
		if _, err := db.Writer.ExecContext(ctx, insert); err != nil {
			t.Fatal(err)
		}
		_, err := db.Writer.ExecContext(ctx, insert)
		if !db.IsUniqueViolation(err) {
			t.Errorf("IsUniqueViolation(%v) = false, want true", err)
		}
		_, err = db.Writer.ExecContext(ctx, `INSERT INTO users (id) VALUES ('other')`) // NOT NULL, not UNIQUE
		if err == nil || db.IsUniqueViolation(err) {
			t.Errorf("IsUniqueViolation(%v) = true, want false", err)
		}
		if db.IsUniqueViolation(errors.New("UNIQUE constraint failed")) {
			t.Error("IsUniqueViolation matched a message")
		}
	})
}

// TestInsertRowsAndByteOrder: InsertRows writes every row in full and partial
// statements alike, the user count follows, and userIDs sort as bytes.
func TestInsertRowsAndByteOrder(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		db := d.Open(t)
		var ids []string
		for i := range 250 { // more than one full multi-row statement, and a partial one
			ids = append(ids, fmt.Sprintf("u%03d", i))
		}
		ids = append(ids, "B", "a", "_", "~") // bytes: B < _ < a < u... < ~
		tx, err := db.Writer.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		err = db.InsertRows(ctx, tx, "users", []string{"id", "name", "session_epoch", "created_at", "updated_at"}, len(ids),
			func(i int) []any { return []any{ids[i], "name " + ids[i], i, 0, 0} })
		if err != nil {
			t.Fatalf("InsertRows() = %v", err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		rows, err := db.Reader.QueryContext(ctx, `SELECT id, name, session_epoch FROM users ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var id, name string
			var epoch int
			if err := rows.Scan(&id, &name, &epoch); err != nil {
				t.Fatal(err)
			}
			if want := "name " + id; name != want || ids[epoch] != id {
				t.Errorf("row %s = %q, %d; want %q, %d", id, name, epoch, want, slices.Index(ids, id))
			}
			got = append(got, id)
		}
		want := slices.Clone(ids)
		slices.Sort(want) // Go orders strings by bytes
		if !slices.Equal(got, want) {
			t.Errorf("ORDER BY id = %q..., want byte order %q...", got[:6], want[:6])
		}
		var n int
		if err := db.Reader.QueryRowContext(ctx, `SELECT SUM(n) FROM user_count`).Scan(&n); err != nil || n != len(ids) {
			t.Errorf("user count = %d, %v, want %d", n, err, len(ids))
		}
		if _, err := db.Writer.ExecContext(ctx, `DELETE FROM users WHERE id < 'u'`); err != nil {
			t.Fatal(err)
		}
		if err := db.Reader.QueryRowContext(ctx, `SELECT SUM(n) FROM user_count`).Scan(&n); err != nil || n != 251 {
			t.Errorf("user count after deleting 3 = %d, %v, want 251", n, err)
		}
	})
}

func TestReadyWrites(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		db := d.Open(t)
		for want := 1; want <= 2; want++ {
			if err := db.Ready(ctx); err != nil {
				t.Fatalf("Ready() = %v", err)
			}
			var probes int
			if err := db.Reader.QueryRowContext(ctx, `SELECT probes FROM readiness WHERE id = 1`).Scan(&probes); err != nil || probes != want {
				t.Errorf("after %d probes, readiness.probes = %d, %v", want, probes, err)
			}
		}
		db.Close()
		if err := db.Ready(ctx); err == nil {
			t.Error("Ready() on a closed database = nil")
		}
	})
}

// TestConcurrentBatchInsertsDoNotDeadlock: transactions inserting users in
// several statements each, at once, all commit and are all counted. (The
// counter rows a transaction updates must not depend on its statements.)
func TestConcurrentBatchInsertsDoNotDeadlock(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		db := d.Open(t)
		const writers, rounds, rows = 4, 5, 450 // several statements per transaction on PostgreSQL
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for w := range writers {
			wg.Go(func() {
				for r := range rounds {
					tx, err := db.Writer.BeginTx(ctx, nil)
					if err != nil {
						errs[w] = err
						return
					}
					err = db.InsertRows(ctx, tx, "users", []string{"id", "name", "session_epoch", "created_at", "updated_at"}, rows,
						func(i int) []any { return []any{fmt.Sprintf("w%d-r%d-%03d", w, r, i), "n", 1, 0, 0} })
					if err == nil {
						err = tx.Commit()
					} else {
						tx.Rollback()
					}
					if err != nil {
						errs[w] = err
						return
					}
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("concurrent batch inserts: %v", err)
		}
		var n int
		if err := db.Reader.QueryRowContext(ctx, `SELECT SUM(n) FROM user_count`).Scan(&n); err != nil || n != writers*rounds*rows {
			t.Errorf("user count = %d, %v, want %d", n, err, writers*rounds*rows)
		}
	})
}

// TestCounterNeverWaits: while one transaction holds a counter row (it
// inserted users and has not committed), inserts by transactions of every
// transaction ID still go through at once; with a counter row picked by
// transaction ID alone, one of them would wait for the first to commit,
// and an import crossing a create of the same userID would deadlock.
func TestCounterNeverWaits(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a guard against a hang, not a measurement
	defer cancel()
	db := sqldbtest.Dialect{Name: sqldb.Postgres}.Open(t)
	holder, err := db.Writer.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	insert := `INSERT INTO users (id, name, session_epoch, created_at, updated_at) VALUES ($1, 'n', 1, 0, 0)`
	if _, err := holder.ExecContext(ctx, insert, "held"); err != nil {
		t.Fatal(err)
	}
	for i := range 40 { // consecutive transaction IDs: every residue mod 32
		tx, err := db.Writer.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tx.ExecContext(ctx, insert, fmt.Sprintf("u%02d", i))
		if err == nil {
			err = tx.Commit()
		} else {
			tx.Rollback()
		}
		if err != nil {
			t.Fatalf("insert %d while another transaction holds a counter row: %v", i, err)
		}
	}
	if err := holder.Commit(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Reader.QueryRowContext(ctx, `SELECT SUM(n) FROM user_count`).Scan(&n); err != nil || n != 41 {
		t.Errorf("user count = %d, %v, want 41", n, err)
	}
}

func TestIsPostgresURL(t *testing.T) {
	t.Parallel()
	for dsn, want := range map[string]bool{
		"postgres://h/db": true, "postgresql://h/db": true, "Postgres://u:p@h/db": true, "POSTGRESQL://h/db": true,
		"authsvc.db": false, "/data/postgres://x.db": false, "file:authsvc.db": false, "postgres:/h/db": false,
	} {
		if got := sqldb.IsPostgresURL(dsn); got != want {
			t.Errorf("IsPostgresURL(%q) = %v, want %v", dsn, got, want)
		}
	}
}

// TestMigrationWaitsPastIOTimeout: a replica that starts while another holds
// the migration lock waits for it, however much longer than IOTimeout that
// takes, and then opens; the pool's deadline is not the migration's.
func TestMigrationWaitsPastIOTimeout(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // a guard against a hang
	defer cancel()
	dsn := sqldbtest.NewSchema(t)
	first := sqldbtest.OpenPath(t, dsn)
	conn, err := first.Writer.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const key = `hashtext('authsvc migrations ' || current_schema())`
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(`+key+`)`); err != nil {
		t.Fatal(err)
	}
	opened := make(chan error, 1)
	go func() {
		// Not much shorter: the pool that Open pings after migrating
		// connects under this deadline, and a busy CI machine took
		// more than 100 ms.
		db, err := sqldb.OpenWith(ctx, dsn, sqldb.Options{IOTimeout: time.Second})
		if err == nil {
			db.Close()
		}
		opened <- err
	}()
	// Until the second open has waited on the lock for 3 IOTimeouts, by
	// the server's clock.
	for {
		var waiting bool
		err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE '%pg_advisory_lock%' AND now() - query_start > interval '3 seconds')`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case err := <-opened:
			t.Fatalf("Open returned while another held the migration lock: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock(`+key+`)`); err != nil {
		t.Fatal(err)
	}
	if err := <-opened; err != nil {
		t.Errorf("Open after waiting for the migration lock: %v", err)
	}
}

// TestAuditTrailWhere: on SQLite the trail has a file of its own; on
// PostgreSQL it stays in the database, which has its tables.
func TestAuditTrailWhere(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		db := d.Open(t)
		if own := db.Audit() != db; own != (d.Name == sqldb.SQLite) || (db.AuditFile() != "") != own {
			t.Errorf("Audit() is its own database: %v; AuditFile() = %q", own, db.AuditFile())
		}
		var n int
		if err := db.Audit().Reader.QueryRow(`SELECT COUNT(*) FROM audit_events`).Scan(&n); err != nil {
			t.Errorf("the trail's database has no audit_events: %v", err)
		}
	})
}
