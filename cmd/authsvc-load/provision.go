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
		if _, err := checkImport(req, resp, false); err != nil {
			return nil, err
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

// Import statuses (api.ImportResult.Status).
const (
	importCreated = "created"
	importExists  = "exists" // the user was there already and is left as it was
)

// checkImport checks that every user of req was created, or with
// existingOK created or found already there, and returns how many were
// already there.
func checkImport(req api.ImportRequest, resp api.ImportResponse, existingOK bool) (existing int, err error) {
	if len(resp.Results) != len(req.Users) {
		return 0, fmt.Errorf("provision users: %d results for %d users", len(resp.Results), len(req.Users))
	}
	for i, r := range resp.Results {
		switch {
		case r.Status == importCreated:
		case r.Status == importExists && existingOK:
			existing++
		default:
			why := ""
			if r.Error != nil {
				why = ": " + r.Error.Code + ": " + r.Error.Message
			}
			return 0, fmt.Errorf("provision users: %s was %s, not created%s", *req.Users[i].UserID, r.Status, why)
		}
	}
	return existing, nil
}

// provisionNamed makes sure users prefix-0 .. prefix-<n-1> exist, without
// passwords, importing maxBatch at a time: a user that exists already,
// from an earlier run with the same prefix, counts as provisioned. It
// builds one request at a time, so a million users cost no more memory
// than a thousand.
func provisionNamed(ctx context.Context, a *setupClient, adminKey, prefix string, n int) error {
	start := time.Now()
	existing := 0
	ids := make([]string, 0, maxBatch)
	for lo := 0; lo < n; lo += maxBatch {
		ids = ids[:0]
		for i := lo; i < min(lo+maxBatch, n); i++ {
			ids = append(ids, prefix+"-"+strconv.Itoa(i))
		}
		req := api.ImportRequest{Users: make([]api.NewUser, len(ids))}
		for i := range ids {
			req.Users[i] = api.NewUser{UserID: &ids[i]}
		}
		var resp api.ImportResponse
		if err := a.call(ctx, http.MethodPost, "/v1/users/import", adminKey, req, &resp); err != nil {
			return fmt.Errorf("provision users: %w", err)
		}
		e, err := checkImport(req, resp, true)
		if err != nil {
			return err
		}
		existing += e
		if done := lo + len(ids); done%100_000 == 0 && done < n {
			a.logf("provisioned %d of %d users %s-*", done, n, prefix)
		}
	}
	a.logf("provisioned %d users %s-* in %v: %d created, %d there already", n, prefix,
		time.Since(start).Round(time.Millisecond), n-existing, existing)
	return nil
}

// checkNamed checks that the first and last of the users prefix-0 ..
// prefix-<n-1> exist, so that a run told not to provision them fails
// before the load, not with a 404 for every request.
func checkNamed(ctx context.Context, a *setupClient, adminKey, prefix string, n int) error {
	for _, i := range []int{0, n - 1} {
		id := prefix + "-" + strconv.Itoa(i)
		var u api.User
		err := a.call(ctx, http.MethodGet, "/v1/users/"+id, adminKey, nil, &u)
		var pe *problemError
		if errors.As(err, &pe) && pe.status == http.StatusNotFound {
			return fmt.Errorf("--provision=false, but user %s does not exist: give the --user-prefix and at most the --users of a run that provisioned them", id)
		}
		if err != nil {
			return fmt.Errorf("check users: %w", err)
		}
		if u.Disabled {
			return fmt.Errorf("user %s is disabled: the server would refuse its tokens", id)
		}
	}
	a.logf("using %d existing users %s-*", n, prefix)
	return nil
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
