package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"time"
)

// runHealthcheck implements "authsvc healthcheck": it probes a running
// server's /healthz and succeeds only on 200 OK. It is the container's
// HEALTHCHECK, since a minimal image has no curl; Docker reads exit status 0
// as healthy and 1 as unhealthy.
//
// Without a URL it probes the server this environment would start: the port
// of AUTHSVC_ADDR on loopback, or on AUTHSVC_ADDR's host when that is a
// specific IP address.
func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := newCommand("healthcheck", "healthcheck [flags] [URL]",
		"Exits 0 when the server answers 200 to GET /healthz (with --ready: /readyz), 1 otherwise.\n"+
			"URL is the server's base URL, e.g. http://127.0.0.1:8080, or the full URL to probe.", getenv, stderr)
	rawURL := cmd.fs.String("url", "", "URL to probe (default: the port of AUTHSVC_ADDR on loopback)")
	ready := cmd.fs.Bool("ready", false, "probe /readyz, which also checks the database, instead of /healthz")
	cmd.addDuration("timeout", "3s", "how long to wait for the answer")
	pos, err := cmd.parseFlags(args)
	if err != nil {
		return err
	}
	// The URL may also be given as the only argument.
	switch {
	case len(pos) > 1:
		return cmd.usageError("at most one URL, got %q", pos)
	case len(pos) == 1 && *rawURL != "":
		return cmd.usageError("give the URL either as --url or as an argument, not both")
	case len(pos) == 1:
		*rawURL = pos[0]
	}
	timeout, err := cmd.duration("timeout")
	if err != nil {
		return cmd.usageError("%v", err)
	}
	if timeout <= 0 {
		return cmd.usageError("--timeout must be positive, got %v", timeout)
	}
	path := "/healthz"
	if *ready {
		path = "/readyz"
	}

	target := *rawURL
	if target == "" {
		var err error
		if target, err = healthzURL(getenv("AUTHSVC_ADDR"), path); err != nil {
			// Not a usage error: Docker reserves exit status 2, and what is
			// wrong here is the container's environment, not the command.
			return &exitError{code: 1, err: fmt.Errorf("healthcheck: %w", err)}
		}
	} else if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cmd.usageError("%q is not an http or https URL", target)
	} else if u.Path == "" || u.Path == "/" {
		// The server's base URL: probe its health route.
		u.Path = path
		target = u.String()
	}

	if err := probe(ctx, target, timeout); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("healthcheck: GET %s: %w", target, err)}
	}
	return nil
}

// healthzURL is the URL of path on a server listening on addr (the syntax of
// AUTHSVC_ADDR; empty means serve's default, ":8080"). A wildcard or named
// host is probed on 127.0.0.1; a specific IP address is probed as it is.
func healthzURL(addr, path string) (string, error) {
	if addr == "" {
		addr = ":8080"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("AUTHSVC_ADDR %q is not host:port: %w", addr, err)
	}
	n, err := net.LookupPort("tcp", port)
	if err != nil || n == 0 {
		return "", fmt.Errorf("AUTHSVC_ADDR %q has no port to probe", addr)
	}
	probeHost := "127.0.0.1"
	if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
		probeHost = ip.String()
	}
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(probeHost, strconv.Itoa(n)), Path: path}
	return u.String(), nil
}

// probe GETs target once and reports why it is not healthy. It follows no
// redirect and uses no proxy: a health check asks this server, directly.
func probe(ctx context.Context, target string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("no answer within %v", timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is already in the message
		}
		return err
	}
	defer resp.Body.Close()
	// Drain a little, so the server sees a clean close; the body says nothing
	// the status does not.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}
