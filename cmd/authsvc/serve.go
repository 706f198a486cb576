package main

import (
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

	"authsvc/internal/audit"
	"authsvc/internal/httpapi"
	"authsvc/internal/ratelimit"
	"authsvc/internal/sqldb"
	"authsvc/internal/users"
)

// serveSettings declares the flags of "authsvc serve". The README's
// configuration reference is checked against this list by a test.
func serveSettings(fs *flag.FlagSet, getenv func(string) string) *settings {
	s := newSettings(fs, getenv)
	s.addBool("dev", "AUTHSVC_DEV", "run with no configuration: generated secret, admin key and session key, kept in a file beside the database")
	s.addBool("reset", "AUTHSVC_DEV_RESET", "with --dev: generate new secrets instead of reusing the kept ones")
	s.add("addr", "AUTHSVC_ADDR", ":8080", "address to listen on (127.0.0.1:8080 with --dev)")
	s.add("db", "AUTHSVC_DB", "authsvc.db", "path of the SQLite database file")
	s.addUint32("app-id", "AUTHSVC_APP_ID", "ZEGO appID tokens are minted for (required without --dev or --apps-file)")
	s.add("server-secret-file", "AUTHSVC_SERVER_SECRET_FILE", "", "file holding the app's 32-byte ServerSecret (or set AUTHSVC_SERVER_SECRET)")
	s.add("apps-file", "AUTHSVC_APPS_FILE", "", "JSON file listing several apps with their secrets, previous secrets and lifetimes")
	s.add("admin-token-file", "AUTHSVC_ADMIN_TOKEN_FILE", "", "file holding admin keys, one per line or comma-separated (or set AUTHSVC_ADMIN_TOKEN)")
	s.add("session-key-file", "AUTHSVC_SESSION_KEY_FILE", "", "file holding the key, at least 32 bytes, that signs session tokens (or set AUTHSVC_SESSION_KEY)")
	s.add("session-ttl", "AUTHSVC_SESSION_TTL", "1h", "lifetime of session tokens from POST /v1/sessions")
	s.add("token-ttl", "AUTHSVC_TOKEN_TTL", "1h", "default Token04 lifetime")
	s.add("token-min-ttl", "AUTHSVC_TOKEN_MIN_TTL", "60s", "shortest Token04 lifetime a request may ask for (at least 31s)")
	s.add("token-max-ttl", "AUTHSVC_TOKEN_MAX_TTL", "24h", "longest Token04 lifetime a request may ask for (at most 576h, 24 days)")
	s.add("renew-grace", "AUTHSVC_RENEW_GRACE", "5m", "how long after expiry a token may still be renewed")
	s.add("cors-origins", "AUTHSVC_CORS_ORIGINS", "", "comma-separated browser origins allowed to call the API, e.g. https://app.example.com")
	s.add("trusted-proxies", "AUTHSVC_TRUSTED_PROXIES", "", "comma-separated proxy addresses or CIDRs whose X-Forwarded-For is believed")
	s.add("jwt-hs256-secret-file", "AUTHSVC_JWT_HS256_SECRET_FILE", "", "file holding the HMAC secret of identity provider JWTs (or set AUTHSVC_JWT_HS256_SECRET)")
	s.add("jwt-public-key-file", "AUTHSVC_JWT_PUBLIC_KEY_FILE", "", "PEM public key (RSA, ECDSA or Ed25519) of identity provider JWTs")
	s.add("jwks-url", "AUTHSVC_JWKS_URL", "", "JWKS URL of the identity provider, fetched at startup and on unknown key IDs")
	s.add("jwks-refresh-interval", "AUTHSVC_JWKS_REFRESH_INTERVAL", "1m", "an unknown key ID refetches the JWKS at most once per this interval")
	s.add("jwt-issuer", "AUTHSVC_JWT_ISSUER", "", "required iss of identity provider JWTs")
	s.add("jwt-audience", "AUTHSVC_JWT_AUDIENCE", "", "required aud of identity provider JWTs")
	s.add("jwt-leeway", "AUTHSVC_JWT_LEEWAY", "30s", "clock skew allowed on identity provider JWTs' exp, nbf and iat")
	s.add("jwt-user-claim", "AUTHSVC_JWT_USER_CLAIM", "sub", "claim of identity provider JWTs that identifies the user")
	s.add("jwt-user-id", "AUTHSVC_JWT_USER_ID", "claim", "claim: use the claim as the userID; hash: derive a userID from it")
	s.addBool("jwt-auto-provision", "AUTHSVC_JWT_AUTO_PROVISION", "create users on their first identity provider token")
	s.add("jwt-name-claim", "AUTHSVC_JWT_NAME_CLAIM", "name", "claim that names auto-provisioned users")
	s.add("rate-token", "AUTHSVC_RATE_TOKEN", "60/1m", "token issues and renewals per user, as N/DURATION or off")
	s.add("rate-login-ip", "AUTHSVC_RATE_LOGIN_IP", "60/1m", "POST /v1/sessions attempts per client IP, as N/DURATION or off")
	s.add("ipv6-prefix", "AUTHSVC_IPV6_PREFIX", "64", "IPv6 clients count against the per-IP limit by their prefix of this many bits (32-128)")
	s.add("rate-login-user", "AUTHSVC_RATE_LOGIN_USER", "10/1m", "POST /v1/sessions attempts per userID, as N/DURATION or off")
	s.add("audit-retention", "AUTHSVC_AUDIT_RETENTION", "720h", "how long the audit trail keeps events (720h is 30 days)")
	s.add("metrics-addr", "AUTHSVC_METRICS_ADDR", "", "serve /metrics on this address instead of the main listener")
	s.add("metrics-token-file", "AUTHSVC_METRICS_TOKEN_FILE", "", "file holding a bearer, at least 16 bytes, that may read /metrics on the main listener besides admin keys (or set AUTHSVC_METRICS_TOKEN)")
	s.add("log-level", "AUTHSVC_LOG_LEVEL", "info", "debug, info, warn or error")
	s.add("idle-timeout", "AUTHSVC_IDLE_TIMEOUT", "120s", "how long a keep-alive connection may sit idle before it is closed")
	s.add("max-conns", "AUTHSVC_MAX_CONNS", "auto", "connections held open at most; at the cap the longest idle one makes room (auto: the open-files limit less 256)")
	s.add("shutdown-timeout", "AUTHSVC_SHUTDOWN_TIMEOUT", "15s", "how long SIGTERM waits for requests in flight")
	return s
}

