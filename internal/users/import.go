package users

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
	for i, u := range us {
		results[i].ID = u.ID
		switch err := validateCreateParams(u, true); {
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
	exists, err := s.existing(ctx, us, idx)
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

// existing returns which IDs of the items idx of us are stored.
func (s *Store) existing(ctx context.Context, us []CreateParams, idx []int) (map[string]bool, error) {
	args := make([]any, len(idx))
	for j, i := range idx {
		args[j] = us[i].ID
	}
	var a sqldb.Args
	q := `SELECT id FROM users WHERE id IN (` + a.List(args...) + `)`
	rows, err := s.db.Reader.QueryContext(ctx, q, a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	exists := make(map[string]bool)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		exists[id] = true
	}
	return exists, rows.Err()
}

// insertAll inserts, in one transaction, the items of us whose result is not
// decided yet, and records whether each was created or existed.
func (s *Store) insertAll(ctx context.Context, us []CreateParams, hashes []sql.NullString, results []ImportResult) error {
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	insert, err := tx.PrepareContext(ctx, insertUser+` ON CONFLICT (id) DO NOTHING`)
	if err != nil {
		return err
	}
	defer insert.Close()
	now := s.timestamp()
	for i, u := range us {
		if results[i].Status != "" {
			continue
		}
		hash := hashes[i]
		if u.Password != "" && !hash.Valid {
			// Stored when hashNew looked. If it has been deleted since,
			// hash now, holding the write lock: rare, and still right.
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = $1`, u.ID).Scan(&one)
			switch {
			case err == nil:
				results[i].Status = ImportExists
				continue
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
			h, err := s.hashPassword(ctx, u.Password)
			if err != nil {
				return err
			}
			hash = sql.NullString{String: h, Valid: true}
		}
		row, err := s.newRow(u.ID, u, hash, now)
		if err != nil {
			return err
		}
		res, err := insert.ExecContext(ctx, insertArgs(row, hash)...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		results[i].Status = ImportExists
		if n == 1 {
			results[i].Status = ImportCreated
		}
	}
	return tx.Commit()
}
