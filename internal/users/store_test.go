package users

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"authsvc/internal/sqldb"
	"authsvc/internal/sqldb/sqldbtest"
)

// testHash is real argon2id at a cost tests can afford.
var testHash = HashParams{Memory: 64, Time: 1, Threads: 1}

// testClock starts at a fixed time and advances a second per reading.
type testClock struct{ n atomic.Int64 }

func (c *testClock) Now() time.Time {
	return time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC).Add(time.Duration(c.n.Add(1)) * time.Second)
}

// newTestStore returns a Store on a new SQLite database, for tests of what
// does not depend on the dialect.
func newTestStore(tb testing.TB, opts Options) *Store {
	tb.Helper()
	return newStoreOn(tb, sqldbtest.Dialect{Name: sqldb.SQLite}, opts)
}

// newStoreOn returns a Store on a new database of dialect d, with test
// hashing parameters and clock unless opts sets them.
func newStoreOn(tb testing.TB, d sqldbtest.Dialect, opts Options) *Store {
	tb.Helper()
	if opts.Hash == (HashParams{}) {
		opts.Hash = testHash
	}
	if opts.Now == nil {
		opts.Now = new(testClock).Now
	}
	s, err := NewStore(d.Open(tb), opts)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func mustCreate(tb testing.TB, s *Store, u CreateParams) User {
	tb.Helper()
	got, err := s.Create(context.Background(), u)
	if err != nil {
		tb.Fatalf("Create(%q) = %v", u.ID, err)
	}
	return got
}

func ptr[T any](v T) *T { return &v }

func wantInvalid(tb testing.TB, err error, fields ...string) {
	tb.Helper()
	var ie *InvalidError
	if !errors.As(err, &ie) {
		tb.Fatalf("err = %v, want *InvalidError for %v", err, fields)
	}
	var got []string
	for _, f := range ie.Fields {
		got = append(got, f.Field)
	}
	if diff := cmp.Diff(fields, got); diff != "" {
		tb.Errorf("invalid fields (-want +got):\n%s", diff)
	}
}

func TestNewStoreRejectsBadParams(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		db := d.Open(t)
		if _, err := NewStore(nil, Options{}); err == nil {
			t.Error("NewStore(nil) = nil error")
		}
		for _, p := range []HashParams{{Memory: 64, Time: 0, Threads: 1}, {Memory: 64, Time: 1, Threads: 0}, {Memory: 7, Time: 1, Threads: 1}} {
			if _, err := NewStore(db, Options{Hash: p}); err == nil {
				t.Errorf("NewStore(%+v) = nil error", p)
			}
		}
		s, err := NewStore(db, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if s.hash != DefaultHashParams {
			t.Errorf("zero Options: hash params %+v, want %+v", s.hash, DefaultHashParams)
		}
	})
}

func TestCreateGet(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		s := newStoreOn(t, d, Options{})

		got := mustCreate(t, s, CreateParams{ID: "alice", Name: "Alice", AvatarURL: "https://a.example/a.png", ExtendedData: `{"x":1}`})
		if got.ID != "alice" || got.Name != "Alice" || got.HasPassword || got.Disabled || got.SessionEpoch < 0 ||
			got.CreatedAt.IsZero() || !got.UpdatedAt.Equal(got.CreatedAt) || got.CreatedAt.Location() != time.UTC ||
			got.CreatedAt.Nanosecond()%1000 != 0 {
			t.Errorf("Create(alice) = %+v", got)
		}
		stored, err := s.Get(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, stored); diff != "" {
			t.Errorf("Get(alice) differs from what Create returned (-create +get):\n%s", diff)
		}

		// The name defaults to the ID; a password is flagged, never returned.
		bob := mustCreate(t, s, CreateParams{ID: "bob", Password: "hunter2hunter2"})
		if bob.Name != "bob" || !bob.HasPassword {
			t.Errorf("Create(bob) = %+v, want name bob with a password", bob)
		}
		if stored, _ := s.Get(ctx, "bob"); !stored.HasPassword {
			t.Errorf("Get(bob).HasPassword = false")
		}

		// Assigned IDs.
		a1 := mustCreate(t, s, CreateParams{Name: "anonymous"})
		a2 := mustCreate(t, s, CreateParams{})
		if err := ValidateID(a1.ID); err != nil || a1.ID == a2.ID || len(a1.ID) != 26 {
			t.Errorf("assigned IDs %q, %q: want two different valid IDs (%v)", a1.ID, a2.ID, err)
		}
		if a2.Name != a2.ID {
			t.Errorf("assigned user's name = %q, want its ID %q", a2.Name, a2.ID)
		}
		if _, err := s.Get(ctx, a1.ID); err != nil {
			t.Errorf("Get(assigned %q) = %v", a1.ID, err)
		}

		// Errors.
		if _, err := s.Create(ctx, CreateParams{ID: "alice"}); !errors.Is(err, ErrExists) {
			t.Errorf("Create(alice again) = %v, want ErrExists", err)
		}
		if _, err := s.Create(ctx, CreateParams{ID: "Alice"}); err != nil {
			t.Errorf("Create(Alice) = %v: IDs are case-sensitive", err)
		}
		_, err = s.Create(ctx, CreateParams{ID: "a/b", Name: "x\x00", Password: "short", AvatarURL: "ftp://x", ExtendedData: "\xff"})
		wantInvalid(t, err, "userID", "userName", "password", "avatarURL", "extendedData")
		if err != nil && strings.Contains(err.Error(), "short") {
			t.Errorf("error %q contains the password", err)
		}
		if _, err := s.Get(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(nobody) = %v, want ErrNotFound", err)
		}
		if _, err := s.Get(ctx, "ALICE"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(ALICE) = %v, want ErrNotFound", err)
		}
	})
}

