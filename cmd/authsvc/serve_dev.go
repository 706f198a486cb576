package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// devState is what "serve --dev" generated, kept in a file beside the
// database so that a restarted dev server accepts the sessions and renews
// the tokens of the last one. Only what was generated is kept: a configured
// secret is never written there.
type devState struct {
	ServerSecret string `json:"serverSecret,omitempty"`
	AdminKey     string `json:"adminKey,omitempty"`
	SessionKey   string `json:"sessionKey,omitempty"`
}

// devStateFile names the state file of the database at db.
func devStateFile(db string) string { return db + ".dev-secrets.json" }

// loadDevState reads the secrets kept by the last dev server, unless
// --reset, and uses each in place of the one parse generated: a missing
// file means there are none yet. It does nothing outside --dev.
func (c *serveConfig) loadDevState() error {
	if !c.dev || c.devReset {
		return nil
	}
	b, err := os.ReadFile(c.devStatePath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dev secrets: %w", err)
	}
	if err := json.Unmarshal(b, &c.devKept); err != nil {
		return fmt.Errorf("dev secrets %s: not the file serve --dev writes; remove it or pass --reset", c.devStatePath)
	}
	for _, f := range []struct {
		generated *string
		kept      string
	}{
		{&c.devSecret, c.devKept.ServerSecret}, {&c.devAdminKey, c.devKept.AdminKey}, {&c.devSessionKey, c.devKept.SessionKey},
	} {
		if *f.generated != "" && f.kept != "" {
			*f.generated = f.kept
		}
	}
	return nil
}

// keptOr returns the kept value, or n random bytes in hex when none is kept.
func keptOr(kept string, n int) string {
	if kept != "" {
		return kept
	}
	return randomHex(n)
}

// saveDevState writes what this dev server generated, mode 0600, when it
// differs from what the file holds. It writes a temporary file and renames
// it, so a crash leaves the old file or the new one.
func (c *serveConfig) saveDevState() error {
	// A value configured this time is not generated; its kept one stays
	// for the next run without configuration.
	st := c.devKept
	for _, f := range []struct {
		dst *string
		v   string
	}{
		{&st.ServerSecret, c.devSecret}, {&st.AdminKey, c.devAdminKey}, {&st.SessionKey, c.devSessionKey},
	} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	if st == c.devKept {
		return nil
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.devStatePath), "."+filepath.Base(c.devStatePath)+".tmp-*")
	if err != nil {
		return fmt.Errorf("dev secrets: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	if err := errors.Join(werr, tmp.Sync(), tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("dev secrets: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.devStatePath); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("dev secrets: %w", err)
	}
	c.devKept = st
	return nil
}

// knownEnv is every variable serve reads, derived from its settings so that
// a setting added there is known here: each setting's variable, the
// variables that hold secrets, and for each *_FILE variable the one that
// holds the value itself.
func knownEnv(s *settings) map[string]bool {
	known := map[string]bool{}
	for _, st := range s.list {
		if st.Env != "" {
			known[st.Env] = true
			if v, ok := strings.CutSuffix(st.Env, "_FILE"); ok {
				known[v] = true
			}
		}
	}
	for _, v := range secretVariables() {
		known[v] = true
		known[v+"_FILE"] = true
	}
	return known
}

// warnUnknownEnv logs each AUTHSVC_ variable of environ that serve does not
// read, with the known one it probably meant: a typo such as
// AUTHSVC_TOKENTTL would otherwise be ignored without a word. It logs the
// name only; the value may be a secret.
func warnUnknownEnv(logger *slog.Logger, s *settings, environ []string) {
	known := knownEnv(s)
	squash := func(name string) string { return strings.ReplaceAll(strings.ToUpper(name), "_", "") }
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(strings.ToUpper(name), "AUTHSVC_") && !known[name] && !slices.Contains(unknown, name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		attrs := []any{"name", name}
		for k := range known {
			if squash(k) == squash(name) {
				attrs = append(attrs, "did_you_mean", k)
				break
			}
		}
		logger.Warn("unknown environment variable ignored", attrs...)
	}
}

// logConfig logs the effective configuration in one line: every setting's
// value and, for the secrets, only where each came from. Settings hold file
// names, never secrets (those have no flags), but a URL's user info is
// removed in case one carries a password.
func logConfig(logger *slog.Logger, s *settings, cfg *serveConfig) {
	attrs := make([]any, 0, len(s.list)+1)
	for _, st := range s.list {
		v := s.str(st.Name)
		switch st.Name {
		case "addr":
			v = cfg.addr // --dev changes the default
		case "reset":
			continue
		}
		attrs = append(attrs, slog.String(st.Name, redactURL(v)))
	}
	var secrets []any
	for _, env := range secretVariables() {
		secrets = append(secrets, slog.String(env, secretSource(s, env)))
	}
	if cfg.dev {
		secrets = append(secrets, slog.String("dev_secrets_file", cfg.devStatePath))
	}
	attrs = append(attrs, slog.Group("secrets", secrets...))
	logger.Info("configuration", attrs...)
}

// secretSource says where the secret held by env comes from, in the order
// readSecret looks: the file setting, the variable, the variable's _FILE.
func secretSource(s *settings, env string) string {
	for _, st := range s.list {
		if st.Env == env+"_FILE" && s.str(st.Name) != "" {
			_, src := s.get(st.Name)
			return src
		}
	}
	switch {
	case s.getenv(env) != "":
		return env
	case s.getenv(env+"_FILE") != "":
		return env + "_FILE"
	}
	return "unset"
}

// warnFileMode warns when others may read file, the database (which holds
// password hashes) or the audit trail's: authsvc creates them 0600, but a
// file made by an older version, or copied, may be wider. It is the
// operator's file, so it is left as it is.
func warnFileMode(logger *slog.Logger, file, what string) {
	fi, err := os.Stat(file)
	if err == nil && fi.Mode().Perm()&0o077 != 0 {
		logger.Warn("the "+what+" is readable by other users; chmod 600 it and its -wal and -shm files",
			"file", file, "mode", fi.Mode().Perm().String())
	}
}
