// Command authsvc-plot draws the --timeline CSV files of authsvc-load as an
// SVG: p99 latency over the elapsed time of each run, p50 in a lighter line
// of the same colour, one colour per file, with axes, a title and a legend.
//
//	authsvc-plot --title "POST /v1/token, 1M users" --label a.csv=SQLite --out plot.svg a.csv b.csv
//
// It uses the standard library only and reads nothing but the files named.
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
		fmt.Fprintln(os.Stderr, "authsvc-plot:", err)
		os.Exit(1)
	}
}