// fixedReader returns the same bytes forever: every assigned ID collides.
type fixedReader struct{}

func (fixedReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestCreateAssignedIDCollision(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		s := newStoreOn(t, d, Options{Rand: fixedReader{}})
		mustCreate(t, s, CreateParams{})
		// Retries, then gives up: the store does not loop forever on a broken
		// random source.
		if _, err := s.Create(context.Background(), CreateParams{}); !errors.Is(err, ErrExists) {
			t.Errorf("Create with a colliding ID = %v, want ErrExists", err)
		}
	})
}

func TestList(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		s := newStoreOn(t, d, Options{})
		ids := []string{"a", "A", "a%", "a%b", "a_", "a_b", "aXb", "a[b", "a[", "ab", "aB", "b", "[", "%", "_", "~", "a-b", "a~"}
		for _, id := range ids {
			mustCreate(t, s, CreateParams{ID: id})
		}
		// Byte order: '%' < '-' < 'A' < 'X' < '[' < '_' < 'a' < 'b' < '~'.
		all := []string{"%", "A", "[", "_", "a", "a%", "a%b", "a-b", "aB", "aXb", "a[", "a[b", "a_", "a_b", "ab", "a~", "b", "~"}

		listAll := func(t *testing.T, o ListOptions) []string {
			t.Helper()
			var got []string
			for pages := 0; ; pages++ {
				if pages > len(ids) {
					t.Fatalf("List(%+v) does not end", o)
				}
				p, err := s.List(ctx, o)
				if err != nil {
					t.Fatalf("List(%+v) = %v", o, err)
				}
				if len(p.Users) > max(o.Limit, 1) {
					t.Fatalf("List(%+v) returned %d users", o, len(p.Users))
				}
				for _, u := range p.Users {
					got = append(got, u.ID)
				}
				if p.Next == "" {
					return got
				}
				if len(p.Users) == 0 || p.Next != p.Users[len(p.Users)-1].ID {
					t.Fatalf("List(%+v).Next = %q, want the last ID of a non-empty page", o, p.Next)
				}
				o.After = p.Next
			}
		}
		tests := []struct {
			prefix string
			want   []string
		}{
			{"", all},
			{"a", []string{"a", "a%", "a%b", "a-b", "aB", "aXb", "a[", "a[b", "a_", "a_b", "ab", "a~"}},
			{"A", []string{"A"}},
			{"a%", []string{"a%", "a%b"}},
			{"a_", []string{"a_", "a_b"}},
			{"a[", []string{"a[", "a[b"}},
			{"%", []string{"%"}},
			{"_", []string{"_"}},
			{"[", []string{"["}},
			{"~", []string{"~"}},
			{"a~", []string{"a~"}},
			{"ab", []string{"ab"}},
			{"zz", nil},
		}
		for _, tt := range tests {
			for _, limit := range []int{1, 2, 5, 1000} {
				got := listAll(t, ListOptions{Prefix: tt.prefix, Limit: limit})
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("List(prefix %q, limit %d) (-want +got):\n%s", tt.prefix, limit, diff)
				}
			}
		}

		// The default limit, a page that fits exactly, a cursor between IDs.
		p, err := s.List(ctx, ListOptions{})
		if err != nil || len(p.Users) != len(ids) || p.Next != "" {
			t.Errorf("List({}) = %d users, next %q, %v; want %d, no next", len(p.Users), p.Next, err, len(ids))
		}
		p, err = s.List(ctx, ListOptions{Limit: len(ids)})
		if err != nil || p.Next != "" {
			t.Errorf("List(limit %d) next = %q, %v; want no next page", len(ids), p.Next, err)
		}
		p, err = s.List(ctx, ListOptions{After: "a%c", Prefix: "a", Limit: 2})
		if err != nil || len(p.Users) != 2 || p.Users[0].ID != "a-b" || p.Next != "aB" {
			t.Errorf("List(after a%%c, prefix a, limit 2) = %+v, %v", p, err)
		}
		_, err = s.List(ctx, ListOptions{Limit: 1001, After: "a b", Prefix: "a,"})
		wantInvalid(t, err, "limit", "after", "prefix")
	})
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		s := newStoreOn(t, d, Options{})
		orig := mustCreate(t, s, CreateParams{ID: "u", Name: "Ursula", AvatarURL: "https://a.example/u.png", ExtendedData: "x"})

		// Each step applies a patch to the previous state.
		steps := []struct {
			name      string
			patch     Patch
			want      func(u *User)
			bumpEpoch bool
		}{
			{"name only", Patch{Name: ptr("Ula")}, func(u *User) { u.Name = "Ula" }, false},
			{"avatar and data", Patch{AvatarURL: ptr(""), ExtendedData: ptr(`{"k":"v"}`)},
				func(u *User) { u.AvatarURL, u.ExtendedData = "", `{"k":"v"}` }, false},
			{"name reset to ID", Patch{Name: ptr("")}, func(u *User) { u.Name = "u" }, false},
			{"set password", Patch{Password: ptr("new password")}, func(u *User) { u.HasPassword = true }, true},
			{"change password", Patch{Password: ptr("newer password")}, func(u *User) {}, true},
			{"disable", Patch{Disabled: ptr(true)}, func(u *User) { u.Disabled = true }, true},
			{"disable again", Patch{Disabled: ptr(true)}, func(u *User) {}, false},
			{"enable", Patch{Disabled: ptr(false)}, func(u *User) { u.Disabled = false }, true},
			{"remove password", Patch{Password: ptr("")}, func(u *User) { u.HasPassword = false }, true},
			{"enable again with a name", Patch{Disabled: ptr(false), Name: ptr("U")}, func(u *User) { u.Name = "U" }, false},
			{"disable and set password", Patch{Disabled: ptr(true), Password: ptr("p4ssw0rd!")},
				func(u *User) { u.Disabled, u.HasPassword = true, true }, true},
		}
		prev := orig
		for _, st := range steps {
			before, got, err := s.Update(ctx, "u", st.patch)
			if err != nil {
				t.Fatalf("%s: Update = %v", st.name, err)
			}
			if diff := cmp.Diff(prev, before); diff != "" {
				t.Errorf("%s: Update's before (-want +got):\n%s", st.name, diff)
			}
			want := prev
			st.want(&want)
			if !got.UpdatedAt.After(prev.UpdatedAt) {
				t.Errorf("%s: UpdatedAt %v not after %v", st.name, got.UpdatedAt, prev.UpdatedAt)
			}
			if bumped := got.SessionEpoch != prev.SessionEpoch; bumped != st.bumpEpoch {
				t.Errorf("%s: epoch %d -> %d, want bumped = %v", st.name, prev.SessionEpoch, got.SessionEpoch, st.bumpEpoch)
			}
			want.UpdatedAt, want.SessionEpoch = got.UpdatedAt, got.SessionEpoch
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: Update (-want +got):\n%s", st.name, diff)
			}
			if stored, err := s.Get(ctx, "u"); err != nil || !cmp.Equal(stored, got) {
				t.Errorf("%s: Get after Update = %+v, %v; want %+v", st.name, stored, err, got)
			}
			prev = got
		}
		if _, err := s.CheckPassword(ctx, "u", "p4ssw0rd!"); err != nil {
			t.Errorf("CheckPassword(updated password) = %v", err)
		}

		// An empty patch changes nothing.
		before, got, err := s.Update(ctx, "u", Patch{})
		if err != nil || !cmp.Equal(got, prev) || !cmp.Equal(before, prev) {
			t.Errorf("Update(empty patch) = %+v, %+v, %v; want %+v twice", before, got, err, prev)
		}
		if _, _, err := s.Update(ctx, "nobody", Patch{Name: ptr("x")}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Update(nobody) = %v, want ErrNotFound", err)
		}
		if _, _, err := s.Update(ctx, "nobody", Patch{}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Update(nobody, empty patch) = %v, want ErrNotFound", err)
		}
		_, _, err = s.Update(ctx, "u", Patch{Name: ptr("\n"), Password: ptr("short"), AvatarURL: ptr("x"), ExtendedData: ptr("\x00")})
		wantInvalid(t, err, "userName", "password", "avatarURL", "extendedData")
		if stored, _ := s.Get(ctx, "u"); !cmp.Equal(stored, prev) {
			t.Errorf("an invalid Update changed the user: %+v", stored)
		}
	})
}

