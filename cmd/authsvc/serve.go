package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"authsvc/internal/apps"
	"authsvc/internal/audit"
	"authsvc/internal/console"
	"authsvc/internal/httpapi"
	"authsvc/internal/ratelimit"
	"authsvc/internal/sharedlimit"
	"authsvc/internal/sqldb"
	"authsvc/internal/users"
)

// serveSettings declares the flags of "authsvc serve", each with the
// variable envTwin names. The README's configuration reference is checked
// against this list by a test.
func serveSettings(fs *flag.FlagSet, getenv func(string) string) *settings {
	s := newSettings(fs, getenv, true)
	s.addBool("dev", "run with no configuration: generated secret, admin key and session key, kept in a file beside the database")
	s.addBool("reset", "with --dev: generate new secrets instead of reusing the kept ones").twin("AUTHSVC_DEV_RESET")
	s.addText("addr", ":8080", "address to listen on (127.0.0.1:8080 with --dev)")
	s.addText("db", "authsvc.db", "path of the SQLite database file, or a postgres:// URL of a PostgreSQL database")
	s.addInt("db-max-conns", "10", 1, 1000, "a number of connections", "PostgreSQL connections each replica keeps at most (SQLite ignores it)")
	s.addInt("user-cache", strconv.Itoa(users.DefaultCacheSize), 0, 100_000_000, "a number of users",
		"users kept in memory for the token route and sessions, about 190 bytes each (0: none)")
	s.addDuration("db-timeout", "10s", "how long a PostgreSQL query waits for an answer (a server that stopped answering, a row lock) before the request fails with 503; migrations are not bounded (SQLite ignores it)")
	s.addUint32("app-id", "ZEGO appID tokens are minted for (required without --dev or --apps-file)")
	s.addText("server-secret-file", "", "file holding the app's 32-byte ServerSecret (or set AUTHSVC_SERVER_SECRET)")
	s.addText("apps-file", "", "JSON file listing several apps with their secrets, previous secrets and lifetimes")
	s.addText("admin-token-file", "", "file holding admin keys, one per line or comma-separated (or set AUTHSVC_ADMIN_TOKEN)")
	s.addText("session-key-file", "", "file holding the key, at least 32 bytes, that signs session tokens (or set AUTHSVC_SESSION_KEY)")
	s.addDuration("session-ttl", "1h", "lifetime of session tokens from POST /v1/sessions")
	s.addDuration("token-ttl", "1h", "default Token04 lifetime")
	s.addDuration("token-min-ttl", "60s", "shortest Token04 lifetime a request may ask for (at least 31s)")
	s.addDuration("token-max-ttl", "24h", "longest Token04 lifetime a request may ask for (at most 576h, 24 days)")
	s.addDuration("renew-grace", "5m", "how long after expiry a token may still be renewed")
	s.addText("cors-origins", "", "comma-separated browser origins allowed to call the API, e.g. https://app.example.com")
	s.addText("trusted-proxies", "", "comma-separated proxy addresses or CIDRs whose X-Forwarded-For is believed")
	s.declare("console", "", "true", "serve the admin console at /console/ (--console=false turns it off)", parseBool)
	s.addText("jwt-hs256-secret-file", "", "file holding the HMAC secret of identity provider JWTs (or set AUTHSVC_JWT_HS256_SECRET)")
	s.addText("jwt-public-key-file", "", "PEM public key (RSA, ECDSA or Ed25519) of identity provider JWTs")
	s.addText("jwks-url", "", "JWKS URL of the identity provider, fetched at startup and on unknown key IDs")
	s.addDuration("jwks-refresh-interval", "1m", "an unknown key ID refetches the JWKS at most once per this interval")
	s.addText("jwt-issuer", "", "required iss of identity provider JWTs")
	s.addText("jwt-audience", "", "required aud of identity provider JWTs")
	s.addDuration("jwt-leeway", "30s", "clock skew allowed on identity provider JWTs' exp, nbf and iat")
	s.addText("jwt-user-claim", "sub", "claim of identity provider JWTs that identifies the user")
	s.addText("jwt-user-id", "claim", "claim: use the claim as the userID; hash: derive a userID from it")
	s.addBool("jwt-auto-provision", "create users on their first identity provider token")
	s.addText("jwt-name-claim", "name", "claim that names auto-provisioned users")
	s.addBool("zim-sync", "keep ZIM's users in step with the registry (and hold profiles to ZIM's limits); with --apps-file, set per app")
	s.addText("zim-api-url", apps.DefaultZIMAPIURL, "base URL of ZEGO's ZIM server API (a regional host, say)")
	s.addText("rtc-api-url", apps.DefaultRTCAPIURL, "base URL of ZEGO's RTC server API")
	s.addText("zim-callback-secret-file", "", "file holding the secret ZIM signs its callbacks with; enables POST /v1/zego/callbacks/zim (or set AUTHSVC_ZIM_CALLBACK_SECRET)")
	s.addInt("zim-extra-max-bytes", strconv.Itoa(apps.DefaultZIMExtraMaxBytes), 1, apps.MaxZIMExtraMaxBytes, "a number of bytes",
		"longest extendedData ZIM takes as a user's Extra, with --zim-sync (ZEGO may raise the 2048 default up to 32768)")
	s.declare("zim-unknown-sender", "string", "block", "what before_send_msg answers for a sender the registry does not know: block or allow",
		func(v string) (any, error) { return apps.ParseUnknownSender(v) })
	addLimit(s, "rate-token", "60/1m", "token issues and renewals per user, as N/DURATION or off")
	addLimit(s, "rate-login-ip", "60/1m", "POST /v1/sessions attempts per client IP, as N/DURATION or off")
	s.addInt("ipv6-prefix", "64", 32, 128, "a prefix length", "IPv6 clients count against the per-IP login limit and connection cap by their prefix of this many bits (32-128)")
	addLimit(s, "rate-login-user", "10/1m", "POST /v1/sessions attempts per userID, as N/DURATION or off")
	s.addText("redis-url", "", "Redis URL (redis://[:password@]host:6379/0) through which replicas share the rate limits, ZEGO's call rate and the ZIM callbacks' nonces; empty: per process")
	s.addDuration("redis-timeout", "100ms", "longest wait for Redis on a request (a rate limit, or a ZIM callback's nonce); past it the limit is counted, or the nonce remembered, in the process")
	s.addText("redis-key-prefix", sharedlimit.DefaultPrefix, "prefix of the Redis keys of the rate limits, ZEGO call slots and callback nonces, for deployments sharing one Redis")
	s.addDuration("audit-retention", "720h", "how long the audit trail keeps events (720h is 30 days)")
	s.addText("metrics-addr", "", "serve /metrics on this address instead of the main listener")
	s.addText("metrics-token-file", "", "file holding a bearer, at least 16 bytes, that may read /metrics on the main listener besides admin keys (or set AUTHSVC_METRICS_TOKEN)")
	s.declare("log-level", "string", "info", "debug, info, warn or error", func(v string) (any, error) {
		var level slog.Level
		if level.UnmarshalText([]byte(v)) != nil {
			return nil, fmt.Errorf("%q is not one of debug, info, warn, error", v)
		}
		return level, nil
	})
	s.addDuration("idle-timeout", "120s", "how long a keep-alive connection may sit idle before it is closed")
	s.declare("max-conns", "string", "auto", "connections held open at most; at the cap the longest idle one makes room (auto: the open-files limit less 256)",
		func(v string) (any, error) {
			if v == "auto" {
				return 0, nil // resolved when serving: it depends on the process's limits
			}
			if n, err := strconv.Atoi(v); err == nil && n >= 1 {
				return n, nil
			}
			return nil, fmt.Errorf("%q is not auto or a number of connections", v)
		})
	s.declare("max-conns-per-client", "string", "auto", "connections one client IP (an IPv6 one by its --ipv6-prefix) holds open at most; at it the client's longest idle one makes room, or with none idle the new one is closed; trusted proxies are exempt (auto: a quarter of --max-conns, at least 256; 0: no cap)",
		func(v string) (any, error) {
			if v == "auto" {
				return -1, nil // resolved with max-conns
			}
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				return n, nil
			}
			return nil, fmt.Errorf("%q is not auto or a number of connections", v)
		})
	s.addDuration("shutdown-timeout", "15s", "how long SIGTERM waits for requests in flight")
	return s
}

