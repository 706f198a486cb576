package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// lookupFunc resolves a host name, as net.Resolver.LookupNetIP does.
type lookupFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

// checkLoopback refuses a server that is not on this machine: the host must
// be an address in 127.0.0.0/8 or ::1, or "localhost" resolving to nothing
// else. A load generator pointed elsewhere by mistake is an attack; this
// check makes the mistake an error. loopbackOnly enforces the same at every
// connection, so a name that resolves differently later cannot slip by.
func checkLoopback(ctx context.Context, u *url.URL, lookup lookupFunc) error {
	host := u.Hostname()
	refuse := fmt.Errorf("--url %s: %s is not a loopback address; authsvc-load only drives a server "+
		"on this machine (127.0.0.0/8, ::1 or localhost)", u, host)
	if addr, err := netip.ParseAddr(host); err == nil {
		if !addr.Unmap().IsLoopback() {
			return refuse
		}
		return nil
	}
	if !strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return refuse
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := lookup(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("--url %s: resolve %s: %w", u, host, err)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("--url %s: %s resolves to no address", u, host)
	}
	for _, a := range addrs {
		if !a.Unmap().IsLoopback() {
			return fmt.Errorf("--url %s: %s resolves to %s, which is not a loopback address", u, host, a)
		}
	}
	return nil
}

// loopbackOnly is a net.Dialer Control function: it refuses to connect to
// any address outside 127.0.0.0/8 and ::1. It sees the address after name
// resolution, just before the connection is made.
func loopbackOnly(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refusing to connect to %s (%s): %w", address, network, err)
	}
	if !ap.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("refusing to connect to %s: not a loopback address", address)
	}
	return nil
}

// newTransport returns the keep-alive transport every client shares: one
// idle connection kept per client, so connections are reused rather than
// re-dialed between requests; no proxy (the environment's would not be on
// loopback); no compression, which would only cost CPU on both ends.
func newTransport(concurrency int) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: loopbackOnly}
	return &http.Transport{
		Proxy:               nil,
		DialContext:         d.DialContext,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
		DisableCompression:  true,
	}
}

// newClient returns a client over t that never follows redirects: a
// redirect could point off this machine, and no route under load sends one.
func newClient(t http.RoundTripper, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: t,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