func TestSetDisabled(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		s := newStoreOn(t, d, Options{})
		u := mustCreate(t, s, CreateParams{ID: "d", Password: "password1"})

		off, err := s.SetDisabled(ctx, "d", true)
		if err != nil || !off.Disabled || off.SessionEpoch == u.SessionEpoch {
			t.Errorf("SetDisabled(true) = %+v, %v; want disabled with a new epoch", off, err)
		}
		// A disabled user still passes CheckPassword: the caller decides.
		if got, err := s.CheckPassword(ctx, "d", "password1"); err != nil || !got.Disabled {
			t.Errorf("CheckPassword(disabled user) = %+v, %v", got, err)
		}
		on, err := s.SetDisabled(ctx, "d", false)
		if err != nil || on.Disabled || on.SessionEpoch == off.SessionEpoch {
			t.Errorf("SetDisabled(false) = %+v, %v; want enabled with a new epoch", on, err)
		}
		same, err := s.SetDisabled(ctx, "d", false)
		if err != nil || same.SessionEpoch != on.SessionEpoch {
			t.Errorf("SetDisabled(false) twice changed the epoch: %+v, %v", same, err)
		}
		if _, err := s.SetDisabled(ctx, "nobody", true); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetDisabled(nobody) = %v, want ErrNotFound", err)
		}
	})
}

