package users

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestLinkIdentity(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, Options{})
	ctx := context.Background()
	id, err := s.LinkIdentity(ctx, "https://idp.example", "sub-1", "first")
	if err != nil || id != "first" {
		t.Fatalf("first link = %q, %v", id, err)
	}
	// The stored answer wins over a later candidate.
	if id, err = s.LinkIdentity(ctx, "https://idp.example", "sub-1", "second"); err != nil || id != "first" {
		t.Errorf("second link = %q, %v; want the stored first", id, err)
	}
	// Subjects are per issuer.
	if id, err = s.LinkIdentity(ctx, "https://other.example", "sub-1", "other"); err != nil || id != "other" {
		t.Errorf("other issuer = %q, %v", id, err)
	}
	var ie *InvalidError
	if _, err := s.LinkIdentity(ctx, "https://idp.example", "sub-2", "not valid"); !errors.As(err, &ie) || ie.Fields[0].Code != CodeInvalidUserID {
		t.Errorf("invalid candidate: %v", err)
	}
}

func TestLinkIdentityConcurrentFirstUse(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, Options{})
	var wg sync.WaitGroup
	got := make([]string, 16)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := s.LinkIdentity(context.Background(), "iss", "sub", fmt.Sprintf("cand%d", i))
			if err != nil {
				t.Error(err)
			}
			got[i] = id
		}()
	}
	wg.Wait()
	for _, id := range got {
		if id != got[0] {
			t.Fatalf("concurrent first links disagree: %q", got)
		}
	}
}
