package users

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"authsvc/internal/sqldb"
)

// Import creates up to MaxImport users in one transaction and returns one
// result per item, in input order: created; exists, leaving the stored user
// as it was; or invalid, with the reason. So running the same import again is
// harmless, and every item must have an ID. Of two items with the same ID the
// first wins and the later ones are reported as existing. More than
// MaxImport items fail with ErrTooMany; any other error writes nothing.
//
// Passwords are hashed before the write lock is taken, and only for users not
// stored yet, so a repeated import costs little.
func (s *Store) Import(ctx context.Context, us []CreateParams) ([]ImportResult, error) {
	if len(us) > MaxImport {
		return nil, fmt.Errorf("import %d users, more than %d: %w", len(us), MaxImport, ErrTooMany)
	}
	results := make([]ImportResult, len(us))
	first := make(map[string]bool, len(us))
	var toHash []int
	limits := s.currentLimits()
	for i, u := range us {
		results[i].ID = u.ID
		switch err := validateCreateParams(u, true, limits); {
		case err != nil:
			results[i] = ImportResult{ID: u.ID, Status: ImportInvalid, Err: err}
		case first[u.ID]:
			results[i].Status = ImportExists
		default:
			first[u.ID] = true
			if u.Password != "" {
				toHash = append(toHash, i)
			}
		}
	}
	hashes, err := s.hashNew(ctx, us, toHash)
	if err != nil {
		return nil, fmt.Errorf("import users: %w", err)
	}
	if err := s.insertAll(ctx, us, hashes, results); err != nil {
		return nil, fmt.Errorf("import users: %w", err)
	}
	return results, nil
}

// hashNew hashes the passwords of the items idx of us whose users are not
// stored yet, on as many goroutines as there are hashing slots. The result
// is indexed like us.
func (s *Store) hashNew(ctx context.Context, us []CreateParams, idx []int) ([]sql.NullString, error) {
	hashes := make([]sql.NullString, len(us))
	if len(idx) == 0 {
		return hashes, nil
	}
	exists, err := s.existing(ctx, s.db.Reader, us, idx, "")
	if err != nil {
		return nil, err
	}
	work := make(chan int)
	errs := make([]error, cap(s.hashSlots))
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			for i := range work {
				if errs[w] != nil {
					continue
				}
				h, err := s.hashPassword(ctx, us[i].Password)
				if err != nil {
					errs[w] = err
					continue
				}
				hashes[i] = sql.NullString{String: h, Valid: true}
			}
		})
	}
	for _, i := range idx {
		if !exists[us[i].ID] {
			work <- i
		}
	}
	close(work)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return hashes, nil
}

// existing returns which IDs of the items idx of us are stored, read with
// q. In a write transaction, lock (sqldb's ForUpdate) keeps those users from
// being deleted before the commit; rows are locked in ID order, so that two
// imports locking overlapping users cannot deadlock.
func (s *Store) existing(ctx context.Context, q querier, us []CreateParams, idx []int, lock string) (map[string]bool, error) {
	exists := make(map[string]bool)
	if len(idx) == 0 {
		return exists, nil
	}
	args := make([]any, len(idx))
	for j, i := range idx {
		args[j] = us[i].ID
	}
	var a sqldb.Args
	rows, err := q.QueryContext(ctx, `SELECT id FROM users WHERE id IN (`+a.List(args...)+`) ORDER BY id`+lock, a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		exists[id] = true
	}
	return exists, rows.Err()
}

// querier is *sql.DB or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// importAttempts bounds how often insertAll starts over after a concurrent
// transaction (another replica's import or create) created one of the users
// it was inserting. Each retry sees that user as existing; only a stream of
// such collisions, each on a user the previous attempt did not see, would
// exhaust them.
const importAttempts = 5

// importColumns are the columns Import writes; disabled takes its default.
var importColumns = []string{"id", "name", "avatar_url", "extended_data", "password_hash", "session_epoch", "created_at", "updated_at"}

// insertAll inserts, in one transaction, the items of us whose result is not
// decided yet, and records whether each was created or existed. hashes holds
// the passwords hashed so far; it gains those insertAll had to hash itself.
func (s *Store) insertAll(ctx context.Context, us []CreateParams, hashes []sql.NullString, results []ImportResult) error {
	for attempt := 1; ; attempt++ {
		out := slices.Clone(results)
		err := s.tryInsertAll(ctx, us, hashes, out)
		switch {
		case err == nil:
			copy(results, out)
			return nil
		case s.db.IsUniqueViolation(err) && attempt < importAttempts:
			continue
		default:
			return err
		}
	}
}

// tryInsertAll is one attempt of insertAll. On PostgreSQL a user that a
// concurrent transaction creates after this one looked makes the INSERT fail
// with a unique violation, and insertAll try again. (ON CONFLICT DO NOTHING
// would spare the retry, but could not tell which rows of a multi-row INSERT
// it skipped.)
func (s *Store) tryInsertAll(ctx context.Context, us []CreateParams, hashes []sql.NullString, results []ImportResult) error {
	var pending []int
	for i := range us {
		if results[i].Status == "" {
			pending = append(pending, i)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	exists, err := s.existing(ctx, tx, us, pending, s.db.ForUpdate())
	if err != nil {
		return err
	}
	now := s.timestamp()
	var rows []User
	var rowHashes []sql.NullString
	for _, i := range pending {
		u := us[i]
		if exists[u.ID] {
			results[i].Status = ImportExists
			continue
		}
		if u.Password != "" && !hashes[i].Valid {
			// Stored when hashNew looked, deleted since: hash now, in the
			// transaction. Rare, and still right.
			h, err := s.hashPassword(ctx, u.Password)
			if err != nil {
				return err
			}
			hashes[i] = sql.NullString{String: h, Valid: true}
		}
		row, err := s.newRow(u.ID, u, hashes[i], now)
		if err != nil {
			return err
		}
		rows = append(rows, row)
		rowHashes = append(rowHashes, hashes[i])
		results[i].Status = ImportCreated
	}
	// In ID order, as existing locks: two imports inserting overlapping new
	// users wait for each other in one order, never in a cycle.
	order := make([]int, len(rows))
	for j := range order {
		order[j] = j
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(rows[a].ID, rows[b].ID) })
	err = s.db.InsertRows(ctx, tx, "users", importColumns, len(rows), func(j int) []any {
		return insertArgs(rows[order[j]], rowHashes[order[j]])
	})
	if err != nil {
		return err
	}
	if s.onChange != nil && len(rows) > 0 {
		ids := make([]string, len(rows))
		for j := range ids {
			ids[j] = rows[order[j]].ID
		}
		if err := s.onChange(ctx, tx, ids...); err != nil {
			return err
		}
	}
	return tx.Commit()
}
