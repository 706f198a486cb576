// Command authsvc-bare is the floor the token route is measured against: a
// bare net/http server that mints the same GCM Token04 with internal/token
// and writes the same JSON as authsvc's POST /v1/token, with nothing around
// it: no router, middleware, session, user store, rate limit, metrics or
// audit trail. Whatever authsvc spends above this server's CPU per request
// is the price of the service around the mint.
//
//	authsvc-bare --addr 127.0.0.1:8090
//	authsvc-load --mode bare --url http://127.0.0.1:8090 --concurrency 64
//
// It answers POST /v1/token for one fixed user, whoever asks, and GET
// /healthz as authsvc does. It mints under a random secret made at start,
// so its tokens are good for nothing but the benchmark, and it listens on
// loopback addresses only.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "authsvc-bare:", err)
		os.Exit(1)
	}
}
