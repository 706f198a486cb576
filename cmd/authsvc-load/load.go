package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"authsvc/api"
)

// requestTimeout bounds one measured request, from sending it to reading
// the last byte of the answer. A request that takes longer is a "timeout".
const requestTimeout = 10 * time.Second

// target is the route under load, on each client's server.
type target struct {
	hc     *http.Client
	mode   string
	method string
	path   string

	// Import mode: the admin key, the users per request, and the prefix
	// that makes this run's userIDs new.
	adminKey string
	batch    int
	prefix   string

	// zim-callback mode: who the callbacks come from and what signs them.
	zim *zimSigner

	// admin-token mode: the users are prefix-0 .. prefix-<users-1>.
	users int
}

func newTarget(hc *http.Client, mode string) *target {
	t := &target{hc: hc, mode: mode, method: http.MethodPost}
	switch mode {
	case modeToken, modeBare, modeAdminToken:
		t.path = "/v1/token"
	case modeRenew:
		t.path = "/v1/token/renew"
	case modeImport:
		t.path = "/v1/users/import"
	case modeZIM:
		t.path = "/v1/zego/callbacks/zim"
	default:
		t.method, t.path = http.MethodGet, "/healthz"
	}
	return t
}

// client is one simulated client with one request in flight at a time. Only
// its own worker goroutine touches it while the load runs.
type client struct {
	base     string     // the server it drives: scheme and host
	sessions []string   // the users it acts as, in turn; none in healthz and bare modes
	next     int        // index in sessions of the next request's user
	token    string     // renew mode: the latest token, renewed next
	id       int        // import mode: the client's number, in its userIDs
	imports  int        // import mode: requests sent, in its userIDs
	rng      *rand.Rand // admin-token mode: picks the users
	rec      *recorder  // nil during the warmup
}

// assignSessions shares the users' sessions out among the clients: client
// i acts as users i, i+C, i+2C, ... in turn, so every user is used when
// there are more users than clients, and each user by the same number of
// clients when there are fewer. In renew mode a client keeps to one user,
// since only its owner may renew a token.
func assignSessions(clients []*client, sessions []string, mode string) {
	for i, c := range clients {
		c.sessions, c.next = nil, 0
		for j := i; j < len(sessions); j += len(clients) {
			c.sessions = append(c.sessions, sessions[j])
		}
		if len(c.sessions) == 0 {
			c.sessions = []string{sessions[i%len(sessions)]}
		}
		if mode == modeRenew {
			c.sessions = c.sessions[:1]
		}
	}
}

// Error kinds besides "http_<status>".
const (
	kindTimeout     = "timeout"
	kindRefused     = "conn_refused"
	kindReset       = "conn_reset"
	kindNoAddr      = "addr_unavailable" // out of ephemeral ports, typically
	kindEOF         = "eof"              // the server closed the connection mid-exchange
	kindTransport   = "transport"        // any other failure to exchange a request and answer
	kindBadResponse = "bad_response"     // 200, but not a token the renew mode can use, or an import that created fewer
)

// do sends one request and reads the whole answer, so the connection can be
// reused. It returns "" when the answer was a 200, else the kind of error.
// Only the renew mode decodes the answer, since it needs the new token;
// the others leave the client's CPU to the server.
func (t *target) do(ctx context.Context, c *client) string {
	var body io.Reader
	switch t.mode {
	case modeRenew:
		b, err := json.Marshal(api.RenewRequest{Token: c.token})
		if err != nil {
			return kindTransport
		}
		body = bytes.NewReader(b)
	case modeImport:
		body = bytes.NewReader(t.importBody(c))
	case modeZIM:
		body = bytes.NewReader(t.zim.body(c))
	case modeAdminToken:
		body = bytes.NewReader(t.adminTokenBody(c))
	}
	req, err := http.NewRequestWithContext(ctx, t.method, c.base+t.path, body)
	if err != nil {
		return kindTransport
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case t.mode == modeImport, t.mode == modeAdminToken:
		req.Header.Set("Authorization", "Bearer "+t.adminKey)
	case t.mode == modeZIM: // signed in the body, no bearer
	case len(c.sessions) > 0:
		req.Header.Set("Authorization", "Bearer "+c.sessions[c.next])
		c.next = (c.next + 1) % len(c.sessions)
	}
	resp, err := t.hc.Do(req)
	if err != nil {
		return errorKind(err)
	}
	defer resp.Body.Close()
	if t.mode == modeRenew && resp.StatusCode == http.StatusOK {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		if err != nil {
			return errorKind(err)
		}
		var a api.TokenResponse
		if json.Unmarshal(b, &a) != nil || a.Token == "" {
			return kindBadResponse
		}
		c.token = a.Token
		return ""
	}
	if t.mode == modeImport && resp.StatusCode == http.StatusOK {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		if err != nil {
			return errorKind(err)
		}
		// Every user of the batch is new: anything but "created" for each
		// is a failed import, however fast.
		if bytes.Count(b, []byte(`"status":"created"`)) != t.batch {
			return kindBadResponse
		}
		return ""
	}
	if t.mode == modeZIM && resp.StatusCode == http.StatusOK {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		if err != nil {
			return errorKind(err)
		}
		// Every sender is enabled: anything but "send" is wrong, however fast.
		if !bytes.HasPrefix(b, []byte(`{"result":1,`)) {
			return kindBadResponse
		}
		return ""
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return errorKind(err)
	}
	if resp.StatusCode != http.StatusOK {
		return "http_" + strconv.Itoa(resp.StatusCode)
	}
	return ""
}