// addLimit declares a rate limit setting, read with ratelimit.ParseLimit.
func addLimit(s *settings, name, def, help string) {
	s.declare(name, "string", def, help, func(v string) (any, error) { return ratelimit.ParseLimit(v, parseDuration) })
}

// secretVariables carry a secret's value. They have no flag twin (flags
// show up in ps and shell history); each has a --*-file flag instead.
func secretVariables() []string {
	return []string{"AUTHSVC_SERVER_SECRET", "AUTHSVC_ADMIN_TOKEN", "AUTHSVC_SESSION_KEY", "AUTHSVC_JWT_HS256_SECRET", "AUTHSVC_METRICS_TOKEN",
		"AUTHSVC_ZIM_CALLBACK_SECRET"}
}

// serveConfig is the validated configuration of "authsvc serve".
type serveConfig struct {
	s                     *settings // read again by each SIGHUP's loadCredentials
	getenv                func(string) string
	addr, db, metricsAddr string
	dbMaxConns            int
	userCache             int // users the store caches; 0: none
	dbTimeout             time.Duration
	dev                   bool
	logLevel              slog.Level
	console               bool // serve the admin console at /console/
	auditRetention        time.Duration
	shutdownTimeout       time.Duration
	idleTimeout           time.Duration
	maxConns              int // 0 for auto
	maxConnsPerClient     int // 0 for none, -1 for auto
	http                  httpapi.Config
	rates                 rateLimits
	redis                 redisConfig
	creds                 *httpapi.Credentials
	logger                *slog.Logger
	// flushLog writes the buffered log lines out now; nil when the logger
	// is not buffered.
	flushLog func()
	// accessLog is the writer under logger's JSON handler, for
	// httpapi.Deps.AccessLog; nil when the logger is another.
	accessLog io.Writer
	// In --dev mode, the secrets generated for what is not configured, to
	// be shown at startup and kept across reloads; build replaces each with
	// the one kept in devStatePath, unless --reset.
	devSecret, devAdminKey, devSessionKey string
	devStatePath                          string
	devReset                              bool
	devKept                               devState // read from devStatePath
}

