package users

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"authsvc/internal/sqldb/sqldbtest"
	"authsvc/internal/zimsync"
)

// TestOnChange wires the ZIM sync outbox in as cmd does, and checks that
// every write ZIM must hear of enqueues its users in the write's own
// transaction, that other writes do not, and that a failing hook rolls the
// write back.
func TestOnChange(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		clock := new(testClock)
		db := d.Open(t)
		ob := zimsync.NewOutbox(db, clock.Now)
		const app = 1234
		var fail error
		s, err := NewStore(db, Options{Hash: testHash, Now: clock.Now,
			OnChange: func(ctx context.Context, tx *sql.Tx, ids ...string) error {
				if fail != nil {
					return fail
				}
				return ob.Enqueue(ctx, tx, app, ids...)
			}})
		if err != nil {
			t.Fatal(err)
		}
		versions := func() map[string]int64 {
			t.Helper()
			rows, err := db.Reader.Query(`SELECT user_id, version FROM zim_outbox ORDER BY user_id`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			got := map[string]int64{}
			for rows.Next() {
				var id string
				var v int64
				if err := rows.Scan(&id, &v); err != nil {
					t.Fatal(err)
				}
				got[id] = v
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return got
		}

		mustCreate(t, s, CreateParams{ID: "alice", Password: "correct horse battery"})
		if _, err := s.Import(ctx, []CreateParams{{ID: "bob"}, {ID: "carol"}, {ID: "alice"}}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.ResolveIdentity(ctx, Identity{Issuer: "https://idp.example", Subject: "s", Candidate: "dave", Provision: true}); err != nil {
			t.Fatal(err)
		}
		// Changes ZIM keeps a copy of, and changes it does not.
		for _, p := range []Patch{{Name: ptr("Alice")}, {AvatarURL: ptr("https://a.example/a.png")},
			{ExtendedData: ptr(`{"k":1}`)}, {Name: ptr("Alice")}, {Password: ptr("another long password")},
			{Disabled: ptr(true)}} {
			if _, _, err := s.Update(ctx, "alice", p); err != nil {
				t.Fatal(err)
			}
		}
		want := map[string]int64{"alice": 4, "bob": 1, "carol": 1, "dave": 1}
		if diff := cmp.Diff(want, versions()); diff != "" {
			t.Errorf("outbox versions (-want +got):\n%s", diff)
		}

		fail = errors.New("hook failed")
		if _, err := s.Create(ctx, CreateParams{ID: "erin"}); !errors.Is(err, fail) {
			t.Errorf("Create with a failing hook = %v, want the hook's error", err)
		}
		if _, err := s.Import(ctx, []CreateParams{{ID: "frank"}}); !errors.Is(err, fail) {
			t.Errorf("Import with a failing hook = %v, want the hook's error", err)
		}
		if _, _, err := s.Update(ctx, "bob", Patch{Name: ptr("Bob")}); !errors.Is(err, fail) {
			t.Errorf("Update with a failing hook = %v, want the hook's error", err)
		}
		for _, id := range []string{"erin", "frank"} {
			if _, err := s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get(%s) after a failed hook = %v, want ErrNotFound", id, err)
			}
		}
		if u, err := s.Get(ctx, "bob"); err != nil || u.Name != "bob" {
			t.Errorf("Get(bob) after a failed hook = %+v, %v; want the name unchanged", u, err)
		}
		fail = nil

		// A deleted user's row goes with it.
		if err := s.Delete(ctx, "carol"); err != nil {
			t.Fatal(err)
		}
		delete(want, "carol")
		if diff := cmp.Diff(want, versions()); diff != "" {
			t.Errorf("outbox versions after a delete (-want +got):\n%s", diff)
		}
	})
}

// BenchmarkImportWithZIMSync is BenchmarkImport with the ZIM sync outbox
// written in each import's transaction, as with sync turned on.
func BenchmarkImportWithZIMSync(b *testing.B) {
	eachDialect(b, func(b *testing.B, d sqldbtest.Dialect) {
		var ob *zimsync.Outbox
		s := newStoreOn(b, d, Options{Now: time.Now, OnChange: func(ctx context.Context, tx *sql.Tx, ids ...string) error {
			return ob.Enqueue(ctx, tx, 1234, ids...)
		}})
		ob = zimsync.NewOutbox(s.db, time.Now)
		benchmarkImportStore(b, s)
	})
}
