// Command authsvc manages a business's users and mints the ZEGO Token04
// credentials they need to log in to ZEGO's SDKs.
//
// Usage:
//
//	authsvc serve [flags]        run the HTTP service
//	authsvc token mint|decode    mint or inspect a Token04 offline
//	authsvc user ...             manage users directly on the database file
//	authsvc migrate              apply database migrations
//	authsvc backup --to FILE     copy the live database consistently
//	authsvc healthcheck          probe a running server's /healthz
//	authsvc version              print the build version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The heap floor tunes the process's GC, so main starts it, not runEnv,
	// which tests call many times in one process.
	if _, set := os.LookupEnv("GOGC"); !set {
		go runHeapFloor(ctx, runtimeHeap(), debug.SetGCPercent, collections(ctx))
	}
	err := runEnv(ctx, os.Args, os.Getenv, os.Environ, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(os.Stderr, "authsvc:", msg)
	}
	os.Exit(code)
}

// exitError carries a specific process exit status out of runEnv. An empty
// message means the command already told the user what went wrong.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError reports a command-line mistake; it exits with status 2.
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

const usage = `authsvc: user registry and ZEGO Token04 service

Usage:
  authsvc serve [flags]          run the HTTP service (--dev for a local demo)
  authsvc token mint [flags]     mint a Token04 offline
  authsvc token decode TOKEN     decode and check a Token04
  authsvc user <command>         manage users on the database file
  authsvc migrate                apply database migrations
  authsvc backup --to FILE       copy the live database consistently
  authsvc zim sync [--all]       send existing users to ZIM (through the outbox)
  authsvc healthcheck [URL]      probe /healthz (or /readyz) of a running server (exit 0/1)
  authsvc version                print the build version

Run 'authsvc <command> -h' for the flags of a command.
`

// run is the whole program as tests call it: runEnv without the list of the
// environment, so serve skips its warning about unknown AUTHSVC_ variables.
// main calls runEnv. Everything either needs from the environment arrives
// as arguments.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runEnv(ctx, args, getenv, nil, stdin, stdout, stderr)
}

// runEnv is run with environ, which lists the environment as os.Environ
// does, for the one use that must enumerate it rather than look names up:
// serve's warning about AUTHSVC_ variables it does not know. A nil environ
// skips that warning.
func runEnv(ctx context.Context, args []string, getenv func(string) string, environ func() []string,
	stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return &exitError{code: 2}
	}
	err := runCommand(ctx, args[1], args[2:], getenv, environ, stdin, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // the help was asked for, and printed
	}
	return err
}

// runCommand runs the command cmd with the arguments that follow it.
func runCommand(ctx context.Context, cmd string, rest []string, getenv func(string) string, environ func() []string,
	stdin io.Reader, stdout, stderr io.Writer) error {
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, environ, stdout, stderr)
	case "token":
		return runToken(ctx, rest, getenv, stdin, stdout, stderr)
	case "user":
		return runUser(ctx, rest, getenv, stdin, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, rest, getenv, stdout, stderr)
	case "backup":
		return runBackup(ctx, rest, getenv, stdout, stderr)
	case "zim":
		return runZIM(ctx, rest, getenv, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, version())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return usageError("unknown command %q\nrun 'authsvc help' for the commands", cmd)
	}
}