// serveAbout is the paragraph of "authsvc serve -h".
func serveAbout() string {
	return fmt.Sprintf(`Runs the HTTP service. Every flag has an environment twin (shown as env);
a flag given on the command line wins. Secrets come from files (the
--*-file flags) or from the variables %s,
never from plain flags.`, strings.Join(secretVariables(), ", "))
}

// helpText is the help that "serve -h" asked for, for the caller to print:
// parseServeConfig writes nothing. It is flag.ErrHelp.
type helpText string

func (h helpText) Error() string        { return "help requested" }
func (h helpText) String() string       { return string(h) }
func (h helpText) Is(target error) bool { return target == flag.ErrHelp }

// parseServeConfig reads and validates the command line and the
// environment, in full, before anything starts. It does no I/O: reading
// the secrets, the dev state file and the identity provider's keys is
// build's. In --dev mode it generates, once, the secrets that nothing
// configures; build keeps them or the ones kept from the last run.
func parseServeConfig(args []string, getenv func(string) string) (*serveConfig, error) {
	var help strings.Builder
	cmd := newCommand("serve", "serve [flags]", serveAbout(), getenv, &help)
	s := serveSettings(cmd.fs, getenv)
	cmd.settings = s
	pos, err := cmd.parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, helpText(help.String())
	}
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, cmd.usageError("takes no arguments, got %q", pos)
	}
	c := &serveConfig{s: s, getenv: getenv, db: s.str("db"), metricsAddr: s.str("metrics-addr"), addr: s.str("addr")}
	c.logLevel = s.byName["log-level"].value.(slog.Level)
	c.dev, _ = s.boolean("dev")
	if c.dev && !s.explicit("addr") {
		c.addr = "127.0.0.1:8080"
	}
	if c.devReset, _ = s.boolean("reset"); c.devReset && !c.dev {
		_, src := s.get("reset")
		return nil, fmt.Errorf("%s: only with --dev (AUTHSVC_DEV)", src)
	}
	c.dbMaxConns = s.integer("db-max-conns")
	c.userCache = s.integer("user-cache")
	if c.dbTimeout, _ = s.duration("db-timeout"); c.dbTimeout < 100*time.Millisecond {
		return nil, fmt.Errorf("%s: %v is shorter than 100ms", s.source("db-timeout"), c.dbTimeout)
	}
	if c.dev && sqldb.IsPostgresURL(c.db) {
		return nil, fmt.Errorf("%s: --dev keeps its secrets in a file beside a SQLite database; give it a path, or configure the secrets", s.source("db"))
	}
	if c.dev {
		c.devStatePath = devStateFile(c.db)
		c.generateDevSecrets()
	}
	c.shutdownTimeout, _ = s.duration("shutdown-timeout")
	if c.idleTimeout, _ = s.duration("idle-timeout"); c.idleTimeout < time.Second {
		return nil, fmt.Errorf("%s: %v is shorter than a second", s.source("idle-timeout"), c.idleTimeout)
	}
	c.maxConns = s.integer("max-conns")
	c.maxConnsPerClient = s.integer("max-conns-per-client")
	if c.auditRetention, _ = s.duration("audit-retention"); c.auditRetention < time.Hour {
		return nil, fmt.Errorf("%s: %v is shorter than an hour", s.source("audit-retention"), c.auditRetention)
	}
	if c.http.SessionTTL, _ = s.duration("session-ttl"); c.http.SessionTTL < time.Minute {
		return nil, fmt.Errorf("%s: %v is shorter than a minute", s.source("session-ttl"), c.http.SessionTTL)
	}
	if c.http.RenewGrace, _ = s.duration("renew-grace"); c.http.RenewGrace < 0 {
		return nil, fmt.Errorf("%s: must not be negative", s.source("renew-grace"))
	}
	c.console, _ = s.boolean("console")
	c.http.CORSOrigins = splitList(s.str("cors-origins"))
	for _, o := range c.http.CORSOrigins {
		if err := httpapi.ValidateOrigin(o); err != nil {
			return nil, fmt.Errorf("%s: %w", s.source("cors-origins"), err)
		}
	}
	for _, p := range splitList(s.str("trusted-proxies")) {
		prefix, ok := proxyPrefix(p)
		if !ok {
			return nil, fmt.Errorf("%s: %q is not an IP address or CIDR", s.source("trusted-proxies"), p)
		}
		c.http.TrustedProxies = append(c.http.TrustedProxies, prefix)
	}
	c.rates.Token = s.byName["rate-token"].value.(ratelimit.Limit)
	c.rates.LoginIP = s.byName["rate-login-ip"].value.(ratelimit.Limit)
	c.rates.LoginUser = s.byName["rate-login-user"].value.(ratelimit.Limit)
	c.http.Limits.IPv6Prefix = s.integer("ipv6-prefix")
	if u := s.str("redis-url"); u != "" {
		if c.redis.options, err = sharedlimit.ParseURL(u); err != nil {
			return nil, fmt.Errorf("%s: %w", s.source("redis-url"), err)
		}
	}
	if c.redis.timeout, _ = s.duration("redis-timeout"); c.redis.timeout < time.Millisecond || c.redis.timeout > 10*time.Second {
		return nil, fmt.Errorf("%s: %v is not between 1ms and 10s", s.source("redis-timeout"), c.redis.timeout)
	}
	c.redis.prefix = s.str("redis-key-prefix")
	c.http.ServeMetrics = c.metricsAddr == ""
	c.http.OpenMetrics = c.dev
	c.http.Version = version()
	return c, nil
}

