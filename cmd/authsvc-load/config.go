package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"
)

// The modes: which route the clients call.
const (
	modeToken   = "token"
	modeRenew   = "renew"
	modeHealthz = "healthz"
	modeBare    = "bare"         // POST /v1/token without a session, for authsvc-bare
	modeImport  = "import"       // POST /v1/users/import of --batch new users, as an admin
	modeZIM     = "zim-callback" // signed before_send_msg callbacks from provisioned users
	// POST /v1/token as an admin, for a provisioned user picked at random
	modeAdminToken = "admin-token"
)

// Bounds on what a run may ask for. They keep a mistyped flag from turning
// into an hour of load on a shared machine.
const (
	maxDuration    = 10 * time.Minute // hard cap on the measured phase, whatever the flags say
	maxWarmup      = time.Minute
	maxConcurrency = 1024
	maxUsers       = 10000
	// The admin-token mode provisions without passwords, 1000 users per
	// import, so a million is one setup of tens of seconds.
	maxAdminTokenUsers = 1_000_000
	maxUserPrefix      = 24 // plus "-999999", within ZIM's 32-byte userID
	maxURLs            = 16
	maxBatch           = 1000 // the server's own limit per import
	minProgress        = 100 * time.Millisecond
	maxRate            = 100_000 // requests per second
)

// config is the validated command line.
type config struct {
	urls        []*url.URL // scheme and host only; each checked to be loopback by checkLoopback
	adminKey    string     // "" in healthz and bare modes
	mode        string
	users       int // 0 in healthz, bare and import modes
	batch       int // users per import, in import mode
	concurrency int
	duration    time.Duration // 0: bounded by requests (and maxDuration)
	requests    int64         // 0: bounded by duration
	warmup      time.Duration
	progress    time.Duration // 0: no progress lines
	jsonPath    string
	serverPIDs  []int   // whose CPU time the report divides by the requests; none: not measured
	rate        float64 // requests per second, open loop; 0: each client sends as soon as answered
	appID       uint32  // zim-callback mode: the appid the callbacks name
	zimSecret   string  // zim-callback mode: the callback secret that signs them
	userPrefix  string  // admin-token mode: the users are <userPrefix>-0 .. -<users-1>; "" for load-<run ID>
	provision   bool    // admin-token mode: import the users first; false when they exist already
	timeline    string  // file for the per-interval CSV; "" for none
}

const usageHeader = `authsvc-load drives an authsvc server on this machine and reports
throughput, latency percentiles and errors. It connects to loopback
addresses only.

Usage:
  AUTHSVC_ADMIN_TOKEN=<admin key> authsvc-load [flags]

The token and renew modes provision --users users through the admin API
(the key comes from --admin-key-file or AUTHSVC_ADMIN_TOKEN, never from a
flag) and log them in first; healthz and bare need neither. The
zim-callback mode provisions users without passwords and sends signed
before_send_msg callbacks from them to POST /v1/zego/callbacks/zim, for
--app-id, with the callback secret from --zim-callback-secret-file or
AUTHSVC_ZIM_CALLBACK_SECRET.

The admin-token mode sends POST /v1/token with the admin key, each for a
user picked uniformly at random among --users (up to 1,000,000) named
<prefix>-0 to <prefix>-<N-1>, which it first imports without passwords,
1000 a request; users that exist already count as imported. The prefix is
--user-prefix, by default load-<random run ID>, new each run. With
--provision=false the users must exist already, from an earlier run
against the same database: give that run's --user-prefix. The server's
per-user token limit applies to admins too: serve with --rate-token off.

--rate N makes any mode an open loop: N requests a second on a fixed
schedule, each one's latency counted from when it was due. With several
--url servers (comma-separated), client i drives server i mod N; users are
provisioned and logged in through the first, so the servers must share one
database and session key. The run stops after --duration or --requests,
whichever comes first (--duration 0 to stop on the count alone), and never
measures for more than 10 minutes.

--timeline FILE writes a CSV row per --progress interval of the
measurement: elapsed_s,requests,errors,p50_ms,p99_ms,max_ms, the
percentiles of the requests completed in that interval (from a
histogram, within 0.4%). authsvc-plot draws such files as SVG.

Flags:
`