// secretVariables carry a secret's value. They have no flag twin (flags
// show up in ps and shell history); each has a --*-file flag instead.
func secretVariables() []string {
	return []string{"AUTHSVC_SERVER_SECRET", "AUTHSVC_ADMIN_TOKEN", "AUTHSVC_SESSION_KEY", "AUTHSVC_JWT_HS256_SECRET", "AUTHSVC_METRICS_TOKEN"}
}

// serveConfig is the validated configuration of "authsvc serve".
type serveConfig struct {
	addr, db, metricsAddr string
	dev                   bool
	auditRetention        time.Duration
	shutdownTimeout       time.Duration
	idleTimeout           time.Duration
	maxConns              int
	http                  httpapi.Config
	rates                 rateLimits
	creds                 *httpapi.Credentials
	logger                *slog.Logger
	// Generated in --dev mode only, to be shown at startup and kept across
	// reloads and, in devStatePath, restarts.
	devSecret, devAdminKey, devSessionKey string
	devStatePath                          string
	devKept                               devState // read from devStatePath
}

func loadServeConfig(ctx context.Context, s *settings, getenv func(string) string, logger *slog.Logger) (*serveConfig, error) {
	c := &serveConfig{db: s.str("db"), metricsAddr: s.str("metrics-addr"), addr: s.str("addr"), logger: logger}
	var err error
	if c.dev, err = s.boolean("dev"); err != nil {
		return nil, err
	}
	if c.dev && !s.explicit("addr") {
		c.addr = "127.0.0.1:8080"
	}
	if err := c.loadDevState(s); err != nil {
		return nil, err
	}
	if c.shutdownTimeout, err = s.duration("shutdown-timeout"); err != nil {
		return nil, err
	}
	if c.idleTimeout, err = s.duration("idle-timeout"); err != nil {
		return nil, err
	}
	if c.idleTimeout < time.Second {
		return nil, fmt.Errorf("AUTHSVC_IDLE_TIMEOUT: %v is shorter than a second", c.idleTimeout)
	}
	if v, src := s.get("max-conns"); v == "auto" {
		c.maxConns = defaultMaxConns()
	} else if c.maxConns, err = strconv.Atoi(v); err != nil || c.maxConns < 1 {
		return nil, fmt.Errorf("%s: %q is not auto or a number of connections", src, v)
	}
	if c.auditRetention, err = s.duration("audit-retention"); err != nil {
		return nil, err
	}
	if c.auditRetention < time.Hour {
		return nil, fmt.Errorf("AUTHSVC_AUDIT_RETENTION: %v is shorter than an hour", c.auditRetention)
	}
	if c.http.SessionTTL, err = s.duration("session-ttl"); err != nil {
		return nil, err
	}
	if c.http.SessionTTL < time.Minute {
		return nil, fmt.Errorf("AUTHSVC_SESSION_TTL: %v is shorter than a minute", c.http.SessionTTL)
	}
	if c.http.RenewGrace, err = s.duration("renew-grace"); err != nil {
		return nil, err
	}
	if c.http.RenewGrace < 0 {
		return nil, errors.New("AUTHSVC_RENEW_GRACE: must not be negative")
	}
	c.http.CORSOrigins = splitList(s.str("cors-origins"))
	for _, o := range c.http.CORSOrigins {
		if err := httpapi.ValidateOrigin(o); err != nil {
			return nil, fmt.Errorf("AUTHSVC_CORS_ORIGINS (--cors-origins): %w", err)
		}
	}
	for _, p := range splitList(s.str("trusted-proxies")) {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return nil, fmt.Errorf("AUTHSVC_TRUSTED_PROXIES: %q is not an IP address or CIDR", p)
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		c.http.TrustedProxies = append(c.http.TrustedProxies, prefix.Masked())
	}
	for _, l := range []struct {
		name string
		dst  *ratelimit.Limit
	}{
		{"rate-token", &c.rates.Token},
		{"rate-login-ip", &c.rates.LoginIP},
		{"rate-login-user", &c.rates.LoginUser},
	} {
		v, src := s.get(l.name)
		if *l.dst, err = ratelimit.ParseLimit(v); err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
	}
	v, src := s.get("ipv6-prefix")
	if c.http.Limits.IPv6Prefix, err = strconv.Atoi(v); err != nil || c.http.Limits.IPv6Prefix < 32 || c.http.Limits.IPv6Prefix > 128 {
		// Shorter prefixes would put whole providers in one bucket.
		return nil, fmt.Errorf("%s: %q is not a prefix length from 32 to 128", src, v)
	}
	c.http.ServeMetrics = c.metricsAddr == ""
	c.http.OpenMetrics = c.dev
	c.http.Version = version()
	if c.creds, err = c.loadCredentials(ctx, s, getenv); err != nil {
		return nil, err
	}
	return c, nil
}