// generateDevSecrets generates the dev secrets that nothing configures: a
// secret is configured when its variable, its _FILE variable or its file
// flag is set (an unreadable file is then build's error, not a reason to
// generate one).
func (c *serveConfig) generateDevSecrets() {
	configured := func(env, fileSetting string) bool {
		return c.getenv(env) != "" || c.getenv(env+"_FILE") != "" || c.s.str(fileSetting) != ""
	}
	if c.s.str("apps-file") == "" && !configured("AUTHSVC_SERVER_SECRET", "server-secret-file") {
		c.devSecret = randomHex(16) // ZEGO secrets are 32 hex characters
	}
	if !configured("AUTHSVC_ADMIN_TOKEN", "admin-token-file") {
		c.devAdminKey = randomHex(24)
	}
	if !configured("AUTHSVC_SESSION_KEY", "session-key-file") {
		c.devSessionKey = randomHex(32)
	}
}

// runServe implements "authsvc serve": parse, build, serve.
func runServe(ctx context.Context, args []string, getenv func(string) string, environ func() []string, stdout, stderr io.Writer) error {
	cfg, err := parseServeConfig(args, getenv)
	var help helpText
	if errors.As(err, &help) {
		fmt.Fprint(stderr, string(help))
		return flag.ErrHelp
	}
	if err != nil {
		return err
	}
	lw := newLogWriter(stderr)
	defer lw.Close()
	cfg.logger = slog.New(flushingHandler{slog.NewJSONHandler(lw, &slog.HandlerOptions{Level: cfg.logLevel}), lw})
	cfg.flushLog = func() { _ = lw.Flush() }
	cfg.accessLog = lw
	if environ != nil {
		warnUnknownEnv(cfg.logger, cfg.s, environ())
	}
	svc, err := buildServe(ctx, cfg)
	if err != nil {
		return err
	}
	defer svc.close()
	return svc.serve(ctx, stdout)
}