func TestDelete(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		s := newStoreOn(t, d, Options{})
		u := mustCreate(t, s, CreateParams{ID: "gone"})
		mustCreate(t, s, CreateParams{ID: "stays"})
		if err := s.Delete(ctx, "gone"); err != nil {
			t.Fatalf("Delete(gone) = %v", err)
		}
		if _, err := s.Get(ctx, "gone"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(deleted) = %v, want ErrNotFound", err)
		}
		if err := s.Delete(ctx, "gone"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Delete(deleted) = %v, want ErrNotFound", err)
		}
		if _, err := s.Get(ctx, "stays"); err != nil {
			t.Errorf("Get(stays) = %v", err)
		}
		// Created again, the user gets a new random epoch: old sessions stay dead.
		again := mustCreate(t, s, CreateParams{ID: "gone"})
		if again.SessionEpoch == u.SessionEpoch {
			t.Errorf("recreated user kept epoch %d", u.SessionEpoch)
		}
	})
}

func TestImport(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		s := newStoreOn(t, d, Options{})
		mustCreate(t, s, CreateParams{ID: "old", Name: "Old Name"})

		batch := []CreateParams{
			{ID: "n1", Name: "One", Password: "password-one"},
			{ID: "old", Name: "New Name"},
			{ID: "bad id"},
			{ID: "n2", AvatarURL: "https://a.example/2.png", ExtendedData: "{}"},
			{ID: "n1", Name: "Second n1"},
			{},
			{ID: "n3", Password: "short"},
		}
		type result struct {
			ID     string
			Status ImportStatus
			Fields string
		}
		summarize := func(rs []ImportResult) []result {
			var out []result
			for _, r := range rs {
				var fields []string
				var ie *InvalidError
				if errors.As(r.Err, &ie) {
					for _, f := range ie.Fields {
						fields = append(fields, f.Field)
					}
				}
				out = append(out, result{r.ID, r.Status, strings.Join(fields, ",")})
			}
			return out
		}
		got, err := s.Import(ctx, batch)
		if err != nil {
			t.Fatalf("Import = %v", err)
		}
		want := []result{
			{"n1", ImportCreated, ""},
			{"old", ImportExists, ""},
			{"bad id", ImportInvalid, "userID"},
			{"n2", ImportCreated, ""},
			{"n1", ImportExists, ""},
			{"", ImportInvalid, "userID"},
			{"n3", ImportInvalid, "password"},
		}
		if diff := cmp.Diff(want, summarize(got)); diff != "" {
			t.Errorf("Import (-want +got):\n%s", diff)
		}
		if u, _ := s.Get(ctx, "old"); u.Name != "Old Name" {
			t.Errorf("Import touched an existing user: name %q", u.Name)
		}
		n1, err := s.CheckPassword(ctx, "n1", "password-one")
		if err != nil || n1.Name != "One" {
			t.Errorf("CheckPassword(imported n1) = %+v, %v", n1, err)
		}
		n2, _ := s.Get(ctx, "n2")
		if n2.AvatarURL != "https://a.example/2.png" || n2.ExtendedData != "{}" || n2.Name != "n2" || n2.HasPassword {
			t.Errorf("imported n2 = %+v", n2)
		}

		// Running it again is harmless.
		again, err := s.Import(ctx, batch)
		if err != nil {
			t.Fatalf("Import again = %v", err)
		}
		for i := range want {
			if want[i].Status == ImportCreated {
				want[i].Status = ImportExists
			}
		}
		if diff := cmp.Diff(want, summarize(again)); diff != "" {
			t.Errorf("Import again (-want +got):\n%s", diff)
		}
		if u, _ := s.Get(ctx, "n1"); !cmp.Equal(u, n1) {
			t.Errorf("Import again changed n1: %+v, was %+v", u, n1)
		}
		if n, _ := s.Count(ctx); n != 3 {
			t.Errorf("Count() = %d, want 3", n)
		}

		// Empty, and the limit.
		if rs, err := s.Import(ctx, nil); err != nil || len(rs) != 0 {
			t.Errorf("Import(nil) = %v, %v", rs, err)
		}
		big := make([]CreateParams, MaxImport+1)
		for i := range big {
			big[i].ID = fmt.Sprintf("big%d", i)
		}
		if _, err := s.Import(ctx, big); !errors.Is(err, ErrTooMany) {
			t.Errorf("Import(%d users) = %v, want ErrTooMany", len(big), err)
		}
		if n, _ := s.Count(ctx); n != 3 {
			t.Errorf("Count() after a refused import = %d, want 3", n)
		}
		rs, err := s.Import(ctx, big[:MaxImport])
		if err != nil || len(rs) != MaxImport || rs[MaxImport-1].Status != ImportCreated {
			t.Errorf("Import(%d users) = %d results, %v", MaxImport, len(rs), err)
		}
	})
}

