package sqldb

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// IsUnavailable reports whether err means the database could not be
// reached or is not taking work right now, as opposed to a fault in the
// statement or the data: the server is down, restarting, refusing
// connections or out of them, the network between failed, or (SQLite)
// another process held the lock past the busy timeout. Such a request may
// succeed when retried shortly, so the API answers it with 503, not 500.
func (db *DB) IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) {
		return true
	}
	switch db.flavor.dialect {
	case Postgres:
		// Only errors the driver made: a generic net.Error or a deadline
		// could come from anywhere a store error is wrapped with.
		var ce *pgconn.ConnectError
		var oe *net.OpError
		if errors.As(err, &ce) || errors.As(err, &oe) || pgconn.Timeout(err) {
			return true
		}
		// A connection the driver had already closed (its socket went away
		// under another query), or a failure before anything was sent.
		if errors.Is(err, pgconn.ErrConnClosed) || pgconn.SafeToRetry(err) {
			return true
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			switch {
			case strings.HasPrefix(pe.Code, "08"): // connection exception
				return true
			case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // shutting down, crashed, starting up
				return true
			case pe.Code == "53300": // too many connections
				return true
			case pe.Code == "25006": // read-only transaction: a standby, or a primary being demoted
				return true
			case pe.Code == "40P01", pe.Code == "40001": // deadlock, serialization failure: retry
				return true
			case pe.Code == "57014": // statement timeout
				return true
			}
			return false
		}
		// A connection that died mid-query ends in an EOF.
		return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
	case SQLite:
		return sqliteBusy(err)
	}
	return false
}

// sqliteBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED:
// another connection held a lock this one needed.
func sqliteBusy(err error) bool {
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary code of an extended one
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	return false
}
