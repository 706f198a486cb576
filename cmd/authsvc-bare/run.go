package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"

	"authsvc/internal/token"
)

// run is the whole program; main only wires it to the process. args[0] is
// the program name. It writes one line to stdout, the base URL, once it is
// listening, and serves until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("authsvc-bare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "address to listen on; loopback only (port 0 picks one)")
	appID := fs.Uint("app-id", 1234567890, "the appID of the tokens")
	userID := fs.String("user-id", "bare-user", "the userID of every token")
	ttl := fs.Duration("ttl", time.Hour, "the tokens' effective time")
	if len(args) == 0 {
		args = []string{"authsvc-bare"}
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("invalid command line: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q; everything is a flag (see -h)", fs.Args())
	}
	ap, err := netip.ParseAddrPort(*addr)
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("--addr %q: give a loopback address and port, such as 127.0.0.1:8090", *addr)
	}
	if *appID == 0 || *appID > 1<<32-1 {
		return fmt.Errorf("--app-id: %d is not from 1 to %d", *appID, uint32(1<<32-1))
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails on supported platforms
	key, err := token.NewKey([]byte(hex.EncodeToString(secret)))
	if err != nil {
		return err
	}
	m := &minter{key: key, appID: uint32(*appID), userID: *userID, ttl: int64(ttl.Seconds()), now: time.Now, rand: rand.Reader}
	// Mint once, so a bad flag is a startup error and not a 500 on every
	// request.
	if _, _, err := m.mint(); err != nil {
		return fmt.Errorf("--user-id or --ttl: %w", err)
	}

	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", ap.String())
	if err != nil {
		return err
	}
	// The same timeouts as authsvc serve, so neither server has an edge
	// the other lacks.
	srv := &http.Server{
		Handler:           newHandler(m),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	fmt.Fprintf(stdout, "http://%s\n", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
