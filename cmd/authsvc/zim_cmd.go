package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"authsvc/internal/zimsync"
)

const zimUsage = `Usage: authsvc zim <command> [flags]

Commands:
  sync    enqueue the users ZIM never received (users created before ZIM
          sync was turned on) for the service's sync worker to send; with
          --all, every user, to resend the whole registry

It writes to the outbox only and returns: a running "authsvc serve" with
ZIM sync on for the app sends the users, in batches, at ZEGO's rate.
Takes --db PATH (default $AUTHSVC_DB) and --app-id (default $AUTHSVC_APP_ID).
`

// runZIM implements "authsvc zim ...".
func runZIM(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("zim: missing command\nrun 'authsvc zim help' for its commands")
	}
	switch args[0] {
	case "sync":
		return zimSync(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, zimUsage)
		return nil
	}
	return usageError("zim: unknown command %q\nrun 'authsvc zim help' for its commands", args[0])
}

func zimSync(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newDBFlags("zim sync", "zim sync [flags]", withJSON, getenv, stderr)
	f.addUint32("app-id", "the ZEGO appID whose ZIM receives the users (default $AUTHSVC_APP_ID)")
	all := f.fs.Bool("all", false, "enqueue every user, not only those ZIM never received")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	if f.str("app-id") == "" {
		return f.usageError("--app-id (or AUTHSVC_APP_ID) is required")
	}
	appID, err := f.uint32("app-id")
	if err != nil {
		return err
	}
	db, err := f.open(ctx, false)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := zimsync.NewOutbox(db, time.Now).Backfill(ctx, appID, *all)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(stdout, struct {
			AppID    uint32 `json:"appID"`
			Enqueued int64  `json:"enqueued"`
		}{appID, n})
	}
	_, err = fmt.Fprintf(stdout, "enqueued %d users for ZIM app %d; a server with ZIM sync on sends them\n", n, appID)
	return err
}