// TestImportUserDeletedMeanwhile covers a user that existed when Import
// looked, so its password was not hashed, and was gone by the time the
// transaction ran.
func TestImportUserDeletedMeanwhile(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		s := newStoreOn(t, d, Options{})
		mustCreate(t, s, CreateParams{ID: "stays"})
		us := []CreateParams{{ID: "gone", Password: "password-gone"}, {ID: "stays", Password: "password-stays"}}
		results := make([]ImportResult, len(us))
		if err := s.insertAll(ctx, us, make([]sql.NullString, len(us)), results); err != nil {
			t.Fatal(err)
		}
		if results[0].Status != ImportCreated || results[1].Status != ImportExists {
			t.Errorf("insertAll results = %+v, want created, exists", results)
		}
		if _, err := s.CheckPassword(ctx, "gone", "password-gone"); err != nil {
			t.Errorf("CheckPassword(gone) = %v", err)
		}
		if _, err := s.CheckPassword(ctx, "stays", "password-stays"); err != ErrInvalidCredentials {
			t.Errorf("CheckPassword(stays) = %v: an existing user was changed", err)
		}
	})
}

// failingReader fails once it has given n bytes.
type failingReader struct {
	mu sync.Mutex
	n  int
}

func (r *failingReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n < len(p) {
		return 0, errors.New("random source exhausted")
	}
	r.n -= len(p)
	return rand.Read(p)
}

