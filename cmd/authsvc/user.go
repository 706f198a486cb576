package main

import (
	"context"
	"errors"
	"io"
)

// runUser implements "authsvc user ...".
func runUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return errors.New("user: not implemented yet")
}

// runMigrate implements "authsvc migrate".
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return errors.New("migrate: not implemented yet")
}
