// Package browsertest starts a headless Chromium for tests that drive the
// admin console in a real browser. A test calls New and runs chromedp
// actions on the context it returns.
//
// Without a browser the test is skipped, so go test passes on a bare
// machine; with AUTHSVC_REQUIRE_BROWSER=1 (as CI sets it) it fails instead,
// so a missing browser cannot pass for a green run.
package browsertest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// DefaultPath is where Debian's chromium package puts the browser.
// AUTHSVC_CHROMIUM names another.
const DefaultPath = "/usr/bin/chromium"

// Timeout bounds a whole browser session started by New. It is a guard
// against a hung browser only; tests wait for what they need in the page
// (chromedp's WaitVisible and friends), never for a time.
const Timeout = 3 * time.Minute

// Path returns the browser tests should run, and whether it exists.
func Path() (string, bool) {
	p := os.Getenv("AUTHSVC_CHROMIUM")
	if p == "" {
		p = DefaultPath
	}
	fi, err := os.Stat(p)
	return p, err == nil && !fi.IsDir()
}

// Required reports whether a missing browser fails the test rather than
// skipping it (AUTHSVC_REQUIRE_BROWSER=1).
func Required() bool { return os.Getenv("AUTHSVC_REQUIRE_BROWSER") == "1" }

// New starts a headless Chromium with a fresh profile in t.TempDir() and
// returns a chromedp context for one tab in it. The browser stops when the
// test ends, or after Timeout, whichever comes first. New skips the test
// when there is no browser, unless Required.
func New(t testing.TB) context.Context {
	t.Helper()
	path, ok := Path()
	if !ok {
		if Required() {
			t.Fatalf("no browser at %s, and AUTHSVC_REQUIRE_BROWSER=1: install chromium or set AUTHSVC_CHROMIUM", path)
		}
		t.Skipf("no browser at %s (install chromium or set AUTHSVC_CHROMIUM)", path)
	}
	profile := t.TempDir() // registered first, so removed after the browser has stopped
	ctx, cancelTimeout := context.WithTimeout(context.Background(), Timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		// Crash reports and the rest of Chromium's per-user state go in the
		// profile too, not in the home directory of whoever runs the tests.
		chromedp.Flag("crash-dumps-dir", filepath.Join(profile, "crash")),
		chromedp.Env("XDG_CONFIG_HOME="+filepath.Join(profile, "config"), "XDG_CACHE_HOME="+filepath.Join(profile, "cache")),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // CI runs as root, where the sandbox refuses to start
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true), // containers' /dev/shm is often too small
		chromedp.Flag("password-store", "basic"),     // no desktop keyring to ask
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
	)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser process to exit
		cancelTimeout()
	})
	// The first run starts the browser; a failure here is the browser's,
	// not the page's, so say so.
	if err := chromedp.Do(tabCtx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("browser %s did not start within %v", path, Timeout)
		}
		t.Fatalf("start browser %s: %v", path, err)
	}
	return tabCtx
}