// service is what buildServe made: the API over the open database, ready
// to serve.
type service struct {
	cfg      *serveConfig
	api      *httpapi.Server
	reg      *prometheus.Registry
	db       *sqldb.DB
	store    *users.Store
	zego     *zegoStep
	recorder *audit.Recorder
	shared   *sharedlimit.Redis // nil without Redis
}

// buildServe does the I/O the configuration asks for: it reads the dev
// state, the secrets and the identity provider's keys, opens and migrates
// the database, and builds the store, the audit recorder, the metrics
// registry and the API. On error, what it opened is closed.
func buildServe(ctx context.Context, cfg *serveConfig) (*service, error) {
	logger := cfg.logger
	if err := cfg.loadDevState(); err != nil {
		return nil, err
	}
	var err error
	if cfg.creds, err = cfg.loadCredentials(ctx, cfg.s, cfg.getenv); err != nil {
		return nil, err
	}
	logConfig(logger, cfg.s, cfg)

	db, err := sqldb.OpenWith(ctx, cfg.db, sqldb.Options{MaxConns: cfg.dbMaxConns, IOTimeout: cfg.dbTimeout})
	if err != nil {
		return nil, err
	}
	svc := &service{cfg: cfg, db: db}
	ok := false
	defer func() {
		if !ok {
			svc.close()
		}
	}()
	if db.Created() {
		// Expected on a first start; otherwise a wrong path or a volume
		// that was not mounted, and every user seems gone.
		logger.Warn("created a new, empty database; if one was expected here, check AUTHSVC_DB and the volume", "db", redactURL(cfg.db))
	}
	if from, to := db.Migrated(); from < to {
		logger.Info("migrated the database schema", "from_version", from, "to_version", to)
	}
	if db.Dialect() == sqldb.SQLite {
		warnFileMode(logger, cfg.db, "database file")
	}
	if f := db.AuditFile(); f != "" {
		warnFileMode(logger, f, "audit trail's file")
		switch {
		case db.TrailCreated():
			logger.Warn("created a new, empty audit trail file; if the trail was expected there, restore it beside the database", "file", f)
		case db.TrailMoved():
			logger.Info("moved the audit trail into a file of its own", "file", f)
		}
	}
	if cfg.dev {
		if err := cfg.saveDevState(); err != nil {
			return nil, err
		}
	}
	zs := newZegoStep(db, cfg.creds.Apps)
	store, err := users.NewStore(db, users.Options{Limits: profileLimits(cfg.creds), OnChange: zs.onChange, OnRevoke: zs.rooms.Revoke,
		CacheSize: cmp.Or(cfg.userCache, -1)})
	if err != nil {
		return nil, err
	}
	svc.store, svc.zego = store, zs

	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, err
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, err
	}
	recorder := audit.NewRecorder(db, audit.Options{Retention: cfg.auditRetention, Logger: logger})
	svc.recorder, svc.reg = recorder, reg
	events, err := audit.NewReader(db)
	if err != nil {
		return nil, err
	}
	build, err := svc.openShared(ctx, reg)
	if err != nil {
		return nil, err
	}
	if svc.shared != nil {
		// ZEGO counts an app's calls of every replica together: so do
		// the replicas, a slot per interval, as each paces alone.
		slots, err := svc.shared.Limiter("zego", ratelimit.Limit{Count: 1, Per: time.Second / zegoRate})
		if err != nil {
			return nil, err
		}
		zs.slots = slots
	}
	limiters, err := cfg.rates.limiters(build)
	if err != nil {
		return nil, err
	}
	var consoleFiles http.Handler // nil: /console/ is a 404
	if cfg.console {
		consoleFiles = console.Handler()
	}
	var nonces httpapi.Nonces // nil, not a nil *sharedlimit.Redis, without Redis
	if svc.shared != nil {
		nonces = svc.shared
	}
	api, err := httpapi.NewServer(cfg.http, cfg.creds, httpapi.Deps{
		Store: store, Ready: db.Ready, Events: events, Audit: recorder, Limiters: limiters,
		Logger: logger, AccessLog: cfg.accessLog, Registry: reg, Now: time.Now, Rand: rand.Reader,
		Console: consoleFiles, Unavailable: db.IsUnavailable, RoomGrants: zs, ZIMSync: zs.syncState,
		Nonces: nonces,
	})
	if err != nil {
		return nil, err
	}
	svc.api = api
	ok = true
	return svc, nil
}

