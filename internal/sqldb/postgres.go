package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// defaultMaxConns is the PostgreSQL pool size when Options.MaxConns is 0:
// enough for a replica on a few cores. Each replica also holds one
// connection outside the pool, its listener (Listen): eight replicas use
// 88, under the server's default max_connections of 100.
const defaultMaxConns = 10

// connectTimeout bounds a connection attempt when the URL sets none, so that
// a request fails fast while the server is unreachable instead of waiting
// for the kernel's TCP timeout.
const connectTimeout = 5 * time.Second

// defaultIOTimeout is Options.IOTimeout when 0.
const defaultIOTimeout = 10 * time.Second

// keepAlive is the TCP keep-alive period of connections to PostgreSQL, so
// that a peer that vanished (a host down, a partition) is noticed on an
// idle connection too.
const keepAlive = 15 * time.Second

// boundedDial dials TCP connections whose every read and write must finish
// within d, or fail with a timeout: a server, or a network path, that
// stops answering without closing the connection fails the query after d
// (and the API answers 503) instead of holding it, and its pooled
// connection, until the kernel gives up after many minutes. The caller's
// context still ends a query sooner. It bounds lock waits too: a request
// waiting on a row lock longer than d fails (503) rather than waits.
// Migrations, which may wait for another replica's or run long, use their
// own connection without it.
func boundedDial(d time.Duration) pgconn.DialFunc {
	dialer := &net.Dialer{KeepAlive: keepAlive}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &boundedConn{Conn: c, d: d}, nil
	}
}

// boundedConn is a net.Conn whose reads and writes each get a deadline d
// ahead, or the one its user set if that is sooner: pgx sets a deadline in
// the past to interrupt a call whose context ended, and that must not be
// pushed back. The mutex orders the two, so a deadline pgx sets is never
// overwritten by one computed before it.
type boundedConn struct {
	net.Conn
	d time.Duration

	mu              sync.Mutex
	readBy, writeBy time.Time // set by the user of the conn; zero: none
}

func (c *boundedConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	err := c.Conn.SetReadDeadline(sooner(c.readBy, time.Now().Add(c.d)))
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *boundedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	err := c.Conn.SetWriteDeadline(sooner(c.writeBy, time.Now().Add(c.d)))
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *boundedConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readBy, c.writeBy = t, t
	return c.Conn.SetDeadline(t)
}

func (c *boundedConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readBy = t
	return c.Conn.SetReadDeadline(t)
}

func (c *boundedConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeBy = t
	return c.Conn.SetWriteDeadline(t)
}

// sooner is set, unless it is zero or later than bound.
func sooner(set, bound time.Time) time.Time {
	if !set.IsZero() && set.Before(bound) {
		return set
	}
	return bound
}

// unlockTimeout bounds the release of the migration lock.
const unlockTimeout = 5 * time.Second

// postgresFlavor is the flavor of PostgreSQL through pgx.
var postgresFlavor = flavor{
	dialect: Postgres,
	uniqueViolation: func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == "23505" // unique_violation
	},
	// Replicas started together would each try to migrate; an advisory
	// lock, held by this session until unlock, lets one migrate while the
	// others wait and then find nothing pending. It is keyed by the schema,
	// so databases in different schemas of one server migrate in parallel.
	lockMigrations: func(ctx context.Context, conn *sql.Conn) (func() error, error) {
		const key = `hashtext('authsvc migrations ' || current_schema())`
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(`+key+`)`); err != nil {
			return nil, err
		}
		return func() error {
			// Not the caller's context: a canceled one would leave the lock
			// held by a session that goes back to the pool. If the unlock
			// fails all the same, the session is ended rather than pooled,
			// which releases the lock; else every other replica's
			// migration would wait for this connection to be recycled.
			ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
			defer cancel()
			_, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock(`+key+`)`)
			if err != nil {
				conn.Raw(func(any) error { return driver.ErrBadConn })
			}
			return err
		}, nil
	},
	hasTable: `SELECT COUNT(*) FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name = $1`,
	// Rows of a batch go in multi-row INSERTs: one round trip per hundred
	// rows instead of one per row.
	rowsPerInsert: 100,
	// The planner has statistics and chooses well without hints.
	noIndex: func(column string) string { return column },
}

// openPostgres opens the PostgreSQL database of url and migrates it with the
// migrations of fsys.
func openPostgres(ctx context.Context, url string, fsys fs.FS, o Options) (*DB, error) {
	ms, err := loadMigrations(fsys)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password and all.
		return nil, errors.New("open database: not a valid PostgreSQL URL")
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	ioTimeout := o.IOTimeout
	if ioTimeout <= 0 {
		ioTimeout = defaultIOTimeout
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database) // for errors: never the password
	// Migrations run on a connection of their own, without the pool's
	// deadlines: a replica waits for the migration lock as long as
	// another replica's migration takes, and a migration may run longer
	// than any request may.
	unbounded := *cfg
	unbounded.DialFunc = (&net.Dialer{KeepAlive: keepAlive}).DialContext
	created, from, err := migrateOn(ctx, stdlib.OpenDB(unbounded), ms, o, where)
	if err != nil {
		return nil, err
	}
	cfg.DialFunc = boundedDial(ioTimeout)
	pool := stdlib.OpenDB(*cfg)
	n := o.MaxConns
	if n <= 0 {
		n = defaultMaxConns
	}
	pool.SetMaxOpenConns(n)
	pool.SetMaxIdleConns(n)
	// Connections are replaced now and then, so that a pool follows a
	// server that failed over or was restarted behind the same address.
	pool.SetConnMaxLifetime(30 * time.Minute)
	pool.SetConnMaxIdleTime(5 * time.Minute)

	fail := func(format string, err error) (*DB, error) {
		pool.Close()
		return nil, fmt.Errorf(format, where, err)
	}
	if err := pool.PingContext(ctx); err != nil {
		return fail("open database %s: %w", err)
	}
	return &DB{Reader: pool, Writer: pool, flavor: postgresFlavor, created: created, migratedFrom: from, version: len(ms)}, nil
}

// migrateOn checks and migrates the database on db, then closes db. It
// reports whether the schema had never been migrated, and the version it
// was at.
func migrateOn(ctx context.Context, db *sql.DB, ms []migration, o Options, where string) (created bool, from int, err error) {
	defer db.Close()
	db.SetMaxOpenConns(1)
	f := postgresFlavor
	var tables int
	if err := db.QueryRowContext(ctx, f.hasTable, "schema_migrations").Scan(&tables); err != nil {
		return false, 0, fmt.Errorf("open database %s: %w", where, err)
	}
	created = tables == 0
	if created && o.MustExist {
		return false, 0, &notExistError{fmt.Sprintf("database %s has no authsvc schema (it was never migrated)", where)}
	}
	if o.NoMigrate && !created {
		if err := current(ctx, db, f, ms); err != nil {
			return false, 0, fmt.Errorf("database %s: %w", where, err)
		}
	}
	if from, err = migrate(ctx, db, f, ms); err != nil {
		return false, 0, fmt.Errorf("migrate database %s: %w", where, err)
	}
	return created, from, nil
}
