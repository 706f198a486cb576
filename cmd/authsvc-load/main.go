// Command authsvc-load drives a running authsvc over HTTP on this machine and
// reports throughput, latency percentiles and errors.
//
// It provisions its own users (load-<run-id>-<i>, through the admin API),
// logs each of them in, and then keeps C concurrent keep-alive clients
// calling one route for a duration or a request count:
//
//	token    POST /v1/token with a user's session (the default)
//	renew    POST /v1/token/renew, each client renewing its latest token
//	healthz  GET /healthz, the baseline; needs no users and no admin key
//	bare     POST /v1/token without a session, against authsvc-bare, the
//	         bare net/http mint server; needs no users and no admin key
//	admin-token
//	         POST /v1/token as an admin, for a random one of up to a
//	         million users <prefix>-<n>, imported without passwords unless
//	         --provision=false says they exist already
//
// --url takes one server or several, comma-separated: client i drives
// server i mod N, and the users are provisioned through the first, so
// replicas must share one database and session key. --server-pid adds the
// servers' CPU time per measured request to the report, from /proc.
//
// For example, against "authsvc serve --dev":
//
//	AUTHSVC_ADMIN_TOKEN=<admin key> authsvc-load --mode token --concurrency 64 --duration 10s
//	authsvc-load --mode healthz --concurrency 64 --duration 10s --json healthz.json
//
// It connects only to loopback addresses, and every run is bounded: the
// measured phase stops after --duration or --requests, whichever comes
// first, and never lasts more than 10 minutes. The users it creates are left
// in place; their IDs start with "load-", or with --user-prefix.
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
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "authsvc-load:", err)
		os.Exit(1)
	}
}
