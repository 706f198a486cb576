package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"authsvc/internal/apps"
	"authsvc/internal/httpapi"
	"authsvc/internal/idp"
	"authsvc/internal/token"
	"authsvc/internal/users"
)

// loadCredentials reads everything a SIGHUP reloads: the apps and their
// secrets, the admin keys, the session key and the metrics token. In --dev
// mode, what is missing is generated once and kept for the life of the
// process.
func (c *serveConfig) loadCredentials(ctx context.Context, s *settings, getenv func(string) string) (*httpapi.Credentials, error) {
	ttl, err := ttlBounds(s)
	if err != nil {
		return nil, err
	}
	creds := &httpapi.Credentials{}
	if file := s.str("apps-file"); file != "" {
		if s.explicit("app-id") || getenv("AUTHSVC_SERVER_SECRET") != "" || s.explicit("server-secret-file") {
			return nil, fmt.Errorf("%s: set either it or AUTHSVC_APP_ID and AUTHSVC_SERVER_SECRET, not both", s.source("apps-file"))
		}
		for _, name := range zimSettings() {
			if s.explicit(name) {
				return nil, fmt.Errorf("%s: with %s, configure ZIM per app in the file's \"zim\" objects", s.source(name), s.source("apps-file"))
			}
		}
		if getenv("AUTHSVC_ZIM_CALLBACK_SECRET") != "" {
			return nil, fmt.Errorf("AUTHSVC_ZIM_CALLBACK_SECRET: with %s, configure ZIM per app in the file's \"zim\" objects", s.source("apps-file"))
		}
		set, err := apps.ParseFile(file, apps.FileOptions{Defaults: ttl, ParseDuration: parseDuration, ReadSecret: readSecretFile})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.source("apps-file"), err)
		}
		creds.Apps, creds.DefaultApp = set.Apps, set.Default
	} else {
		app, err := c.singleApp(s, getenv, ttl)
		if err != nil {
			return nil, err
		}
		creds.Apps, creds.DefaultApp = []apps.App{app}, app.ID
	}

	adminRaw, adminSet, err := s.secret("AUTHSVC_ADMIN_TOKEN", "admin-token-file")
	if err != nil {
		return nil, err
	}
	if !adminSet && c.dev {
		if c.devAdminKey == "" {
			c.devAdminKey = keptOr(c.devKept.AdminKey, 24)
		}
		adminRaw = []byte(c.devAdminKey)
	}
	adminKeys := splitList(string(adminRaw))
	if len(adminKeys) == 0 {
		return nil, errors.New("AUTHSVC_ADMIN_TOKEN or AUTHSVC_ADMIN_TOKEN_FILE is required: at least one admin key")
	}
	for i, k := range adminKeys {
		if len(k) < 16 {
			return nil, fmt.Errorf("AUTHSVC_ADMIN_TOKEN: key %d is %d bytes; use at least 16 (e.g. openssl rand -hex 32)", i+1, len(k))
		}
		creds.AdminKeys = append(creds.AdminKeys, httpapi.NewAdminKey([]byte(k)))
	}

	sessionKey, sessionKeySet, err := s.secret("AUTHSVC_SESSION_KEY", "session-key-file")
	if err != nil {
		return nil, err
	}
	if !sessionKeySet && c.dev {
		if c.devSessionKey == "" {
			c.devSessionKey = keptOr(c.devKept.SessionKey, 32)
		}
		sessionKey = []byte(c.devSessionKey)
	}
	if len(sessionKey) < 32 {
		return nil, fmt.Errorf("AUTHSVC_SESSION_KEY or AUTHSVC_SESSION_KEY_FILE is required: at least 32 bytes, got %d", len(sessionKey))
	}
	creds.SessionKey = sessionKey
	metricsToken, metricsTokenSet, err := readSecret(getenv, "AUTHSVC_METRICS_TOKEN", s.str("metrics-token-file"))
	if err != nil {
		return nil, err
	}
	creds.MetricsToken = metricsToken
	if n := len(metricsToken); metricsTokenSet && n < 16 {
		return nil, fmt.Errorf("AUTHSVC_METRICS_TOKEN: %d bytes; use at least 16 (e.g. openssl rand -hex 32)", n)
	}
	if ip, ok, err := loadIdentityProvider(ctx, s, getenv, c.logger); err != nil {
		return nil, err
	} else if ok {
		creds.IdP = ip
	}
	if err := creds.Validate(); err != nil {
		return nil, err
	}
	return creds, nil
}

