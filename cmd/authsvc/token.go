package main

import (
	"context"
	"errors"
	"io"
)

// runToken implements "authsvc token mint|decode".
func runToken(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return errors.New("token: not implemented yet")
}
