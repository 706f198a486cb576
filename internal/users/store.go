package users

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"authsvc/internal/sqldb"
)

// Options configure a Store. The zero value is the production setup.
type Options struct {
	Now  func() time.Time // default time.Now
	Rand io.Reader        // default crypto/rand.Reader; need not be safe for concurrent use
	Hash HashParams       // zero means DefaultHashParams; tests may pass cheaper ones

	// OnChange, when set, is called inside the write transaction of every
	// change that others keep a copy of (ZIM's user profiles): the
	// creation of users (Create, Import, a provisioned identity) and a
	// change of name, avatarURL or extendedData by Update, after the rows
	// are written, with the IDs of the users written. An error rolls the
	// change back and is returned, wrapped. It must not commit or roll
	// back tx. A deleted user is not reported: rows that reference it go
	// with it (ON DELETE CASCADE).
	OnChange func(ctx context.Context, tx *sql.Tx, ids ...string) error

	// Limits tighten the bounds of fields, as SetLimits does later.
	Limits Limits
	// OnRevoke, when set, is called inside the write transaction that
	// takes a user's access away, for what others must take away too (the
	// RTC rooms the user holds tokens for): a disable of an enabled user,
	// after the row is written, and a Delete, before the row goes, so that
	// rows which reference it are still there to read. Enabling calls
	// nothing. An error rolls the change back and is returned, wrapped. It
	// must not commit or roll back tx. A Delete of a user that does not
	// exist calls it too, and then rolls back.
	OnRevoke func(ctx context.Context, tx *sql.Tx, id string) error

	// CacheSize bounds the users Get caches: 0 means DefaultCacheSize,
	// and a negative size caches nothing.
	CacheSize int
}

// Store keeps users in the database. It is safe for concurrent use.
type Store struct {
	db        *sqldb.DB
	now       func() time.Time
	rand      io.Reader
	hash      HashParams
	hashSlots chan struct{} // one token per password hash in progress
	dummyHash string        // compared against when a user has no hash, so that costs the same

	// Prepared statements of the hot paths, closed by db.Close.
	get, getWithHash, count *sql.Stmt

	cache *userCache // Get's

	onChange func(ctx context.Context, tx *sql.Tx, ids ...string) error // Options.OnChange

	limits   atomic.Pointer[Limits]                                 // of new writes; see SetLimits
	onRevoke func(ctx context.Context, tx *sql.Tx, id string) error // Options.OnRevoke
}

// cacheSize is Options.CacheSize's bound.
func cacheSize(n int) int {
	if n == 0 {
		return DefaultCacheSize
	}
	return max(n, 0)
}

// NewStore returns a Store on db, whose migrations must have been applied
// (sqldb.Open does that).
func NewStore(db *sqldb.DB, opts Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("new user store: nil database")
	}
	s := &Store{db: db, now: opts.Now, rand: opts.Rand, hash: opts.Hash, cache: newUserCache(cacheSize(opts.CacheSize)),
		onChange: opts.OnChange, onRevoke: opts.OnRevoke}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	s.rand = &lockedReader{r: s.rand}
	s.SetLimits(opts.Limits)
	if s.hash == (HashParams{}) {
		s.hash = DefaultHashParams
	}
	if err := s.hash.validate(); err != nil {
		return nil, fmt.Errorf("new user store: %w", err)
	}
	s.hashSlots = make(chan struct{}, runtime.GOMAXPROCS(0))
	// Any key would do: no password is checked against it to succeed. What
	// matters is that checking costs what checking a real hash costs.
	salt := make([]byte, saltLen)
	if err := s.readRand(salt); err != nil {
		return nil, fmt.Errorf("new user store: %w", err)
	}
	s.dummyHash = encodeHash(s.hash, salt, make([]byte, keyLen))

	ctx := context.Background()
	for _, p := range []struct {
		st    **sql.Stmt
		query string
	}{
		{&s.get, `SELECT ` + userColumns + ` FROM users WHERE id = $1`},
		{&s.getWithHash, `SELECT ` + userColumns + `, password_hash FROM users WHERE id = $1`},
		{&s.count, `SELECT SUM(n) FROM user_count`},
	} {
		var err error
		if *p.st, err = db.PrepareReader(ctx, p.query); err != nil {
			return nil, fmt.Errorf("new user store: %w", err)
		}
	}
	return s, nil
}