func TestImportFailureWritesNothing(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		// The store takes a 16-byte salt; each imported user an 8-byte epoch.
		// The 6th user's epoch fails, in the middle of the transaction.
		s := newStoreOn(t, d, Options{Rand: &failingReader{n: 16 + 5*8}})
		var batch []CreateParams
		for i := range 10 {
			batch = append(batch, CreateParams{ID: fmt.Sprintf("u%d", i)})
		}
		if _, err := s.Import(ctx, batch); err == nil {
			t.Fatal("Import with a failing random source = nil error")
		}
		if n, err := s.Count(ctx); err != nil || n != 0 {
			t.Errorf("Count() = %d, %v; want 0", n, err)
		}
		if p, err := s.List(ctx, ListOptions{}); err != nil || len(p.Users) != 0 {
			t.Errorf("List() = %d users, %v; want none", len(p.Users), err)
		}
	})
}

func TestImportCanceled(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		s := newStoreOn(t, d, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Import(ctx, []CreateParams{{ID: "a", Password: "password"}, {ID: "b"}}); !errors.Is(err, context.Canceled) {
			t.Errorf("Import(canceled) = %v, want context.Canceled", err)
		}
		if n, _ := s.Count(context.Background()); n != 0 {
			t.Errorf("Count() = %d, want 0", n)
		}
	})
}

func TestCount(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		s := newStoreOn(t, d, Options{})
		check := func(want int64) {
			t.Helper()
			got, err := s.Count(ctx)
			if err != nil || got != want {
				t.Errorf("Count() = %d, %v; want %d", got, err, want)
			}
		}
		check(0)
		mustCreate(t, s, CreateParams{ID: "a"})
		mustCreate(t, s, CreateParams{})
		check(2)
		s.Create(ctx, CreateParams{ID: "a"}) // exists: no change
		check(2)
		if _, err := s.Import(ctx, []CreateParams{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "c"}, {ID: "bad/"}}); err != nil {
			t.Fatal(err)
		}
		check(4)
		if err := s.Delete(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		s.Delete(ctx, "a")
		check(3)
		s.SetDisabled(ctx, "b", true)
		check(3)
	})
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		s := newStoreOn(t, d, Options{})
		mustCreate(t, s, CreateParams{ID: "p", Password: "right password"})
		mustCreate(t, s, CreateParams{ID: "nopw"})

		u, err := s.CheckPassword(ctx, "p", "right password")
		if err != nil || u.ID != "p" {
			t.Errorf("CheckPassword(right) = %+v, %v", u, err)
		}
		tests := []struct{ name, id, password string }{
			{"wrong password", "p", "wrong password"},
			{"prefix of the password", "p", "right passwor"},
			{"empty password", "p", ""},
			{"too long", "p", "right password" + strings.Repeat("x", MaxPasswordLen)},
			{"unknown user", "nobody", "right password"},
			{"no password set", "nopw", ""},
			{"no password set, some given", "nopw", "anything at all"},
		}
		for _, tt := range tests {
			u, err := s.CheckPassword(ctx, tt.id, tt.password)
			if err != ErrInvalidCredentials || u != (User{}) {
				t.Errorf("%s: CheckPassword(%q) = %+v, %v; want ErrInvalidCredentials", tt.name, tt.id, u, err)
			}
		}
	})
}

func TestCheckPasswordCostsAlike(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, Options{})
	// Every path hashes once with the store's parameters: the dummy hash
	// used for users without one has the same parameters as real ones.
	p, salt, key, err := decodeHash(s.dummyHash)
	if err != nil || p != s.hash || len(salt) != saltLen || len(key) != keyLen {
		t.Errorf("dummy hash %q: %+v, %v", s.dummyHash, p, err)
	}
}

// TestHashWaitsForASlot: with every hashing slot taken, a hash waits until
// its context ends. The bubble's clock reaches the deadline as soon as
// everything waits, so the test takes no wall-clock time.
func TestHashWaitsForASlot(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := newTestStore(t, Options{})
		for range cap(s.hashSlots) {
			s.hashSlots <- struct{}{}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		start := time.Now()
		if _, err := s.CheckPassword(ctx, "nobody", "password"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("CheckPassword with every slot taken = %v, want context.DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited != 20*time.Millisecond {
			t.Errorf("CheckPassword with every slot taken returned after %v, want at the deadline, 20ms", waited)
		}
		if _, err := s.Create(ctx, CreateParams{ID: "x", Password: "password"}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Create with every slot taken = %v, want context.DeadlineExceeded", err)
		}
		<-s.hashSlots
		if _, err := s.Create(context.Background(), CreateParams{ID: "x", Password: "password"}); err != nil {
			t.Errorf("Create with a slot free = %v", err)
		}
	})
}