// loadIdentityProvider configures identity provider JWTs when a key source
// is set; ok is false when none is.
func loadIdentityProvider(ctx context.Context, s *settings, getenv func(string) string, logger *slog.Logger) (*httpapi.IdentityProvider, bool, error) {
	hs, hsSet, err := s.secret("AUTHSVC_JWT_HS256_SECRET", "jwt-hs256-secret-file")
	if err != nil {
		return nil, false, err
	}
	cfg := idp.Config{HMACSecret: hs, JWKSURL: s.str("jwks-url"), Logger: logger}
	if f := s.str("jwt-public-key-file"); f != "" {
		if cfg.PublicKeyPEM, err = os.ReadFile(f); err != nil {
			return nil, false, fmt.Errorf("%s: %w", s.source("jwt-public-key-file"), err)
		}
	}
	if !hsSet && cfg.PublicKeyPEM == nil && cfg.JWKSURL == "" {
		return nil, false, nil
	}
	if cfg.Issuer = s.str("jwt-issuer"); cfg.Issuer == "" {
		return nil, false, errors.New("AUTHSVC_JWT_ISSUER is required with identity provider JWTs")
	}
	if cfg.Audience = s.str("jwt-audience"); cfg.Audience == "" {
		return nil, false, errors.New("AUTHSVC_JWT_AUDIENCE is required with identity provider JWTs")
	}
	if cfg.Leeway, err = s.duration("jwt-leeway"); err != nil {
		return nil, false, err
	}
	if cfg.JWKSMinRefresh, err = s.duration("jwks-refresh-interval"); err != nil {
		return nil, false, err
	}
	ip := &httpapi.IdentityProvider{UserClaim: s.str("jwt-user-claim"), NameClaim: s.str("jwt-name-claim")}
	switch mode, src := s.get("jwt-user-id"); mode {
	case "claim":
	case "hash":
		ip.HashUserIDs = true
	default:
		return nil, false, fmt.Errorf("%s: %q is neither claim nor hash", src, mode)
	}
	if ip.AutoProvision, err = s.boolean("jwt-auto-provision"); err != nil {
		return nil, false, err
	}
	if ip.Verifier, err = idp.New(ctx, cfg); err != nil {
		return nil, false, fmt.Errorf("identity provider (AUTHSVC_JWT_*, AUTHSVC_JWKS_URL): %w", err)
	}
	return ip, true, nil
}

// ttlBounds reads the service-wide token lifetimes, the defaults of every app.
func ttlBounds(s *settings) (apps.TTLBounds, error) {
	var ttl apps.TTLBounds
	var err error
	if ttl.Default, err = s.duration("token-ttl"); err != nil {
		return ttl, err
	}
	if ttl.Min, err = s.duration("token-min-ttl"); err != nil {
		return ttl, err
	}
	if ttl.Max, err = s.duration("token-max-ttl"); err != nil {
		return ttl, err
	}
	if err := ttl.Validate(); err != nil {
		return ttl, fmt.Errorf("%s, %s, %s: %w", s.source("token-ttl"), s.source("token-min-ttl"), s.source("token-max-ttl"), err)
	}
	return ttl, nil
}

