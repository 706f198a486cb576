package main

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"time"
)

// run is the whole program; main only wires it to the process. args[0] is
// the program name; the environment is read only through getenv.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	bases := make([]string, len(cfg.urls))
	for i, u := range cfg.urls {
		if err := checkLoopback(ctx, u, net.DefaultResolver.LookupNetIP); err != nil {
			return err
		}
		bases[i] = u.String()
	}
	if _, err := processCPU(cfg.serverPIDs); err != nil {
		return err
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "authsvc-load: "+format+"\n", args...)
	}

	// One transport, so setup and load share the keep-alive connections.
	// Setup calls are bounded by setupTimeout (an import hashes passwords
	// and may take seconds); measured requests by requestTimeout each.
	tr := newTransport(cfg.concurrency)
	defer tr.CloseIdleConnections()
	// Setup goes through the first server; the others share its database.
	setup := &setupClient{hc: newClient(tr, 0), base: bases[0], logf: logf}
	t := newTarget(newClient(tr, requestTimeout), cfg.mode)
	t.adminKey, t.batch, t.prefix = cfg.adminKey, cfg.batch, "load"+randomHex(4)
	runID := randomHex(4)
	if cfg.mode == modeAdminToken {
		t.users, t.prefix = cfg.users, cfg.userPrefix
		if t.prefix == "" {
			t.prefix = "load-" + runID
		}
	}

	for _, base := range bases {
		hctx, cancel := context.WithTimeout(ctx, requestTimeout)
		err = healthz(hctx, &setupClient{hc: setup.hc, base: base, logf: logf})
		cancel()
		if err != nil {
			return err
		}
	}

	// Opened before the setup, which may take a while, so that a path
	// that cannot be written fails first.
	var tl *timeline
	var timelineFile *os.File
	if cfg.timeline != "" {
		if timelineFile, err = os.Create(cfg.timeline); err != nil {
			return fmt.Errorf("--timeline: %w", err)
		}
		defer timelineFile.Close() // on the way out early; closed and checked at the end otherwise
		tl = newTimeline(timelineFile)
	}

	clients := make([]*client, cfg.concurrency)
	seed := randomSeed()
	for i := range clients {
		// A stream per client: none shares a generator, so none locks.
		clients[i] = &client{base: bases[i%len(bases)], id: i, rng: rand.New(rand.NewPCG(seed, uint64(i)))}
	}
	if cfg.mode == modeAdminToken {
		sctx, cancel := context.WithTimeout(ctx, setupTimeout)
		if cfg.provision {
			err = provisionNamed(sctx, setup, cfg.adminKey, t.prefix, cfg.users)
		} else {
			err = checkNamed(sctx, setup, cfg.adminKey, t.prefix, cfg.users)
		}
		cancel()
		if err != nil {
			return err
		}
	} else if needsUsers(cfg.mode) {
		sctx, cancel := context.WithTimeout(ctx, setupTimeout)
		defer cancel()
		// The callbacks name their senders: no sessions needed.
		sessions, err := provision(sctx, setup, cfg.adminKey, runID, cfg.users, cfg.mode != modeZIM)
		if err != nil {
			return err
		}
		if cfg.mode == modeZIM {
			t.zim = newZIMSigner(cfg.appID, cfg.zimSecret, runID, cfg.users)
		} else {
			assignSessions(clients, sessions, cfg.mode)
		}
		if cfg.mode == modeRenew {
			if err := firstTokens(sctx, setup, clients); err != nil {
				return err
			}
		}
		cancel()
	}

	if cfg.warmup > 0 {
		logf("warming up for %v", cfg.warmup)
		warm := &phase{length: cfg.warmup, rate: cfg.rate}
		warm.run(ctx, t, clients, 0, stderr)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted during the warmup: %w", err)
		}
		if n := warm.failed.Load(); n > 0 {
			logf("warning: %d of %d warmup requests failed", n, warm.done.Load())
		}
	}

	measure := &phase{length: cfg.duration, limit: cfg.requests, rate: cfg.rate, timeline: tl}
	if measure.length == 0 {
		measure.length = maxDuration
	}
	for _, c := range clients {
		c.rec = newRecorder(maxExactSamples / cfg.concurrency)
	}
	logf("measuring %s at %d clients on %d servers for %s", t.path, cfg.concurrency, len(bases), bound(cfg))
	rep := &Report{
		Mode: cfg.mode, URL: strings.Join(bases, ","), Concurrency: cfg.concurrency, Users: cfg.users, Rate: cfg.rate,
		StartedAt: time.Now().UTC().Round(0), GoVersion: runtime.Version(), NumCPU: runtime.NumCPU(),
	}
	cpuBefore, err := processCPU(cfg.serverPIDs)
	if err != nil {
		return err
	}
	elapsed := measure.run(ctx, t, clients, cfg.progress, stderr)
	cpuAfter, cpuErr := processCPU(cfg.serverPIDs)
	if tl != nil {
		// Flushed also after an interrupt: the rows so far are still true.
		if err := tl.flush(); err != nil {
			return fmt.Errorf("--timeline: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted after %v of measurement: %w", elapsed.Round(time.Millisecond), err)
	}

	recs := make([]*recorder, len(clients))
	for i, c := range clients {
		recs[i] = c.rec
	}
	rep.fill(summarize(recs), elapsed)
	if cfg.mode == modeImport && elapsed > 0 {
		rep.Batch = cfg.batch
		rep.UsersPerSecond = float64(rep.Successes*int64(cfg.batch)) / elapsed.Seconds()
	}
	if len(cfg.serverPIDs) > 0 {
		if cpuErr != nil {
			return fmt.Errorf("after the measurement: %w", cpuErr)
		}
		rep.ServerPIDs = cfg.serverPIDs
		rep.fillCPU(cpuAfter - cpuBefore)
	}
	if cfg.mode == modeAdminToken {
		rep.UserPrefix = t.prefix
	}
	rep.print(stdout, t.method+" "+t.path, cfg.warmup)
	if cfg.jsonPath != "" {
		if err := rep.writeJSON(cfg.jsonPath); err != nil {
			return err
		}
	}
	if tl != nil {
		if err := timelineFile.Close(); err != nil {
			return fmt.Errorf("--timeline: %w", err)
		}
	}
	if rep.Requests > 0 && rep.Successes == 0 {
		return fmt.Errorf("no request succeeded (%d errors)", rep.Errors)
	}
	return nil
}

// bound describes when the measurement stops.
func bound(c *config) string {
	switch {
	case c.requests == 0:
		return c.duration.String()
	case c.duration == 0:
		return fmt.Sprintf("%d requests (at most %v)", c.requests, maxDuration)
	}
	return fmt.Sprintf("%v or %d requests, whichever comes first", c.duration, c.requests)
}

// randomSeed seeds the clients' generators: new each run, so two runs
// against one set of users pick different ones.
func randomSeed() uint64 {
	var b [8]byte
	_, _ = crand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return binary.LittleEndian.Uint64(b[:])
}
