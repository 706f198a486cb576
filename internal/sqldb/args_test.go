package sqldb

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
)

func TestArgs(t *testing.T) {
	t.Parallel()
	var a Args
	if got := a.Add("x"); got != "$1" {
		t.Errorf("Add() = %q, want $1", got)
	}
	if got := a.List("a", "b", "c"); got != "$2, $3, $4" {
		t.Errorf("List(a, b, c) = %q, want $2, $3, $4", got)
	}
	if got := a.Add(7); got != "$5" {
		t.Errorf("Add() = %q, want $5", got)
	}
	if want := (Args{"x", "a", "b", "c", 7}); !slices.Equal(a, want) {
		t.Errorf("Args = %v, want %v", a, want)
	}
}

// TestArgsBindByNumber runs a query whose placeholders are numbered out of
// the order of their use, which only binding by number gets right.
func TestArgsBindByNumber(t *testing.T) {
	t.Parallel()
	db := mustOpen(t, filepath.Join(t.TempDir(), "a.db"))
	var a Args
	first, second := a.Add("one"), a.Add("two")
	var got string
	err := db.Reader.QueryRowContext(context.Background(), `SELECT `+second+` || `+first+` || `+second, a...).Scan(&got)
	if err != nil {
		t.Fatal(err)
	}
	if got != "twoonetwo" {
		t.Errorf("query = %q, want twoonetwo", got)
	}
}

func TestPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpen(t, filepath.Join(t.TempDir(), "p.db"))
	ids := []string{"a", "b", "c", "d", "e"}
	for _, id := range ids {
		if _, err := db.Writer.ExecContext(ctx,
			`INSERT INTO users (id, name, session_epoch, created_at, updated_at) VALUES ($1, $1, 1, 0, 0)`, id); err != nil {
			t.Fatal(err)
		}
	}
	scan := func(row Scanner) (string, error) {
		var id string
		return id, row.Scan(&id)
	}
	tests := []struct {
		after    string
		limit    int
		want     []string
		wantMore bool
	}{
		{"", 2, []string{"a", "b"}, true},
		{"b", 2, []string{"c", "d"}, true},
		{"c", 2, []string{"d", "e"}, false},
		{"", 5, ids, false},
		{"e", 3, nil, false},
	}
	for _, tt := range tests {
		var a Args
		q := `SELECT id FROM users WHERE id > ` + a.Add(tt.after) + ` ORDER BY id`
		got, more, err := Page(ctx, db.Reader, q, a, tt.limit, scan)
		if err != nil {
			t.Fatalf("Page(after %q, limit %d) = %v", tt.after, tt.limit, err)
		}
		if !slices.Equal(got, tt.want) || more != tt.wantMore {
			t.Errorf("Page(after %q, limit %d) = %q, %v, want %q, %v", tt.after, tt.limit, got, more, tt.want, tt.wantMore)
		}
	}
}

func TestInsertSQL(t *testing.T) {
	t.Parallel()
	got := insertSQL("t", []string{"a", "b"}, 2)
	if want := "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"; got != want {
		t.Errorf("insertSQL(t, [a b], 2) = %q, want %q", got, want)
	}
}