// singleApp is the app configured by AUTHSVC_APP_ID and AUTHSVC_SERVER_SECRET.
func (c *serveConfig) singleApp(s *settings, getenv func(string) string, ttl apps.TTLBounds) (apps.App, error) {
	var appID uint32 = 1
	var err error
	if s.explicit("app-id") || !c.dev {
		if !s.explicit("app-id") {
			return apps.App{}, errors.New("AUTHSVC_APP_ID is required (the ZEGO appID from the ZEGO console), or AUTHSVC_APPS_FILE")
		}
		if appID, err = s.uint32("app-id"); err != nil {
			return apps.App{}, err
		}
	}
	secret, secretSet, err := s.secret("AUTHSVC_SERVER_SECRET", "server-secret-file")
	if err != nil {
		return apps.App{}, err
	}
	if !secretSet && c.dev {
		if c.devSecret == "" {
			c.devSecret = keptOr(c.devKept.ServerSecret, 16) // ZEGO secrets are 32 hex characters
		}
		secret = []byte(c.devSecret)
	}
	if secret == nil {
		return apps.App{}, errors.New("AUTHSVC_SERVER_SECRET or AUTHSVC_SERVER_SECRET_FILE is required (the app's ServerSecret from the ZEGO console)")
	}
	key, err := token.NewKey(secret)
	if err != nil {
		from := "AUTHSVC_SERVER_SECRET"
		if s.str("server-secret-file") != "" {
			from = s.source("server-secret-file")
		}
		return apps.App{}, fmt.Errorf("%s: %w", from, err)
	}
	app := apps.App{ID: appID, Keys: []*token.Key{key}, TTL: ttl, Variant: token.GCM, Secret: secret}
	if app.ZIM, err = singleAppZIM(s); err != nil {
		return apps.App{}, err
	}
	return app, nil
}

// zimSettings configure ZIM for the single app; an apps file does it per
// app instead.
func zimSettings() []string {
	return []string{"zim-sync", "zim-api-url", "rtc-api-url", "zim-callback-secret-file", "zim-extra-max-bytes", "zim-unknown-sender"}
}

// singleAppZIM reads the AUTHSVC_ZIM_* and AUTHSVC_RTC_API_URL settings.
// Errors name the setting at fault, never the secret.
func singleAppZIM(s *settings) (apps.ZIM, error) {
	var z apps.ZIM
	z.Sync, _ = s.boolean("zim-sync")
	z.APIURL, z.RTCAPIURL = s.str("zim-api-url"), s.str("rtc-api-url")
	z.ExtraMaxBytes = s.integer("zim-extra-max-bytes")
	z.UnknownSender = s.byName["zim-unknown-sender"].value.(apps.UnknownSender)
	secret, ok, err := s.secret("AUTHSVC_ZIM_CALLBACK_SECRET", "zim-callback-secret-file")
	if err != nil {
		return apps.ZIM{}, err
	}
	if ok {
		z.CallbackSecret = secret
		if n := len(secret); n < apps.MinCallbackSecretLen {
			return apps.ZIM{}, fmt.Errorf("%s: the ZIM callback secret is %d bytes; use at least %d (the one ZEGO support configured for the callback)",
				secretSource(s, "AUTHSVC_ZIM_CALLBACK_SECRET"), n, apps.MinCallbackSecretLen)
		}
	}
	for _, u := range []string{"zim-api-url", "rtc-api-url"} {
		if err := (apps.ZIM{APIURL: s.str(u)}).Validate(); err != nil {
			return apps.ZIM{}, fmt.Errorf("%s: %q is not an http or https URL with a host", s.source(u), s.str(u))
		}
	}
	if err := z.Validate(); err != nil {
		return apps.ZIM{}, err
	}
	return z, nil
}

// profileLimits are the limits of users' fields that the apps syncing to
// ZIM impose on the registry.
func profileLimits(creds *httpapi.Credentials) users.Limits { return limitsOf(creds.Apps) }

// limitsOf is profileLimits of a list of apps.
func limitsOf(as []apps.App) users.Limits {
	avatar, extra, ok := apps.Set{Apps: as}.ProfileLimits()
	if !ok {
		return users.Limits{}
	}
	return users.Limits{AvatarURLLen: avatar, ExtendedDataLen: extra, Why: "ZIM's"}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