// parseConfig parses and validates the whole command line, and reads the
// admin key, before anything starts. args[0] is the program name.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("authsvc-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHeader)
		fs.PrintDefaults()
	}
	rawURL := fs.String("url", "http://127.0.0.1:8080", "base URL of the server, or several comma-separated; each must be 127.0.0.0/8, ::1 or localhost")
	keyFile := fs.String("admin-key-file", "", "file holding the admin key (or set AUTHSVC_ADMIN_TOKEN); the token, renew, import, zim-callback and admin-token modes need it")
	mode := fs.String("mode", modeToken, "what each client calls: token, renew, healthz, import (POST /v1/users/import of new users, as an admin), bare (POST /v1/token without a session, against authsvc-bare), zim-callback (signed before_send_msg callbacks from the provisioned users, to POST /v1/zego/callbacks/zim), or admin-token (POST /v1/token as an admin, for a random one of --users)")
	batch := fs.Int("batch", maxBatch, "import mode: new users per import request (1-1000), without passwords")
	nUsers := fs.Int("users", 64, "users to provision: the token and renew modes log them in (up to 10000), client i acting as users i, i+C, i+2C, ... in turn; the admin-token mode picks among them at random (up to 1000000)")
	userPrefix := fs.String("user-prefix", "", "admin-token mode: the users are <prefix>-0 to <prefix>-<users-1>; letters, digits, '-' and '_', at most 24 (default load-<random run ID>)")
	timeline := fs.String("timeline", "", "write a CSV row per --progress interval of the measurement to this file: elapsed_s,requests,errors,p50_ms,p99_ms,max_ms")
	doProvision := fs.Bool("provision", true, "admin-token mode: import the users first (existing ones count as imported); false: they exist already, from a run with the same --user-prefix")
	concurrency := fs.Int("concurrency", 16, "concurrent clients, each with one request in flight")
	duration := fs.Duration("duration", 10*time.Second, "how long to measure, after the warmup; 0 to stop on --requests alone")
	requests := fs.Int64("requests", 0, "stop after this many measured requests; 0 for no count limit")
	warmup := fs.Duration("warmup", time.Second, "load before measuring, not counted")
	progress := fs.Duration("progress", time.Second, "interval of the progress line on stderr; 0 for none")
	jsonPath := fs.String("json", "", "also write the report as JSON to this file")
	rate := fs.Float64("rate", 0, "open loop: start this many requests per second in all, on a fixed schedule, latency counted from each one's scheduled time; 0: closed loop")
	appID := fs.Uint("app-id", 0, "zim-callback mode: the appID the callbacks name, configured on the server with a callback secret")
	zimSecretFile := fs.String("zim-callback-secret-file", "", "zim-callback mode: file holding the callback secret that signs the callbacks (or set AUTHSVC_ZIM_CALLBACK_SECRET)")
	rawPIDs := fs.String("server-pid", "", "process ID of the server, or several comma-separated, to report its CPU time per measured request (Linux: from /proc)")

	if len(args) == 0 {
		args = []string{"authsvc-load"}
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("invalid command line: %w", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q; everything is a flag (see -h)", fs.Args())
	}

	c := &config{
		mode: *mode, users: *nUsers, concurrency: *concurrency, duration: *duration, requests: *requests,
		warmup: *warmup, progress: *progress, jsonPath: *jsonPath, rate: *rate,
		userPrefix: *userPrefix, provision: *doProvision, timeline: *timeline,
	}
	if c.rate < 0 || c.rate > maxRate {
		return nil, fmt.Errorf("--rate: %v is not from 0 to %d", c.rate, maxRate)
	}
	switch c.mode {
	case modeToken, modeRenew:
	case modeHealthz, modeBare:
		c.users = 0
	case modeZIM:
		if *appID == 0 || *appID > 1<<32-1 {
			return nil, errors.New("--app-id: zim-callback mode needs the appID, from 1 to 4294967295")
		}
		c.appID = uint32(*appID)
		secret, err := readSecret(*zimSecretFile, "--zim-callback-secret-file", "AUTHSVC_ZIM_CALLBACK_SECRET", getenv)
		if err != nil {
			return nil, err
		}
		c.zimSecret = secret
	case modeImport:
		c.users = 0
		if c.batch = *batch; c.batch < 1 || c.batch > maxBatch {
			return nil, fmt.Errorf("--batch: %d is not from 1 to %d", c.batch, maxBatch)
		}
	case modeAdminToken:
		if err := checkUserPrefix(c.userPrefix); err != nil {
			return nil, err
		}
		if !c.provision && c.userPrefix == "" {
			return nil, errors.New("--provision=false needs --user-prefix: the users of an earlier run are named by its prefix")
		}
	default:
		return nil, fmt.Errorf("--mode: %q is not one of token, renew, healthz, import, bare, zim-callback, admin-token", c.mode)
	}
	if c.mode != modeAdminToken && (c.userPrefix != "" || !c.provision) {
		return nil, errors.New("--user-prefix and --provision are for the admin-token mode; the others make users of their own")
	}
	if c.concurrency < 1 || c.concurrency > maxConcurrency {
		return nil, fmt.Errorf("--concurrency: %d is not from 1 to %d", c.concurrency, maxConcurrency)
	}
	if most := maxUsers; needsUsers(c.mode) {
		if c.mode == modeAdminToken {
			most = maxAdminTokenUsers
		}
		if c.users < 1 || c.users > most {
			return nil, fmt.Errorf("--users: %d is not from 1 to %d", c.users, most)
		}
	}
	if c.duration < 0 || c.duration > maxDuration {
		return nil, fmt.Errorf("--duration: %v is not from 0 to %v", c.duration, maxDuration)
	}
	if c.requests < 0 {
		return nil, fmt.Errorf("--requests: %d is negative", c.requests)
	}
	if c.duration == 0 && c.requests == 0 {
		return nil, errors.New("--duration 0 needs --requests: a run must be bounded by one or the other")
	}
	if c.warmup < 0 || c.warmup > maxWarmup {
		return nil, fmt.Errorf("--warmup: %v is not from 0 to %v", c.warmup, maxWarmup)
	}
	if c.progress != 0 && c.progress < minProgress {
		return nil, fmt.Errorf("--progress: %v is shorter than %v (0 turns it off)", c.progress, minProgress)
	}
	if c.timeline != "" && c.progress == 0 {
		return nil, errors.New("--timeline needs --progress > 0: its rows are the progress intervals")
	}
	var err error
	if c.serverPIDs, err = parsePIDs(*rawPIDs); err != nil {
		return nil, err
	}
	if c.urls, err = parseBaseURLs(*rawURL); err != nil {
		return nil, err
	}
	if needsUsers(c.mode) || c.mode == modeImport {
		if c.adminKey, err = readAdminKey(*keyFile, getenv); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// needsUsers reports whether mode calls the API as, or for, provisioned
// users.
func needsUsers(mode string) bool {
	return mode == modeToken || mode == modeRenew || mode == modeZIM || mode == modeAdminToken
}

// checkUserPrefix accepts "" (the default) or a prefix of letters, digits,
// '-' and '_': a subset of ZIM's userID characters that needs no escaping
// in JSON, short enough for "-999999" to follow.
func checkUserPrefix(p string) error {
	if len(p) > maxUserPrefix {
		return fmt.Errorf("--user-prefix: %d bytes, at most %d", len(p), maxUserPrefix)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("--user-prefix %q: byte %d is not a letter, digit, '-' or '_'", p, i)
		}
	}
	return nil
}

// parseBaseURLs splits a comma-separated list of base URLs and parses each
// with parseBaseURL. A server listed twice is refused: it would take twice
// the clients of the others, which is what the list form is for.
func parseBaseURLs(raw string) ([]*url.URL, error) {
	parts := strings.Split(raw, ",")
	if len(parts) > maxURLs {
		return nil, fmt.Errorf("--url: %d servers, at most %d", len(parts), maxURLs)
	}
	urls := make([]*url.URL, 0, len(parts))
	seen := make(map[string]bool, len(parts))
	for _, p := range parts {
		u, err := parseBaseURL(strings.TrimSpace(p))
		if err != nil {
			return nil, err
		}
		if seen[u.String()] {
			return nil, fmt.Errorf("--url: %s is listed twice", u)
		}
		seen[u.String()] = true
		urls = append(urls, u)
	}
	return urls, nil
}

// parseBaseURL accepts a URL of a scheme and a host only, so that every
// route is reached at the path the contract gives it. Whether the host is
// loopback is checkLoopback's business.
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("--url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("--url %q: the scheme must be http or https", raw)
	}
	if u.Host == "" || u.User != nil || u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("--url %q: give a scheme, host and port only, such as http://127.0.0.1:8080", u.Redacted())
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// readAdminKey returns the admin key from the file, else from
// AUTHSVC_ADMIN_TOKEN. Like the server's, the file or variable may list
// several keys, one per line or comma-separated; the first is used, so the
// server's own key file will do. Errors never include the key.
func readAdminKey(file string, getenv func(string) string) (string, error) {
	raw, src := getenv("AUTHSVC_ADMIN_TOKEN"), "AUTHSVC_ADMIN_TOKEN"
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--admin-key-file: %w", err)
		}
		raw, src = string(b), "--admin-key-file "+file
	}
	for _, k := range strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == '\n' }) {
		if k = strings.TrimSpace(k); k != "" {
			return k, nil
		}
	}
	if file == "" {
		return "", errors.New("the token, renew, import, zim-callback and admin-token modes need an admin key: " +
			"set AUTHSVC_ADMIN_TOKEN or pass --admin-key-file")
	}
	return "", fmt.Errorf("%s holds no admin key", src)
}

// readSecret reads a secret from the file named by file, else from the
// variable env; errors name where it looked, never the secret.
func readSecret(file, flagName, env string, getenv func(string) string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s: %w", flagName, err)
		}
		if s := strings.TrimRight(string(b), " \t\r\n"); s != "" {
			return s, nil
		}
		return "", fmt.Errorf("%s: %s is empty", flagName, file)
	}
	if v := getenv(env); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("set %s or pass %s", env, flagName)
}