// runServe implements "authsvc serve".
func runServe(ctx context.Context, args []string, getenv func(string) string, environ func() []string, stdout, stderr io.Writer) error {
	cmd := newCommand("serve", "serve [flags]", fmt.Sprintf(`Runs the HTTP service. Every flag has an environment twin (shown as env);
a flag given on the command line wins. Secrets come from files (the
--*-file flags) or from the variables %s,
never from plain flags.`, strings.Join(secretVariables(), ", ")), getenv, stderr)
	s := serveSettings(cmd.fs, getenv)
	cmd.settings = s
	pos, err := cmd.parse(args)
	if err != nil {
		return helpOr(err)
	}
	if len(pos) > 0 {
		return cmd.usageError("takes no arguments, got %q", pos)
	}
	var level slog.Level
	if v, src := s.get("log-level"); level.UnmarshalText([]byte(v)) != nil {
		return fmt.Errorf("%s: %q is not one of debug, info, warn, error", src, v)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	if environ != nil {
		warnUnknownEnv(logger, s, environ())
	}
	cfg, err := loadServeConfig(ctx, s, getenv, logger)
	if err != nil {
		return err
	}
	logConfig(logger, s, cfg)

	db, err := sqldb.Open(ctx, cfg.db)
	if err != nil {
		return err
	}
	defer db.Close()
	if db.Created() {
		// Expected on a first start; otherwise a wrong path or a volume
		// that was not mounted, and every user seems gone.
		logger.Warn("created a new, empty database; if one was expected here, check AUTHSVC_DB and the volume", "db", cfg.db)
	}
	warnFileMode(logger, cfg.db)
	if cfg.dev {
		if err := cfg.saveDevState(); err != nil {
			return err
		}
	}
	store, err := users.NewStore(db, users.Options{})
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return err
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return err
	}
	recorder := audit.NewRecorder(db, audit.Options{Retention: cfg.auditRetention, Logger: logger})
	// Runs before db.Close (deferred earlier): every event recorded by a
	// request that finished is written before the process exits.
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
		defer cancel()
		if err := recorder.Close(ctx); err != nil {
			logger.Error("audit trail not fully written", "error", err.Error())
		}
	}()
	events, err := audit.NewReader(db)
	if err != nil {
		return err
	}
	limiters, err := cfg.rates.limiters(time.Now)
	if err != nil {
		return err
	}
	api, err := httpapi.NewServer(cfg.http, cfg.creds, httpapi.Deps{
		Store: store, Ready: db.Ready, Events: events, Audit: recorder, Limiters: limiters,
		Logger: logger, Registry: reg, Now: time.Now, Rand: rand.Reader,
	})
	if err != nil {
		return err
	}

	// SIGHUP re-reads the secrets from their files; a bad reload is logged
	// and the running configuration stays.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := func() {
		creds, err := cfg.loadCredentials(ctx, s, getenv)
		if err == nil {
			err = api.Reload(creds)
		}
		if err != nil {
			logger.Error("reload failed; keeping the running configuration", "error", err.Error())
			return
		}
		logger.Info("reloaded credentials", "apps", len(creds.Apps), "admin_keys", len(creds.AdminKeys))
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("AUTHSVC_ADDR: %w", err)
	}
	// One cap over both listeners: they draw on the same file descriptors.
	conns := newConnLimit(cfg.maxConns)
	servers := []*http.Server{newHTTPServer(api, logger, cfg.idleTimeout, conns)}
	listeners := []net.Listener{conns.listener(ln)}
	if cfg.metricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.metricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("AUTHSVC_METRICS_ADDR: %w", err)
		}
		servers = append(servers, newHTTPServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), logger, cfg.idleTimeout, conns))
		listeners = append(listeners, conns.listener(mln))
		logger.Info("metrics listening", "addr", mln.Addr().String())
	}
	logger.Info("listening", "addr", ln.Addr().String(), "version", version(), "db", cfg.db,
		"app_id", cfg.creds.DefaultApp, "dev", cfg.dev, "max_conns", cfg.maxConns)
	if cfg.dev {
		printDevBanner(stdout, cfg, ln.Addr().String())
	}

	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
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
}

func orGiven(generated string) string {
	if generated == "" {
		return "(from your configuration)"
	}
	return generated
}