// close writes the audit events still queued, then closes the database:
// every event recorded by a request that finished is written before the
// process exits.
func (svc *service) close() {
	if svc.recorder != nil {
		ctx, cancel := context.WithTimeout(context.Background(), svc.cfg.shutdownTimeout)
		defer cancel()
		if err := svc.recorder.Close(ctx); err != nil {
			svc.cfg.logger.Error("audit trail not fully written", "error", err.Error())
		}
	}
	if svc.shared != nil {
		svc.shared.Close()
	}
	svc.db.Close()
}

// serve listens, serves until ctx is done, reloading the credentials on
// SIGHUP, and then shuts down within the shutdown timeout.
func (svc *service) serve(ctx context.Context, stdout io.Writer) error {
	cfg, logger, api := svc.cfg, svc.cfg.logger, svc.api
	// SIGHUP re-reads the secrets from their files; a bad reload is logged
	// and the running configuration stays.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := func() {
		creds, err := cfg.loadCredentials(ctx, cfg.s, cfg.getenv)
		if err == nil {
			err = api.Reload(creds)
		}
		if err != nil {
			logger.Error("reload failed; keeping the running configuration", "error", err.Error())
			return
		}
		svc.store.SetLimits(profileLimits(creds))
		svc.zego.setApps(creds.Apps)
		logger.Info("reloaded credentials", "apps", len(creds.Apps), "admin_keys", len(creds.AdminKeys))
	}

	if cfg.maxConns == 0 {
		cfg.maxConns = defaultMaxConns()
	}
	if cfg.maxConnsPerClient < 0 {
		// Enough for a NAT or a busy backend, while one client holds a
		// quarter of the places at most.
		cfg.maxConnsPerClient = max(cfg.maxConns/4, 256)
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.s.source("addr"), err)
	}
	// One cap over both listeners: they draw on the same file descriptors.
	conns := newConnLimit(cfg.maxConns)
	conns.capClients(cfg.maxConnsPerClient, cfg.http.Limits.IPv6Prefix, cfg.http.TrustedProxies)
	if err := svc.reg.Register(conns); err != nil {
		ln.Close()
		return err
	}
	servers := []*http.Server{newHTTPServer(api, logger, cfg.idleTimeout, conns)}
	listeners := []net.Listener{conns.listener(ln)}
	if cfg.metricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.metricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("%s: %w", cfg.s.source("metrics-addr"), err)
		}
		// Only /metrics: the listener is for Prometheus, not a second API.
		metrics := http.NewServeMux()
		metrics.Handle("GET /metrics", promhttp.HandlerFor(svc.reg, promhttp.HandlerOpts{}))
		servers = append(servers, newHTTPServer(metrics, logger, cfg.idleTimeout, conns))
		listeners = append(listeners, conns.listener(mln))
		logger.Info("metrics listening", "addr", mln.Addr().String())
	}
	logger.Info("listening", "addr", ln.Addr().String(), "version", version(), "db", redactURL(cfg.db),
		"app_id", cfg.creds.DefaultApp, "dev", cfg.dev, "max_conns", cfg.maxConns,
		"max_conns_per_client", cfg.maxConnsPerClient)
	if cfg.flushLog != nil {
		cfg.flushLog() // the startup lines, before the dev banner and at once
	}
	if cfg.dev {
		printDevBanner(stdout, cfg, ln.Addr().String())
	}

	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	// Other processes' writes (other replicas, the user CLI) evict users
	// from this one's cache, and the cache is loaded. It stops with ctx.
	lctx, stopListen := context.WithCancel(ctx)
	listenDone := make(chan struct{})
	go func() {
		defer close(listenDone)
		svc.store.Listen(lctx, &listenLog{logger: logger})
	}()
	defer func() { stopListen(); <-listenDone }()
	// The ZIM sync and RTC kick-out workers, for the apps with ZIM sync on.
	zctx, stopZego := context.WithCancel(ctx)
	zegoDone := make(chan struct{})
	go func() {
		defer close(zegoDone)
		if err := svc.zego.run(zctx, svc.db, svc.recorder, logger, svc.reg); err != nil {
			logger.Error("the ZIM sync workers did not start", "error", err.Error())
		}
	}()
	defer func() { stopZego(); <-zegoDone }()