func TestPasswordHashFormat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestStore(t, Options{})
	h1, err := s.hashPassword(ctx, "same password")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := s.hashPassword(ctx, "same password")
	if h1 == h2 {
		t.Error("two hashes of one password are equal: no salt?")
	}
	if !strings.HasPrefix(h1, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %q is not a PHC argon2id string with the store's parameters", h1)
	}
	if strings.Contains(h1, "same password") {
		t.Errorf("hash %q contains the password", h1)
	}
	// A hash made with other parameters still verifies: each hash carries
	// its own.
	other := newTestStore(t, Options{Hash: HashParams{Memory: 128, Time: 2, Threads: 2}})
	h3, _ := other.hashPassword(ctx, "same password")
	for _, h := range []string{h1, h3} {
		if ok, err := s.verifyPassword(ctx, h, "same password"); !ok || err != nil {
			t.Errorf("verifyPassword(%q) = %v, %v", h, ok, err)
		}
		if ok, err := s.verifyPassword(ctx, h, "other password"); ok || err != nil {
			t.Errorf("verifyPassword(%q, wrong) = %v, %v", h, ok, err)
		}
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$t=1,m=64,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=256$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
	} {
		if _, _, _, err := decodeHash(bad); err == nil {
			t.Errorf("decodeHash(%q) = nil error", bad)
		}
	}
}

// TestDefaultHashParams runs the production parameters once.
func TestDefaultHashParams(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		s, err := NewStore(d.Open(t), Options{})
		if err != nil {
			t.Fatal(err)
		}
		mustCreate(t, s, CreateParams{ID: "prod", Password: "production password"})
		if _, err := s.CheckPassword(ctx, "prod", "production password"); err != nil {
			t.Errorf("CheckPassword(right) = %v", err)
		}
		if _, err := s.CheckPassword(ctx, "nobody", "production password"); err != ErrInvalidCredentials {
			t.Errorf("CheckPassword(unknown) = %v", err)
		}
	})
}

func TestConcurrentCreates(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		const goroutines, perGoroutine = 16, 500
		ctx := context.Background()
		s := newStoreOn(t, d, Options{})
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		acked := make([][]string, goroutines)
		for g := range goroutines {
			wg.Go(func() {
				for i := range perGoroutine {
					nu := CreateParams{ID: fmt.Sprintf("g%d-%d", g, i)}
					if i%2 == 1 {
						nu.ID = "" // half of them assigned
					}
					u, err := s.Create(ctx, nu)
					if err != nil {
						errs <- fmt.Errorf("Create(%q): %w", nu.ID, err)
						return
					}
					acked[g] = append(acked[g], u.ID)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for _, ids := range acked {
			for _, id := range ids {
				if _, err := s.Get(ctx, id); err != nil {
					t.Fatalf("Get(acknowledged %q) = %v", id, err)
				}
			}
		}
		if n, err := s.Count(ctx); err != nil || n != goroutines*perGoroutine {
			t.Errorf("Count() = %d, %v; want %d", n, err, goroutines*perGoroutine)
		}
	})
}

// TestUpdateBeforeIsStored: Update's before is the row its transaction
// changed, not Get's cached copy, which may predate another process's write.
func TestUpdateBeforeIsStored(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		db := d.Open(t)
		a, err := NewStore(db, Options{Hash: testHash})
		if err != nil {
			t.Fatal(err)
		}
		b, err := NewStore(db, Options{Hash: testHash})
		if err != nil {
			t.Fatal(err)
		}
		mustCreate(t, a, CreateParams{ID: "erin"})
		if u, err := a.Get(ctx, "erin"); err != nil || u.Disabled { // now cached, enabled
			t.Fatalf("Get = %+v, %v", u, err)
		}
		off, err := b.SetDisabled(ctx, "erin", true)
		if err != nil {
			t.Fatal(err)
		}
		before, after, err := a.Update(ctx, "erin", Patch{Disabled: ptr(true)})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(off, before); diff != "" {
			t.Errorf("Update's before is not the stored row (-want +got):\n%s", diff)
		}
		if !after.Disabled || after.SessionEpoch != off.SessionEpoch {
			t.Errorf("Update's after = %+v; want disabled with the unchanged epoch %d", after, off.SessionEpoch)
		}
	})
}