// errorKind classifies a failed exchange.
func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return kindTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return kindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return kindReset
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return kindNoAddr
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return kindEOF
	}
	return kindTransport
}

// phase is one stretch of load: the warmup or the measurement. Workers
// start a request only while the phase lasts and, with a limit, only while
// requests remain; requests in flight at the end are finished and counted.
type phase struct {
	length time.Duration // wall-clock bound
	limit  int64         // requests to send; 0 for no limit
	// rate, when positive, makes the load open: request k is due at
	// start + k/rate whoever sends it, and its latency counts from then, so
	// a slow server is charged for the requests it kept waiting (no
	// coordinated omission). The clients bound how many are in flight.
	rate float64
	// timeline, when set, gets every request and a cut at each progress
	// tick (the measurement only).
	timeline *timeline

	start    time.Time
	slots    atomic.Int64 // open loop: the next request's number
	deadline time.Time
	issued   atomic.Int64 // requests started, counted against limit
	done     atomic.Int64 // requests answered or failed, for the progress line
	failed   atomic.Int64
}

// run runs one worker per client until the phase is over and returns how
// long it took, from its start to the last answer. Every `every` (unless
// 0) it writes a progress line to w.
func (p *phase) run(ctx context.Context, t *target, clients []*client, every time.Duration, w io.Writer) time.Duration {
	start := time.Now()
	p.start, p.deadline = start, start.Add(p.length)
	var workers sync.WaitGroup
	for _, c := range clients {
		workers.Go(func() { p.work(ctx, t, c) })
	}
	stop := make(chan struct{})
	var progress sync.WaitGroup
	if every > 0 {
		progress.Go(func() { p.progress(start, every, w, stop) })
	}
	workers.Wait()
	elapsed := time.Since(start)
	close(stop)
	progress.Wait()
	if p.timeline != nil && p.timeline.pending() {
		p.timeline.cut(elapsed) // the last interval, cut short by the end
	}
	return elapsed
}

func (p *phase) work(ctx context.Context, t *target, c *client) {
	for ctx.Err() == nil && time.Now().Before(p.deadline) {
		if p.limit > 0 && p.issued.Add(1) > p.limit {
			return
		}
		start := time.Now()
		if p.rate > 0 {
			start = p.start.Add(time.Duration(float64(p.slots.Add(1)-1) / p.rate * float64(time.Second)))
			if !start.Before(p.deadline) {
				return
			}
			if wait := time.Until(start); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return
				}
			}
		}
		kind := t.do(ctx, c)
		d := time.Since(start)
		if ctx.Err() != nil {
			return // interrupted: this request says nothing about the server
		}
		p.done.Add(1)
		if kind != "" {
			p.failed.Add(1)
		}
		if c.rec != nil {
			c.rec.add(d, kind)
		}
		if p.timeline != nil {
			p.timeline.add(d, kind != "")
		}
	}
}

// progress writes one line per interval: elapsed time, requests so far,
// the rate over the last interval, and errors so far; and cuts the
// timeline, if any, at each.
func (p *phase) progress(start time.Time, every time.Duration, w io.Writer, stop <-chan struct{}) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	var last int64
	lastAt := start
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			n, errs := p.done.Load(), p.failed.Load()
			rps := float64(n-last) / now.Sub(lastAt).Seconds()
			fmt.Fprintf(w, "authsvc-load: %6.1fs %10d requests %9.0f req/s %8d errors\n",
				now.Sub(start).Seconds(), n, rps, errs)
			last, lastAt = n, now
			// A tick at the deadline would leave a sliver of an interval
			// for the requests still in flight; run's last cut takes them.
			if p.timeline != nil && now.Before(p.deadline) {
				p.timeline.cut(now.Sub(start))
			}
		}
	}
}

// importBody is the next import request of c: t.batch users no run has
// made before, named prefix-client-request-index, without passwords (a
// password costs an Argon2id hash, which would measure the hash).
func (t *target) importBody(c *client) []byte {
	b := append(make([]byte, 0, 48*t.batch), `{"users":[`...)
	for i := range t.batch {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"userID":"`...)
		b = append(b, t.prefix...)
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(c.id), 36)
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(c.imports), 36)
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(i), 36)
		b = append(b, `"}`...)
	}
	c.imports++
	return append(b, "]}"...)
}

// adminTokenBody is the next admin-token request of c: a token for a user
// picked uniformly among t.users, so that with many users almost every
// request finds the user outside the server's cache. The prefix needs no
// JSON escaping (checkUserPrefix).
func (t *target) adminTokenBody(c *client) []byte {
	b := make([]byte, 0, 64)
	b = append(b, `{"userID":"`...)
	b = append(b, t.prefix...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(c.rng.IntN(t.users)), 10)
	return append(b, `"}`...)
}
