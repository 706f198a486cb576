package users

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"authsvc/internal/sqldb/sqldbtest"
)

func TestResolveIdentity(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		s := newStoreOn(t, d, Options{})
		ctx := context.Background()
		mustCreate(t, s, CreateParams{ID: "first"})
		u, _, err := s.ResolveIdentity(ctx, Identity{Issuer: "https://idp.example", Subject: "sub-1", Candidate: "first"})
		if err != nil || u.ID != "first" {
			t.Fatalf("first resolution = %+v, %v", u, err)
		}
		// The stored link wins over a later candidate.
		if u, _, err = s.ResolveIdentity(ctx, Identity{Issuer: "https://idp.example", Subject: "sub-1", Candidate: "second"}); err != nil || u.ID != "first" {
			t.Errorf("second resolution = %+v, %v; want the linked first", u, err)
		}
		// Subjects are per issuer; without provisioning a missing user is
		// refused, but the link stays.
		var ue *UnregisteredError
		other := Identity{Issuer: "https://other.example", Subject: "sub-1", Candidate: "other"}
		if _, _, err := s.ResolveIdentity(ctx, other); !errors.As(err, &ue) || ue.ID != "other" {
			t.Errorf("other issuer, no user = %v, want *UnregisteredError for %q", err, "other")
		}
		if _, _, err := s.ResolveIdentity(ctx, Identity{Issuer: other.Issuer, Subject: other.Subject, Candidate: "changed"}); !errors.As(err, &ue) || ue.ID != "other" {
			t.Errorf("other issuer again = %v, want *UnregisteredError for the linked %q", err, "other")
		}
		mustCreate(t, s, CreateParams{ID: "other"})
		if u, _, err := s.ResolveIdentity(ctx, other); err != nil || u.ID != "other" {
			t.Errorf("other issuer once the user exists = %+v, %v", u, err)
		}
		var ie *InvalidError
		if _, _, err := s.ResolveIdentity(ctx, Identity{Issuer: "https://idp.example", Subject: "sub-2", Candidate: "not valid", Provision: true}); !errors.As(err, &ie) || ie.Fields[0].Code != CodeInvalidUserID {
			t.Errorf("invalid candidate: %v", err)
		}
		if n, _ := s.Count(ctx); n != 2 {
			t.Errorf("Count() = %d, want 2: nothing provisioned", n)
		}
	})
}

func TestResolveIdentityProvision(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		s := newStoreOn(t, d, Options{})
		ctx := context.Background()
		id := Identity{Issuer: "iss", Subject: "grace", Candidate: "grace", Provision: true, Name: "Grace Hopper"}
		u, created, err := s.ResolveIdentity(ctx, id)
		if err != nil || !created || u.ID != "grace" || u.Name != "Grace Hopper" || u.HasPassword || u.Disabled || u.CreatedAt.IsZero() {
			t.Fatalf("ResolveIdentity(new, provision) = %+v, %v, %v", u, created, err)
		}
		if _, created, err := s.ResolveIdentity(ctx, id); err != nil || created {
			t.Errorf("ResolveIdentity(provisioned before) = created %v, %v; want an existing user", created, err)
		}
		if stored, err := s.Get(ctx, "grace"); err != nil || !cmp.Equal(stored, u) {
			t.Errorf("Get(provisioned) = %+v, %v; want %+v", stored, err, u)
		}
		// A disabled user is returned disabled, not re-created or re-enabled.
		off, err := s.SetDisabled(ctx, "grace", true)
		if err != nil {
			t.Fatal(err)
		}
		if got, _, err := s.ResolveIdentity(ctx, id); err != nil || !cmp.Equal(got, off) {
			t.Errorf("ResolveIdentity(disabled) = %+v, %v; want %+v", got, err, off)
		}
		// A deleted user is provisioned again under the linked userID, even
		// when the candidate has changed since.
		if err := s.Delete(ctx, "grace"); err != nil {
			t.Fatal(err)
		}
		again, _, err := s.ResolveIdentity(ctx, Identity{Issuer: "iss", Subject: "grace", Candidate: "hashed", Provision: true})
		if err != nil || again.ID != "grace" || again.Disabled || again.SessionEpoch == off.SessionEpoch {
			t.Errorf("ResolveIdentity(deleted, provision) = %+v, %v; want a new enabled grace", again, err)
		}
		// A name that breaks the name rule falls back to the userID.
		for _, name := range []string{"", "line\nbreak", strings.Repeat("n", 1000)} {
			sub := fmt.Sprintf("bad-name-%d", len(name))
			u, _, err := s.ResolveIdentity(ctx, Identity{Issuer: "iss", Subject: sub, Candidate: sub, Provision: true, Name: name})
			if err != nil || u.Name != sub {
				t.Errorf("ResolveIdentity(name %q) = %+v, %v; want the name %q", name, u, err, sub)
			}
		}
	})
}

// TestResolveIdentityConcurrentFirstUse: first resolutions of one subject
// that race each other agree on one userID and create one user.
func TestResolveIdentityConcurrentFirstUse(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		s := newStoreOn(t, d, Options{})
		var wg sync.WaitGroup
		got := make([]User, 16)
		for i := range got {
			wg.Go(func() {
				u, _, err := s.ResolveIdentity(context.Background(),
					Identity{Issuer: "iss", Subject: "sub", Candidate: fmt.Sprintf("cand%d", i), Provision: true})
				if err != nil {
					t.Error(err)
				}
				got[i] = u
			})
		}
		wg.Wait()
		for _, u := range got {
			if !cmp.Equal(u, got[0]) {
				t.Fatalf("concurrent first resolutions disagree: %+v and %+v", got[0], u)
			}
		}
		if n, err := s.Count(context.Background()); err != nil || n != 1 {
			t.Errorf("Count() = %d, %v; want 1", n, err)
		}
	})
}