// lockedReader makes a reader safe for concurrent use.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

func (s *Store) readRand(b []byte) error {
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return fmt.Errorf("read random bytes: %w", err)
	}
	return nil
}

// newEpoch returns a random, non-negative session epoch.
func (s *Store) newEpoch() (int64, error) {
	var b [8]byte
	if err := s.readRand(b[:]); err != nil {
		return 0, err
	}
	return int64(binary.BigEndian.Uint64(b[:]) >> 1), nil
}

// timestamp returns the current time as stored: UTC, to the microsecond.
func (s *Store) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

const userColumns = `id, name, avatar_url, extended_data, disabled, password_hash IS NOT NULL, session_epoch, created_at, updated_at`

// scanUser scans userColumns, then extra.
func scanUser(row interface{ Scan(...any) error }, extra ...any) (User, error) {
	var u User
	var created, updated int64
	dest := append([]any{&u.ID, &u.Name, &u.AvatarURL, &u.ExtendedData, &u.Disabled, &u.HasPassword,
		&u.SessionEpoch, &created, &updated}, extra...)
	if err := row.Scan(dest...); err != nil {
		return User{}, err
	}
	u.CreatedAt = time.UnixMicro(created).UTC()
	u.UpdatedAt = time.UnixMicro(updated).UTC()
	return u, nil
}

const insertUser = `INSERT INTO users
	(id, name, avatar_url, extended_data, disabled, password_hash, session_epoch, created_at, updated_at)
	VALUES ($1, $2, $3, $4, FALSE, $5, $6, $7, $8)`

// newRow returns the user that inserting u with the given ID and password
// hash creates.
func (s *Store) newRow(id string, u CreateParams, hash sql.NullString, now time.Time) (User, error) {
	epoch, err := s.newEpoch()
	if err != nil {
		return User{}, err
	}
	name := u.Name
	if name == "" {
		name = id
	}
	return User{ID: id, Name: name, AvatarURL: u.AvatarURL, ExtendedData: u.ExtendedData,
		HasPassword: hash.Valid, SessionEpoch: epoch, CreatedAt: now, UpdatedAt: now}, nil
}

// insertArgs are the arguments of insertUser for row.
func insertArgs(row User, hash sql.NullString) []any {
	t := row.CreatedAt.UnixMicro()
	return []any{row.ID, row.Name, row.AvatarURL, row.ExtendedData, hash, row.SessionEpoch, t, t}
}

// Create stores a new user. It fails with an *InvalidError when a field is
// invalid and ErrExists when the ID is taken. A user without an ID gets one
// from NewID. The password, if any, is hashed before the write lock is taken.
func (s *Store) Create(ctx context.Context, u CreateParams) (User, error) {
	if err := validateCreateParams(u, false, s.currentLimits()); err != nil {
		return User{}, err
	}
	var hash sql.NullString
	if u.Password != "" {
		h, err := s.hashPassword(ctx, u.Password)
		if err != nil {
			return User{}, fmt.Errorf("create user: %w", err)
		}
		hash = sql.NullString{String: h, Valid: true}
	}
	// An assigned ID that collides (2^-128 per pair) gets another try
	// rather than an ErrExists the caller could do nothing about.
	for attempt := 1; ; attempt++ {
		id := u.ID
		if id == "" {
			var err error
			if id, err = NewID(s.rand); err != nil {
				return User{}, fmt.Errorf("create user: %w", err)
			}
		}
		row, err := s.newRow(id, u, hash, s.timestamp())
		if err != nil {
			return User{}, fmt.Errorf("create user: %w", err)
		}
		err = s.insert(ctx, row, hash)
		switch {
		case err == nil:
			return row, nil
		case s.db.IsUniqueViolation(err) && u.ID == "" && attempt < 3:
			continue
		case s.db.IsUniqueViolation(err):
			return User{}, fmt.Errorf("create user %q: %w", id, ErrExists)
		default:
			return User{}, fmt.Errorf("create user: %w", err)
		}
	}
}

// insert writes the new user row, in a transaction with OnChange when
// there is one, and in a single statement otherwise.
func (s *Store) insert(ctx context.Context, row User, hash sql.NullString) error {
	if s.onChange == nil {
		_, err := s.db.Writer.ExecContext(ctx, insertUser, insertArgs(row, hash)...)
		return err
	}
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, insertUser, insertArgs(row, hash)...); err != nil {
		return err
	}
	if err := s.onChange(ctx, tx, row.ID); err != nil {
		return err
	}
	return tx.Commit()
}