wait:
	for {
		select {
		case err := <-errc:
			return fmt.Errorf("serve: %w", err)
		case <-hup:
			reload()
		case <-ctx.Done():
			break wait
		}
	}
	logger.Info("shutting down", "timeout", cfg.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
	}
	logger.Info("stopped")
	return errors.Join(errs...)
}

// newHTTPServer sets every timeout, so slow or idle clients cannot hold
// connections forever, and reports its connections to conns, which must
// also wrap the listener it serves.
func newHTTPServer(h http.Handler, logger *slog.Logger, idleTimeout time.Duration, conns *connLimit) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ConnState:         conns.connState,
	}
}

func printDevBanner(w io.Writer, cfg *serveConfig, addr string) {
	base := "http://" + addr
	if host, port, err := net.SplitHostPort(addr); err == nil && (host == "" || host == "::" || host == "0.0.0.0") {
		base = "http://127.0.0.1:" + port
	}
	fmt.Fprintf(w, `
authsvc is running in development mode. Not for production: the secrets below
were generated for development and are kept, readable by you only, in
  %s
so that a restart reuses them; --reset generates new ones.

  URL            %s
  app ID         %d
  ServerSecret   %s
  admin key      %s

Quickstart (in another shell):

  ADMIN=%s
  JSON='Content-Type: application/json'
  curl -s -X POST %s/v1/users -H "Authorization: Bearer $ADMIN" -H "$JSON" \
       -d '{"userID":"alice","password":"correct horse battery"}'
  SESSION=$(curl -s -X POST %s/v1/sessions -H "$JSON" \
       -d '{"userID":"alice","password":"correct horse battery"}' | sed 's/.*"accessToken":"\([^"]*\)".*/\1/')
  curl -s -X POST %s/v1/token -H "Authorization: Bearer $SESSION"

`, cfg.devStatePath, base, cfg.creds.DefaultApp, orGiven(cfg.devSecret), orGiven(cfg.devAdminKey),
		orGiven(cfg.devAdminKey), base, base, base)
	if cfg.console {
		fmt.Fprintf(w, "Or open the admin console, %s/console/, and sign in with the admin key.\n\n", base)
	}
}

func orGiven(generated string) string {
	if generated == "" {
		return "(from your configuration)"
	}
	return generated
}

// proxyPrefix reads a --trusted-proxies entry, an address or a CIDR. Peers
// are matched by their IPv4 address where they have one (an IPv4-mapped
// IPv6 peer is unmapped first), so an entry written in the mapped form,
// "::ffff:10.0.0.1" or "::ffff:10.0.0.0/104", is taken as the IPv4 range it
// maps: as written it could never match.
func proxyPrefix(s string) (netip.Prefix, bool) {
	prefix, err := netip.ParsePrefix(s)
	if err != nil {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		// A zone is dropped, as it is from peers.
		prefix = netip.PrefixFrom(addr.WithZone(""), addr.BitLen())
	}
	if a := prefix.Addr(); a.Is4In6() && prefix.Bits() >= 96 {
		prefix = netip.PrefixFrom(a.Unmap(), prefix.Bits()-96)
	}
	return prefix.Masked(), true
}
