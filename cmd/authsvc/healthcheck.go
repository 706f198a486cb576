package main

import (
	"context"
	"errors"
	"io"
)

// runHealthcheck implements "authsvc healthcheck".
func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return errors.New("healthcheck: not implemented yet")
}
