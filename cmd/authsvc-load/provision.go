package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"authsvc/api"
)

const (
	// importChunk is how many users go in one POST /v1/users/import (the
	// route takes up to 1000). The server hashes every password before it
	// answers; with production hash parameters on two cores 250 take a few
	// seconds, well inside the server's 30 s write timeout, where 1000 may
	// not be on a busy machine.
	importChunk = 250
	// loginParallel bounds the logins in flight. Each costs the server a
	// password hash, and the server hashes at most GOMAXPROCS at a time, so
	// more would only queue there.
	loginParallel = 8
	// setupTimeout bounds provisioning, logins and first tokens together.
	setupTimeout = 10 * time.Minute
	// maxResponse caps what is read of a setup response.
	maxResponse = 4 << 20
)

// setupClient makes the setup calls (import, logins, first tokens), whose
// answers are decoded and checked, unlike the measured requests.
type setupClient struct {
	hc   *http.Client
	base string
	logf func(string, ...any)

	limited sync.Once // the rate-limit hint is logged once
}

// problemError is a non-200 answer, described by the server's problem
// document.
type problemError struct {
	method, path string
	status       int
	code, detail string
	retryAfter   time.Duration // from Retry-After, on a 429
}

func (e *problemError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.method, e.path, e.status, http.StatusText(e.status))
	if e.code != "" {
		msg += " (" + e.code
		if e.detail != "" {
			msg += ": " + e.detail
		}
		msg += ")"
	}
	return msg
}

// maxRetryAfter caps how long one rate-limited setup call waits.
const maxRetryAfter = time.Minute

// call sends in as JSON with the bearer credential (none when empty) and
// decodes a 200 answer into out. A 429 is retried when its Retry-After says,
// within ctx: the server's default limits (60 logins a minute per client
// IP) would otherwise stop a run of more than 60 users.
func (a *setupClient) call(ctx context.Context, method, path, credential string, in, out any) error {
	for {
		err := a.callOnce(ctx, method, path, credential, in, out)
		var pe *problemError
		if !errors.As(err, &pe) || pe.status != http.StatusTooManyRequests {
			return err
		}
		wait := min(max(pe.retryAfter, time.Second), maxRetryAfter)
		a.limited.Do(func() {
			a.logf("%s is rate limited; waiting as Retry-After says (start the server with --rate-token off "+
				"--rate-login-ip off --rate-login-user off to measure without limits)", path)
		})
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; gave up waiting: %w", err, ctx.Err())
		case <-time.After(wait):
		}
	}
}

func (a *setupClient) callOnce(ctx context.Context, method, path, credential string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if credential != "" {
		req.Header.Set("Authorization", "Bearer "+credential)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var p struct{ Code, Detail string }
		_ = json.Unmarshal(b, &p) // a problem document when the server wrote one
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return &problemError{method: method, path: path, status: resp.StatusCode, code: p.Code, detail: p.Detail,
			retryAfter: time.Duration(secs) * time.Second}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// provision creates n users named load-<runID>-<i> and, with login, gives
// them random passwords and returns a session token for each. Without
// login they have no password, which costs the server no hashing.
func provision(ctx context.Context, a *setupClient, adminKey, runID string, n int, login bool) ([]string, error) {
	us := make([]api.SessionRequest, n)
	for i := range us {
		us[i] = api.SessionRequest{UserID: fmt.Sprintf("load-%s-%d", runID, i)}
		if login {
			us[i].Password = randomHex(16)
		}
	}
	start := time.Now()
	for lo := 0; lo < n; lo += importChunk {
		chunk := us[lo:min(lo+importChunk, n)]
		req := api.ImportRequest{Users: make([]api.NewUser, len(chunk))}
		for i := range chunk {
			req.Users[i] = api.NewUser{UserID: &chunk[i].UserID, Password: chunk[i].Password}
		}
		var resp api.ImportResponse
		if err := a.call(ctx, http.MethodPost, "/v1/users/import", adminKey, req, &resp); err != nil {
			return nil, fmt.Errorf("provision users: %w", err)
		}
		if len(resp.Results) != len(chunk) {
			return nil, fmt.Errorf("provision users: %d results for %d users", len(resp.Results), len(chunk))
		}
		for i, r := range resp.Results {
			if r.Status != "created" {
				why := ""
				if r.Error != nil {
					why = ": " + r.Error.Code + ": " + r.Error.Message
				}
				return nil, fmt.Errorf("provision users: %s was %s, not created%s", chunk[i].UserID, r.Status, why)
			}
		}
	}
	a.logf("created %d users load-%s-* in %v", n, runID, time.Since(start).Round(time.Millisecond))
	if !login {
		return nil, nil
	}

	start = time.Now()
	sessions, err := logIn(ctx, a, us)
	if err != nil {
		return nil, err
	}
	a.logf("logged in %d users in %v", n, time.Since(start).Round(time.Millisecond))
	return sessions, nil
}

// logIn logs every user in, loginParallel at a time, and returns their
// session tokens in order. The first failure stops the rest.
func logIn(ctx context.Context, a *setupClient, us []api.SessionRequest) ([]string, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sessions := make([]string, len(us))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(loginParallel, len(us)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(us) || ctx.Err() != nil {
					return
				}
				var s api.SessionResponse
				err := a.call(ctx, http.MethodPost, "/v1/sessions", "", us[i], &s)
				if err == nil && s.AccessToken == "" {
					err = fmt.Errorf("no accessToken in the answer")
				}
				if err != nil {
					cancel(fmt.Errorf("log in %s: %w", us[i].UserID, err))
					return
				}
				sessions[i] = s.AccessToken
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return sessions, nil
}

// healthz checks that the server answers before anything else is sent.
func healthz(ctx context.Context, a *setupClient) error {
	var s struct {
		Status string `json:"status"`
	}
	if err := a.call(ctx, http.MethodGet, "/healthz", "", nil, &s); err != nil {
		return fmt.Errorf("the server is not answering: %w", err)
	}
	if s.Status != "ok" {
		return fmt.Errorf("the server is not answering: GET /healthz says %q", s.Status)
	}
	return nil
}

// firstTokens gets each client the token it will renew, outside the
// measurement.
func firstTokens(ctx context.Context, a *setupClient, clients []*client) error {
	for _, c := range clients {
		var t api.TokenResponse
		if err := a.call(ctx, http.MethodPost, "/v1/token", c.sessions[0], nil, &t); err != nil {
			return fmt.Errorf("first token: %w", err)
		}
		if t.Token == "" {
			return fmt.Errorf("first token: no token in the answer")
		}
		c.token = t.Token
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
