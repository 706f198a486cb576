package users

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestLimits: with ZIM's limits set, create, import and update refuse what
// ZIM would refuse, with the field's stable code, and SetLimits changes
// them for the next write.
func TestLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestStore(t, Options{Limits: Limits{AvatarURLLen: 500, ExtendedDataLen: 2048, Why: "ZIM's"}})
	avatar := func(n int) string { return "https://a.example/" + strings.Repeat("a", n-len("https://a.example/")) }
	fieldOf := func(err error) FieldError {
		t.Helper()
		var ie *InvalidError
		if !errors.As(err, &ie) || len(ie.Fields) != 1 {
			t.Fatalf("err = %v, want one invalid field", err)
		}
		return ie.Fields[0]
	}

	mustCreate(t, s, CreateParams{ID: "fits", AvatarURL: avatar(500), ExtendedData: strings.Repeat("x", 2048)})
	_, err := s.Create(ctx, CreateParams{ID: "long-avatar", AvatarURL: avatar(501)})
	if f := fieldOf(err); f.Field != "avatarURL" || f.Code != CodeInvalidAvatarURL || f.Rule != RuleTooLong || f.Offset != 500 ||
		!strings.Contains(f.Message, "ZIM's maximum of 500") {
		t.Errorf("Create(501-byte avatar) = %+v", f)
	}
	_, err = s.Create(ctx, CreateParams{ID: "long-extra", ExtendedData: strings.Repeat("x", 2049)})
	if f := fieldOf(err); f.Field != "extendedData" || f.Code != CodeInvalidExtendedData || f.Rule != RuleTooLong {
		t.Errorf("Create(2049-byte extendedData) = %+v", f)
	}
	// Past the package's own bound, only its error is reported.
	_, err = s.Create(ctx, CreateParams{ID: "huge", ExtendedData: strings.Repeat("x", MaxExtendedDataLen+1)})
	if f := fieldOf(err); strings.Contains(f.Message, "ZIM") {
		t.Errorf("Create(huge extendedData) = %+v, want the package's bound", f)
	}
	res, err := s.Import(ctx, []CreateParams{{ID: "imp-ok"}, {ID: "imp-long", AvatarURL: avatar(501)}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != ImportCreated || res[1].Status != ImportInvalid {
		t.Errorf("Import = %+v, want created, invalid", res)
	}
	long := strings.Repeat("x", 2049)
	if _, _, err := s.Update(ctx, "fits", Patch{ExtendedData: &long}); fieldOf(err).Field != "extendedData" {
		t.Errorf("Update(2049-byte extendedData) = %v", err)
	}
	if _, err := s.Get(ctx, "long-avatar"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused user was stored: Get = %v", err)
	}

	// Sync turned off by a reload: the package's bounds again.
	s.SetLimits(Limits{})
	if _, _, err := s.Update(ctx, "fits", Patch{ExtendedData: &long}); err != nil {
		t.Errorf("Update after SetLimits(zero) = %v", err)
	}
}