// Get returns the user with the given ID, or ErrNotFound. It may answer
// from the cache; see cache.go for what that means for writes by other
// processes.
func (s *Store) Get(ctx context.Context, id string) (User, error) {
	if u, ok := s.cache.get(id); ok {
		return u, nil
	}
	gen := s.cache.generation()
	u, err := s.load(ctx, id)
	if err == nil {
		s.cache.put(u, gen)
	}
	return u, err
}

// load reads a user from the database, past the cache.
func (s *Store) load(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.get.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("get user %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("get user %q: %w", id, err)
	}
	return u, nil
}

// List returns a page of users in byte order of their IDs. It fails with an
// *InvalidError when an option is invalid.
func (s *Store) List(ctx context.Context, o ListOptions) (Page, error) {
	limit, err := validateListOptions(o)
	if err != nil {
		return Page{}, err
	}
	// The prefix is a range over the primary key, not LIKE: LIKE is
	// case-insensitive for ASCII and takes % and _ in the prefix, both
	// allowed in IDs, as wildcards.
	var where []string
	var args sqldb.Args
	if o.After != "" {
		where = append(where, "id > "+args.Add(o.After))
	}
	if o.Prefix != "" {
		where = append(where, "id >= "+args.Add(o.Prefix), "id < "+args.Add(prefixEnd(o.Prefix)))
	}
	q := `SELECT ` + userColumns + ` FROM users`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id`
	us, more, err := sqldb.Page(ctx, s.db.Reader, q, args, limit, func(row sqldb.Scanner) (User, error) { return scanUser(row) })
	if err != nil {
		return Page{}, fmt.Errorf("list users: %w", err)
	}
	p := Page{Users: us}
	if more {
		p.Next = us[len(us)-1].ID
	}
	return p, nil
}

// prefixEnd returns the least string greater than every string starting with
// prefix, which must be a valid ID prefix: its last byte is below 0x7f.
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	b[len(b)-1]++
	return string(b)
}

// Update changes the fields of the user that p sets and returns the user as
// it was before and as stored after, both read in the write's transaction,
// so a caller that tells what changed (the audit trail) cannot be misled by
// a concurrent write or a cached copy. An empty patch writes nothing and
// returns the user twice. A new password, or a change of Disabled, gives the
// user a new SessionEpoch, which revokes their sessions. It fails with an
// *InvalidError when a field is invalid and ErrNotFound when there is no
// such user.
func (s *Store) Update(ctx context.Context, id string, p Patch) (before, after User, err error) {
	if err := validatePatch(p, s.currentLimits()); err != nil {
		return User{}, User{}, err
	}
	var hash sql.NullString
	if p.Password != nil && *p.Password != "" {
		h, err := s.hashPassword(ctx, *p.Password)
		if err != nil {
			return User{}, User{}, fmt.Errorf("update user %q: %w", id, err)
		}
		hash = sql.NullString{String: h, Valid: true}
	}
	var sets []string
	var args sqldb.Args
	set := func(expr string) { sets = append(sets, expr) }
	if p.Name != nil {
		if *p.Name == "" {
			set("name = id")
		} else {
			set("name = " + args.Add(*p.Name))
		}
	}
	if p.AvatarURL != nil {
		set("avatar_url = " + args.Add(*p.AvatarURL))
	}
	if p.ExtendedData != nil {
		set("extended_data = " + args.Add(*p.ExtendedData))
	}
	if p.Password != nil || p.Disabled != nil {
		epoch, err := s.newEpoch()
		if err != nil {
			return User{}, User{}, fmt.Errorf("update user %q: %w", id, err)
		}
		// The right-hand sides see the row as it was before the update.
		switch {
		case p.Password != nil:
			set("password_hash = " + args.Add(hash))
			set("session_epoch = " + args.Add(epoch))
		default:
			set("session_epoch = CASE WHEN disabled = " + args.Add(*p.Disabled) +
				" THEN session_epoch ELSE " + args.Add(epoch) + " END")
		}
		if p.Disabled != nil {
			set("disabled = " + args.Add(*p.Disabled))
		}
	}
	if len(sets) == 0 {
		u, err := s.Get(ctx, id)
		return u, u, err
	}
	set("updated_at = " + args.Add(s.timestamp().UnixMicro()))
	where := "id = " + args.Add(id)

	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return User{}, User{}, fmt.Errorf("update user %q: %w", id, err)
	}
	defer tx.Rollback()
	defer s.cache.evict(id) // after the commit (or the rollback)
	// Locked, on PostgreSQL, until the commit: without the lock a
	// concurrent Update could commit between this read and the UPDATE, and
	// both would report the same before, one of them wrongly.
	before, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`+s.db.ForUpdate(), id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, User{}, fmt.Errorf("update user %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, User{}, fmt.Errorf("update user %q: %w", id, err)
	}
	after, err = scanUser(tx.QueryRowContext(ctx,
		`UPDATE users SET `+strings.Join(sets, ", ")+` WHERE `+where+` RETURNING `+userColumns, args...))
	if err != nil {
		return User{}, User{}, fmt.Errorf("update user %q: %w", id, err)
	}
	if err := s.notify(ctx, tx, id); err != nil {
		return User{}, User{}, fmt.Errorf("update user %q: %w", id, err)
	}
	if s.onChange != nil && (before.Name != after.Name || before.AvatarURL != after.AvatarURL || before.ExtendedData != after.ExtendedData) {
		if err := s.onChange(ctx, tx, id); err != nil {
			return User{}, User{}, fmt.Errorf("update user %q: %w", id, err)
		}
	}
	if s.onRevoke != nil && !before.Disabled && after.Disabled {
		if err := s.onRevoke(ctx, tx, id); err != nil {
			return User{}, User{}, fmt.Errorf("update user %q: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return User{}, User{}, fmt.Errorf("update user %q: %w", id, err)
	}
	return before, after, nil
}

// SetDisabled disables or re-enables a user. A change gives the user a new
// SessionEpoch; setting the state the user already has changes nothing but
// UpdatedAt. It fails with ErrNotFound when there is no such user.
func (s *Store) SetDisabled(ctx context.Context, id string, disabled bool) (User, error) {
	_, u, err := s.Update(ctx, id, Patch{Disabled: &disabled})
	return u, err
}

// Delete removes a user, or fails with ErrNotFound.
func (s *Store) Delete(ctx context.Context, id string) error {
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete user %q: %w", id, err)
	}
	defer tx.Rollback()
	defer s.cache.evict(id) // after the commit (or the rollback)
	if s.onRevoke != nil {
		if err := s.onRevoke(ctx, tx, id); err != nil {
			return fmt.Errorf("delete user %q: %w", id, err)
		}
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete user %q: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete user %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("delete user %q: %w", id, ErrNotFound)
	}
	if err := s.notify(ctx, tx, id); err != nil {
		return fmt.Errorf("delete user %q: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete user %q: %w", id, err)
	}
	return nil
}

// Count returns the number of users. It sums counter rows that triggers keep
// up to date (one on SQLite, 32 on PostgreSQL, so that concurrent inserts
// don't queue on one row), so it costs the same with a million users as
// with one.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.count.QueryRowContext(ctx).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// CheckPassword returns the user with the given ID if password is theirs,
// even a disabled user: the caller decides what disabled means for it. An
// unknown user, a user without a password and a wrong password all fail with
// ErrInvalidCredentials, after the same work: without a hash to compare
// against, the password is compared against a dummy one.
func (s *Store) CheckPassword(ctx context.Context, id, password string) (User, error) {
	var encoded sql.NullString
	u, err := scanUser(s.getWithHash.QueryRowContext(ctx, id), &encoded)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("check password of %q: %w", id, err)
	}
	hash := s.dummyHash
	if encoded.Valid {
		hash = encoded.String
	}
	// No stored password is longer than MaxPasswordLen; hashing a longer one
	// would cost more and cannot match.
	tooLong := len(password) > MaxPasswordLen
	if tooLong {
		password = ""
	}
	ok, err := s.verifyPassword(ctx, hash, password)
	if err != nil {
		return User{}, fmt.Errorf("check password of %q: %w", id, err)
	}
	if !ok || !encoded.Valid || tooLong {
		return User{}, ErrInvalidCredentials
	}
	return u, nil
}
